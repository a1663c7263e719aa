"""End-of-stage summaries and progress bars.

Every stage counts what came in, what went out and what was rejected (by reason), then prints one screen and
saves the same figures as JSON beside its outputs::

    >>> from lexqa.summary import StageSummary
    >>> s = StageSummary("chunk")
    >>> s.rows_in = 3; s.rows_out = 7
    >>> s.reject("too_short", 1)
    >>> print(s.render())                             # doctest: +ELLIPSIS
    == chunk ==...
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from lexqa.secrets import redact, redact_obj
from lexqa.tables import write_json

T = TypeVar("T")
log = logging.getLogger("lexqa")


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm bar on stderr, quiet when LEXQA_NO_PROGRESS=1 (tests) or stderr is not a terminal and CI is set."""
    disable = os.environ.get("LEXQA_NO_PROGRESS") == "1" or (
        bool(os.environ.get("CI")) and not sys.stderr.isatty()
    )
    return iter(
        tqdm(items, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True, smoothing=0.1)
    )


def setup_logging() -> None:
    """Warnings and info to stderr in a compact format; called by stage scripts."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )


@dataclass
class StageSummary:
    """Counters for one stage run; ``render`` gives the one-screen summary, ``save`` the JSON."""

    stage: str
    rows_in: int = 0
    rows_out: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def reject(self, reason: str, n: int = 1) -> None:
        self.rejects[reason] += n

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rejected": sum(self.rejects.values()),
            "rejects_by_reason": dict(self.rejects.most_common()),
            "elapsed_s": round(self.elapsed_s, 3),
            **self.extra,
        }

    def render(self) -> str:
        d = self.as_dict()
        lines = [
            f"== {self.stage} ==",
            f"  rows in      {d['rows_in']:>10,}",
            f"  rows out     {d['rows_out']:>10,}",
        ]
        lines.append(f"  rejected     {d['rejected']:>10,}")
        for reason, n in d["rejects_by_reason"].items():
            lines.append(f"    {reason:<24} {n:>8,}")
        for key, value in self.extra.items():
            if isinstance(value, dict):
                lines.append(f"  {key}:")
                for k, v in value.items():
                    lines.append(f"    {k:<24} {v:>8,}" if isinstance(v, int) else f"    {k:<24} {v}")
            elif isinstance(value, float):
                lines.append(f"  {key:<12} {value:>10,.3f}")
            elif isinstance(value, int):
                lines.append(f"  {key:<12} {value:>10,}")
            else:
                lines.append(f"  {key:<12} {value}")
        lines.append(f"  elapsed      {d['elapsed_s']:>10.2f} s")
        return "\n".join(lines)

    def finish(self, json_path: str | Path | None = None) -> dict[str, Any]:
        """Print the summary to stdout and save it as JSON when a path is given (both redacted: no secret is
        printed or saved, whatever a stage put in ``extra``)."""
        print(redact(self.render()), flush=True)
        d = redact_obj(self.as_dict())
        if json_path is not None:
            write_json(d, json_path)
        return d
