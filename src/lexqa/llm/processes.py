"""Backend ``openai`` from several processes: the pending jobs dealt out to forked workers.

One Python process drives at most about 700-1,000 requests/s through the official ``openai`` client, which
spends about 1 ms of CPU on each (request options, URL and headers, the httpx-to-aiohttp shim). A fast local
server (vLLM, llama.cpp) answering in 100 ms with 128 requests in flight asks for 1,280 requests/s. With
``generate.processes`` above 1 (0, the default, means one process per 64 requests in flight, at most one per
CPU), the jobs are dealt out to forked workers, each with its own event loop, client and cache writer:

- job ``i`` goes to worker ``i mod n``, so the shares are even in size and in mix;
- ``concurrency``, ``requests_per_minute`` and ``tokens_per_minute`` are divided between the workers, so that
  together they never exceed the params; a 429's ``retry-after`` pauses the worker that received it;
- each worker stores its answers in the response cache itself (SQLite in WAL mode takes several writers);
- each worker counts its completed requests in shared memory, and the parent's progress bar adds them up;
- a worker whose parent died (SIGKILL) stops within half a second, after storing what it had received;
- when a worker stops on a fatal answer (bad key, unknown model) or a crash, or the stage is interrupted, the
  others are sent SIGTERM, on which they stop sending, store what they have received and exit.

Workers are forked, after the jobs are built and before any thread of this stage's own starts, so they begin
in milliseconds with everything imported (a spawned process would import ``openai`` again: 1.5 s). Fork is
safe on Linux only, so elsewhere the stage sends from one process::

    n = process_count(params.generate, len(jobs))
    stats = send_from_processes(params.generate, jobs, api_key, n, parse_questions) if n > 1 else ...
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Coroutine, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from lexqa.config import GenerateParams
from lexqa.llm import FatalBackendError
from lexqa.llm.accounting import RunStats
from lexqa.llm.cache import BackgroundWriter, ResponseCache
from lexqa.llm.chat import ChatBackend
from lexqa.llm.jobs import Job
from lexqa.llm.progress import Ticker
from lexqa.llm.replies import Parser

log = logging.getLogger("lexqa.llm")
IN_FLIGHT_PER_PROCESS = 64
PARENT_CHECK_S = 0.5
PROGRESS_POLL_S = 0.1


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def process_count(params: GenerateParams, pending: int) -> int:
    """How many processes send ``pending`` requests: ``params.processes``, or when 0 one per 64 requests in
    flight, at most one per CPU; never more than the requests in flight, nor than a non-zero per-minute limit
    can be shared by; always 1 off Linux (no safe fork)."""
    in_flight = min(params.concurrency, pending)
    wanted = params.processes or min(cpu_count(), math.ceil(in_flight / IN_FLIGHT_PER_PROCESS))
    limits = [x for x in (params.requests_per_minute, params.tokens_per_minute) if x]
    n = min([wanted, max(in_flight, 1), *limits])
    if n > 1 and not sys.platform.startswith("linux"):
        log.warning("generate.processes: sending from one process (forking workers is safe on Linux only)")
        return 1
    return max(n, 1)


def _part(total: int, index: int, n: int) -> int:
    """Worker ``index``'s part of ``total`` when it is split ``n`` ways (the parts add up to ``total``)."""
    return total // n + (index < total % n)


def worker_params(params: GenerateParams, index: int, n: int) -> GenerateParams:
    """``params`` with worker ``index``'s share of the concurrency and of the per-minute limits."""
    return params.model_copy(
        update={
            "concurrency": max(1, _part(params.concurrency, index, n)),
            "requests_per_minute": _part(params.requests_per_minute, index, n),
            "tokens_per_minute": _part(params.tokens_per_minute, index, n),
            "processes": 1,
        }
    )


class SharedCount:
    """A worker's completed requests, in memory its parent reads (each worker writes only its own slot)."""

    def __init__(self, counts: Any, index: int) -> None:
        self._counts, self._index = counts, index

    def tick(self, n: int = 1) -> None:
        self._counts[self._index] += n

    def close(self) -> None:
        pass


class ParentGone(RuntimeError):
    """The process that forked this worker died: stop sending."""


async def _until_parent_dies(parent: int) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_S)
    raise ParentGone(f"the stage sending requests (pid {parent}) died")


async def _watched(send: Coroutine[Any, Any, RunStats], parent: int) -> RunStats:
    """``send``, cancelled if the parent process dies first or SIGTERM comes (the parent stopping its workers):
    the answers received so far stay queued for the cache writer, which the caller closes."""
    sender = asyncio.ensure_future(send)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, sender.cancel)
    watch = asyncio.ensure_future(_until_parent_dies(parent))
    await asyncio.wait([sender, watch], return_when=asyncio.FIRST_COMPLETED)
    if sender.done():
        watch.cancel()
        return sender.result()
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)
    return watch.result()  # raises ParentGone


def _worker(
    params: GenerateParams,
    api_key: str,
    jobs: Sequence[Job],
    parse: Parser,
    cache_path: Path,
    progress: SharedCount,
    parent: int,
    results: Connection,
) -> None:
    """One worker's life: send its jobs, store every answer, report its stats (or why it stopped)."""
    try:
        writer = BackgroundWriter(cache_path)
        try:
            backend = ChatBackend(params, api_key, parse)
            stats = asyncio.run(_watched(backend.run(jobs, writer, progress), parent))
        finally:
            writer.close()
        results.send(("ok", stats))
    except FatalBackendError as exc:
        results.send(("fatal", str(exc)))
    except (ParentGone, asyncio.CancelledError):  # orphaned, or stopped by the parent: nobody listens
        pass
    except BaseException:
        results.send(("error", traceback.format_exc()))


def send_from_processes(
    params: GenerateParams,
    jobs: Sequence[Job],
    api_key: str,
    processes: int,
    parse: Parser,
    label: str = "generate",
) -> RunStats:
    """Send ``jobs`` from ``processes`` forked workers (see the module's docstring); their stats summed.

    Raises :class:`FatalBackendError` when a worker met a fatal answer, RuntimeError when one crashed or died.
    """
    context = multiprocessing.get_context("fork")
    counts = context.RawArray(ctypes.c_longlong, processes)
    cache_path = Path(params.cache_dir) / ResponseCache.FILENAME
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    finished = False
    try:
        for index in range(processes):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker,
                args=(
                    worker_params(params, index, processes),
                    api_key,
                    jobs[index::processes],
                    parse,
                    cache_path,
                    SharedCount(counts, index),
                    os.getpid(),
                    sender,
                ),
                name=f"lexqa-{label}-{index}",
                daemon=True,
            )
            process.start()
            sender.close()
            workers.append((process, receiver))
        stats = _collect(
            workers, counts, Ticker(len(jobs), f"{label} {params.model} ({processes} processes)"), label
        )
        finished = True
        return stats
    finally:
        for process, receiver in workers:
            if not finished:  # a worker failed, or this process was interrupted: stop the others now
                process.terminate()  # graceful: a worker stores what it has received, then exits
            process.join()
            receiver.close()


def _collect(
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]],
    counts: Any,
    ticker: Ticker,
    label: str,
) -> RunStats:
    total, shown = RunStats(), 0
    waiting = {receiver: index for index, (_, receiver) in enumerate(workers)}
    try:
        while waiting:
            for receiver in wait(list(waiting), timeout=PROGRESS_POLL_S):
                index = waiting.pop(receiver)  # type: ignore[call-overload]
                try:
                    kind, payload = receiver.recv()  # type: ignore[union-attr]
                except EOFError:
                    process = workers[index][0]
                    process.join()
                    raise RuntimeError(
                        f"{label} worker {index} died (exit code {process.exitcode}); the answers it had "
                        "received are cached, run again to send the rest"
                    ) from None
                if kind == "fatal":
                    raise FatalBackendError(payload)
                if kind == "error":
                    raise RuntimeError(f"{label} worker {index} failed:\n{payload}")
                total = total + payload
            done = sum(counts)
            ticker.tick(done - shown)
            shown = done
    finally:
        ticker.close()
    return total
