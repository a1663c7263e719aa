"""A request to an LLM: :class:`Job` (cache key, the caller's id, the body to send, what the answer holds, and
the ``response_format`` step-down), and the content address of a request (:func:`cache_key`).

The cache key is the sha256 of the request under the API family ``openai-chat``: its parameters (model,
temperature, max_tokens, response_format...) as canonical JSON, then each message's role and text. Base URL,
concurrency, limits, timeouts and the seed are not part of it, so changing them never pays twice, and the
online and the batch backend share answers. :class:`RequestShape` hashes the part of a body that many
requests share once::

    >>> shape = RequestShape(chat_body("m", None, 0.0, 100, {"type": "json_object"}))
    >>> key, body = shape.body("Is this answerable?")
    >>> key == cache_key(body), body["messages"]
    (True, [{'role': 'user', 'content': 'Is this answerable?'}])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

API_FAMILY = "openai-chat"
Format = dict[str, Any] | None
"""A request's ``response_format`` (None: plain text)."""


@dataclass(frozen=True)
class Job:
    """One chat request.

    ``id`` is the caller's (a chunk id, a question id), ``labels`` what its answer is expected to hold (the
    style of each question asked, the criteria judged: the parser receives them). ``formats`` is the
    ``response_format`` step-down, ``(mode, format)`` from the one in ``body`` to ever simpler ones: when a
    server refuses a format, the run sends the next one for the rest of the run (the cache key keeps the
    body's). Empty: no step-down.
    """

    key: str
    id: str
    body: dict[str, Any]
    labels: tuple[str, ...] = ()
    formats: tuple[tuple[str, Format], ...] = ()

    def estimated_tokens(self) -> int:
        """Prompt tokens (about 3 characters each, cautious for Cyrillic) plus the completion budget."""
        chars = sum(len(str(m["content"])) for m in self.body["messages"])
        return chars // 3 + int(self.body.get("max_tokens") or 0)


def chat_body(
    model: str, prompt: str | None, temperature: float, max_tokens: int, response_format: Format
) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body of one user message (no ``messages`` when ``prompt`` is None)."""
    body: dict[str, Any] = {"model": model}
    if prompt is not None:
        body["messages"] = [{"role": "user", "content": prompt}]
    body |= {"temperature": temperature, "max_tokens": max_tokens}
    if response_format is not None:
        body["response_format"] = response_format
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


class RequestShape:
    """Everything in a request but its messages, hashed once: the requests of many prompts share it (the
    canonical JSON of a JSON schema cost 70 µs a request, half the generate stage's own time on 2,000
    chunks), and their bodies share its objects."""

    def __init__(self, fixed: dict[str, Any]) -> None:
        self.fixed = {k: v for k, v in fixed.items() if k != "messages"}
        self._digest = _params_digest(self.fixed)

    def body(self, prompt: str) -> tuple[str, dict[str, Any]]:
        """``(cache key, body)`` of the request asking ``prompt``."""
        messages = [{"role": "user", "content": prompt}]
        body = {"model": self.fixed.get("model"), "messages": messages} | self.fixed
        return _with_messages(self._digest.copy(), messages), body
