"""Turn a model's reply into questions, or a :class:`GenerationError` with a short reason code.

Replies are parsed robustly: plain JSON, JSON inside a Markdown code fence, JSON followed or preceded by
prose, an object ``{"questions": [...]}`` or a bare list, items as objects ``{"style", "question"}`` or plain
strings.
What cannot be trusted is an error, never a guess: empty content, no JSON, the wrong number of questions, an
empty question::

    >>> parse_questions('```json\\n{"questions": [{"style": "query", "question": "Délai ?"}]}```', ["query"])
    [('query', 'Délai ?')]
    >>> parse_questions('{"questions": []}', ["query"])
    Traceback (most recent call last):
    ...
    lexqa.generate.parsing.GenerationError: wrong_count: expected 1 questions, got 0
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from lexqa.generate.cache import Entry

_FENCE = re.compile(r"```[A-Za-z]*\s*\n(.*?)```", re.S)
_DECODER = json.JSONDecoder(strict=False)


class GenerationError(Exception):
    """A request that produced no usable questions; ``code`` is a short stable reason (``wrong_count``, …)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def extract_json(content: str) -> Any:
    """The JSON value of a reply: the whole text, else the first ``{"questions": ...}`` object or list found
    in a code fence or in the prose around it, else the first JSON value at all. Raw newlines inside strings,
    a common slip of models, are accepted."""
    try:
        return _DECODER.decode(content.strip())
    except json.JSONDecodeError:
        pass
    found = []
    for candidate in [m.group(1) for m in _FENCE.finditer(content)] + [content]:
        for match in re.finditer(r"[\[{]", candidate):
            try:
                value = _DECODER.raw_decode(candidate, match.start())[0]
            except json.JSONDecodeError:
                continue
            if isinstance(value, list) or (isinstance(value, dict) and "questions" in value):
                return value
            found.append(value)
    if found:
        return found[0]
    raise GenerationError("bad_json", f"no JSON in the reply: {content[:160]!r}")


def parse_questions(content: str | None, slots: Sequence[str]) -> list[tuple[str, str]]:
    """``(style, question)`` pairs for a reply to a request for ``slots``; raises :class:`GenerationError`.

    A style the model names is kept when it is one of those requested; otherwise the slot's style is used.
    """
    if content is None or not content.strip():
        raise GenerationError("empty", "the model returned no content")
    data = extract_json(content)
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise GenerationError("bad_json", f"expected a list of questions, got {type(items).__name__}")
    if len(items) != len(slots):
        raise GenerationError("wrong_count", f"expected {len(slots)} questions, got {len(items)}")
    pairs = []
    for slot, item in zip(slots, items, strict=True):
        question, style = (item, None) if isinstance(item, str) else _fields(item)
        if not isinstance(question, str) or not question.strip():
            raise GenerationError("empty_question", f"an empty or missing question in {str(items)[:160]!r}")
        pairs.append((style if style in slots else slot, " ".join(question.split())))
    return pairs


def _fields(item: Any) -> tuple[Any, Any]:
    if not isinstance(item, dict):
        return None, None
    return item.get("question"), item.get("style")


def entry_from_completion(key: str, slots: Sequence[str], completion: Any, model: str, backend: str) -> Entry:
    """The cache entry for a decoded ``chat.completion`` object: its questions, or why they are unusable.

    Usage is kept in both cases (a reply with bad JSON was still paid for).
    """
    try:
        choice = completion["choices"][0]
        content = choice["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return Entry(
            key,
            "failed",
            error=f"bad_response: not a chat completion: {str(completion)[:160]!r}",
            model=model,
            backend=backend,
        )
    usage = completion.get("usage") or {}
    common = {
        "key": key,
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
        "model": model,
        "backend": backend,
        "content": content,
    }
    try:
        questions = parse_questions(content, slots)
    except GenerationError as exc:
        finish = choice.get("finish_reason")
        detail = exc.detail if finish in (None, "stop") else f"{exc.detail} (finish_reason {finish})"
        return Entry(status="failed", error=f"{exc.code}: {detail}", **common)
    return Entry(status="ok", questions=questions, **common)
