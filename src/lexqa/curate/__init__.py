"""The ``curate`` stage: questions.parquet + chunks.parquet → pairs.parquet + curate_rejects.parquet.

Every generated question either becomes a (question, positive) pair or a rejects row with a reason code, the
measured score and, for a duplicate, the id of the row kept in its place. :class:`Curation` validates the
input, then applies the filters of :data:`lexqa.curate.steps.FILTERS` (one ordered list, also written to
``curate_summary.json`` for the dataset card) in this order, quality before deduplication (so that the row
kept for a group of duplicates is a good one), cheap before expensive within each:

1. validation: ``generation_failed`` (status ``failed``: no question), ``duplicate_question_id``,
   ``unknown_chunk``, ``empty_question``;
2. ``duplicate_chunk`` / ``near_duplicate_chunk``: questions on a chunk whose text repeats another chunk's
   (exact after normalisation, then MinHash LSH, :mod:`lexqa.dedup`); the duplicate chunks themselves are
   listed too, with ``level = chunk``;
3. ``wrong_language``, ``too_short`` / ``too_long``, ``self_reference``, ``copies_chunk`` (:mod:`.filters`);
4. with the base model (or ``curate.filter_model``) and/or BM25 (:mod:`.model_filters`, ``curate.round_trip.retriever``,
   ``curate.easiness.retriever``): ``round_trip_failed``, ``too_easy``;
5. ``duplicate_question`` / ``near_duplicate_question`` (normalised text, then character-shingle MinHash), then
   ``semantic_duplicate_question`` (the filter model's cosine);
6. the LLM judge (:mod:`.judge`, off by default): ``judge_rejected``, ``judge_unparseable``,
   ``judge_failed``.

The positive of a pair is the chunk's text, preceded by its context line and a blank line when
``curate.positive_context`` is on (the ict backend's ``passage`` replaces the text for its own pairs)::

    >>> from lexqa.config import load_params
    >>> from lexqa import curate
    >>> summary = curate.run(load_params())            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import polars as pl

from lexqa import dedup
from lexqa.config import ModelParams, Params
from lexqa.curate import filters, model_filters, steps
from lexqa.curate.steps import Filter
from lexqa.embed import Embedder, ModelSpec, encoding_stats, open_embedder
from lexqa.lang import LanguageDetector
from lexqa.lexical import Bm25, stopwords
from lexqa.models import chunk_token_budget, load_tokenizer
from lexqa.passages import positive_expr
from lexqa.summary import StageSummary
from lexqa.tables import CHUNKS, CURATE_REJECTS, PAIRS, QUESTIONS, read_table, write_table

log = logging.getLogger("lexqa.curate")

CHUNK_FIELDS = ["chunk_id", "doc_id", "text", "context", "lang", "domain", "source", "heading", "n_tokens"]


class Curation:
    """The questions still in (``live``) and the rejects so far; each step (:meth:`validate`, then one per
    filter, :meth:`apply_filters`) moves rows from one to the other."""

    def __init__(self, params: Params, questions: pl.DataFrame, chunks: pl.DataFrame) -> None:
        self.params = params
        self.chunks = chunks
        self.summary = StageSummary("curate")
        self.summary.rows_in = questions.height
        self.rejects: list[pl.DataFrame] = []
        self.live = questions
        self.cosine: dict[str, float] = {}
        self.rank: dict[str, int] = {}
        self.duplicate_chunks = pl.DataFrame(schema={"chunk_id": pl.String, "kept": pl.String})
        self.summary.extra["duplicate_chunks"] = {"duplicate_chunk": 0, "near_duplicate_chunk": 0}
        self.encoder: Embedder | None = None
        """The base model's embedder, open from the first retriever filter on (None for BM25 only)."""
        self._retrievers = "waiting"  # then "open" (the retriever filters), then "done"
        self._question_vectors = np.zeros((0, 0), dtype=np.float32)
        self._vector_row: dict[str, int] = {}

    # ------------------------------------------------------------------------------------------ bookkeeping
    def drop(self, rej: pl.DataFrame, warn: bool = False) -> None:
        """Move the rejected question ids from ``live`` to the rejects (first reason wins)."""
        if rej.is_empty():
            return
        rej = rej.unique("question_id", keep="first", maintain_order=True)
        info = self.live.select("question_id", "chunk_id", "question", "source").unique(
            "question_id", keep="first", maintain_order=True
        )
        rows = rej.join(info, on="question_id", how="left", maintain_order="left")
        self.rejects.append(
            rows.select(
                stage=pl.lit("curate"),
                source=pl.col("source"),
                origin=pl.col("question_id"),
                reason=pl.col("reason"),
                detail=pl.col("detail"),
                duplicate_of=pl.col("duplicate_of"),
                level=pl.lit("question"),
                chunk_id=pl.col("chunk_id"),
                question=pl.col("question"),
                score=pl.col("score"),
            )
        )
        self.live = self.live.filter(~pl.col("question_id").is_in(rej["question_id"].implode()))
        for reason, n in rej.group_by("reason", maintain_order=True).len().iter_rows():
            self.summary.reject(reason, n)
            example = rej.filter(pl.col("reason") == reason).row(0, named=True)
            message = "curate: %d question(s) rejected as %s (e.g. %s: %s)"
            (log.warning if warn else log.info)(message, n, reason, example["question_id"], example["detail"])

    # ------------------------------------------------------------------------------------------ steps
    def validate(self) -> None:
        """Repeated ids, failed generations, questions on unknown chunks, empty questions."""
        repeated = self.live.filter(~pl.col("question_id").is_first_distinct())
        if not repeated.is_empty():
            self.live = self.live.filter(pl.col("question_id").is_first_distinct())
            self._reject_rows(
                repeated, "duplicate_question_id", "question_id already seen in questions.parquet"
            )
        fields = self.chunks.select(CHUNK_FIELDS)
        self.live = self.live.join(fields, on="chunk_id", how="left", maintain_order="left")
        failed = self.live.filter(pl.col("status") != "ok")
        self.drop(filters.rejected(failed["question_id"], "generation_failed", failed["error"]), warn=True)
        unknown = self.live.filter(pl.col("doc_id").is_null())
        detail = ["its chunk is not in chunks.parquet"] * unknown.height
        self.drop(filters.rejected(unknown["question_id"], "unknown_chunk", detail), warn=True)
        empty = self.live.filter(pl.col("question").fill_null("").str.strip_chars() == "")
        self.drop(
            filters.rejected(empty["question_id"], "empty_question", ["no question text"] * empty.height)
        )
        self.live = self.live.with_columns(
            pl.col("question").str.strip_chars(), body=pl.coalesce("passage", "text")
        ).with_columns(positive=positive_expr("body", self.params.curate.positive_context))

    def _reject_rows(self, rows: pl.DataFrame, reason: str, detail: str) -> None:
        """Reject rows that ``live`` cannot name uniquely (repeated question ids)."""
        self.rejects.append(
            rows.select(
                stage=pl.lit("curate"),
                source=pl.lit(None, pl.String()),
                origin=pl.col("question_id"),
                reason=pl.lit(reason),
                detail=pl.lit(detail),
                duplicate_of=pl.col("question_id"),
                level=pl.lit("question"),
                chunk_id=pl.col("chunk_id"),
                question=pl.col("question"),
                score=pl.lit(None, pl.Float64()),
            )
        )
        self.summary.reject(reason, rows.height)
        log.warning("curate: %d row(s) rejected as %s", rows.height, reason)

    def chunk_duplicates(self) -> None:
        """Chunks whose text repeats another's: listed as chunk rejects; their questions are rejected too."""
        c = self.params.curate
        chunks = self.chunks.with_row_index("row").with_columns(
            has_questions=pl.col("chunk_id").is_in(self.live["chunk_id"].implode())
        )
        # The kept chunk of a group is the first one that has questions, else the first in the table.
        chunks = chunks.sort(["has_questions", "row"], descending=[True, False])
        ids = chunks["chunk_id"].to_list()
        texts = chunks["text"].fill_null("").to_list()
        keep_of = np.arange(len(ids))
        reason = np.full(len(ids), "", dtype=object)
        sim = np.ones(len(ids))
        if c.exact_dedup:
            keep_of = dedup.exact_duplicates(texts)
            reason[keep_of != np.arange(len(ids))] = "duplicate_chunk"
        if c.chunk_near_dup.enabled:
            kept = np.flatnonzero(keep_of == np.arange(len(ids)))
            near = dedup.near_duplicates(
                [texts[i] for i in kept],
                threshold=c.chunk_near_dup.threshold,
                unit="word",
                ngram=c.chunk_near_dup.ngram,
                num_perm=c.chunk_near_dup.num_perm,
                seed=self.params.seed,
            )
            hit = near.is_duplicate
            keep_of[kept[hit]] = kept[near.duplicate_of[hit]]
            reason[kept[hit]] = "near_duplicate_chunk"
            sim[kept[hit]] = near.similarity[hit]
            keep_of = keep_of[keep_of]  # exact duplicates of a near duplicate follow it to its kept chunk
        dup = np.flatnonzero(keep_of != np.arange(len(ids)))
        table = pl.DataFrame(
            {
                "chunk_id": [ids[i] for i in dup],
                "kept": [ids[keep_of[i]] for i in dup],
                "reason": [reason[i] or "duplicate_chunk" for i in dup],
                "score": [float(sim[i]) for i in dup],
                "source": chunks["source"].gather(dup).to_list(),
            },
            schema={
                "chunk_id": pl.String,
                "kept": pl.String,
                "reason": pl.String,
                "score": pl.Float64,
                "source": pl.String,
            },
        )
        self.duplicate_chunks = table
        self.rejects.append(
            table.select(
                stage=pl.lit("curate"),
                source=pl.col("source"),
                origin=pl.col("chunk_id"),
                reason=pl.col("reason"),
                detail=pl.when(pl.col("reason") == "duplicate_chunk")
                .then(pl.format("same words as {}", pl.col("kept")))
                .otherwise(pl.format("Jaccard {} with {}", pl.col("score").round(3), pl.col("kept"))),
                duplicate_of=pl.col("kept"),
                level=pl.lit("chunk"),
                chunk_id=pl.col("chunk_id"),
                question=pl.lit(None, pl.String()),
                score=pl.col("score"),
            )
        )
        self.summary.extra["duplicate_chunks"] = {
            r: int((table["reason"] == r).sum()) for r in ("duplicate_chunk", "near_duplicate_chunk")
        }
        on_dup = self.live.join(table, on="chunk_id", how="inner", maintain_order="left")
        for r in ("duplicate_chunk", "near_duplicate_chunk"):
            sel = on_dup.filter(pl.col("reason") == r)
            details = [f"its chunk repeats {k}" for k in sel["kept"]]
            self.drop(
                filters.rejected(
                    sel["question_id"].to_list(), r, details, sel["score"].to_list(), sel["kept"].to_list()
                )
            )

    def language(self) -> None:
        """``wrong_language``: the question is not in its chunk's language (``exempt_backends`` unchecked)."""
        c = self.params.curate
        checked = self.live.filter(~pl.col("backend").is_in(c.language.exempt_backends))
        if not checked.is_empty():
            detector = LanguageDetector({*checked["lang"].unique().to_list(), "en"})
            self.drop(filters.language(checked, detector, c.language.min_confidence))

    def length(self) -> None:
        """``too_short`` / ``too_long``: counts the questions' model tokens (``anchor_tokens``, kept for
        pairs.parquet) and checks them against ``curate.length``."""
        c = self.params.curate
        tokenizer = load_tokenizer(self.params.model.name_or_path)
        questions = self.live["question"].to_list()
        counts = (
            [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
            if questions
            else []
        )
        self.live = self.live.with_columns(anchor_tokens=pl.Series(counts, dtype=pl.Int32))
        self.drop(filters.length(self.live, c.length.min_tokens, c.length.max_tokens))

    def self_reference(self) -> None:
        """``self_reference``: the question points at "this article" instead of naming what it asks about."""
        self.drop(filters.self_reference(self.live, self.params.curate.self_reference.patterns))

    def overlap(self) -> None:
        """``copies_chunk``: the question copies a long run or most n-grams of its chunk."""
        self.drop(filters.overlap(self.live, self.params.curate.overlap))

    def _repeatable(self) -> pl.Expr:
        """Rows of ``curate.repeat_styles``: their question may stand for several chunks."""
        return pl.col("style").is_in(self.params.curate.repeat_styles).fill_null(False)

    def _paraphrase_checked(self) -> np.ndarray:
        """A mask of ``live``: the rows the near-duplicate and semantic dedups compare (not repeatable ones)."""
        return self.live.select(~self._repeatable()).to_series().to_numpy()

    def question_duplicates(self) -> None:
        """``duplicate_question``: the same normalised words as an earlier question (for the styles of
        ``curate.repeat_styles``, an earlier question on the same chunk)."""
        ids = self.live["question_id"].to_list()
        if not ids:
            return
        scope = self.live.select(
            pl.when(self._repeatable()).then("chunk_id").otherwise(pl.lit(""))
        ).to_series()
        keep_of = dedup.exact_duplicates(self.live["question"].to_list(), scope=scope.to_list())
        dup = np.flatnonzero(keep_of != np.arange(len(ids)))
        kept = [ids[keep_of[i]] for i in dup]
        self.drop(
            filters.rejected(
                [ids[i] for i in dup],
                "duplicate_question",
                [f"same words as {k}" for k in kept],
                [1.0] * len(dup),
                kept,
            )
        )

    def question_near_duplicates(self) -> None:
        """``near_duplicate_question``: character-shingle MinHash Jaccard with an earlier question."""
        c = self.params.curate.question_near_dup
        checked = self.live.filter(self._paraphrase_checked())
        ids = checked["question_id"].to_list()
        if not ids:
            return
        near = dedup.near_duplicates(
            checked["question"].to_list(),
            threshold=c.threshold,
            unit="char",
            ngram=c.ngram,
            num_perm=c.num_perm,
            seed=self.params.seed,
        )
        dup = np.flatnonzero(near.is_duplicate)
        kept = [ids[near.duplicate_of[i]] for i in dup]
        details = [f"Jaccard {near.similarity[i]:.3f} with {k}" for i, k in zip(dup, kept, strict=True)]
        self.drop(
            filters.rejected(
                [ids[i] for i in dup], "near_duplicate_question", details, near.similarity[dup].tolist(), kept
            )
        )

    # ------------------------------------------------------------------------------------------ retrievers
    def open_retrievers(self, encoder: Embedder | None, active: list[Filter]) -> None:
        """Before the first retriever filter: open the base model's embedder when an ``active`` filter needs
        it (not when only BM25 is asked for) and encode the questions still in, once for all of them."""
        if self._retrievers != "waiting":
            return
        self._retrievers = "open"
        if not any(f.retriever(self.params) in ("model", "both") for f in active):
            return
        model = self.filter_model()
        self.encoder = encoder or open_embedder(
            ModelSpec.from_params(model), self.params, self.params.curate.batch_size, label="base"
        )
        self.summary.extra["base_model"] = model.name_or_path
        self._question_vectors = self.encoder.queries(self.live["question"].to_list())
        self._vector_row = {qid: i for i, qid in enumerate(self.live["question_id"].to_list())}

    def filter_model(self) -> ModelParams:
        """The model the model-based filters encode with: ``curate.filter_model``, else the base model."""
        return self.params.curate.filter_model or self.params.model

    def question_vectors(self) -> np.ndarray:
        """The filter model's vectors (the base model unless ``curate.filter_model``) of the questions still
        in, in ``live``'s order."""
        return self._question_vectors[[self._vector_row[q] for q in self.live["question_id"].to_list()]]

    def measure_cosine(self) -> np.ndarray | None:
        """Question–positive cosine of every pair still in (pairs.parquet's ``cosine``), once, by the base
        model; None without it."""
        if self.encoder is None or self.live.is_empty():
            return None
        cosine = np.einsum(
            "ij,ij->i", self.question_vectors(), self.encoder.passages(self.live["positive"].to_list())
        )
        self.cosine = dict(zip(self.live["question_id"].to_list(), cosine.tolist(), strict=True))
        return cosine

    def close_retrievers(self) -> None:
        """After the last retriever filter: the cosine of the pairs still in (when easiness did not measure
        it) and the embedding layer's counts."""
        if self._retrievers != "open":
            return
        self._retrievers = "done"
        if not self.cosine:
            self.measure_cosine()
        if self.encoder is not None:
            self.summary.extra["embeddings"] = encoding_stats([self.encoder])

    def semantic_duplicates(self) -> None:
        """``semantic_duplicate_question``: base-model cosine with an earlier question of its language. The
        summary records, per language, how alike unrelated questions look to the model; a threshold too close
        to that is warned about, with the threshold that would sit where :data:`model_filters.MARGIN` says."""
        threshold = self.params.curate.semantic_dedup.threshold
        checked = self._paraphrase_checked()
        live = self.live.filter(checked)
        vectors = self.question_vectors()[checked]
        langs = live["lang"].to_numpy()
        unrelated = {}
        for lang in sorted(set(langs.tolist())):
            mean = model_filters.unrelated_cosine(vectors[langs == lang], self.params.seed)
            if math.isnan(mean):
                continue
            unrelated[lang] = round(mean, 3)
            if model_filters.threshold_margin(threshold, mean) < model_filters.MARGIN:
                log.warning(
                    "curate: unrelated %s questions have a cosine of %.3f on average under %s, so "
                    "curate.semantic_dedup.threshold %.3f also rejects distinct questions as paraphrases; "
                    "%.3f or more keeps them apart (docs/curate.md)",
                    lang,
                    mean,
                    self.filter_model().name_or_path,
                    threshold,
                    mean + model_filters.MARGIN * (1 - mean),
                )
        self.summary.extra["unrelated_question_cosine"] = unrelated
        self.drop(model_filters.semantic_duplicates(live, vectors, threshold))

    def _languages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.chunks["lang"].drop_nulls().to_list())))

    def round_trip(self) -> None:
        """``round_trip_failed``: rank of each question's chunk among all distinct chunks, by the model, BM25
        or both (the worse), kept for pairs.parquet's ``rank``."""
        c = self.params.curate
        retriever = c.round_trip.retriever
        dup_ids = self.duplicate_chunks["chunk_id"].implode()
        corpus = self.chunks.filter(~pl.col("chunk_id").is_in(dup_ids)).with_columns(
            corpus_text=positive_expr("text", c.positive_context)
        )
        index = {cid: i for i, cid in enumerate(corpus["chunk_id"].to_list())}
        positive = np.array([index[cid] for cid in self.live["chunk_id"].to_list()])
        texts = corpus["corpus_text"].to_list()
        rank = np.ones(len(positive), dtype=np.int64)
        if retriever in ("model", "both"):
            passages = self.encoder.passages(texts)
            rank = np.maximum(rank, model_filters.ranks(self.question_vectors(), passages, positive))
        if retriever in ("bm25", "both"):
            bm25 = Bm25(texts, self._languages()).ranks(self.live["question"].to_list(), positive)
            rank = np.maximum(rank, bm25)
        self.rank = dict(zip(self.live["question_id"].to_list(), rank.tolist(), strict=True))
        by = {"both": "the model and bm25 (the worse)"}.get(retriever, retriever)
        self.drop(model_filters.round_trip(self.live, rank, c.round_trip.top_k, by))

    def easiness(self) -> None:
        """``too_easy``: the easiest ``drop_percent`` % of each language, by the base model's cosine, by the
        share of the question's BM25 terms found in its positive, or by both (the lower of the two
        percentiles: a pair is dropped only when both measures rank it among the easiest)."""
        c = self.params.curate.easiness
        cosine = self.measure_cosine()
        if c.retriever == "model":
            self.drop(model_filters.easiness(self.live, cosine, c.drop_percent))
            return
        coverage = model_filters.term_coverage(
            self.live["question"].to_list(), self.live["positive"].to_list(), stopwords(self._languages())
        )
        if c.retriever == "bm25":
            self.drop(model_filters.easiness(self.live, coverage, c.drop_percent, "bm25 term coverage"))
            return
        lower = model_filters.lower_percentile(cosine, coverage, self.live["lang"].to_numpy())
        measure = "lower percentile of the model's cosine and bm25 term coverage"
        self.drop(model_filters.easiness(self.live, lower, c.drop_percent, measure))

    # ------------------------------------------------------------------------------------------ judge
    def judge(self) -> None:
        """The LLM judge, last: it costs money, so it only sees questions every other filter kept."""
        if self.live.is_empty():
            return
        from lexqa.curate.judge import Judge  # the openai client is only imported when the judge is on

        judge = Judge(self.params.curate.judge, self.params.generate)
        with_context = self.params.curate.positive_context
        pairs = self.live.select("question_id", "question", passage=positive_expr("text", with_context))
        self.drop(judge(pairs))
        self.summary.extra["judge"] = judge.stats

    # ------------------------------------------------------------------------------------------ all filters
    def apply_filters(self, encoder: Embedder | None = None) -> None:
        """Every filter ``params`` enables, in :data:`.steps.FILTERS` order, listed in the summary as the card
        describes them. The retriever filters share one opening of the base model (``encoder`` replaces it),
        from the first of them to the last (text filters between them run meanwhile), and skip when no
        question is left."""
        active = steps.enabled(self.params)
        self.summary.extra["filters"] = steps.descriptions(self.params)
        needs = [f.retriever(self.params) is not None for f in active]
        last = max((i for i, needed in enumerate(needs) if needed), default=-1)
        for i, f in enumerate(active):
            if needs[i]:
                if self.live.is_empty():
                    continue
                self.open_retrievers(encoder, active)
            f.apply(self)
            if i == last:
                self.close_retrievers()
        self.close_retrievers()

    # ------------------------------------------------------------------------------------------ outputs
    def pairs(self) -> pl.DataFrame:
        live = self.live
        tokenizer = load_tokenizer(self.params.model.name_or_path)
        positives = list(dict.fromkeys(live["positive"].to_list()))
        counts = tokenizer(positives, add_special_tokens=False)["input_ids"] if positives else []
        n_tokens = {p: len(ids) for p, ids in zip(positives, counts, strict=True)}
        ids = live["question_id"].to_list()
        return live.select(
            pair_id=pl.col("question_id"),
            question_id=pl.col("question_id"),
            chunk_id=pl.col("chunk_id"),
            doc_id=pl.col("doc_id"),
            anchor=pl.col("question"),
            positive=pl.col("positive"),
            lang=pl.col("lang"),
            domain=pl.col("domain"),
            source=pl.col("source"),
            style=pl.col("style"),
            backend=pl.col("backend"),
            heading=pl.col("heading"),
            anchor_tokens=pl.col("anchor_tokens").cast(pl.Int32),
            positive_tokens=pl.Series([n_tokens[p] for p in live["positive"].to_list()], dtype=pl.Int32),
            cosine=pl.Series([self.cosine.get(q) for q in ids], dtype=pl.Float32),
            rank=pl.Series([self.rank.get(q) for q in ids], dtype=pl.Int32),
        )

    def rejects_table(self) -> pl.DataFrame:
        if not self.rejects:
            return pl.DataFrame(schema=CURATE_REJECTS)
        return pl.concat([r.cast(CURATE_REJECTS) for r in self.rejects]).select(list(CURATE_REJECTS))


def curate(
    params: Params, questions: pl.DataFrame, chunks: pl.DataFrame, encoder: Embedder | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, StageSummary]:
    """Filter and deduplicate ``questions``; return (pairs, rejects, summary) without writing anything.

    ``encoder`` replaces the base model's embedder of the model-based filters (tests pass their own)."""
    drop_percent = params.curate.easiness.drop_percent
    if params.curate.easiness.enabled and 0 < drop_percent < 1:
        log.warning(
            "curate.easiness.drop_percent is %g: that drops %g %% of the pairs (the unit is percent, 0–100); "
            "write %g to drop %g %%",
            drop_percent,
            drop_percent,
            drop_percent * 100,
            drop_percent * 100,
        )
    run = Curation(params, questions, chunks)
    run.validate()
    run.apply_filters(encoder)
    pairs = run.pairs()
    summary = run.summary
    summary.rows_out = pairs.height
    summary.extra["chunks_in"] = chunks.height
    summary.extra["pairs_by_lang"] = dict(pairs.group_by("lang").len().sort("lang").iter_rows())
    summary.extra["pairs_by_domain"] = dict(pairs.group_by("domain").len().sort("domain").iter_rows())
    summary.extra["chunks_with_pairs"] = pairs["chunk_id"].n_unique()
    budget = chunk_token_budget(params.model, 10**9)  # the model's length less its prompt and special tokens
    over = int((pairs["positive_tokens"] > budget).sum())
    summary.extra["positives_over_model_length"] = over
    if over:
        log.warning(
            "curate: %d positive(s) exceed the %d tokens %s reads: their end is cut when embedded "
            "(chunk.max_tokens is above what the model reads, or a context line took more than half of it)",
            over,
            budget,
            params.model.name_or_path,
        )
    return pairs, run.rejects_table(), summary


def run(
    params: Params, in_dir: str | Path = "data/processed", out_dir: str | Path = "data/processed"
) -> StageSummary:
    """Run the stage: write pairs.parquet, curate_rejects.parquet and curate_summary.json in ``out_dir``."""
    src, out = Path(in_dir), Path(out_dir)
    questions = read_table(src / "questions.parquet", QUESTIONS)
    chunks = read_table(src / "chunks.parquet", CHUNKS)
    pairs, rejects, summary = curate(params, questions, chunks)
    write_table(pairs, out / "pairs.parquet", PAIRS)
    write_table(rejects, out / "curate_rejects.parquet", CURATE_REJECTS)
    summary.finish(out / "curate_summary.json")
    return summary
