"""The ``generate`` stage: ``chunks.parquet`` → ``questions.parquet``, its summary, ``metrics/generate.json``.

Backends (``generate.backend``): ``openai`` (:mod:`.chat`, any OpenAI-compatible server), ``openai-batch``
(:mod:`.batch`, the Batch API) and ``offline`` (:mod:`.offline`: pseudo-queries taken from the corpus itself,
by style: ICT sentences, section titles, keywords, citations; with ``generate.offline.with_llm`` they are
added to an LLM backend's questions). LLM answers
go through the response cache (:mod:`.cache`, ``data/cache/llm/``): a run first looks every request up, sends
only what has no answer yet (failures included, so they are retried), then builds the table from the cache.
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

import asyncio
import hashlib
import ipaddress
import logging
import os
import time
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import polars as pl

from lexqa.config import GenerateParams, Params, ParamsError
from lexqa.generate.accounting import RunStats, dataset_usage, run_cost
from lexqa.generate.cache import Entry, ResponseCache
from lexqa.generate.jobs import Job, JobBuilder, question_rows
from lexqa.generate.offline import BACKEND as OFFLINE
from lexqa.generate.offline import OfflineGenerator
from lexqa.generate.prompts import Templates
from lexqa.summary import StageSummary
from lexqa.tables import CHUNKS, DOCUMENTS, QUESTIONS, frame, read_table, write_json, write_table

log = logging.getLogger("lexqa.generate")
NO_KEY = "no-key"  # the bearer token sent to a local server when the key variable is unset


class TooManyFailures(RuntimeError):
    """More chunks failed than ``generate.max_failed_fraction`` allows (outputs are written all the same)."""


def select_chunks(chunks: pl.DataFrame, limit: int | None) -> pl.DataFrame:
    """All chunks, or ``limit`` of them spread over every source: those whose id hashes lowest.

    The choice is stable, and a larger limit keeps the chunks of a smaller one (their answers stay cached).
    """
    if limit is None or limit >= chunks.height:
        return chunks
    rank = [hashlib.sha256(c.encode()).hexdigest() for c in chunks["chunk_id"]]
    keep = set(pl.Series(rank).arg_sort()[:limit].to_list())
    return chunks.filter(pl.Series([i in keep for i in range(chunks.height)]))


def build_jobs(params: GenerateParams, chunks: pl.DataFrame) -> list[Job]:
    templates, builder = Templates(params), JobBuilder(params)
    return [
        builder.build(templates.for_chunk(domain, lang), chunk_id, text, context, lang)
        for chunk_id, text, context, lang, domain in chunks.select(
            "chunk_id", "text", "context", "lang", "domain"
        ).iter_rows()
    ]


def is_local(base_url: str) -> bool:
    """Whether ``base_url`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``): a server the user
    started, which needs no key unless it was started with one."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(params: GenerateParams) -> str:
    """The key from ``$generate.api_key_env``; for a server on this machine it may be unset, and then
    :data:`NO_KEY` (a placeholder, not a secret) stands in, since the client needs one."""
    key = os.environ.get(params.api_key_env)
    if key:
        return key
    if is_local(params.base_url):
        log.info("%s is not set: no API key sent to the local server %s", params.api_key_env, params.base_url)
        return NO_KEY
    raise ParamsError(
        f"generate.backend is {params.backend} but the environment variable {params.api_key_env} "
        f"(generate.api_key_env) is not set; export it (any value for a server without authentication; "
        f"a server on this machine, such as http://127.0.0.1:8000/v1, needs none)"
    )


class Sent(NamedTuple):
    """What :func:`send` did: the run's stats, how many processes sent, and for how long."""

    stats: RunStats
    processes: int
    seconds: float


def send(params: GenerateParams, jobs: list[Job], cache: ResponseCache) -> Sent:
    """Send the jobs with the configured LLM backend; every outcome lands in the cache."""
    # imported here: the client libraries cost 1.5 s of imports that ICT and fully cached runs never pay
    from lexqa.generate.batch import BatchBackend
    from lexqa.generate.chat import ChatBackend, FatalBackendError
    from lexqa.generate.processes import process_count, send_from_processes

    key = api_key(params)
    processes = process_count(params, len(jobs)) if params.backend == "openai" else 1
    started = time.perf_counter()
    try:
        if processes > 1:
            stats = send_from_processes(params, jobs, key, processes)
        else:
            backend = (
                BatchBackend(params, key, cache)
                if params.backend == "openai-batch"
                else ChatBackend(params, key)
            )
            with cache.writer() as writer:
                stats = asyncio.run(backend.run(jobs, writer))
    except FatalBackendError as exc:
        raise ParamsError(str(exc)) from None
    return Sent(stats, processes, time.perf_counter() - started)


def llm_rows(params: GenerateParams, chunks: pl.DataFrame, summary: StageSummary) -> list[dict[str, Any]]:
    """Look every request up, send the missing ones, and build the rows from the cache."""
    jobs = build_jobs(params, chunks)
    with ResponseCache(params.cache_dir) as cache:
        keys = [job.key for job in jobs]
        cached = cache.get_many(keys)
        pending = [job for job in jobs if not (job.key in cached and cached[job.key].ok)]
        log.info(
            "%d requests: %d answered in the cache, %d to send",
            len(jobs),
            len(jobs) - len(pending),
            len(pending),
        )
        stats, processes, sending_s = send(params, pending, cache) if pending else Sent(RunStats(), 0, 0.0)
        entries = cache.get_many(keys) if pending else cached
    rows = [
        row for job in jobs for row in question_rows(job, entries.get(job.key), params.backend, params.model)
    ]
    unique: dict[str, Entry] = {job.key: entries[job.key] for job in jobs if job.key in entries}
    run = run_cost(params, stats)
    summary.extra["requests"] = {
        "total": len(jobs),
        "from_cache": len(jobs) - len(pending),
        "sent": stats.sent,
        "retries": stats.retries,
        "batches_created": stats.batches_created,
        "processes": processes,
        "seconds": round(sending_s, 3),
        "per_second": round(stats.sent / sending_s, 1) if stats.sent else 0.0,
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


def _documents(folder: Path, params: GenerateParams) -> pl.DataFrame:
    """What the title and citation styles need of documents.parquet (nothing is read when neither is on)."""
    columns = ["doc_id", "source", "number", "path"]
    if not {"title", "citation"} & set(params.offline.weights()):
        return pl.DataFrame(schema={c: DOCUMENTS[c] for c in columns})
    return read_table(folder / "documents.parquet", DOCUMENTS).select(columns)


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
    chunks = select_chunks(corpus, g.limit)
    summary = StageSummary("generate", rows_in=chunks.height)
    summary.extra["backend"] = g.backend
    rows = []
    if g.backend == "offline":
        summary.extra["tokens"] = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    else:
        summary.extra["model"] = g.model
        rows = llm_rows(g, chunks, summary)
    if g.backend == "offline" or g.offline.with_llm:
        documents = _documents(Path(in_dir), g)
        offline = OfflineGenerator(corpus, documents, g, params.seed)
        rows += offline.rows(chunks)
        summary.extra["offline"] = {
            "styles per chunk": offline.weights,
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
