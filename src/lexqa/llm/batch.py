"""Backend ``openai-batch``: the OpenAI Batch API, half the price of online requests, results within 24 hours.

A run writes the pending requests as JSON lines (``custom_id`` = cache key, the same body as the online
backend), uploads the file, creates a batch, then polls every ``generate.batch.poll_interval_s`` until it ends
and stores each result in the response cache, like an online answer. Every step is recorded in the cache's
``batches`` table before the next one, so a run killed at any point resumes:

- killed after the upload but before the batch id was recorded: the batch is looked up by its input file among
  the account's batches and adopted; if it was never created, its requests are submitted again;
- killed while polling: the next run polls the same batch id and collects it (nothing is submitted twice);
- stopped by ``generate.batch.max_wait_s``: the batch keeps running on the server; run the stage again to
  collect it (its chunks are failures in the meantime, so the stage exits non-zero).

Lines that failed inside a batch, and requests missing from an expired or failed batch, become failures that
the next run submits again. A server that cannot be reached (after the client's retries) stops the run with
the error's class (:mod:`lexqa.llm.neterrors`), as a refused key does::

    backend = BatchBackend(params.generate, os.environ["OPENAI_API_KEY"], cache, parse=parse_questions)
    stats = asyncio.run(backend.run(jobs, cache.writer()))
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import openai

from lexqa.config import GenerateParams
from lexqa.llm import FatalBackendError
from lexqa.llm.accounting import RunStats
from lexqa.llm.cache import BackgroundWriter, BatchRecord, Entry, ResponseCache
from lexqa.llm.chat import make_client
from lexqa.llm.jobs import Job
from lexqa.llm.neterrors import classify, where
from lexqa.llm.progress import Ticker
from lexqa.llm.replies import Parser, entry_from_completion
from lexqa.secrets import redact
from lexqa.tables import write_jsonl

log = logging.getLogger("lexqa.llm")
FINAL = frozenset({"completed", "failed", "expired", "cancelled"})
ENDPOINT = "/v1/chat/completions"


class BatchBackend:
    """Submit pending jobs as batches, resume open ones, collect results into the cache."""

    name = "openai-batch"

    def __init__(
        self,
        params: GenerateParams,
        api_key: str,
        cache: ResponseCache,
        parse: Parser,
        label: str = "generate",
    ) -> None:
        self.params = params
        self._api_key = api_key
        self.cache = cache
        self.parse = parse
        self.label = label

    async def run(self, jobs: Sequence[Job], writer: BackgroundWriter) -> RunStats:
        stats = RunStats()
        client = make_client(self.params, self._api_key, connections=4, max_retries=self.params.max_retries)
        try:
            active = await self._resume(client)
            submitted = {key for record in active for key in record.keys}
            todo = [job for job in jobs if job.key not in submitted]
            size = self.params.batch.max_requests
            for start in range(0, len(todo), size):
                active.append(await self._submit(client, todo[start : start + size], stats))
                stats.batches_created += 1
            await self._poll(client, active, writer, stats)
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
            message = redact(str(exc), self._api_key)
            raise FatalBackendError(f"{self.params.base_url} refused the batch request: {message}") from None
        except openai.APIConnectionError as exc:  # after the client's own retries
            code, detail = classify(exc, where(self.params.base_url), self.params.timeout_s)
            raise FatalBackendError(
                f"{self.params.base_url} cannot be reached ({code}: {redact(detail, self._api_key)}); "
                "run the stage again when it can: open batches are resumed"
            ) from None
        finally:
            await client.close()
        return stats

    async def _resume(self, client: openai.AsyncOpenAI) -> list[BatchRecord]:
        """Open submissions of earlier runs, with their batch id (adopted by input file when it was lost)."""
        active = []
        for record in self.cache.open_batches():
            batch_id = record.batch_id or await self._find_batch(client, record.input_file_id)
            if batch_id is None:
                self.cache.set_batch(record.input_file_id, status="abandoned")
                continue
            self.cache.set_batch(record.input_file_id, batch_id=batch_id, status="submitted")
            log.info("resuming batch %s (%d requests)", batch_id, len(record.keys))
            active.append(BatchRecord(record.input_file_id, batch_id, record.keys, "submitted"))
        return active

    async def _find_batch(self, client: openai.AsyncOpenAI, input_file_id: str) -> str | None:
        async for batch in client.batches.list(limit=100):
            if batch.input_file_id == input_file_id:
                return batch.id
        return None

    async def _submit(self, client: openai.AsyncOpenAI, jobs: Sequence[Job], stats: RunStats) -> BatchRecord:
        lines = [{"custom_id": j.key, "method": "POST", "url": ENDPOINT, "body": j.body} for j in jobs]
        name = hashlib.sha256("".join(j.key for j in jobs).encode()).hexdigest()[:16]
        path = write_jsonl(lines, Path(self.params.cache_dir) / "batches" / f"input-{name}.jsonl")
        try:
            uploaded = await client.files.create(file=path, purpose="batch")
        finally:
            path.unlink(missing_ok=True)
        labels = {j.key: list(j.labels) for j in jobs}
        self.cache.add_batch(uploaded.id, labels)
        batch = await client.batches.create(
            input_file_id=uploaded.id,
            endpoint=ENDPOINT,
            completion_window="24h",
            metadata={"created_by": f"lexqa {self.label}"},
        )
        self.cache.set_batch(uploaded.id, batch_id=batch.id, status="submitted")
        stats.sent += len(jobs)
        log.info("submitted batch %s with %d requests", batch.id, len(jobs))
        return BatchRecord(uploaded.id, batch.id, labels, "submitted")

    async def _poll(
        self, client: openai.AsyncOpenAI, active: list[BatchRecord], writer: BackgroundWriter, stats: RunStats
    ) -> None:
        ticker = Ticker(sum(len(r.keys) for r in active), f"{self.label} batch")
        done_counts: dict[str, int] = {}
        deadline = time.monotonic() + self.params.batch.max_wait_s
        try:
            while active:
                for record in list(active):
                    assert record.batch_id is not None
                    batch = await client.batches.retrieve(record.batch_id)
                    counts = batch.request_counts
                    done = (counts.completed + counts.failed) if counts else 0
                    ticker.tick(max(0, done - done_counts.get(record.batch_id, 0)))
                    done_counts[record.batch_id] = max(done, done_counts.get(record.batch_id, 0))
                    if batch.status in FINAL:
                        await self._collect(client, record, batch, writer, stats)
                        ticker.tick(max(0, len(record.keys) - done_counts[record.batch_id]))
                        active.remove(record)
                if active and time.monotonic() >= deadline:
                    ids = ", ".join(str(r.batch_id) for r in active)
                    log.warning(
                        "batches %s still running after %gs; run the stage again to collect them",
                        ids,
                        self.params.batch.max_wait_s,
                    )
                    return
                if active:
                    await asyncio.sleep(self.params.batch.poll_interval_s)
        finally:
            ticker.close()

    async def _collect(
        self,
        client: openai.AsyncOpenAI,
        record: BatchRecord,
        batch: openai.types.Batch,
        writer: BackgroundWriter,
        stats: RunStats,
    ) -> None:
        entries: dict[str, Entry] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await client.files.content(file_id)
            for line in content.text.splitlines():
                if line.strip():
                    entry = self._entry(json.loads(line), record)
                    if entry is not None:
                        entries[entry.key] = entry
        reason = f"not_in_batch_output: batch {batch.id} ended {batch.status}"
        if batch.errors and batch.errors.data:
            reason += ": " + "; ".join(str(e.message) for e in batch.errors.data)[:300]
        for key in record.keys:
            entry = entries.get(key) or Entry(
                key, "failed", error=reason, model=self.params.model, backend=self.name
            )
            writer.put(entry)
            stats.record(entry)
        self.cache.set_batch(record.input_file_id, status="collected")
        log.info("collected batch %s (%s): %d results", batch.id, batch.status, len(entries))

    def _entry(self, line: dict, record: BatchRecord) -> Entry | None:
        key = line.get("custom_id")
        if key not in record.keys:
            return None
        response = line.get("response") or {}
        if response.get("status_code") == 200:
            return entry_from_completion(
                key, record.keys[key], response.get("body"), self.params.model, self.name, self.parse
            )
        error = line.get("error") or (response.get("body") or {}).get("error") or {}
        code = response.get("status_code") or error.get("code") or "error"
        message = redact(str(error.get("message") or error), self._api_key)
        return Entry(
            key, "failed", error=f"batch_{code}: {message}", model=self.params.model, backend=self.name
        )
