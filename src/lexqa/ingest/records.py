"""What an ingest reader yields: parsed documents and rejects, plus file discovery shared by readers.

A reader is a function ``read(source) -> Iterator[Doc | Reject]``. It never raises for bad input: a file it
cannot use becomes a :class:`Reject` with the file's path and a short reason code, and reading goes on. File
discovery yields rejects too (links, FIFOs), which the reader passes on::

    def read(source: MarkdownSource) -> Iterator[Doc | Reject]:
        for path in iter_files(source, "*.md"):
            if isinstance(path, Reject):
                yield path
                continue
            ...
            yield Doc(native_id="LEGITEXT000006070721:1240", title="Code civil", text="...", origin=str(path))
"""

from __future__ import annotations

import fnmatch
import os
import stat
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
    # Where the document lies in a file that holds many (``line 3``, ``Article 12, line 40``, ``act 2``): named
    # by the stage's rejects of this document; not a column of documents.parquet (meta keeps what readers keep).
    where: str | None = None


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


def iter_files(source: SourceBase, default_glob: str) -> Iterator[Path | Reject]:
    """Files of a source in a stable (sorted) order, and a :class:`Reject` for each entry that will not be read.

    The path itself if it is a file (a link there is followed: params name it), else every file under it whose
    name matches the glob (``source.glob`` or ``default_glob``; a pattern with ``/`` is matched against the end
    of the path below the source). Symbolic links inside the folder (docs/ingest.md, "Symlinks"):

    - a link is followed only when its target lies inside the source's root (the folder, links resolved);
      one that points outside is rejected as ``symlink_outside_root``, without naming its target;
    - a link to a directory inside the root is not descended: its files are read under their own path;
    - a dangling link, whatever its name, is rejected as ``dangling_symlink``;
    - a FIFO, socket or device that matches the glob (or that a link points to) is never opened:
      ``not_a_regular_file``.
    """
    root = Path(source.path)
    if root.is_file():
        yield root
        return
    if not root.exists():
        raise FileNotFoundError(f"source {source.name!r}: {root} does not exist")
    if not root.is_dir():
        yield Reject(str(root), "not_a_regular_file", f"{_kind(root.stat().st_mode)}, not a file or a folder")
        return
    real_root = root.resolve()
    pattern = source.glob or default_glob
    found: list[tuple[Path, Reject | None]] = []
    for folder, dirnames, filenames in os.walk(
        root
    ):  # followlinks=False: linked folders are listed, not walked
        base = Path(folder)
        for name in dirnames:
            path = base / name
            if path.is_symlink() and not _inside(path, real_root):
                detail = f"a link to a folder outside the source's root {real_root}: not followed"
                found.append((path, Reject(str(path), "symlink_outside_root", detail)))
        for name in filenames:
            path = base / name
            matches = _matches(path.relative_to(root), pattern)
            if path.is_symlink():
                if not path.exists():
                    found.append((path, Reject(str(path), "dangling_symlink", "a link to nothing: not read")))
                    continue
                if matches and not _inside(path, real_root):
                    detail = f"a link to a file outside the source's root {real_root}: not followed"
                    found.append((path, Reject(str(path), "symlink_outside_root", detail)))
                    continue
            if not matches:
                continue
            mode = path.stat().st_mode
            if stat.S_ISREG(mode):
                found.append((path, None))
            else:
                detail = f"{_kind(mode)}: never opened"
                found.append((path, Reject(str(path), "not_a_regular_file", detail)))
    for path, reject in sorted(found, key=lambda item: item[0]):
        yield reject or path


def _inside(link: Path, real_root: Path) -> bool:
    """Whether ``link``'s target, every link on the way resolved, lies inside ``real_root``."""
    return link.resolve().is_relative_to(real_root)


def _matches(relative: Path, pattern: str) -> bool:
    """The glob's test: the file name, or with ``/`` in the pattern the end of the relative path."""
    return relative.match(pattern) if "/" in pattern else fnmatch.fnmatchcase(relative.name, pattern)


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"))
    kinds += ((stat.S_ISBLK, "a block device"),)
    return next((name for test, name in kinds if test(mode)), "not a regular file")
