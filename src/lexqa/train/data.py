"""Training pairs from ``train.json`` / ``eval.json``: JSON lines ``anchor``, ``positive``[, ``negative``]

Column order matters to MultipleNegativesRankingLoss: the question (``anchor``) comes first, its passage
(``positive``) second, then the optional hard ``negative``. A malformed line (bad JSON, a missing or empty
anchor or positive) becomes a rejects row, never a crash::

    >>> rejects = []
    >>> rows = read_pairs("data/processed/dataset/train.json", rejects)       # doctest: +SKIP
    >>> list(rows[0])                                                          # doctest: +SKIP
    ['anchor', 'positive']
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from lexqa.tables import read_json_objects

log = logging.getLogger("lexqa.train")

NEGATIVE = re.compile(r"negative(_\d+)?")
"""Hard-negative columns, sentence-transformers' names: ``negative`` or ``negative_1`` … ``negative_k``."""


def _reject(rejects: list[dict[str, Any]], origin: str, reason: str, detail: str) -> None:
    log.warning("%s (%s): %s", origin, reason, detail)
    row = {"stage": "train", "source": None, "origin": origin, "reason": reason, "detail": detail}
    rejects.append(row | {"duplicate_of": None})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _negative_order(column: str) -> int:
    return 0 if column == "negative" else int(column.rsplit("_", 1)[1])


def read_pairs(path: str | Path, rejects: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Valid rows of a pairs file, columns in the order anchor, positive[, negative or negative_1 … _k].

    A hard-negative column is used only when every valid row has it (a dataset's columns must be uniform);
    the others are dropped with a warning, the rows kept.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the split stage first (dvc repro)")
    rows: list[dict[str, str]] = []
    for origin, raw in read_json_objects(path, lambda *reason: _reject(rejects, *reason)):
        anchor, positive = _text(raw.get("anchor")), _text(raw.get("positive"))
        if anchor is None or positive is None:
            missing = "anchor" if anchor is None else "positive"
            _reject(rejects, origin, f"missing_{missing}", f"no non-empty string '{missing}'")
            continue
        row = {"anchor": anchor, "positive": positive}
        negatives = {k: v for k, v in raw.items() if NEGATIVE.fullmatch(k) and _text(v) is not None}
        rows.append(row | dict(sorted(negatives.items(), key=lambda kv: _negative_order(kv[0]))))
    columns = [set(r) for r in rows]
    common = set.intersection(*columns) if columns else set()
    dropped = sorted(set.union(*columns) - common) if columns else []
    if dropped:
        log.warning("%s: columns %s are missing from some rows: not used", path, ", ".join(dropped))
        rows = [{k: v for k, v in r.items() if k in common} for r in rows]
    return rows


def column_prompts(query_prompt: str, passage_prompt: str, columns: list[str]) -> dict[str, str]:
    """The prompt of each column that has one: the question's for ``anchor``, the passage's for the positive
    and the negatives (as the trainer applies them)::

        >>> column_prompts("query: ", "passage: ", ["anchor", "positive", "negative"])
        {'anchor': 'query: ', 'positive': 'passage: ', 'negative': 'passage: '}
        >>> column_prompts("", "", ["anchor", "positive"])
        {}
    """
    prompts = {c: query_prompt if c == "anchor" else passage_prompt for c in columns}
    return {column: prompt for column, prompt in prompts.items() if prompt}
