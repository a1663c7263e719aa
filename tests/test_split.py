"""The split stage: group-aware seeded split, near-duplicate positives on one side (no leakage, checked by
brute force), groups by section and case, the evaluation corpus and qrels, the files and the dataset card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from jaccard import true_jaccard
from test_curate import make_params as curate_params

from lexqa.config import Params, parse_params
from lexqa.split import run, split
from lexqa.tables import CHUNKS, CURATE_REJECTS, DOCUMENTS, PAIRS, SPLIT, frame, read_table, write_table

VOCAB = [f"terme{i}" for i in range(4000)]


def make_params(cache_dir: Path | None = None, context: bool = False, **split_section: Any) -> Params:
    base = curate_params(positive_context=context).model_dump(mode="json")
    base["split"] = {"hard_negatives": {"enabled": False}, **split_section}
    if cache_dir is not None:
        base["embed"] = {"cache_dir": str(cache_dir)}
    return parse_params(base)


def words(rng: np.random.Generator, n: int = 60) -> str:
    return " ".join(VOCAB[i] for i in rng.integers(0, len(VOCAB), n))


def build(
    n_docs: int = 20, chunks_per_doc: int = 3, questions_per_chunk: int = 2, seed: int = 0, domains: int = 1
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Random chunks and pairs: doc d has chunks d#0.., each with a few questions."""
    rng = np.random.default_rng(seed)
    chunks, pairs = [], []
    for d in range(n_docs):
        domain = f"dom{d % domains}"
        for c in range(chunks_per_doc):
            cid = f"s:doc{d:02d}#{c}"
            text = words(rng)
            chunks.append(chunk_row(cid, text, domain))
            for k in range(questions_per_chunk):
                pairs.append(pair_row(cid, f"question {d} {c} {k} {words(rng, 6)} ?", text, domain, k))
    return frame(chunks, CHUNKS), frame(pairs, PAIRS)


def chunk_row(cid: str, text: str, domain: str = "dom0", context: str = "") -> dict[str, Any]:
    return {
        "chunk_id": cid,
        "doc_id": cid.split("#")[0],
        "ordinal": int(cid.split("#")[1]),
        "text": text,
        "n_tokens": len(text.split()),
        "char_start": 0,
        "char_end": len(text),
        "heading": "article",
        "context": context,
        "lang": "fr",
        "domain": domain,
        "source": "s",
    }


def pair_row(
    cid: str, anchor: str, positive: str, domain: str = "dom0", k: int = 0, **kw: Any
) -> dict[str, Any]:
    qid = f"{cid}:layperson:{k}"
    return {
        "pair_id": qid,
        "question_id": qid,
        "chunk_id": cid,
        "doc_id": cid.split("#")[0],
        "anchor": anchor,
        "positive": positive,
        "lang": "fr",
        "domain": domain,
        "source": "s",
        "style": "layperson",
        "backend": "openai",
        "heading": "article",
        "anchor_tokens": len(anchor.split()),
        "positive_tokens": len(positive.split()),
        **kw,
    }


def sides(dataset) -> dict[str, str]:
    return dict(dataset.assignments.select("pair_id", "side").iter_rows())


def test_split_keeps_documents_whole_and_is_seeded():
    chunks, pairs = build()
    dataset, summary = split(make_params(), pairs, chunks)
    assignment = dataset.assignments
    assert assignment.columns == list(SPLIT)
    per_doc = (
        assignment.with_columns(doc=pl.col("chunk_id").str.extract(r"^(.*)#"))
        .group_by("doc")
        .agg(pl.col("side").n_unique())
    )
    assert (per_doc["side"] == 1).all()
    assert summary.extra["eval_pairs"] == 24  # 4 of 20 documents, 6 pairs each: exactly the 0.2 asked for
    assert summary.extra["train_pairs"] + summary.extra["eval_pairs"] == pairs.height
    again, _ = split(make_params(), pairs, chunks)
    assert sides(again) == sides(dataset)
    other = make_params()
    other = parse_params({**other.model_dump(mode="json"), "seed": 7})
    assert sides(split(other, pairs, chunks)[0]) != sides(dataset)


def test_near_duplicate_positives_and_identical_questions_share_a_side():
    chunks, pairs = build(n_docs=12)
    rng = np.random.default_rng(5)
    base = words(rng, 80)
    near = base.replace(base.split()[40], "autre", 1)  # one word changed: Jaccard about 0.9
    extra_chunks = [chunk_row("s:x1#0", base), chunk_row("s:x2#0", near.upper())]
    extra_pairs = [
        pair_row("s:x1#0", "Première question sur le texte dupliqué ?", base),
        pair_row("s:x2#0", "Seconde question sur la copie ?", near),
        pair_row("s:y1#0", "Une question posée deux fois ?", "texte y1"),
        pair_row("s:y2#0", "une question posée deux fois", "texte y2"),
    ]
    extra_chunks += [
        chunk_row("s:y1#0", "texte y1 " + words(rng)),
        chunk_row("s:y2#0", "texte y2 " + words(rng)),
    ]
    chunks = pl.concat([chunks, frame(extra_chunks, CHUNKS)])
    pairs = pl.concat([pairs, frame(extra_pairs, PAIRS)])
    for seed in range(8):
        params = parse_params({**make_params(eval_fraction=0.4).model_dump(mode="json"), "seed": seed})
        dataset, summary = split(params, pairs, chunks)
        s = sides(dataset)
        assert s["s:x1#0:layperson:0"] == s["s:x2#0:layperson:0"]
        assert s["s:y1#0:layperson:0"] == s["s:y2#0:layperson:0"]
        groups = dict(dataset.assignments.select("pair_id", "group").iter_rows())
        assert groups["s:x1#0:layperson:0"] == groups["s:x2#0:layperson:0"] == "s:x1"
        assert summary.extra["leakage"] == {"exact_positive": 0, "near_positive": 0, "exact_anchor": 0}


def test_no_text_is_on_both_sides_brute_force():
    chunks, pairs = planted_corpus()  # near-duplicates of random chunks inside other documents
    dataset, summary = split(make_params(eval_fraction=0.3, near_dup_threshold=0.7), pairs, chunks)
    side = sides(dataset)
    chunk_of = dict(pairs.select("pair_id", "chunk_id").iter_rows())
    body = dict(chunks.select("chunk_id", "text").iter_rows())
    train = {chunk_of[p] for p, s in side.items() if s == "train"}
    evals = {chunk_of[p] for p, s in side.items() if s == "eval"}
    assert train and evals
    worst = max(true_jaccard(body[a], body[b]) for a in train for b in evals)
    assert worst < 0.7
    assert not {body[c].casefold() for c in train} & {body[c].casefold() for c in evals}
    assert summary.extra["leakage"] == {"exact_positive": 0, "near_positive": 0, "exact_anchor": 0}


def planted_corpus() -> tuple[pl.DataFrame, pl.DataFrame]:
    """30 documents, and 15 more whose chunk is a one-word edit of a random earlier chunk."""
    chunks, pairs = build(n_docs=30, chunks_per_doc=2, questions_per_chunk=1, seed=3)
    rng = np.random.default_rng(9)
    texts = dict(chunks.select("chunk_id", "text").iter_rows())
    ids = sorted(texts)
    planted_chunks, planted_pairs = [], []
    for k in range(15):
        copy = texts[ids[int(rng.integers(len(ids)))]].split()
        copy[int(rng.integers(len(copy)))] = "changé"
        cid = f"s:copy{k:02d}#0"
        planted_chunks.append(chunk_row(cid, " ".join(copy)))
        planted_pairs.append(pair_row(cid, f"copie {k} ?", " ".join(copy)))
    return pl.concat([chunks, frame(planted_chunks, CHUNKS)]), pl.concat([pairs, frame(planted_pairs, PAIRS)])


def test_the_check_merges_what_grouping_missed(monkeypatch):
    import lexqa.split as split_module

    chunks, pairs = planted_corpus()
    # Grouping that sees no near-duplicate at all: the independent check must catch them and re-split.
    monkeypatch.setattr(split_module, "_links", lambda texts, threshold, params: [])
    dataset, summary = split(make_params(eval_fraction=0.3), pairs, chunks)
    assert summary.extra["resplits"] >= 1
    assert summary.extra["leakage"] == {"exact_positive": 0, "near_positive": 0, "exact_anchor": 0}
    side = sides(dataset)
    body = dict(chunks.select("chunk_id", "text").iter_rows())
    chunk_of = dict(pairs.select("pair_id", "chunk_id").iter_rows())
    train = [body[chunk_of[p]] for p, s in side.items() if s == "train"]
    evals = [body[chunk_of[p]] for p, s in side.items() if s == "eval"]
    assert max(true_jaccard(a, b) for a in train for b in evals) < 0.7


def test_a_leak_the_check_cannot_fix_stops_the_stage(monkeypatch):
    import lexqa.split as split_module

    chunks, pairs = build(n_docs=6)
    leak = {"exact_positive": 1, "near_positive": 0, "exact_anchor": 0}
    monkeypatch.setattr(split_module, "check_leakage", lambda pairs, body, params: (leak, []))
    with pytest.raises(split_module.LeakageError, match="exact_positive"):
        split(make_params(), pairs, chunks)


def documents_frame(rows: list[tuple[str, list[str], str | None]]) -> pl.DataFrame:
    return frame(
        [
            {
                "doc_id": d,
                "source": "s",
                "kind": "x",
                "domain": "dom0",
                "lang": "fr",
                "title": "t",
                "path": path,
                "number": number,
                "text": "x",
                "meta": "{}",
                "sha256": "0",
            }
            for d, path, number in rows
        ],
        DOCUMENTS,
    )


def test_groups_by_section_and_by_case():
    rng = np.random.default_rng(1)
    docs = [(f"s:art{i}", ["Code civil", f"Livre {i % 3}", f"Titre {i}"], f"{i}") for i in range(9)]
    docs += [(f"s:rul{i}", [], f"А40–{i % 3}/2020") for i in range(6)]  # two rulings per case number
    chunks = [chunk_row(f"{d}#0", words(rng)) for d, _, _ in docs]
    pairs = [pair_row(c["chunk_id"], f"question {i} ?", c["text"]) for i, c in enumerate(chunks)]
    chunks, pairs, documents = frame(chunks, CHUNKS), frame(pairs, PAIRS), documents_frame(docs)

    dataset, _ = split(make_params(group_by="section", section_depth=2), pairs, chunks, documents)
    groups = dict(dataset.assignments.select("chunk_id", "group").iter_rows())
    assert groups["s:art0#0"] == groups["s:art3#0"] == "section:s:Code civil > Livre 0"
    assert groups["s:rul1#0"] == groups["s:rul4#0"] == "case:а40-1/2020"
    assert len(set(groups.values())) == 6

    dataset, _ = split(make_params(group_by="case"), pairs, chunks, documents)
    groups = dict(dataset.assignments.select("chunk_id", "group").iter_rows())
    assert groups["s:art0#0"] == "s:art0" and groups["s:rul2#0"] == groups["s:rul5#0"]
    assert len(set(groups.values())) == 12

    dataset, _ = split(make_params(), pairs, chunks, documents)
    assert len(set(dataset.assignments["group"])) == 15


def test_every_domain_gets_its_share_of_eval():
    chunks, pairs = build(n_docs=30, domains=3)
    dataset, _ = split(make_params(eval_fraction=0.2), pairs, chunks)
    per_domain = dataset.pairs.group_by("domain").agg((pl.col("side") == "eval").mean().alias("eval"))
    assert per_domain["eval"].to_list() == pytest.approx([0.2, 0.2, 0.2])


def test_a_single_group_cannot_be_split():
    chunks, pairs = build(n_docs=1)
    with pytest.raises(ValueError, match="cannot split 1 group"):
        split(make_params(), pairs, chunks)


def curate_duplicate(origin: str, kept: str) -> dict[str, Any]:
    return {
        "stage": "curate",
        "source": "s",
        "origin": origin,
        "reason": "duplicate_chunk",
        "detail": "",
        "duplicate_of": kept,
        "level": "chunk",
        "chunk_id": origin,
        "question": None,
        "score": 1.0,
    }


def test_eval_corpus_holds_every_distinct_chunk_and_qrels_follow_duplicates():
    chunks, pairs = build(n_docs=10)
    rng = np.random.default_rng(2)
    lonely = chunk_row("s:lonely#0", words(rng), context="Code civil > Article 1")  # no question
    # Chunks without questions do not move the split: copy the chunk of an eval pair.
    eval_pair = split(make_params(corpus="all"), pairs, chunks)[0].assignments.filter(
        pl.col("side") == "eval"
    )
    first, copy_of = eval_pair.select("pair_id", "chunk_id").row(0)
    dup = chunk_row("s:dup#0", dict(chunks.select("chunk_id", "text").iter_rows())[copy_of])
    chunks = pl.concat([chunks, frame([lonely, dup], CHUNKS)])
    rejects = frame([curate_duplicate("s:dup#0", copy_of)], CURATE_REJECTS)

    dataset, summary = split(make_params(), pairs, chunks, curate_rejects=rejects)
    corpus = {row["_id"]: row for row in dataset.corpus}
    assert set(corpus) == set(chunks["chunk_id"]) - {"s:dup#0"}
    assert corpus["s:lonely#0"]["text"] == lonely["text"]  # encoded as the positives are: bare by default
    with_context, _ = split(make_params(context=True), pairs, chunks, curate_rejects=rejects)
    corpus_text = {row["_id"]: row["text"] for row in with_context.corpus}
    assert corpus_text["s:lonely#0"] == f"Code civil > Article 1\n\n{lonely['text']}"
    assert all(row["title"] == "" for row in dataset.corpus)
    eval_ids = {q["_id"] for q in dataset.queries}
    assert {q for q, _, _ in dataset.qrels} == eval_ids
    assert len(dataset.qrels) == len(eval_ids) == summary.extra["eval_pairs"]

    dataset, _ = split(make_params(corpus="all"), pairs, chunks, curate_rejects=rejects)
    assert len(dataset.corpus) == chunks.height
    relevant: dict[str, set[str]] = {}
    for q, c, score in dataset.qrels:
        assert score == 1
        relevant.setdefault(q, set()).add(c)
    chunk_of = dict(pairs.select("pair_id", "chunk_id").iter_rows())
    assert relevant[first] == {copy_of, "s:dup#0"}
    for q, rel in relevant.items():
        assert rel == ({copy_of, "s:dup#0"} if chunk_of[q] == copy_of else {chunk_of[q]})


def test_ict_pairs_train_on_the_passage_and_evaluate_on_the_chunk():
    chunks, pairs = build(n_docs=10, questions_per_chunk=1)
    pairs = pairs.with_columns(positive=pl.lit("passage sans la phrase"), backend=pl.lit("offline"))
    dataset, _ = split(make_params(eval_fraction=0.3), pairs, chunks)
    assert {r["positive"] for r in dataset.train} == {"passage sans la phrase"}
    body = set(chunks["text"])
    assert all(r["positive"] in body for r in dataset.eval)


def test_pairs_on_unknown_chunks_are_rejected_not_lost(tmp_path):
    chunks, pairs = build(n_docs=6)
    pairs = pl.concat([pairs, frame([pair_row("s:gone#0", "perdue ?", "texte")], PAIRS)])
    dataset, summary = split(make_params(), pairs, chunks)
    assert [r["origin"] for r in dataset.rejects] == ["s:gone#0:layperson:0"]
    assert summary.as_dict()["rejects_by_reason"] == {"unknown_chunk": 1}
    assert summary.rows_in == summary.rows_out + 1


def write_inputs(folder, chunks: pl.DataFrame, pairs: pl.DataFrame) -> None:
    write_table(chunks, folder / "chunks.parquet", CHUNKS)
    write_table(pairs, folder / "pairs.parquet", PAIRS)
    write_table(frame([], CURATE_REJECTS), folder / "curate_rejects.parquet", CURATE_REJECTS)


def test_run_writes_the_dataset_folder(tmp_path):
    from datasets import load_dataset

    chunks, pairs = build(n_docs=10)
    write_inputs(tmp_path, chunks, pairs)
    run(make_params(), tmp_path, tmp_path)
    out = tmp_path / "dataset"
    data = load_dataset("json", data_files={"train": str(out / "train.json"), "eval": str(out / "eval.json")})
    assert data["train"].column_names == ["anchor", "positive"]
    assert data["eval"].column_names == ["anchor", "positive"]
    summary = json.loads((out / "split_summary.json").read_text())
    assert data["train"].num_rows == summary["train_pairs"] and data["eval"].num_rows == summary["eval_pairs"]
    assert data["train"].num_rows + data["eval"].num_rows == pairs.height

    corpus = [json.loads(line) for line in (out / "beir" / "corpus.jsonl").read_text().splitlines()]
    queries = [json.loads(line) for line in (out / "beir" / "queries.jsonl").read_text().splitlines()]
    assert all(list(row) == ["_id", "title", "text"] for row in corpus)
    assert all(list(row) == ["_id", "text"] for row in queries)
    qrels = (out / "beir" / "qrels" / "test.tsv").read_text().splitlines()
    assert qrels[0] == "query-id\tcorpus-id\tscore"
    corpus_ids = {row["_id"] for row in corpus}
    judged = set()
    for line in qrels[1:]:
        qid, cid, score = line.split("\t")
        assert cid in corpus_ids and score == "1"
        judged.add(qid)
    assert judged == {q["_id"] for q in queries}
    eval_texts = {row["positive"] for row in data["eval"]}
    assert eval_texts <= {row["text"] for row in corpus}  # evaluation embeds what eval.json holds

    card = (out / "README.md").read_text()
    assert card.startswith("---\nlanguage:\n- fr\n")
    assert "path: train.json" in card and "![question and passage lengths](lengths.png)" in card
    assert f"| pairs | {summary['train_pairs']} | {summary['eval_pairs']} |" in card
    assert (out / "lengths.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert read_table(out / "split.parquet", SPLIT).height == pairs.height
    assert read_table(tmp_path / "split_rejects.parquet").is_empty()


def test_run_reads_documents_for_coarser_groups(tmp_path):
    rng = np.random.default_rng(4)
    docs = [(f"s:art{i}", ["Code", f"Livre {i % 4}"], str(i)) for i in range(12)]
    chunks = frame([chunk_row(f"{d}#0", words(rng)) for d, _, _ in docs], CHUNKS)
    pairs = frame(
        [pair_row(c, f"question {c} ?", t) for c, t in chunks.select("chunk_id", "text").rows()], PAIRS
    )
    write_inputs(tmp_path, chunks, pairs)
    write_table(documents_frame(docs), tmp_path / "documents.parquet", DOCUMENTS)
    summary = run(make_params(group_by="section", section_depth=2), tmp_path, tmp_path)
    assignment = read_table(tmp_path / "dataset" / "split.parquet", SPLIT)
    assert summary.extra["groups"] == 4
    assert set(assignment["group"]) == {f"section:s:Code > Livre {k}" for k in range(4)}


@pytest.mark.slow
def test_hard_negatives_come_from_training_positives_only(tmp_path):
    chunks, pairs = build(n_docs=10, questions_per_chunk=1)
    write_inputs(tmp_path, chunks, pairs)
    params = make_params(
        tmp_path / "cache", hard_negatives={"enabled": True, "num_negatives": 2, "range_max": 10}
    )
    run(params, tmp_path, tmp_path)
    out = tmp_path / "dataset"
    train = [json.loads(line) for line in (out / "train.json").read_text().splitlines()]
    evals = [json.loads(line) for line in (out / "eval.json").read_text().splitlines()]
    assert all(list(row) == ["anchor", "positive", "negative_1", "negative_2"] for row in train)
    positives = {r["positive"] for r in train}
    eval_positives = {r["positive"] for r in evals}
    for row in train:
        assert row["negative_1"] != row["positive"] and row["negative_2"] != row["positive"]
        assert {row["negative_1"], row["negative_2"]} <= positives
        assert not {row["negative_1"], row["negative_2"]} & eval_positives
    summary = json.loads((out / "split_summary.json").read_text())
    assert summary["negatives"]["mined"] + summary["negatives"]["random"] == len(train)
    assert "Hard negatives" in (out / "README.md").read_text()


def test_bm25_hard_negatives_open_no_model(tmp_path, monkeypatch):
    import lexqa.split

    def no_model(*args, **kwargs):
        raise AssertionError("split opened the base model for BM25 negatives")

    monkeypatch.setattr(lexqa.split, "open_embedder", no_model)
    chunks, pairs = build(n_docs=10, questions_per_chunk=1)
    # each question holds words of its own chunk and of another document's chunk, so BM25 finds near misses
    head = [text.split()[:4] for text in chunks["text"].to_list()]
    anchors = [" ".join(head[i] + head[(i + 3) % len(head)][:2]) for i in range(pairs.height)]
    pairs = pairs.with_columns(anchor=pl.Series(anchors))
    write_inputs(tmp_path, chunks, pairs)
    run(
        make_params(hard_negatives={"enabled": True, "retriever": "bm25", "relative_margin": 0.0}),
        tmp_path,
        tmp_path,
    )
    out = tmp_path / "dataset"
    train = [json.loads(line) for line in (out / "train.json").read_text().splitlines()]
    summary = json.loads((out / "split_summary.json").read_text())
    assert all(row["negative"] != row["positive"] for row in train)
    assert summary["negatives"]["mined"] > len(train) // 2 and "embeddings" not in summary
    assert "on BM25 scores" in (out / "README.md").read_text()


def test_corpus_pairs_holds_only_the_chunks_with_pairs():
    chunks, pairs = build(n_docs=10, questions_per_chunk=1)
    extra = chunk_row("s:lonely#0", "un texte sans aucune question écrite pour lui dans ce corpus")
    chunks = pl.concat([chunks, frame([extra], CHUNKS)])
    distinct, _ = split(make_params(), pairs, chunks)
    only_pairs, _ = split(make_params(corpus="pairs"), pairs, chunks)
    assert "s:lonely#0" in {c["_id"] for c in distinct.corpus}
    assert {c["_id"] for c in only_pairs.corpus} == set(pairs["chunk_id"])
