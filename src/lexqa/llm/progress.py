"""Progress of a run of requests: a bar in the parent process, a shared counter in a worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from lexqa.summary import progress


class Progress(Protocol):
    """What a sender reports progress to: a :class:`Ticker`, or a worker's shared counter."""

    def tick(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


class Ticker:
    """A progress bar (rate, ETA) advanced one step per completed request, with the stages' bar policy."""

    def __init__(self, total: int, desc: str) -> None:
        self._bar: Iterator[int] = progress(range(total), desc=desc, total=total, unit="req")

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            next(self._bar, None)

    def close(self) -> None:
        for _ in self._bar:
            pass
