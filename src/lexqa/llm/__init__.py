"""The LLM layer: answers a list of chat requests (:class:`~lexqa.llm.jobs.Job`) through the response cache.

It knows nothing of questions or verdicts: a caller (the generate stage, the curate judge) builds its jobs
(cache key, its own id, the request body, the labels its answer should hold, the ``response_format``
step-down) and passes a parser (:data:`~lexqa.llm.replies.Parser`) that turns a reply into ``(label, value)``
pairs. :func:`answer` looks every job up in the response cache (:mod:`.cache`, ``generate.cache_dir``),
sends only what has no answer yet (failures included, so they are retried) with the configured server
settings (``generate.base_url``, key, concurrency, rate limits, retries: :mod:`.chat`; several processes:
:mod:`.processes`; the Batch API: :mod:`.batch`), and reads every entry back::

    >>> from lexqa import llm
    >>> answers = llm.answer(jobs, parse_verdict, params.generate, label="judge")   # doctest: +SKIP
    >>> answers.entries[jobs[0].key].answer                                            # doctest: +SKIP
    [('answerable', 'yes'), ('complete', 'yes')]

Modules: :mod:`.jobs` (the request and its cache key), :mod:`.cache`, :mod:`.chat`, :mod:`.batch`,
:mod:`.processes`, :mod:`.limits` (rate limits, retry delays), :mod:`.neterrors` (what a failed connection
is called), :mod:`.replies` (JSON extraction, a reply made into an entry), :mod:`.accounting` (tokens and
cost), :mod:`.keys` (the API key), :mod:`.progress`. The ``openai`` client is imported only when something
is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import NamedTuple

from lexqa.config import GenerateParams
from lexqa.llm.accounting import RunStats
from lexqa.llm.cache import Entry, ResponseCache
from lexqa.llm.jobs import Job
from lexqa.llm.keys import api_key
from lexqa.llm.replies import Parser

log = logging.getLogger("lexqa.llm")


class FatalBackendError(RuntimeError):
    """The server refuses every request (bad key, unknown model or URL): stop, rather than fail each one."""


class Answers(NamedTuple):
    """What :func:`answer` found: the entry of every job by key (ok or failed; absent when its request never
    completed: a batch still running, an aborted run), what this run sent, how many requests the cache
    answered, how many processes sent, and for how long."""

    entries: dict[str, Entry]
    stats: RunStats
    from_cache: int
    processes: int
    seconds: float


def answer(
    jobs: Sequence[Job],
    parse: Parser,
    params: GenerateParams,
    *,
    batch: bool = False,
    label: str = "generate",
) -> Answers:
    """Answer ``jobs``: cached answers first, then the rest sent (the Batch API when ``batch``), every outcome
    stored; ``label`` names the run in logs and progress bars.

    Raises :class:`FatalBackendError` when the server refuses every request (bad key, unknown
    model or URL), :class:`~lexqa.config.ParamsError` when a remote server's key variable is unset.
    """
    keys = [job.key for job in jobs]
    with ResponseCache(params.cache_dir) as cache:
        cached = cache.get_many(keys)
        pending = [job for job in jobs if not (job.key in cached and cached[job.key].ok)]
        log.info(
            "%s: %d requests, %d answered in the cache, %d to send",
            label,
            len(jobs),
            len(jobs) - len(pending),
            len(pending),
        )
        if not pending:
            return Answers(cached, RunStats(), len(jobs), 0, 0.0)
        started = time.perf_counter()
        stats, processes = _send(params, pending, cache, parse, batch, label)
        seconds = time.perf_counter() - started
        return Answers(cache.get_many(keys), stats, len(jobs) - len(pending), processes, seconds)


def _send(
    params: GenerateParams, jobs: Sequence[Job], cache: ResponseCache, parse: Parser, batch: bool, label: str
) -> tuple[RunStats, int]:
    """Send ``jobs``; every outcome lands in the cache. The run's stats and how many processes sent."""
    # imported here: the client libraries cost 1.5 s of imports that fully cached runs never pay
    from lexqa.llm.batch import BatchBackend
    from lexqa.llm.chat import ChatBackend
    from lexqa.llm.processes import process_count, send_from_processes

    key = api_key(params)
    processes = 1 if batch else process_count(params, len(jobs))
    if processes > 1:
        return send_from_processes(params, jobs, key, processes, parse, label), processes
    backend = (
        BatchBackend(params, key, cache, parse, label) if batch else ChatBackend(params, key, parse, label)
    )
    with cache.writer() as writer:
        return asyncio.run(backend.run(jobs, writer)), 1
