"""The ordered list of curate's filters: what :class:`lexqa.curate.Curation` applies, in this order, and what
the dataset card says was applied (through ``curate_summary.json``'s ``filters``, so that split never imports
curate).

An entry knows its name, whether the params enable it, how the card describes it, the retriever it ranks or
compares with (``None`` for a text filter) and the :class:`~lexqa.curate.Curation` step that applies it.
Adding a filter is one step (a ``Curation`` method, usually calling a function of :mod:`.filters` or
:mod:`.model_filters`), one entry here, and its params section in ``config.py``::

    >>> from lexqa.config import parse_params
    >>> params = parse_params({"model": {"name_or_path": "m"}, "sources": [
    ...     {"name": "s", "kind": "text", "path": "x", "lang": "fr", "domain": "d"}],
    ...     "curate": {"round_trip": {"enabled": True}}})
    >>> [f.name for f in FILTERS][:3]
    ['chunk_dedup', 'language', 'length']
    >>> descriptions(params)["round_trip"]
    'round trip (top 10, by the base model)'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lexqa.config import Params

if TYPE_CHECKING:
    from lexqa.curate import Curation

_RETRIEVER = {"model": "{model}", "bm25": "BM25", "both": "{model} and BM25"}
_EASINESS = {
    "model": "{model}'s cosine",
    "bm25": "BM25 term coverage",
    "both": "the lower percentile of {model}'s cosine and BM25 term coverage",
}


def _by(template: str, params: Params) -> str:
    """A retriever's description, naming the filter model when it is not the base model."""
    model = params.curate.filter_model
    return template.format(model=f"the filter model {model.name_or_path}" if model else "the base model")


@dataclass(frozen=True)
class Filter:
    """One curate filter: ``apply`` moves the questions it rejects from ``Curation.live`` to the rejects."""

    name: str
    enabled: Callable[[Params], bool]
    describe: Callable[[Params], str]
    apply: Callable[[Curation], None]
    retriever: Callable[[Params], str | None] = lambda params: None
    """``model``, ``bm25`` or ``both`` for a filter that needs the base model's vectors or BM25."""


def _chunk_dedup(params: Params) -> str:
    c = params.curate
    near = f"near-dup chunks (Jaccard ≥ {c.chunk_near_dup.threshold})"
    if not c.chunk_near_dup.enabled:
        return "exact dedup of chunks"
    return f"exact and {near}" if c.exact_dedup else near


FILTERS: tuple[Filter, ...] = (
    Filter(
        "chunk_dedup",
        lambda p: p.curate.exact_dedup or p.curate.chunk_near_dup.enabled,
        _chunk_dedup,
        lambda run: run.chunk_duplicates(),
    ),
    Filter("language", lambda p: p.curate.language.enabled, lambda p: "language", lambda run: run.language()),
    Filter(
        "length",
        lambda p: True,
        lambda p: f"length {p.curate.length.min_tokens}–{p.curate.length.max_tokens} tokens",
        lambda run: run.length(),
    ),
    Filter(
        "self_reference",
        lambda p: p.curate.self_reference.enabled,
        lambda p: "self-reference",
        lambda run: run.self_reference(),
    ),
    Filter(
        "overlap",
        lambda p: p.curate.overlap.enabled,
        lambda p: "copy of the chunk",
        lambda run: run.overlap(),
    ),
    Filter(
        "round_trip",
        lambda p: p.curate.round_trip.enabled,
        lambda p: (
            f"round trip (top {p.curate.round_trip.top_k}, by {_by(_RETRIEVER[p.curate.round_trip.retriever], p)})"
        ),
        lambda run: run.round_trip(),
        retriever=lambda p: p.curate.round_trip.retriever,
    ),
    Filter(
        "easiness",
        lambda p: p.curate.easiness.enabled,
        lambda p: (
            f"easiness (easiest {p.curate.easiness.drop_percent:g} % dropped, "
            f"by {_by(_EASINESS[p.curate.easiness.retriever], p)})"
        ),
        lambda run: run.easiness(),
        retriever=lambda p: p.curate.easiness.retriever,
    ),
    Filter(
        "question_dedup",
        lambda p: p.curate.exact_dedup,
        lambda p: (
            "exact dedup of questions"
            + (
                f" (by question and chunk for {', '.join(p.curate.repeat_styles)})"
                if p.curate.repeat_styles
                else ""
            )
        ),
        lambda run: run.question_duplicates(),
    ),
    Filter(
        "question_near_dup",
        lambda p: p.curate.question_near_dup.enabled,
        lambda p: f"near-dup questions (Jaccard ≥ {p.curate.question_near_dup.threshold})",
        lambda run: run.question_near_duplicates(),
    ),
    Filter(
        "semantic_dedup",
        lambda p: p.curate.semantic_dedup.enabled,
        lambda p: f"semantic dedup (cosine ≥ {p.curate.semantic_dedup.threshold})",
        lambda run: run.semantic_duplicates(),
        retriever=lambda p: "model",
    ),
    Filter(
        "judge",
        lambda p: p.curate.judge.enabled,
        lambda p: f"LLM judge ({', '.join(p.curate.judge.criteria)})",
        lambda run: run.judge(),
    ),
)
"""Every filter, in the order they apply: quality before deduplication, so that the row kept for a group of
duplicates is a good one (the round trip and easiness included: a title query shared by sibling articles is
kept for a sibling whose chunk the retriever finds, not dropped with the first sibling), cheap before
expensive within each, the paid LLM judge last."""


def enabled(params: Params) -> list[Filter]:
    """The filters ``params`` switches on, in order."""
    return [f for f in FILTERS if f.enabled(params)]


def descriptions(params: Params) -> dict[str, str]:
    """Name → the card's description of every enabled filter, in order (curate_summary.json's ``filters``)."""
    return {f.name: f.describe(params) for f in enabled(params)}
