"""Turn a model's reply into questions, or a :class:`~lexqa.llm.replies.ReplyError` with a short reason code.

The generate stage's parser for :func:`lexqa.llm.answer`. Replies are parsed robustly: plain JSON, JSON inside
a Markdown code fence, JSON followed or preceded by prose, an object ``{"questions": [...]}`` or a bare list,
items as objects ``{"style", "question"}`` or plain strings.
What cannot be trusted is an error, never a guess: empty content, no JSON, the wrong number of questions, an
empty question::

    >>> parse_questions('```json\\n{"questions": [{"style": "query", "question": "Délai ?"}]}```', ["query"])
    [('query', 'Délai ?')]
    >>> parse_questions('{"questions": []}', ["query"])
    Traceback (most recent call last):
    ...
    lexqa.llm.replies.ReplyError: wrong_count: expected 1 questions, got 0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lexqa.llm.replies import ReplyError, extract_json


def _questions_json(value: Any) -> bool:
    """What a reply's questions look like: a list, or an object with ``questions``."""
    return isinstance(value, list) or (isinstance(value, dict) and "questions" in value)


def parse_questions(content: str | None, slots: Sequence[str]) -> list[tuple[str, str]]:
    """``(style, question)`` pairs for a reply to a request for ``slots``; raises :class:`ReplyError`.

    A style the model names is kept when it is one of those requested; otherwise the slot's style is used.
    """
    if content is None or not content.strip():
        raise ReplyError("empty", "the model returned no content")
    data = extract_json(content, _questions_json)
    items = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ReplyError("bad_json", f"expected a list of questions, got {type(items).__name__}")
    if len(items) != len(slots):
        raise ReplyError("wrong_count", f"expected {len(slots)} questions, got {len(items)}")
    pairs = []
    for slot, item in zip(slots, items, strict=True):
        question, style = (item, None) if isinstance(item, str) else _fields(item)
        if not isinstance(question, str) or not question.strip():
            raise ReplyError("empty_question", f"an empty or missing question in {str(items)[:160]!r}")
        pairs.append((style if style in slots else slot, " ".join(question.split())))
    return pairs


def _fields(item: Any) -> tuple[Any, Any]:
    if not isinstance(item, dict):
        return None, None
    return item.get("question"), item.get("style")
