"""Backend ``openai``: chat completions from any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp).

Requests go out from ``generate.concurrency`` asyncio workers through the official ``openai`` async client,
paced by :class:`~lexqa.llm.limits.RateLimiter`; every response is handed to the cache writer the moment
it arrives, so a killed run loses only what was in flight. Retries (408, 409, 429, 5xx, timeouts, connection
errors) use exponential backoff with jitter and honour ``retry-after``; the client's own retries are off so
that one policy, with the params' delays, applies. A 401/403 (key refused) or 404 (wrong model or base URL)
stops the run at once instead of failing every request. If the server rejects ``response_format`` (a 400 or
422, or a 500 naming ``response_format``: llama-cpp-python's answer to ``json_schema``), the run steps down to
the next format of the job's :attr:`~lexqa.llm.jobs.Job.formats` (generate's: ``json_schema``, JSON mode
carrying the schema, which llama-cpp-python still enforces with a grammar, plain JSON mode, plain text) for the
rest of the run (the cache key keeps the job's own format, so answers stay addressable).

Performance: requests use the client's documented raw path (``client.post(..., cast_to=httpx2.Response)``) and
its aiohttp transport when available: in a measurement against the loopback server (2,000 requests, 100 ms
latency, 128 in flight) that took client CPU from 4.0 to 1.2 ms per request, compared with
``chat.completions.create`` on the default transport.

A request that got no HTTP answer is recorded with its class, from the deepest cause of the client's exception
(:mod:`lexqa.llm.neterrors`: ``connection_refused``, ``connection_reset``, ``connection_dns``,
``connection_tls``, ``timeout``, ``connection``); every class is retried like a 5xx.

The API key is read from the environment variable named by ``generate.api_key_env``, handed to the client,
and never logged or stored: error texts are redacted (:func:`lexqa.secrets.redact`: the key, and anything
shaped like a key or a bearer token, such as an error body echoing the request's headers) before they reach the
cache, the table or the log::

    backend = ChatBackend(params.generate, api_key=os.environ["OPENAI_API_KEY"], parse=parse_questions)
    stats = asyncio.run(backend.run(jobs, cache.writer()))
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import httpx2
import openai

from lexqa.config import GenerateParams
from lexqa.llm import FatalBackendError
from lexqa.llm.accounting import RunStats
from lexqa.llm.cache import BackgroundWriter, Entry
from lexqa.llm.jobs import Job
from lexqa.llm.keys import NO_KEY
from lexqa.llm.limits import RateLimiter, backoff_delay, retry_after_s
from lexqa.llm.neterrors import classify, where
from lexqa.llm.progress import Progress, Ticker
from lexqa.llm.replies import Parser, entry_from_completion
from lexqa.secrets import redact, remember

log = logging.getLogger("lexqa.llm")
RETRYABLE = frozenset({408, 409, 429}) | frozenset(range(500, 600))


def make_client(
    params: GenerateParams, api_key: str, connections: int, max_retries: int = 0
) -> openai.AsyncOpenAI:
    """The async client for ``params.base_url`` (aiohttp transport when installed); its own retries are off
    unless ``max_retries`` is given (the batch backend's few control calls use them)."""
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    try:
        http_client = openai.DefaultAioHttpClient(limits=limits, timeout=params.timeout_s)
    except RuntimeError:  # aiohttp not installed: the client's default httpx2 transport
        http_client = openai.DefaultAsyncHttpxClient(limits=limits, timeout=params.timeout_s)
    for name in ("httpx2", "openai"):  # one INFO line per request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=params.base_url,
        max_retries=max_retries,
        timeout=params.timeout_s,
        http_client=http_client,
    )


class ChatBackend:
    """Send jobs, store each outcome (``parse``'s answer or a failure) through a :class:`BackgroundWriter`;
    ``label`` names the run on its progress bar."""

    name = "openai"

    def __init__(self, params: GenerateParams, api_key: str, parse: Parser, label: str = "generate") -> None:
        self.params = params
        self.parse = parse
        self.label = label
        self._api_key = api_key
        remember(api_key)  # hidden from every log line and error of the process from now on
        self.step = 0  # how far down the jobs' response_format step-down this run went
        self._where = where(params.base_url)

    async def run(
        self, jobs: Sequence[Job], writer: BackgroundWriter, ticker: Progress | None = None
    ) -> RunStats:
        """Send ``jobs``; ``ticker`` counts completed ones (default: a progress bar of its own)."""
        stats = RunStats()
        if not jobs:
            return stats
        workers = min(self.params.concurrency, len(jobs))
        client = make_client(self.params, self._api_key, workers)
        limiter = RateLimiter(self.params.requests_per_minute, self.params.tokens_per_minute)
        ticker = ticker or Ticker(len(jobs), f"{self.label} {self.params.model}")
        pending = iter(jobs)

        async def worker() -> None:
            for job in pending:
                entry = await self._complete(client, limiter, job, stats)
                writer.put(entry)
                stats.record(entry)
                ticker.tick()

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(worker())
        except* FatalBackendError as errors:
            raise errors.exceptions[0] from None
        finally:
            ticker.close()
            await client.close()
        return stats

    # ------------------------------------------------------------------ one request
    async def _complete(
        self, client: openai.AsyncOpenAI, limiter: RateLimiter, job: Job, stats: RunStats
    ) -> Entry:
        estimate = job.estimated_tokens()
        attempt = 0
        while True:
            step = min(self.step, max(len(job.formats) - 1, 0))
            body = self._body(job, step)
            await limiter.acquire(estimate)
            stats.sent += 1
            try:
                response = await client.post("/chat/completions", body=body, cast_to=httpx2.Response)
            except openai.APIStatusError as exc:
                status, message = exc.status_code, redact(_message(exc), self._api_key)
                if status in (401, 403, 404):
                    raise FatalBackendError(self._fatal_message(status, message)) from None
                if status in (400, 422, 500) and self._step_down(job, step, message, status):
                    continue
                if status not in RETRYABLE or attempt >= self.params.max_retries:
                    return self._failed(job, f"http_{status}", message)
                retry_after = retry_after_s(exc.response.headers)
                if status == 429 and retry_after:
                    limiter.pause(retry_after)
                await self._sleep(attempt, retry_after, stats)
            except openai.APIConnectionError as exc:  # APITimeoutError included: classify() tells them apart
                if attempt >= self.params.max_retries:
                    code, detail = classify(exc, self._where, self.params.timeout_s)
                    return self._failed(job, code, redact(detail, self._api_key))
                await self._sleep(attempt, None, stats)
            else:
                return self._answer(job, response, limiter, estimate)
            attempt += 1

    async def _sleep(self, attempt: int, retry_after: float | None, stats: RunStats) -> None:
        stats.retries += 1
        await asyncio.sleep(
            backoff_delay(attempt, self.params.backoff_s, self.params.backoff_max_s, retry_after)
        )

    @staticmethod
    def _body(job: Job, step: int) -> dict[str, Any]:
        """The body to send at ``step`` of the job's step-down (its own body at step 0)."""
        if step == 0:
            return job.body
        body = {k: v for k, v in job.body.items() if k != "response_format"}
        fmt = job.formats[step][1]
        return body if fmt is None else body | {"response_format": fmt}

    def _step_down(self, job: Job, sent: int, message: str, status: int) -> bool:
        """After a refusal of the format sent (step ``sent`` of the job's step-down), use the next simpler
        one; False when none is left, or when the error is not about the format (a 500 must name
        ``response_format`` itself)."""
        about = r"response_format" if status >= 500 else r"response_format|json_schema|json_object|schema"
        last = len(job.formats) - 1
        if sent >= last or not re.search(about, message, re.I):
            return False
        if sent == self.step:  # the first request to hit it steps down, once
            self.step += 1
            log.warning(
                "the server refused response_format %s (%s); using %s from now on",
                job.formats[sent][0],
                message,
                job.formats[self.step][0],
            )
        return True

    def _answer(self, job: Job, response: httpx2.Response, limiter: RateLimiter, estimate: int) -> Entry:
        try:
            completion = json.loads(response.content)
        except ValueError:
            return self._failed(
                job, "bad_response", redact(f"not JSON: {response.content[:160]!r}", self._api_key)
            )
        entry = entry_from_completion(
            job.key, job.labels, completion, self.params.model, self.name, self.parse
        )
        limiter.settle(estimate, entry.prompt_tokens + entry.completion_tokens)
        return entry

    def _failed(self, job: Job, code: str, detail: str) -> Entry:
        return Entry(
            key=job.key,
            status="failed",
            error=f"{code}: {detail}",
            model=self.params.model,
            backend=self.name,
        )

    def _fatal_message(self, status: int, message: str) -> str:
        where = f"{self.params.base_url} (model {self.params.model})"
        if status in (401, 403) and self._api_key == NO_KEY:
            return (
                f"{where} asks for an API key (HTTP {status}) and ${self.params.api_key_env} is not set; "
                "export it with the key the server was started with (its --api-key)"
            )
        if status in (401, 403):
            return (
                f"{where} refused the API key from ${self.params.api_key_env} (HTTP {status}); "
                "check the variable, or generate.api_key_env in params.yaml"
            )
        return f"{where} answered 404: {message}; check generate.base_url and generate.model in params.yaml"


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    return str(inner.get("message") or exc.message)
