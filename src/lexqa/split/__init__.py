"""The ``split`` stage: pairs.parquet → dataset/ (train.json, eval.json, beir/, split.parquet, README.md).

1. Every pair gets the group of its document (:mod:`.groups`: document, code section or case number).
2. Groups are merged when they share a near-duplicate positive (word 5-gram Jaccard ≥
   ``split.near_dup_threshold``, :mod:`lexqa.dedup`) or an identical question, so that no text is on both
   sides.
3. Groups are shuffled with ``seed`` and given to eval until ``eval_fraction`` of the pairs (of each domain).
4. The leakage check recomputes exact and near duplicates across the two sides (another MinHash seed); what
   it finds merges the groups concerned and the split is made again, until it finds nothing.
5. The evaluation corpus is every distinct chunk (or every chunk), with the text training uses as positive;
   queries and qrels are the eval pairs. ``train.json`` gets hard negatives mined among training positives.

    >>> from lexqa.config import load_params
    >>> from lexqa import split
    >>> summary = split.run(load_params())             # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from lexqa import dedup
from lexqa.config import Params
from lexqa.embed import Embedder, ModelSpec, encoding_stats, open_embedder
from lexqa.passages import positive_text
from lexqa.split import groups as grouping
from lexqa.split.card import write_card
from lexqa.split.negatives import add_negatives
from lexqa.summary import StageSummary
from lexqa.tables import (
    CHUNKS,
    CURATE_REJECTS,
    DOCUMENTS,
    PAIRS,
    REJECTS,
    SPLIT,
    frame,
    read_table,
    write_jsonl,
    write_table,
    write_text,
)

log = logging.getLogger("lexqa.split")
_MAX_RESPLITS = 5


class LeakageError(RuntimeError):
    """The leakage check still finds a text on both sides after merging what it found (a bug)."""


@dataclass
class Dataset:
    """Everything the stage writes, in memory."""

    train: list[dict[str, str]]
    eval: list[dict[str, str]]
    corpus: list[dict[str, str]]
    queries: list[dict[str, str]]
    qrels: list[tuple[str, str, int]]
    assignments: pl.DataFrame  # tables.SPLIT
    pairs: pl.DataFrame  # the pairs with their side, for the card
    rejects: list[dict[str, str | None]] = field(default_factory=list)


def _doc_groups(params: Params, doc_ids: list[str], documents: pl.DataFrame | None) -> dict[str, str]:
    s = params.split
    if s.group_by == "document" or documents is None:
        return {d: d for d in doc_ids}
    meta = {
        row["doc_id"]: row
        for row in documents.filter(pl.col("doc_id").is_in(doc_ids))
        .select("doc_id", "source", "path", "number")
        .iter_rows(named=True)
    }
    missing = [d for d in doc_ids if d not in meta]
    if missing:
        log.warning(
            "split: %d document(s) not in documents.parquet, grouped alone (e.g. %s)",
            len(missing),
            missing[0],
        )
    return {
        d: grouping.doc_group(s.group_by, s.section_depth, d, m["source"], m["path"], m["number"])
        if (m := meta.get(d))
        else d
        for d in doc_ids
    }


def _links(texts: list[str], threshold: float, params: Params) -> list[tuple[int, int]]:
    """(i, kept) for every text that duplicates an earlier one, exactly or at ``threshold`` Jaccard."""
    exact = dedup.exact_duplicates(texts)
    links = [(int(i), int(exact[i])) for i in np.flatnonzero(exact != np.arange(len(texts)))]
    near = dedup.near_duplicates(
        texts,
        threshold=threshold,
        unit="word",
        ngram=params.curate.chunk_near_dup.ngram,
        num_perm=params.curate.chunk_near_dup.num_perm,
        seed=params.seed,
    )
    links += [(int(i), int(near.duplicate_of[i])) for i in np.flatnonzero(near.is_duplicate)]
    return links


def check_leakage(
    pairs: pl.DataFrame, body: dict[str, str], params: Params
) -> tuple[dict[str, int], list[tuple[int, int]]]:
    """Check a split (``pairs`` with a ``side`` column) independently of how it was made: positives with the
    same normalised words on both sides, clusters of near-duplicate positives spanning both sides (a fresh
    MinHash pass with another seed), identical questions on both sides. Returns the counts and, for the
    near-duplicates found, links between pairs (row indices) whose groups must be merged."""
    chunk_ids = pairs["chunk_id"].unique(maintain_order=True).to_list()
    first_pair = {cid: i for i, cid in reversed(list(enumerate(pairs["chunk_id"].to_list())))}
    sides = pairs["side"].to_list()
    side = np.array([sides[first_pair[c]] == "eval" for c in chunk_ids])
    texts = [body[c] for c in chunk_ids]
    keys = [tuple(k) for k in dedup.exact_keys(texts).tolist()]
    train_keys = {k for k, is_eval in zip(keys, side, strict=True) if not is_eval}
    exact_positive = sum(k in train_keys for k, is_eval in zip(keys, side, strict=True) if is_eval)
    near = dedup.near_duplicates(
        texts,
        threshold=params.split.near_dup_threshold,
        unit="word",
        ngram=params.curate.chunk_near_dup.ngram,
        num_perm=params.curate.chunk_near_dup.num_perm,
        seed=params.seed + 1,
    )
    crossing = [i for i in np.flatnonzero(near.is_duplicate) if side[i] != side[near.duplicate_of[i]]]
    links = [(first_pair[chunk_ids[i]], first_pair[chunk_ids[near.duplicate_of[i]]]) for i in crossing]
    anchors = [tuple(k) for k in dedup.exact_keys(pairs["anchor"].to_list()).tolist()]
    train_anchors = {k for k, s in zip(anchors, sides, strict=True) if s == "train"}
    exact_anchor = sum(k in train_anchors for k, s in zip(anchors, sides, strict=True) if s == "eval")
    near_positive = len({int(near.duplicate_of[i]) for i in crossing})
    counts = {"exact_positive": exact_positive, "near_positive": near_positive, "exact_anchor": exact_anchor}
    return counts, links


def split(
    params: Params,
    pairs: pl.DataFrame,
    chunks: pl.DataFrame,
    documents: pl.DataFrame | None = None,
    curate_rejects: pl.DataFrame | None = None,
    encoder: Embedder | None = None,
) -> tuple[Dataset, StageSummary]:
    """Split ``pairs`` and build the dataset in memory (nothing written). ``curate_rejects`` names the
    duplicate chunks left out of a ``distinct`` corpus; ``encoder`` replaces the base model for hard
    negatives."""
    s = params.split
    summary = StageSummary("split")
    summary.rows_in = pairs.height
    rejects: list[dict[str, str | None]] = []
    with_context = params.curate.positive_context
    chunk_text = {
        cid: positive_text(ctx, text, with_context)
        for cid, ctx, text in chunks.select("chunk_id", "context", "text").iter_rows()
    }
    body = dict(chunks.select("chunk_id", "text").iter_rows())
    known = pairs["chunk_id"].is_in(chunks["chunk_id"].implode())
    for row in pairs.filter(~known).iter_rows(named=True):
        rejects.append(
            {
                "stage": "split",
                "source": row["source"],
                "origin": row["pair_id"],
                "reason": "unknown_chunk",
                "detail": f"chunk {row['chunk_id']} is not in chunks.parquet",
                "duplicate_of": None,
            }
        )
        summary.reject("unknown_chunk")
    if rejects:
        log.warning("split: %d pair(s) whose chunk is not in chunks.parquet left out", len(rejects))
    pairs = pairs.filter(known)

    # 1–2. groups, merged over near-duplicate positives and identical questions
    doc_group = _doc_groups(params, pairs["doc_id"].unique().sort().to_list(), documents)
    keys = [doc_group[d] for d in pairs["doc_id"].to_list()]
    chunk_ids = pairs["chunk_id"].unique(maintain_order=True).to_list()
    first_pair = {cid: i for i, cid in reversed(list(enumerate(pairs["chunk_id"].to_list())))}
    links = [
        (first_pair[chunk_ids[a]], first_pair[chunk_ids[b]])
        for a, b in _links([body[c] for c in chunk_ids], s.near_dup_threshold, params)
    ]
    same_question = dedup.exact_duplicates(pairs["anchor"].to_list())
    links += [
        (int(i), int(same_question[i])) for i in np.flatnonzero(same_question != np.arange(pairs.height))
    ]

    # 3. sides, then the leakage check: what it finds (a near-duplicate the first MinHash pass missed) merges
    # the groups concerned and the split is made again
    resplits = 0
    while True:
        pairs = pairs.with_columns(group=pl.Series(grouping.merge(keys, links), dtype=pl.String))
        sizes = dict(pairs.group_by("group").len().iter_rows())
        first_domain = pairs.group_by("group", maintain_order=True).agg(pl.col("domain").first())
        strata = {g: (d if s.stratify else "all") for g, d in first_domain.iter_rows()}
        sides = grouping.assign(sizes, strata, s.eval_fraction, params.seed)
        pairs = pairs.with_columns(side=pl.col("group").replace_strict(sides, return_dtype=pl.String))
        leakage, more = check_leakage(pairs, body, params)
        if not any(leakage.values()):
            break
        if not more or resplits == _MAX_RESPLITS:
            raise LeakageError(f"texts on both sides of the split: {leakage}")
        log.warning(
            "split: the check found texts on both sides %s: merging their groups, splitting again", leakage
        )
        links += more
        resplits += 1
    train_pairs = pairs.filter(pl.col("side") == "train")
    eval_pairs = pairs.filter(pl.col("side") == "eval")

    # 5. eval corpus, queries, qrels; train rows
    duplicate_of: dict[str, str] = {}
    if curate_rejects is not None:
        dup_rows = curate_rejects.filter(pl.col("level") == "chunk").select("origin", "duplicate_of")
        duplicate_of = dict(dup_rows.iter_rows())
    with_pairs = set(pairs["chunk_id"].to_list())
    corpus_ids = [
        c
        for c in chunks["chunk_id"].to_list()
        if s.corpus == "all" or (c not in duplicate_of and (s.corpus == "distinct" or c in with_pairs))
    ]
    copies: dict[str, list[str]] = {}
    if s.corpus == "all":
        for dup, kept in duplicate_of.items():
            copies.setdefault(kept, []).append(dup)
    corpus = [{"_id": c, "title": "", "text": chunk_text[c]} for c in corpus_ids]
    queries = [{"_id": q, "text": a} for q, a in eval_pairs.select("question_id", "anchor").iter_rows()]
    qrels = [
        (q, rel, 1)
        for q, c in eval_pairs.select("question_id", "chunk_id").iter_rows()
        for rel in [c, *copies.get(c, [])]
    ]
    eval_rows = [
        {"anchor": a, "positive": chunk_text[c]}
        for a, c in eval_pairs.select("anchor", "chunk_id").iter_rows()
    ]
    train_rows = [
        {"anchor": a, "positive": p} for a, p in train_pairs.select("anchor", "positive").iter_rows()
    ]
    if s.hard_negatives.enabled and train_rows:
        encoder = encoder or open_embedder(
            ModelSpec.from_params(params.model), params, s.batch_size, label="base"
        )
        summary.extra["negatives"] = add_negatives(
            train_rows, train_pairs["group"].to_list(), s.hard_negatives, encoder, params.seed
        )
        summary.extra["embeddings"] = encoding_stats([encoder])

    summary.rows_out = pairs.height
    summary.extra.update(
        train_pairs=train_pairs.height,
        eval_pairs=eval_pairs.height,
        eval_fraction_actual=round(eval_pairs.height / max(pairs.height, 1), 4),
        groups=len(sizes),
        train_groups=sum(v == "train" for v in sides.values()),
        eval_groups=sum(v == "eval" for v in sides.values()),
        corpus_size=len(corpus),
        eval_queries=len(queries),
        qrels=len(qrels),
        leakage=leakage,
        resplits=resplits,
    )
    assignments = pairs.select("pair_id", "question_id", "chunk_id", "group", "side")
    return (
        Dataset(train_rows, eval_rows, corpus, queries, qrels, assignments, pairs, rejects),
        summary,
    )


def write_dataset(
    dataset: Dataset, summary: StageSummary, params: Params, out: Path, curate_reasons: dict[str, int]
) -> None:
    """Write the dataset folder: JSON lines, BEIR folder, split.parquet, card, split_summary.json."""
    write_jsonl(dataset.train, out / "train.json")
    write_jsonl(dataset.eval, out / "eval.json")
    write_jsonl(dataset.corpus, out / "beir" / "corpus.jsonl")
    write_jsonl(dataset.queries, out / "beir" / "queries.jsonl")
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{c}\t{s}\n" for q, c, s in dataset.qrels)
    write_text(qrels, out / "beir" / "qrels" / "test.tsv")
    write_table(dataset.assignments, out / "split.parquet", SPLIT)
    write_card(out, dataset.pairs, summary.as_dict(), curate_reasons, params)


def run(
    params: Params, in_dir: str | Path = "data/processed", out_dir: str | Path = "data/processed"
) -> StageSummary:
    """Run the stage: write ``dataset/`` and ``split_rejects.parquet`` in ``out_dir``."""
    src = Path(in_dir)
    out = Path(out_dir) / "dataset"
    pairs = read_table(src / "pairs.parquet", PAIRS)
    chunks = read_table(src / "chunks.parquet", CHUNKS)
    rejects = read_table(src / "curate_rejects.parquet", CURATE_REJECTS)
    documents = (
        read_table(src / "documents.parquet", DOCUMENTS) if params.split.group_by != "document" else None
    )
    dataset, summary = split(params, pairs, chunks, documents, rejects)
    reasons = dict(
        rejects.filter(pl.col("level") == "question").group_by("reason").len().sort("reason").iter_rows()
    )
    write_dataset(dataset, summary, params, out, reasons)
    write_table(frame(dataset.rejects, REJECTS), Path(out_dir) / "split_rejects.parquet", REJECTS)
    summary.finish(out / "split_summary.json")
    return summary
