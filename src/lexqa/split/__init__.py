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

Each of these is a step of :class:`Splitting`. The dataset card (:mod:`.card`) lists curate's filters as
``curate_summary.json`` records them (the split never imports the curate stage).

    >>> from lexqa.config import load_params
    >>> from lexqa import split
    >>> summary = split.run(load_params())             # doctest: +SKIP
"""

from __future__ import annotations

import json
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


class Splitting:
    """The pairs being split and what each step adds to them; :func:`split` runs the steps in order."""

    def __init__(
        self,
        params: Params,
        pairs: pl.DataFrame,
        chunks: pl.DataFrame,
        documents: pl.DataFrame | None = None,
        curate_rejects: pl.DataFrame | None = None,
        encoder: Embedder | None = None,
    ) -> None:
        self.params = params
        self.pairs = pairs
        self.chunks = chunks
        self.documents = documents
        self.curate_rejects = curate_rejects
        self.encoder = encoder
        self.summary = StageSummary("split")
        self.summary.rows_in = pairs.height
        self.rejects: list[dict[str, str | None]] = []
        with_context = params.curate.positive_context
        self.chunk_text = {
            cid: positive_text(ctx, text, with_context)
            for cid, ctx, text in chunks.select("chunk_id", "context", "text").iter_rows()
        }
        """chunk id → the text a model reads for it (the evaluation corpus and ``eval.json``'s positives)."""
        self.body = dict(chunks.select("chunk_id", "text").iter_rows())
        """chunk id → its bare text (near-duplicate detection)."""
        self.keys: list[str] = []  # the document group of every pair
        self.links: list[tuple[int, int]] = []  # pairs (row indices) whose groups must be merged
        self.sizes: dict[str, int] = {}
        self.sides: dict[str, str] = {}  # group → train / eval
        self.leakage: dict[str, int] = {}
        self.resplits = 0
        self.train_pairs = self.eval_pairs = pairs.clear()
        self.corpus: list[dict[str, str]] = []
        self.queries: list[dict[str, str]] = []
        self.qrels: list[tuple[str, str, int]] = []
        self.eval_rows: list[dict[str, str]] = []
        self.train_rows: list[dict[str, str]] = []

    def drop_unknown_chunks(self) -> None:
        """Pairs whose chunk is not in chunks.parquet become ``unknown_chunk`` rejects."""
        known = self.pairs["chunk_id"].is_in(self.chunks["chunk_id"].implode())
        for row in self.pairs.filter(~known).iter_rows(named=True):
            self.rejects.append(
                {
                    "stage": "split",
                    "source": row["source"],
                    "origin": row["pair_id"],
                    "reason": "unknown_chunk",
                    "detail": f"chunk {row['chunk_id']} is not in chunks.parquet",
                    "duplicate_of": None,
                }
            )
            self.summary.reject("unknown_chunk")
        if self.rejects:
            log.warning("split: %d pair(s) whose chunk is not in chunks.parquet left out", len(self.rejects))
        self.pairs = self.pairs.filter(known)

    def link_groups(self) -> None:
        """1–2. Every pair's group (its document's, or a coarser one), and the links that merge groups: pairs
        whose positives are near-duplicates, pairs with the same question."""
        pairs = self.pairs
        doc_group = _doc_groups(self.params, pairs["doc_id"].unique().sort().to_list(), self.documents)
        self.keys = [doc_group[d] for d in pairs["doc_id"].to_list()]
        chunk_ids = pairs["chunk_id"].unique(maintain_order=True).to_list()
        first_pair = {cid: i for i, cid in reversed(list(enumerate(pairs["chunk_id"].to_list())))}
        self.links = [
            (first_pair[chunk_ids[a]], first_pair[chunk_ids[b]])
            for a, b in _links(
                [self.body[c] for c in chunk_ids], self.params.split.near_dup_threshold, self.params
            )
        ]
        same_question = dedup.exact_duplicates(pairs["anchor"].to_list())
        self.links += [
            (int(i), int(same_question[i])) for i in np.flatnonzero(same_question != np.arange(pairs.height))
        ]

    def assign_sides(self) -> None:
        """3–4. Merge linked groups, give whole groups to train or eval (seeded, per domain), then check the
        split for leakage: what the check finds (a near-duplicate the first MinHash pass missed) links the
        groups concerned and the split is made again."""
        s = self.params.split
        while True:
            pairs = self.pairs.with_columns(
                group=pl.Series(grouping.merge(self.keys, self.links), dtype=pl.String)
            )
            self.sizes = dict(pairs.group_by("group").len().iter_rows())
            first_domain = pairs.group_by("group", maintain_order=True).agg(pl.col("domain").first())
            strata = {g: (d if s.stratify else "all") for g, d in first_domain.iter_rows()}
            self.sides = grouping.assign(self.sizes, strata, s.eval_fraction, self.params.seed)
            pairs = pairs.with_columns(
                side=pl.col("group").replace_strict(self.sides, return_dtype=pl.String)
            )
            self.leakage, more = check_leakage(pairs, self.body, self.params)
            if not any(self.leakage.values()):
                break
            if not more or self.resplits == _MAX_RESPLITS:
                raise LeakageError(f"texts on both sides of the split: {self.leakage}")
            log.warning(
                "split: the check found texts on both sides %s: merging their groups, splitting again",
                self.leakage,
            )
            self.links += more
            self.resplits += 1
        self.pairs = pairs
        self.train_pairs = pairs.filter(pl.col("side") == "train")
        self.eval_pairs = pairs.filter(pl.col("side") == "eval")

    def evaluation_side(self) -> None:
        """5. The evaluation corpus (``split.corpus``: distinct chunks, all, or those with pairs; with ``all``,
        curate's duplicate chunks are relevant too), the eval queries, their qrels and ``eval.json``'s rows."""
        s = self.params.split
        duplicate_of: dict[str, str] = {}
        if self.curate_rejects is not None:
            dup_rows = self.curate_rejects.filter(pl.col("level") == "chunk").select("origin", "duplicate_of")
            duplicate_of = dict(dup_rows.iter_rows())
        with_pairs = set(self.pairs["chunk_id"].to_list())
        corpus_ids = [
            c
            for c in self.chunks["chunk_id"].to_list()
            if s.corpus == "all" or (c not in duplicate_of and (s.corpus == "distinct" or c in with_pairs))
        ]
        copies: dict[str, list[str]] = {}
        if s.corpus == "all":
            for dup, kept in duplicate_of.items():
                copies.setdefault(kept, []).append(dup)
        self.corpus = [{"_id": c, "title": "", "text": self.chunk_text[c]} for c in corpus_ids]
        eval_pairs = self.eval_pairs
        self.queries = [
            {"_id": q, "text": a} for q, a in eval_pairs.select("question_id", "anchor").iter_rows()
        ]
        self.qrels = [
            (q, rel, 1)
            for q, c in eval_pairs.select("question_id", "chunk_id").iter_rows()
            for rel in [c, *copies.get(c, [])]
        ]
        self.eval_rows = [
            {"anchor": a, "positive": self.chunk_text[c]}
            for a, c in eval_pairs.select("anchor", "chunk_id").iter_rows()
        ]

    def training_side(self) -> None:
        """``train.json``'s rows: the pairs' own positives (the ict passage when there is one), with hard
        negatives mined among the training positives (:mod:`.negatives`) when ``split.hard_negatives`` is on."""
        self.train_rows = [
            {"anchor": a, "positive": p} for a, p in self.train_pairs.select("anchor", "positive").iter_rows()
        ]
        negatives = self.params.split.hard_negatives
        if not (negatives.enabled and self.train_rows):
            return
        encoder = None
        if negatives.retriever == "model":
            encoder = self.encoder or open_embedder(
                ModelSpec.from_params(self.params.model),
                self.params,
                self.params.split.batch_size,
                label="base",
            )
        languages = sorted(set(self.chunks["lang"].drop_nulls().to_list()))
        self.summary.extra["negatives"] = add_negatives(
            self.train_rows,
            self.train_pairs["group"].to_list(),
            negatives,
            encoder,
            self.params.seed,
            languages,
        )
        if encoder is not None:
            self.summary.extra["embeddings"] = encoding_stats([encoder])

    def dataset(self) -> Dataset:
        """The figures of the summary, and everything the stage writes."""
        pairs, sides = self.pairs, self.sides
        self.summary.rows_out = pairs.height
        self.summary.extra.update(
            train_pairs=self.train_pairs.height,
            eval_pairs=self.eval_pairs.height,
            eval_fraction_actual=round(self.eval_pairs.height / max(pairs.height, 1), 4),
            groups=len(self.sizes),
            train_groups=sum(v == "train" for v in sides.values()),
            eval_groups=sum(v == "eval" for v in sides.values()),
            corpus_size=len(self.corpus),
            eval_queries=len(self.queries),
            qrels=len(self.qrels),
            leakage=self.leakage,
            resplits=self.resplits,
        )
        assignments = pairs.select("pair_id", "question_id", "chunk_id", "group", "side")
        return Dataset(
            self.train_rows,
            self.eval_rows,
            self.corpus,
            self.queries,
            self.qrels,
            assignments,
            pairs,
            self.rejects,
        )


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
    run = Splitting(params, pairs, chunks, documents, curate_rejects, encoder)
    run.drop_unknown_chunks()
    run.link_groups()
    run.assign_sides()
    run.evaluation_side()
    run.training_side()
    return run.dataset(), run.summary


def curate_filters(path: Path) -> dict[str, str] | None:
    """The filters curate applied, as ``curate_summary.json`` at ``path`` describes them (name →
    description, in order); None when the file or its ``filters`` is missing (the card then says so)."""
    if not path.is_file():
        log.warning("split: %s is missing: the dataset card cannot list curate's filters", path)
        return None
    filters = json.loads(path.read_text(encoding="utf-8")).get("filters")
    if filters is None:
        log.warning("split: %s does not list curate's filters (made by an older curate?)", path)
    return filters


def write_dataset(
    dataset: Dataset,
    summary: StageSummary,
    params: Params,
    out: Path,
    curate_reasons: dict[str, int],
    filters: dict[str, str] | None = None,
) -> None:
    """Write the dataset folder: JSON lines, BEIR folder, split.parquet, card, split_summary.json.
    ``curate_reasons`` counts curate's rejects by reason, ``filters`` describes its filters (for the card)."""
    write_jsonl(dataset.train, out / "train.json")
    write_jsonl(dataset.eval, out / "eval.json")
    write_jsonl(dataset.corpus, out / "beir" / "corpus.jsonl")
    write_jsonl(dataset.queries, out / "beir" / "queries.jsonl")
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{c}\t{s}\n" for q, c, s in dataset.qrels)
    write_text(qrels, out / "beir" / "qrels" / "test.tsv")
    write_table(dataset.assignments, out / "split.parquet", SPLIT)
    write_card(out, dataset.pairs, summary.as_dict(), curate_reasons, filters, params)


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
    write_dataset(dataset, summary, params, out, reasons, curate_filters(src / "curate_summary.json"))
    write_table(frame(dataset.rejects, REJECTS), Path(out_dir) / "split_rejects.parquet", REJECTS)
    summary.finish(out / "split_summary.json")
    return summary
