"""The ``generate`` stage: ``chunks.parquet`` → ``questions.parquet``, its summary, ``metrics/generate.json``.

Backends (``generate.backend``): ``openai`` (any OpenAI-compatible server), ``openai-batch`` (the Batch API),
both through the LLM layer :mod:`lexqa.llm`, and ``offline`` (:mod:`.offline`: pseudo-queries taken from the
corpus itself, by style: ICT sentences, section titles, keywords, citations; with
``generate.offline.with_llm`` they are added to an LLM backend's questions). This package builds the requests
(:mod:`.prompts`, :mod:`.jobs`) and parses the replies (:mod:`.parsing`); :func:`lexqa.llm.answer` looks
every request up in the response cache (``data/cache/llm/``), sends only what has no answer yet (failures
included, so they are retried), and the table is built from the cache.
Every chunk ends with its questions or with failure rows that say why. When more than
``generate.max_failed_fraction`` of the chunks failed with an LLM backend, the table is still written (to
inspect) but :class:`TooManyFailures` is raised, so ``dvc repro`` records no success and the next run retries
them (an offline failure, a chunk without a sentence of the allowed length, is final and never stops the
stage)::

    >>> from lexqa.config import load_params
    >>> from lexqa import generate
    >>> summary = generate.run(load_params())          # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from lexqa import llm
from lexqa.config import GenerateParams, Params, ParamsError
from lexqa.generate.citations import cited_by
from lexqa.generate.jobs import JobBuilder, QuestionJob, question_rows
from lexqa.generate.offline import BACKEND as OFFLINE
from lexqa.generate.offline import OfflineGenerator, article_ids
from lexqa.generate.parsing import parse_questions
from lexqa.generate.prompts import Templates
from lexqa.llm.accounting import dataset_usage, run_cost
from lexqa.llm.cache import Entry
from lexqa.summary import StageSummary
from lexqa.tables import CHUNKS, DOCUMENTS, QUESTIONS, frame, read_table, write_json, write_table

log = logging.getLogger("lexqa.generate")


class TooManyFailures(RuntimeError):
    """More chunks failed than ``generate.max_failed_fraction`` allows (outputs are written all the same)."""


def select_chunks(
    chunks: pl.DataFrame, limit: int | None, cited: Mapping[str, int] | None = None
) -> pl.DataFrame:
    """All chunks, or ``limit`` of them spread over every source: those whose id hashes lowest; with ``cited``
    (doc id → how many documents cite it), those of the most cited documents first, ties spread.

    The choice is stable, and a larger limit keeps the chunks of a smaller one (their answers stay cached).

        >>> docs = [f"c:{i}" for i in range(4)]
        >>> chunks = pl.DataFrame({"chunk_id": [f"{d}#0" for d in docs], "doc_id": docs})
        >>> select_chunks(chunks, 2)["doc_id"].to_list()
        ['c:2', 'c:3']
        >>> select_chunks(chunks, 2, {"c:0": 5, "c:1": 1})["doc_id"].to_list()     # the most cited
        ['c:0', 'c:1']
    """
    if limit is None or limit >= chunks.height:
        return chunks
    hashes = [hashlib.sha256(c.encode()).hexdigest() for c in chunks["chunk_id"]]
    cited = cited or {}
    counts = [-cited.get(d, 0) for d in chunks["doc_id"]]
    rank = sorted(range(chunks.height), key=lambda i: (counts[i], hashes[i]))
    keep = set(rank[:limit])
    return chunks.filter(pl.Series([i in keep for i in range(chunks.height)]))


def build_jobs(params: GenerateParams, chunks: pl.DataFrame) -> list[QuestionJob]:
    templates, builder = Templates(params), JobBuilder(params)
    return [
        builder.build(templates.for_chunk(domain, lang), chunk_id, text, context, lang)
        for chunk_id, text, context, lang, domain in chunks.select(
            "chunk_id", "text", "context", "lang", "domain"
        ).iter_rows()
    ]


def llm_rows(params: GenerateParams, chunks: pl.DataFrame, summary: StageSummary) -> list[dict[str, Any]]:
    """Answer every chunk's request through :func:`lexqa.llm.answer` and build the rows from its entries."""
    jobs = build_jobs(params, chunks)
    try:
        answers = llm.answer(jobs, parse_questions, params, batch=params.backend == "openai-batch")
    except llm.FatalBackendError as exc:
        raise ParamsError(str(exc)) from None
    entries, stats = answers.entries, answers.stats
    rows = [
        row for job in jobs for row in question_rows(job, entries.get(job.key), params.backend, params.model)
    ]
    unique: dict[str, Entry] = {job.key: entries[job.key] for job in jobs if job.key in entries}
    run = run_cost(params, stats)
    summary.extra["requests"] = {
        "total": len(jobs),
        "from_cache": answers.from_cache,
        "sent": stats.sent,
        "retries": stats.retries,
        "batches_created": stats.batches_created,
        "processes": answers.processes,
        "seconds": round(answers.seconds, 3),
        "per_second": round(stats.sent / answers.seconds, 1) if stats.sent else 0.0,
    }
    summary.extra["tokens"] = dataset_usage(params, unique.values())
    summary.extra["this_run"] = {
        "prompt_tokens": stats.prompt_tokens + stats.batch_prompt_tokens,
        "completion_tokens": stats.completion_tokens + stats.batch_completion_tokens,
        "cost_usd": None if run is None else round(run, 8),
    }
    if params.model not in params.prices:
        summary.extra["price"] = f"no price for {params.model} in generate.prices: no cost estimate"
    return rows


def _documents(folder: Path, params: GenerateParams, by_citations: bool) -> pl.DataFrame:
    """What the title, aspect and citation styles and a limit ``by_citations`` need of documents.parquet
    (nothing is read when none is on)."""
    columns = ["doc_id", "source", "number", "path"]
    offline = params.backend == "offline" or params.offline.with_llm
    styles = offline and {"title", "aspect", "citation"} & set(params.offline.weights())
    if not (by_citations or styles):
        return pl.DataFrame(schema={c: DOCUMENTS[c] for c in columns})
    return read_table(folder / "documents.parquet", DOCUMENTS).select(columns)


def citation_counts(chunks: pl.DataFrame, documents: pl.DataFrame) -> Counter[str]:
    """Doc id → how many other documents' chunks cite it (:func:`.citations.cited_by`)."""
    return cited_by(chunks.select("doc_id", "source", "text").iter_rows(), article_ids(documents))


def run(
    params: Params,
    in_dir: str | Path = "data/processed",
    out_dir: str | Path = "data/processed",
    metrics_dir: str | Path = "metrics",
) -> StageSummary:
    """Run the stage: questions.parquet and generate_summary.json in ``out_dir``, generate.json in metrics."""
    g = params.generate
    out = Path(out_dir)
    corpus = read_table(Path(in_dir) / "chunks.parquet", CHUNKS)
    by_citations = g.limit is not None and g.limit_by == "cited"
    documents = _documents(Path(in_dir), g, by_citations)
    cited = citation_counts(corpus, documents) if by_citations else None
    chunks = select_chunks(corpus, g.limit, cited)
    summary = StageSummary("generate", rows_in=chunks.height)
    summary.extra["backend"] = g.backend
    if cited is not None:
        summary.extra["limit_by_cited"] = {
            "cited_documents": len(cited),
            "chunks_of_cited_documents": int(chunks["doc_id"].is_in(list(cited)).sum()),
        }
    rows = []
    if g.backend == "offline":
        summary.extra["tokens"] = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    else:
        summary.extra["model"] = g.model
        rows = llm_rows(g, chunks, summary)
    if g.backend == "offline" or g.offline.with_llm:
        offline = OfflineGenerator(corpus, documents, g, params.seed)
        rows += offline.rows(chunks)
        summary.extra["offline"] = {
            "styles per chunk": offline.weights,
            "draw": g.offline.draw,
            "chunks_not_drawn": offline.not_drawn,
        }
    questions = frame(rows, QUESTIONS)
    write_table(questions, out / "questions.parquet", QUESTIONS)

    ok = questions.filter(pl.col("status") == "ok")
    failed = questions.filter(pl.col("status") == "failed")
    failed_chunks = failed["chunk_id"].n_unique()
    for error, n in (
        failed.unique("chunk_id").group_by(pl.col("error").str.extract(r"^(\w+)")).len().iter_rows()
    ):
        summary.reject(error or "unknown", n)
    summary.rows_out = ok.height
    summary.extra["chunks_with_questions"] = ok["chunk_id"].n_unique()
    summary.extra["chunks_failed"] = failed_chunks
    summary.extra["questions_by_style"] = dict(ok.group_by("style").len().sort("style").iter_rows())
    failure_rate = failed_chunks / chunks.height if chunks.height else 0.0
    metrics = {
        "chunks": chunks.height,
        "questions": ok.height,
        "chunks_failed": failed_chunks,
        "failure_rate": round(failure_rate, 4),
        **{k: v for k, v in (summary.extra.get("tokens") or {}).items()},
        "requests_sent": (summary.extra.get("requests") or {}).get("sent", 0),
        "run_cost_usd": (summary.extra.get("this_run") or {}).get("cost_usd"),
    }
    write_json(metrics, Path(metrics_dir) / "generate.json")
    summary.finish(out / "generate_summary.json")
    # offline failures (a chunk without a sentence, a title...) are final, not transient: never counted here
    llm_failed = failed.filter(pl.col("backend") != OFFLINE)["chunk_id"].n_unique()
    llm_rate = llm_failed / chunks.height if chunks.height else 0.0
    if g.backend != "offline" and llm_rate > g.max_failed_fraction:
        raise TooManyFailures(
            f"{llm_failed} of {chunks.height} chunks failed ({llm_rate:.1%} > "
            f"generate.max_failed_fraction {g.max_failed_fraction:.1%}); see the error column of "
            f"{out / 'questions.parquet'} and run again: "
            "answers already received are cached, only the failures are sent again"
        )
    return summary
