"""A model's reply made into a cache entry: JSON extraction, and the caller's parser, or why it is unusable.

The caller parses (generate's questions, the judge's verdict): a :data:`Parser` turns the reply's content and
the job's labels into ``(label, value)`` pairs, or raises :class:`ReplyError` with a short reason code. What
cannot be trusted is an error, never a guess. :func:`extract_json` finds the JSON in the forms models
write it (plain, in a Markdown code fence, amid prose; raw newlines inside strings accepted)::

    >>> extract_json('Sure!\\n```json\\n{"answerable": "yes"}\\n```')
    {'answerable': 'yes'}
    >>> extract_json("I cannot answer that.")
    Traceback (most recent call last):
    ...
    lexqa.llm.replies.ReplyError: bad_json: no JSON in the reply: 'I cannot answer that.'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from lexqa.llm.cache import Entry

_FENCE = re.compile(r"```[A-Za-z]*\s*\n(.*?)```", re.S)
_DECODER = json.JSONDecoder(strict=False)

Parser = Callable[[str | None, Sequence[str]], list[tuple[str, str]]]
"""``parse(content, labels)``: the ``(label, value)`` pairs of a reply to a job, or :class:`ReplyError`."""


class ReplyError(Exception):
    """A reply that gives no usable answer; ``code`` is a short stable reason (``bad_json``, ``empty``, …)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def extract_json(content: str, wanted: Callable[[Any], bool] = lambda value: True) -> Any:
    """The JSON value of a reply: the whole text, else the first value in a code fence or in the prose around
    it that ``wanted`` accepts, else the first JSON value at all; :class:`ReplyError` when there is none."""
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
            if wanted(value):
                return value
            found.append(value)
    if found:
        return found[0]
    raise ReplyError("bad_json", f"no JSON in the reply: {content[:160]!r}")


def entry_from_completion(
    key: str, labels: Sequence[str], completion: Any, model: str, backend: str, parse: Parser
) -> Entry:
    """The cache entry for a decoded ``chat.completion`` object: ``parse``'s answer, or why it is unusable.

    Usage is kept in both cases (a reply with bad JSON was still paid for); a reply cut short says so
    (``finish_reason length``).
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
        answer = parse(content, labels)
    except ReplyError as exc:
        finish = choice.get("finish_reason")
        detail = exc.detail if finish in (None, "stop") else f"{exc.detail} (finish_reason {finish})"
        return Entry(status="failed", error=f"{exc.code}: {detail}", **common)
    return Entry(status="ok", answer=answer, **common)
