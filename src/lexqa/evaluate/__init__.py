"""The ``evaluate`` stage: base model vs fine-tuned model vs BM25 on the eval split and external benchmarks.

Reads ``data/processed/dataset/beir`` (written by ``split``), the benchmarks listed in
``evaluate.benchmarks`` (BEIR folders), the base model (``model.name_or_path``, with the prompts of
``model``) and the fine-tuned model ``models/lexqa`` (its own saved prompts). Their vectors come from the
shared embedding layer (:mod:`lexqa.embed`): what an earlier stage or run encoded is read from the cache,
the rest is encoded once. The metrics of sentence-transformers' ``InformationRetrievalEvaluator``
(accuracy/precision/recall at 1, 3, 5, 10, nDCG@10, MRR@10, MAP@100) are computed at each dimension of
``train.matryoshka_dims`` by slicing and renormalising the embeddings. Writes:

- ``metrics/eval.json``: DVC metrics, dataset → model → ``dim_<d>`` → metric (``dvc metrics diff``);
- ``plots/ndcg_by_dim.csv``: DVC plot data, nDCG@10 by dimension on the eval split: base, fine-tuned, BM25;
- ``data/processed/evaluate_queries.parquet``: per set, system, dimension and query, its nDCG@10, the rank of
  its first relevant passage and the passage ranked first (:mod:`lexqa.evaluate.per_query`);
- ``reports/eval.md``: the tables with the gain over the base model, printed at the end of the stage;
- ``data/processed/evaluate_rejects.parquet`` (malformed BEIR lines) and ``evaluate_summary.json``.

    >>> from lexqa.config import load_params
    >>> from lexqa import evaluate
    >>> results = evaluate.run(load_params())                      # doctest: +SKIP
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path

import polars as pl

from lexqa.config import Params
from lexqa.embed import Embedder, ModelSpec, encoding_stats, open_embedder
from lexqa.evaluate.beir import BeirSet, load_beir
from lexqa.evaluate.per_query import SCHEMA as PER_QUERY_SCHEMA
from lexqa.evaluate.per_query import query_frame
from lexqa.evaluate.report import (
    HEADLINE,
    PLOT_SCHEMA,
    DatasetResult,
    dim_table,
    markdown,
    metrics_json,
    ndcg_rows,
)
from lexqa.evaluate.retrieval import metrics_of, rank_bm25, vector_rankings
from lexqa.lexical import bm25_languages
from lexqa.models import check_dims
from lexqa.paths import DATASET, MODEL_DIR
from lexqa.summary import StageSummary
from lexqa.tables import REJECTS, atomic_path, frame, write_json, write_table, write_text

__all__ = ["BeirSet", "DatasetResult", "load_beir", "run"]

log = logging.getLogger("lexqa.evaluate")

METRICS = Path("metrics/eval.json")
PLOT = Path("plots/ndcg_by_dim.csv")
REPORT = Path("reports/eval.md")
REJECTS_PATH = Path("data/processed/evaluate_rejects.parquet")
SUMMARY = Path("data/processed/evaluate_summary.json")
PER_QUERY = Path("data/processed/evaluate_queries.parquet")


def _embedder(params: Params, which: str, root: Path) -> Embedder:
    """The base model (prompts and length from params) or the fine-tuned one (those saved with it)."""
    tuned = which == "finetuned"
    spec = ModelSpec.from_folder(root / MODEL_DIR) if tuned else ModelSpec.from_params(params.model)
    return open_embedder(spec, params, params.evaluate.batch_size, label=which, root=root)


def run(params: Params, root: str | Path = ".") -> list[DatasetResult]:
    """Evaluate and write metrics, plot data and report under ``root``; returns the results per dataset."""
    root = Path(root)
    if not (root / MODEL_DIR / "modules.json").exists():
        raise FileNotFoundError(f"{root / MODEL_DIR} has no model: run the train stage first (dvc repro)")
    summary = StageSummary("evaluate")
    rejects: list[dict] = []
    sets = [load_beir(root / DATASET / "beir", "eval", rejects)]
    sets += [load_beir(root / b.path, b.name, rejects) for b in params.evaluate.benchmarks]
    for data in sets:
        if not data.query_ids:
            log.warning("%s: no query has a relevant passage in the qrels: nothing to evaluate", data.name)
    sets = [s for s in sets if s.query_ids]
    results = {s.name: DatasetResult(s.name, len(s.query_ids), len(s.corpus_ids), s.graded) for s in sets}
    dims = list(params.train.matryoshka_dims)
    timings: dict[str, float] = {}
    embedders = []
    per_query: list[pl.DataFrame] = []
    for which in ("base", "finetuned"):
        embedder = _embedder(params, which, root)
        started = time.perf_counter()
        for data in sets:
            queries, corpus = embedder.queries(data.query_texts), embedder.passages(data.corpus_texts)
            check_dims(dims, corpus.shape[1] if len(corpus) else None, "train.matryoshka_dims")
            rankings = vector_rankings(queries, corpus, dims)
            setattr(results[data.name], which, {d: metrics_of(r, data) for d, r in rankings.items()})
            per_query += [query_frame(data, which, d, r) for d, r in rankings.items()]
        timings[f"{which}_s"] = round(time.perf_counter() - started, 3)
        embedders.append(embedder)
        embedder.model = None  # the next model need not share memory with this one
        gc.collect()
    languages = bm25_languages(params)
    if params.evaluate.bm25:
        started = time.perf_counter()
        for data in sets:
            ranked = rank_bm25(data, languages)
            results[data.name].bm25 = metrics_of(ranked, data)
            per_query.append(query_frame(data, "bm25", None, ranked))
        timings["bm25_s"] = round(time.perf_counter() - started, 3)

    ordered = [results[s.name] for s in sets]
    bm25_note = f"bm25s, lowercase words, stopwords {', '.join(languages)}" if params.evaluate.bm25 else None
    base_name = params.model.name_or_path
    write_json(metrics_json(ordered), root / METRICS)
    with atomic_path(root / PLOT) as tmp:
        rows = ndcg_rows(results["eval"]) if "eval" in results else []
        pl.DataFrame(rows, schema=PLOT_SCHEMA, orient="row").write_csv(tmp)
    write_text(markdown(ordered, base_name, str(MODEL_DIR), bm25_note), root / REPORT)
    write_table(frame(rejects, REJECTS), root / REJECTS_PATH, REJECTS)
    per_query_table = pl.concat(per_query) if per_query else pl.DataFrame(schema=PER_QUERY_SCHEMA)
    write_table(per_query_table, root / PER_QUERY, PER_QUERY_SCHEMA)

    for row in rejects:
        summary.reject(row["reason"])
    summary.rows_in = sum(r.n_queries for r in ordered) + len(rejects)
    summary.rows_out = sum(r.n_queries for r in ordered)
    for r in ordered:
        full = r.dims[0]
        headline = {"base": r.base[full][HEADLINE], "finetuned": r.finetuned[full][HEADLINE]}
        if r.bm25 is not None:
            headline["bm25"] = r.bm25[HEADLINE]
        summary.extra[f"{r.name} {HEADLINE} (dim {full})"] = {k: round(v, 4) for k, v in headline.items()}
    summary.extra["timings"] = timings
    summary.extra["embeddings"] = encoding_stats(embedders)
    summary.finish(root / SUMMARY)
    for r in ordered:
        print(f"\n{HEADLINE} by dimension, {r.name} ({r.n_queries} queries, {r.n_corpus} passages):")
        print(dim_table(r), flush=True)
    return ordered
