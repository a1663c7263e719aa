"""The work list of an LLM run: one :class:`Job` (request) per chunk, its cache key, and its question rows.

Each chunk gets one chat request asking for ``questions_per_chunk`` questions whose styles are
:func:`~lexqa.generate.prompts.style_slots`; the request body is the same for the online and the batch
backend, so both share cache entries. The cache key is the sha256 of that body (model, messages, temperature,
max_tokens, response_format) under the API family ``openai-chat``; base URL, concurrency, limits, timeouts and
the seed are not part of it, so changing them never pays twice::

    >>> from lexqa.config import GenerateParams
    >>> from lexqa.generate.jobs import JobBuilder
    >>> from lexqa.generate.prompts import PromptTemplate
    >>> t = PromptTemplate.parse("---\\nstyles: {query: a short query}\\n---\\n$slots\\n$text", "t.md")
    >>> params = GenerateParams(styles=["query"], questions_per_chunk=1)
    >>> job = JobBuilder(params).build(t, "doc#0", "Art. 9", "", "fr")
    >>> job.slots, len(job.key)
    (('query',), 64)
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lexqa.config import GenerateParams
from lexqa.generate.cache import Entry
from lexqa.generate.prompts import PromptTemplate, response_format, style_slots
from lexqa.summary import progress

API_FAMILY = "openai-chat"


@dataclass(frozen=True)
class Job:
    """One chat request: the chunk it is for, the style of each question asked, and the body to send."""

    key: str
    chunk_id: str
    slots: tuple[str, ...]
    prompt_sha: str
    body: dict[str, Any]

    def estimated_tokens(self) -> int:
        """Prompt tokens (about 3 characters each, cautious for Cyrillic) plus the completion budget."""
        chars = sum(len(str(m["content"])) for m in self.body["messages"])
        return chars // 3 + int(self.body.get("max_tokens") or 0)


def request_body(
    params: GenerateParams, prompt: str, slots: Sequence[str], mode: str | None = None
) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body for ``prompt``; ``mode`` overrides ``params.response_format``."""
    body: dict[str, Any] = {
        "model": params.model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
    }
    fmt = response_format(mode or params.response_format, slots)
    if fmt is not None:
        body["response_format"] = fmt
    return body


def _params_digest(params: dict[str, Any]) -> Any:
    """sha256 of the canonical JSON of a request's parameters other than its messages (API family included)."""
    canonical = {"api": API_FAMILY} | params
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())


def _with_messages(digest: Any, messages: Sequence[dict[str, Any]]) -> str:
    for message in messages:
        digest.update(f"\0{message['role']}\0{message['content']}".encode())
    return digest.hexdigest()


def cache_key(body: dict[str, Any]) -> str:
    """Content address of a request: sha256 of the canonical JSON of its parameters (API family included),
    then of each message's role and text. Hashing the messages raw rather than JSON-escaped keeps a cached
    re-run of 10,000 chunks fast."""
    params = {k: v for k, v in body.items() if k != "messages"}
    return _with_messages(_params_digest(params), body["messages"])


class JobBuilder:
    """The jobs of one run. Everything in a request but its prompt depends only on the styles it asks for, so
    that part of the body, and its share of the cache key, is made once per style tuple rather than per chunk
    (the JSON schema's canonical JSON cost 70 µs a job, half the stage's own time on 2,000 chunks).
    """

    def __init__(self, params: GenerateParams) -> None:
        self.params = params
        self._fixed: dict[tuple[str, ...], tuple[dict[str, Any], Any]] = {}

    def build(
        self, template: PromptTemplate, chunk_id: str, text: str, context: str | None, lang: str | None
    ) -> Job:
        slots = tuple(style_slots(chunk_id, self.params.styles, self.params.questions_per_chunk))
        if slots not in self._fixed:
            fixed = {k: v for k, v in request_body(self.params, "", slots).items() if k != "messages"}
            self._fixed[slots] = (fixed, _params_digest(fixed))
        fixed, digest = self._fixed[slots]
        messages = [
            {"role": "user", "content": template.render(text=text, context=context, lang=lang, slots=slots)}
        ]
        return Job(
            key=_with_messages(digest.copy(), messages),
            chunk_id=chunk_id,
            slots=slots,
            prompt_sha=template.sha,
            body={"model": fixed["model"], "messages": messages} | fixed,
        )


def question_rows(job: Job, entry: Entry | None, backend: str, model: str) -> list[dict[str, Any]]:
    """The ``QUESTIONS`` rows of a job: one per question when its entry is ok, else one failure row per style.

    ``entry`` is None when the request never completed (still in a batch, or aborted); ``backend`` is then the
    configured one, otherwise the backend that produced the entry.
    """
    base = {
        "chunk_id": job.chunk_id,
        "backend": (entry.backend if entry else None) or backend,
        "model": model,
        "prompt_sha": job.prompt_sha,
        "cache_key": job.key,
        "prompt_tokens": entry.prompt_tokens if entry else 0,
        "completion_tokens": entry.completion_tokens if entry else 0,
        "passage": None,
    }
    if entry is not None and entry.ok and entry.questions:
        seen: Counter[str] = Counter()
        rows = []
        for style, question in entry.questions:
            qid = f"{job.chunk_id}:{style}:{seen[style]}"
            seen[style] += 1
            rows.append(
                {"question_id": qid, "question": question, "style": style, "status": "ok", "error": None}
                | base
            )
        return rows
    error = (
        entry.error
        if entry is not None
        else "not_generated: no response stored (pending batch or aborted run)"
    )
    return [
        {
            "question_id": f"{job.chunk_id}:{style}:failed",
            "question": None,
            "style": style,
            "status": "failed",
            "error": error,
        }
        | base
        for style in dict.fromkeys(job.slots)
    ]


class Progress(Protocol):
    """What a sender reports progress to: a :class:`Ticker`, or a worker's shared counter."""

    def tick(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


class Ticker:
    """A progress bar (rate, ETA) advanced one step per completed request, with the stage's bar policy."""

    def __init__(self, total: int, desc: str) -> None:
        self._bar: Iterator[int] = progress(range(total), desc=desc, total=total, unit="req")

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            next(self._bar, None)

    def close(self) -> None:
        for _ in self._bar:
            pass
