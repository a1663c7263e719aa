"""Text filters of the ``curate`` stage: language, length, self-reference, copying the chunk.

Each filter takes the frame of questions still in (one row per question with its chunk's fields, see
:mod:`lexqa.curate`) and returns the rejected ones as a :func:`rejected` frame: question_id, reason, detail,
score, duplicate_of. Nothing is dropped here; the caller moves the rows to the rejects table::

    >>> import polars as pl
    >>> live = pl.DataFrame({"question_id": ["q1", "q2"], "lang": ["fr", "fr"],
    ...                      "question": ["Que dit cet article ?", "Qui hérite ?"]})
    >>> self_reference(live, {"fr": [r"\\bcet article\\b"]})["reason"].to_list()
    ['self_reference']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

import polars as pl

from lexqa.config import OverlapParams
from lexqa.lang import LanguageDetector

REJECTED = {
    "question_id": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "score": pl.Float64(),
    "duplicate_of": pl.String(),
}
_WORDS = re.compile(r"\w+")


def rejected(
    ids: Sequence[str],
    reason: str,
    detail: Sequence[str | None] | None = None,
    score: Sequence[float | None] | None = None,
    duplicate_of: Sequence[str | None] | None = None,
) -> pl.DataFrame:
    """A frame of rejected question ids with one reason, and optional per-row detail, score and kept id."""
    n = len(ids)
    return pl.DataFrame(
        {
            "question_id": list(ids),
            "reason": [reason] * n,
            "detail": list(detail) if detail is not None else [None] * n,
            "score": [None if s is None else float(s) for s in score] if score is not None else [None] * n,
            "duplicate_of": list(duplicate_of) if duplicate_of is not None else [None] * n,
        },
        schema=REJECTED,
    )


def words(text: str) -> list[str]:
    """Lower-cased words (runs of letters, digits, underscores)."""
    return _WORDS.findall(text.casefold())


def language(live: pl.DataFrame, detector: LanguageDetector, min_confidence: float = 0.0) -> pl.DataFrame:
    """``wrong_language``: the question's detected language is not its chunk's ``lang``, or the detector's
    confidence is below ``min_confidence``."""
    found = detector.detect_many(live["question"].to_list())
    ids, details, scores = [], [], []
    for qid, lang, (got, conf) in zip(live["question_id"], live["lang"], found, strict=True):
        if got != lang or conf < min_confidence:
            ids.append(qid)
            details.append(f"question detected as {got} ({conf:.2f}), chunk is {lang}")
            scores.append(conf)
    return rejected(ids, "wrong_language", details, scores)


def length(live: pl.DataFrame, min_tokens: int, max_tokens: int) -> pl.DataFrame:
    """``too_short`` / ``too_long`` by the ``anchor_tokens`` column (tokens of the model's tokenizer)."""
    parts = []
    for reason, cond, bound in (
        ("too_short", pl.col("anchor_tokens") < min_tokens, f"< {min_tokens}"),
        ("too_long", pl.col("anchor_tokens") > max_tokens, f"> {max_tokens}"),
    ):
        hit = live.filter(cond)
        details = [f"{n} tokens {bound}" for n in hit["anchor_tokens"]]
        parts.append(rejected(hit["question_id"].to_list(), reason, details, hit["anchor_tokens"].to_list()))
    return pl.concat(parts)


def self_reference(live: pl.DataFrame, patterns: dict[str, list[str]]) -> pl.DataFrame:
    """``self_reference``: the question matches one of its language's patterns («cet article», «данная
    статья», ...), so it does not stand on its own. Languages without patterns are not checked."""
    compiled = {
        lang: re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)
        for lang, pats in patterns.items()
        if pats
    }
    ids, details = [], []
    for qid, question, lang in zip(live["question_id"], live["question"], live["lang"], strict=True):
        regex = compiled.get(lang)
        match = regex.search(question) if regex else None
        if match:
            ids.append(qid)
            details.append(f"refers to the text: {match.group(0)!r}")
    return rejected(ids, "self_reference", details)


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def overlap(live: pl.DataFrame, params: OverlapParams) -> pl.DataFrame:
    """``copies_chunk``: the question shares a run of at least ``min_words`` words with its chunk's text
    and that run covers ``max_lcs_ratio`` of the question, or (with at least ``min_words`` words)
    ``max_ngram_overlap`` of its word n-grams occur in the chunk. Rows of ``exempt_backends`` are not checked.
    The score is the larger of the two ratios."""
    ids, details, scores = [], [], []
    checked = live.filter(~pl.col("backend").is_in(params.exempt_backends))
    for (chunk_text,), group in checked.group_by("text", maintain_order=True):
        chunk_words = words(chunk_text)
        chunk_grams = _ngrams(chunk_words, params.ngram)
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(chunk_words)
        for qid, question in zip(group["question_id"], group["question"], strict=True):
            q = words(question)
            if len(q) < params.min_words:
                continue
            matcher.set_seq1(q)
            run = matcher.find_longest_match(0, len(q), 0, len(chunk_words)).size
            lcs = run / len(q)
            grams = _ngrams(q, params.ngram)
            shared = len(grams & chunk_grams) / len(grams) if grams else 0.0
            if (
                run >= params.min_words and lcs >= params.max_lcs_ratio
            ) or shared >= params.max_ngram_overlap:
                ids.append(qid)
                details.append(
                    f"longest shared run {run} of {len(q)} words ({lcs:.2f}); "
                    f"{params.ngram}-gram overlap {shared:.2f}"
                )
                scores.append(max(lcs, shared))
    return rejected(ids, "copies_chunk", details, scores)
