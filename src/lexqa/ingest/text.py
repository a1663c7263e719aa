"""Plain-text files → one document per file.

The encoding is detected from the bytes (:mod:`lexqa.ingest.encoding`: UTF-8, windows-1251, KOI8-R, ...), and
the text is cleaned like a PDF's text layer (:func:`lexqa.ingest.rulings.clean_text`): hard-wrapped lines are
rejoined into paragraphs (a blank line, an indented or centred line, a short line ending a sentence start a
new one), runs of spaces collapse, page numbers and lines repeated at the top or bottom of pages (form feeds
separate pages) are dropped.

With ``rulings: true`` (the default) a file is a court ruling: its header gives the case number, date, court
and act type, as for the PDFs (``title`` = ``"<court>: <act title>"``, ``native_id`` = ``case number@date``,
else the file stem). With ``rulings: false`` the first line is the title and the rest the text; ``native_id``
is the file stem.

Rejects: an empty file (``empty_file``), binary content (``binary_content``), bytes no candidate encoding
reads (``undecodable``).

    >>> from lexqa.config import TextSource
    >>> from lexqa.ingest.text import read
    >>> src = TextSource(name="txt", kind="text", path="data/raw/sample/text", lang="ru", domain="ru_rulings")
    >>> [d.number for d in read(src)]                                    # doctest: +SKIP
    ['2-845/2024', '5-312/2024']
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lexqa.config import TextSource
from lexqa.ingest.encoding import EncodingError, decode
from lexqa.ingest.records import Doc, Reject, iter_files
from lexqa.ingest.rulings import clean_text, normalize_space, ruling_doc

__all__ = ["read", "read_text_file"]


def read(source: TextSource) -> Iterator[Doc | Reject]:
    """One document (or reject) per ``*.txt`` of the source."""
    for path in iter_files(source, "*.txt"):
        yield path if isinstance(path, Reject) else read_text_file(path, rulings=source.rulings)


def read_text_file(path: Path, rulings: bool = True) -> Doc | Reject:
    """Read one text file as a ruling (header parsed) or as a titled document."""
    origin = str(path)
    data = path.read_bytes()
    if not data.strip():
        return Reject(origin, "empty_file", f"{len(data)} bytes")
    try:
        decoded = decode(data)
    except EncodingError as exc:
        return Reject(origin, exc.reason, str(exc))
    meta: dict[str, object] = {"encoding": decoded.encoding}
    if not rulings:
        title, _, body = decoded.text.lstrip().partition("\n")
        return Doc(
            native_id=path.stem, text=clean_text(body), origin=origin, title=normalize_space(title), meta=meta
        )
    return ruling_doc(clean_text(decoded.text), path.stem, origin, meta)
