"""The evaluate stage: metric definitions, rankings, BEIR loading, BM25, the stage end to end (tiny BERT)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from tiny_model import build_tiny_model, write_tiny_dataset

from lexqa.config import ParamsError, parse_params
from lexqa.embed import Embedder, MemoryStore, ModelSpec
from lexqa.evaluate import load_beir, run
from lexqa.evaluate.metrics import GRADED_NDCG, METRICS, ir_metrics, per_query, top_k
from lexqa.evaluate.report import dim_table
from lexqa.evaluate.retrieval import dense_metrics, metrics_of, rank_bm25
from lexqa.lexical import tokenize

DIMS = [64, 32, 16]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _write_beir(folder: Path, corpus: dict[str, str], queries: dict[str, str], qrels: list[str]) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(
            json.dumps({"_id": k, "title": "", "text": v}, ensure_ascii=False) + "\n"
            for k, v in corpus.items()
        )
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(
            json.dumps({"_id": k, "text": v}, ensure_ascii=False) + "\n" for k, v in queries.items()
        )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(qrels), encoding="utf-8"
    )
    return folder


def _params(model: Path, **sections) -> object:
    raw = {
        "model": {"name_or_path": str(model)},
        "sources": [
            {"name": "fr", "kind": "text", "path": "x", "lang": "fr", "domain": "d"},
            {"name": "ru", "kind": "text", "path": "x", "lang": "ru", "domain": "d"},
        ],
        "train": {"matryoshka_dims": DIMS},
    }
    raw.update(sections)
    return parse_params(raw)


# ------------------------------------------------------------------------------------------- metrics
def test_metrics_match_hand_computed_values():
    # Corpus indices 0..4 = d1..d5 (ids sorted). Query A: relevant d1, d3; ranked d2, d1, d4, d3, d5.
    # Query B: relevant d5 and d9 (d9 absent from the corpus, still counted); ranked d5 first.
    ranked = np.array([[1, 0, 3, 2, 4], [4, 0, 1, 2, 3]])
    relevance = [{0: 1.0, 2: 1.0}, {4: 1.0}]
    m = ir_metrics(ranked, relevance, grades=[[1.0, 1.0], [1.0, 1.0]])
    assert m["accuracy@1"] == pytest.approx((0 + 1) / 2)
    assert m["accuracy@3"] == pytest.approx(1.0)
    assert m["precision@1"] == pytest.approx((0 + 1) / 2)
    assert m["precision@3"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert m["precision@10"] == pytest.approx((2 / 10 + 1 / 10) / 2)  # divided by k, not by what was found
    assert m["recall@1"] == pytest.approx((0 + 1 / 2) / 2)
    assert m["recall@5"] == pytest.approx((1 + 1 / 2) / 2)  # query B can never find d9
    assert m["mrr@10"] == pytest.approx((1 / 2 + 1) / 2)
    idcg = 1 + 1 / math.log2(3)
    ndcg_a = (1 / math.log2(3) + 1 / math.log2(5)) / idcg
    ndcg_b = 1 / idcg
    assert m["ndcg@10"] == pytest.approx((ndcg_a + ndcg_b) / 2)
    map_a = (1 / 2 + 2 / 4) / 2
    map_b = 1 / 2
    assert m["map@100"] == pytest.approx((map_a + map_b) / 2)
    assert list(m) == list(METRICS)
    assert GRADED_NDCG not in m


def test_graded_ndcg_uses_grades_as_gains():
    ranked = np.array([[0, 1, 2]])
    m = ir_metrics(ranked, [{0: 1.0, 1: 3.0}], grades=[[1.0, 3.0]], graded=True)
    dcg = 1 / math.log2(2) + 3 / math.log2(3)
    ideal = 3 / math.log2(2) + 1 / math.log2(3)
    assert m[GRADED_NDCG] == pytest.approx(dcg / ideal)
    assert m["ndcg@10"] == pytest.approx(1.0)  # binary: both relevant passages on top


def test_top_k_breaks_ties_by_index_inside_and_across_the_cut():
    scores = torch.tensor(
        [
            [0.2, 0.9, 0.5, 0.9, 0.1],  # tie inside the top 3: 1 before 3
            [0.5, 0.1, 0.5, 0.9, 0.5],  # tie across the cut at 3: indices 0, 2 win over 4
            [0.0, 0.0, 0.0, 0.0, 0.0],  # all tied: lowest indices
        ]
    )
    assert top_k(scores, 3).tolist() == [[1, 3, 2], [3, 0, 2], [0, 1, 2]]
    assert top_k(scores, 10).shape == (3, 5)  # k capped by the corpus


# ------------------------------------------------------------------------------------------- BEIR
def test_load_beir_keeps_good_lines_and_rejects_bad_ones(tmp_path):
    folder = tmp_path / "bench"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        '{"_id": "b", "title": "Code civil", "text": "Article 9"}\n'
        '{"_id": "a", "text": "Статья 1"}\n'
        "not json\n"
        '{"_id": "c"}\n'
        '{"_id": "a", "text": "again"}\n'
        '{"_id": 7, "text": "numeric id"}\n',
        encoding="utf-8",
    )
    (folder / "queries.jsonl").write_text(
        '{"_id": "q1", "text": "vie privée ?"}\n{"_id": "q2", "text": "unjudged"}\n'
        '{"_id": "q3", "text": "only non-relevant"}\n',
        encoding="utf-8",
    )
    (folder / "qrels" / "test.tsv").write_text(
        "q1\tb\t2\nq1\ta\t1\nq1\tmissing\t1\nq3\ta\t0\nq9\ta\t1\nbroken line\n", encoding="utf-8"
    )  # no header: optional
    rejects: list[dict] = []
    data = load_beir(folder, "bench", rejects)
    assert data.corpus_ids == ["7", "a", "b"]  # sorted ids: the tie order of rankings
    assert data.corpus_texts[2] == "Code civil Article 9"  # BEIR: title + text
    assert data.corpus_texts[1] == "Статья 1"  # the first "a" is kept
    assert data.query_ids == ["q1"]
    assert data.relevance == [{2: 2.0, 1: 1.0}]
    assert data.judgements == [{"b": 2.0, "a": 1.0, "missing": 1.0}]
    assert data.graded and data.missing_passages == 1 and data.unjudged_queries == 2
    reasons = sorted(r["reason"] for r in rejects)
    assert reasons == ["duplicate_id", "malformed_json", "malformed_qrel", "missing_field", "unknown_query"]
    assert all(r["stage"] == "evaluate" and r["source"] == "bench" for r in rejects)


def test_load_beir_names_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_beir(tmp_path / "nowhere", "x", [])


# ------------------------------------------------------------------------------------------- BM25
def test_bm25_tokenizer_is_language_aware():
    from lexqa.lexical import stopwords

    stop = stopwords(("fr", "ru"))
    assert tokenize("L'article 9 du Code civil et la vie privée", stop) == [
        "article",
        "9",
        "code",
        "civil",
        "vie",
        "privée",
    ]
    assert tokenize("Всё, что касается её ребёнка", stop) == ["касается", "ребенка"]


def test_bm25_ranks_the_passage_sharing_rare_words_first(tmp_path):
    corpus = {
        "d1": "Le bail d'habitation est conclu pour trois ans.",
        "d2": "La servitude de passage grève le fonds servant.",
        "d3": "Договор займа заключается в письменной форме.",
    }
    queries = {"q1": "Quelle est la durée du bail ?", "q2": "форма договора займа", "q3": "zzz"}
    qrels = ["q1\td1\t1\n", "q2\td3\t1\n", "q3\td2\t1\n"]
    data = load_beir(_write_beir(tmp_path / "b", corpus, queries, qrels), "b", [])
    ranked = rank_bm25(data, ["fr", "ru"])
    assert ranked[0, 0] == 0 and ranked[1, 0] == 2
    assert ranked[2].tolist() == [0, 1, 2]  # no known word: all tied, by id
    m = metrics_of(ranked, data)
    assert m["accuracy@1"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 1 + 1 / 2) / 3)


# ------------------------------------------------------------------------------------------- vs the evaluator
def _tied_beir_set(tiny_dataset: Path):
    """The tiny BEIR set plus five passages duplicated under other ids, a graded and a missing judgement."""
    beir = tiny_dataset / "beir"
    corpus_lines = (beir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    # Duplicated passages under other ids: exact score ties that only the id order can break.
    dupes = [json.loads(line) | {"_id": "zz-" + json.loads(line)["_id"]} for line in corpus_lines[:5]]
    with (beir / "corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in dupes)
    with (beir / "qrels" / "test.tsv").open("a", encoding="utf-8") as fh:
        first_query = json.loads((beir / "queries.jsonl").read_text(encoding="utf-8").splitlines()[0])["_id"]
        fh.write(f"{first_query}\t{dupes[0]['_id']}\t2\n{first_query}\tnot-in-corpus\t1\n")
    data = load_beir(beir, "eval", [])
    assert data.graded and data.missing_passages == 1
    return data


def test_embedder_vectors_equal_sentence_transformers_encode(tiny, tmp_path):
    """The shared embedding layer gives the vectors SentenceTransformer.encode gives (up to float noise)."""
    from sentence_transformers import SentenceTransformer

    data = _tied_beir_set(write_tiny_dataset(tmp_path / "dataset"))
    embedder = Embedder(ModelSpec.from_folder(tiny), MemoryStore(), batch_size=32)
    model = SentenceTransformer(str(tiny))
    for ours, theirs, texts in (
        (embedder.queries, model.encode_query, data.query_texts),
        (embedder.passages, model.encode_document, data.corpus_texts),
    ):
        expected = theirs(list(texts), batch_size=32, normalize_embeddings=True)
        np.testing.assert_allclose(ours(texts), expected, atol=1e-5)


def test_dense_metrics_equal_sentence_transformers_evaluator(tiny, tmp_path):
    """Same numbers as InformationRetrievalEvaluator(truncate_dim=d), with ties, graded and missing qrels.

    Both rank the same vectors: encoding the same text twice in batches padded to other lengths can move
    a score by one float ulp, which turns an exact tie into a near one on one side only (seen on CI).
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    data = _tied_beir_set(write_tiny_dataset(tmp_path / "dataset"))
    embedder = Embedder(ModelSpec.from_folder(tiny), MemoryStore(), batch_size=32)
    vectors = {
        "query": dict(zip(data.query_texts, embedder.queries(data.query_texts), strict=True)),
        "document": dict(zip(data.corpus_texts, embedder.passages(data.corpus_texts), strict=True)),
    }

    class SameVectors(InformationRetrievalEvaluator):
        def embed_inputs(self, model, sentences, encode_fn_name=None, **kwargs):
            full = np.stack([vectors[encode_fn_name][s] for s in sentences])
            return torch.from_numpy(full[:, : self.truncate_dim])

    model = SentenceTransformer(str(tiny))  # for its similarity function; it encodes nothing here
    ours = dense_metrics(embedder, data, DIMS)
    queries = dict(zip(data.query_ids, data.query_texts, strict=True))
    corpus = dict(zip(data.corpus_ids, data.corpus_texts, strict=True))
    relevant = {q: set(j) for q, j in zip(data.query_ids, data.judgements, strict=True)}
    for dim in DIMS:
        st = SameVectors(queries, corpus, relevant, truncate_dim=dim, batch_size=32)(model)
        for name in METRICS:
            assert ours[dim][name] == pytest.approx(st[f"cosine_{name}"], abs=1e-4), (dim, name)


def test_per_query_ndcg_averages_to_the_headline_and_finds_the_first_hit():
    rng = np.random.default_rng(0)
    ranked = np.stack([rng.permutation(150)[:100] for _ in range(40)])
    relevance = [
        {int(c): 1.0 for c in rng.choice(150, size=int(rng.integers(1, 4)), replace=False)} for _ in range(40)
    ]
    grades = [[1.0] * (len(r) + q % 2) for q, r in enumerate(relevance)]  # odd queries: one passage missing
    ndcg, first = per_query(ranked, relevance, grades)
    assert ndcg.mean() == pytest.approx(ir_metrics(ranked, relevance, grades)["ndcg@10"])
    for q in range(40):
        ranks = [i + 1 for i, c in enumerate(ranked[q]) if int(c) in relevance[q]]
        assert first[q] == (ranks[0] if ranks else 0)
    short = per_query(np.array([[1]]), [{0: 1.0}], [[1.0]])  # a corpus of two: padded, nothing relevant found
    assert short[0].tolist() == [0.0] and short[1].tolist() == [0]


# ------------------------------------------------------------------------------------------- the stage
def test_evaluate_stage_end_to_end(tiny, tmp_path, capsys):
    write_tiny_dataset(tmp_path / "data/processed/dataset")
    shutil.copytree(tiny, tmp_path / "models/lexqa")  # stands in for the fine-tuned model
    bench = _write_beir(
        tmp_path / "bench",
        {"p1": "Le bail d'habitation est conclu pour trois ans.", "p2": "Договор займа: срок три года."},
        {"h1": "durée du bail", "h2": "срок займа", "h3": "not judged"},
        ["h1\tp1\t2\n", "h1\tp2\t1\n", "h2\tp2\t1\n", "h9\tp1\t1\n"],
    )
    with (tmp_path / "data/processed/dataset/beir/corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{broken\n")
    params = _params(tiny, evaluate={"benchmarks": [{"name": "human", "path": str(bench)}]})
    results = run(params, root=tmp_path)

    assert [r.name for r in results] == ["eval", "human"]
    metrics = json.loads((tmp_path / "metrics/eval.json").read_text(encoding="utf-8"))
    assert set(metrics) == {"eval", "human"}
    for name in ("eval", "human"):
        assert set(metrics[name]["base"]) == set(metrics[name]["finetuned"]) == {"dim_64", "dim_32", "dim_16"}
        assert set(METRICS) <= set(metrics[name]["finetuned"]["dim_64"])
        assert 0 <= metrics[name]["bm25"]["ndcg@10"] <= 1
    # The same model as base and fine-tuned: same numbers (the stage encodes each model once, identically).
    assert metrics["eval"]["base"] == metrics["eval"]["finetuned"]
    assert (
        GRADED_NDCG in metrics["human"]["finetuned"]["dim_16"] and GRADED_NDCG not in metrics["eval"]["bm25"]
    )
    assert metrics["human"]["queries"] == 2 and metrics["human"]["corpus"] == 2

    plot = pl.read_csv(tmp_path / "plots/ndcg_by_dim.csv")
    assert plot.columns == ["dim", "base", "finetuned", "bm25"] and plot["dim"].to_list() == [16, 32, 64]
    report = (tmp_path / "reports/eval.md").read_text(encoding="utf-8")
    assert "## eval split" in report and "## benchmark `human`" in report and "Graded nDCG@10" in report
    assert "| 64 |" in report and "gain" in report
    rejects = pl.read_parquet(tmp_path / "data/processed/evaluate_rejects.parquet")
    assert sorted(rejects["reason"].to_list()) == ["malformed_json", "unknown_query"]
    summary = json.loads((tmp_path / "data/processed/evaluate_summary.json").read_text(encoding="utf-8"))
    assert summary["rejected"] == 2 and summary["rows_out"] == metrics["eval"]["queries"] + 2
    # Per query: every set × system × dim × query once; the mean of each group is the headline figure.
    per_query = pl.read_parquet(tmp_path / "data/processed/evaluate_queries.parquet")
    n_eval = metrics["eval"]["queries"]
    assert per_query.height == (n_eval + 2) * (2 * len(DIMS) + 1)
    for (name, system, dim), group in per_query.group_by("dataset", "system", "dim"):
        figures = metrics[name][system] if system == "bm25" else metrics[name][system][f"dim_{dim}"]
        assert group["ndcg_at_10"].mean() == pytest.approx(figures["ndcg@10"], abs=1e-6)  # JSON: 6 decimals
    human = per_query.filter(dataset="human", system="bm25").sort("query_id")
    assert human["query"].to_list() == ["durée du bail", "срок займа"]
    assert human["first_relevant_rank"].to_list() == [1, 1] and human["top_passage_id"].to_list() == [
        "p1",
        "p2",
    ]
    out = capsys.readouterr().out  # the stage ends by printing the per-dimension tables
    assert dim_table(results[0]) in out and out.rstrip().endswith(dim_table(results[1]))


def test_evaluate_stage_needs_the_fine_tuned_model(tiny, tmp_path):
    write_tiny_dataset(tmp_path / "data/processed/dataset")
    with pytest.raises(FileNotFoundError, match="run the train stage first"):
        run(_params(tiny), root=tmp_path)


def test_evaluate_stage_rejects_dims_above_the_model(tiny, tmp_path):
    write_tiny_dataset(tmp_path / "data/processed/dataset")
    shutil.copytree(tiny, tmp_path / "models/lexqa")
    params = _params(tiny, train={"matryoshka_dims": [128, 64]})
    with pytest.raises(ParamsError, match=r"train\.matryoshka_dims: 128 is above .* \(64\)"):
        run(params, root=tmp_path)
