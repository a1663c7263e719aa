"""What an ingest reader yields: parsed documents and rejects, plus file discovery shared by readers.

A reader is a function ``read(source) -> Iterator[Doc | Reject]``. It never raises for bad input: a file it
cannot use becomes a :class:`Reject` with the file's path and a short reason code, and reading goes on::

    def read(source: MarkdownSource) -> Iterator[Doc | Reject]:
        for path in iter_files(source, "*.md"):
            ...
            yield Doc(native_id="LEGITEXT000006070721:1240", title="Code civil", text="...", origin=str(path))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lexqa.config import SourceBase


@dataclass(slots=True)
class Doc:
    """One document as parsed by a reader; the ingest stage adds ids, language and hashes."""

    native_id: str  # unique within the source: LEGIARTI id, case number, file stem, row id ...
    text: str
    origin: str  # file path, or "archive.tar.gz!member"
    title: str = ""
    path: list[str] = field(default_factory=list)
    number: str | None = None
    date: str | None = None  # ISO yyyy-mm-dd
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Reject:
    """A file or unit that was not turned into a document, and why.

    ``warn`` is False for expected, by-design exclusions (an abrogated article version when the in-force one is
    kept, a code not selected): they are counted and kept in the rejects table but not logged one by one.
    """

    origin: str
    reason: str  # short stable code, e.g. malformed_xml, no_text_layer, empty, binary_content
    detail: str = ""
    warn: bool = True


def iter_files(source: SourceBase, default_glob: str) -> Iterator[Path]:
    """Files of a source in a stable (sorted) order: the path itself if it is a file, else a recursive glob."""
    root = Path(source.path)
    if root.is_file():
        yield root
        return
    if not root.exists():
        raise FileNotFoundError(f"source {source.name!r}: {root} does not exist")
    pattern = source.glob or default_glob
    yield from sorted(p for p in root.rglob(pattern) if p.is_file())
