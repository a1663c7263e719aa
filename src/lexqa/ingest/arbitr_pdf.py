"""Arbitration-court rulings as PDFs → one document per file, from the PDF's text layer.

The text layer is read with pypdf in layout mode, which keeps where each line starts on the page: that is what
tells a paragraph's indented first line from its continuation lines, and a centred title from body text.
:func:`lexqa.ingest.rulings.clean_pages` then rejoins the hard-wrapped lines, collapses the justification and
centring spaces, and drops page numbers, the arbitr.ru site footer and running heads. The ВАС documents'
internal number printed at the top right of page one (``925_571961``) goes to ``meta["internal_number"]``, not
the text.

Document fields: ``number`` = the case number the ruling is about (the lower-court ``А04-1588/2013``), else
the act's own number; ``meta["vas_number"]`` = the ВАС registration number (``ВАС-6700/14``),
``meta["arbitr_numbers"]`` every arbitration case number in the header; ``date`` = the act's date (``Москва 10
июня 2014 г.``; the file names of the real samples carry another date, their publication's); ``title`` =
``"<court>: <act title>"``; ``native_id`` = ``ВАС number@date`` (one ВАС number may carry several
determinations), else ``case number@date``, else the file stem.

Rejects: an empty file (``empty_file``); a file that is not a PDF, is cut short (no ``%%EOF`` near its end),
is encrypted with a password, or that pypdf cannot parse (``unreadable_pdf``); a PDF whose pages hold no text,
such as a scan without OCR (``no_text_layer``).

    >>> from lexqa.config import ArbitrPdfSource
    >>> from lexqa.ingest.arbitr_pdf import read
    >>> src = ArbitrPdfSource(name="arbitr", kind="arbitr_pdf", path="data/raw/sample/arbitr_pdf", lang="ru",
    ...                       domain="ru_rulings")
    >>> [(d.number, d.meta["vas_number"]) for d in read(src)]            # doctest: +SKIP
    [('А40-12345/2013', 'ВАС-1001/14'), ('А56-54321/2013', 'ВАС-1002/14')]
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

from pypdf import PdfReader

from lexqa.config import ArbitrPdfSource
from lexqa.ingest.records import Doc, Reject, iter_files
from lexqa.ingest.rulings import clean_pages, ruling_doc

__all__ = ["read", "read_pdf"]

MIN_TEXT_CHARS = 20
"""Fewer letters and digits than this in the whole text layer means there is no text layer."""

_INTERNAL_NUMBER = re.compile(r"^\s*(\d+_\d+)\s*$")


def read(source: ArbitrPdfSource) -> Iterator[Doc | Reject]:
    """One document (or reject) per ``*.pdf`` of the source."""
    for path in iter_files(source, "*.pdf"):
        yield path if isinstance(path, Reject) else read_pdf(path)


def _pages(data: bytes) -> list[str]:
    """The layout-mode text of each page; raises on anything pypdf cannot read."""
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise PermissionError("encrypted with a password")
    return [page.extract_text(extraction_mode="layout") for page in reader.pages]


def read_pdf(path: Path) -> Doc | Reject:
    """Read one PDF; any problem with the file becomes a :class:`Reject`."""
    origin = str(path)
    data = path.read_bytes()
    if not data.strip():
        return Reject(origin, "empty_file", f"{len(data)} bytes")
    if b"%PDF-" not in data[:1024]:
        return Reject(origin, "unreadable_pdf", "not a PDF: no %PDF- header")
    if b"%%EOF" not in data[-2048:]:
        return Reject(origin, "unreadable_pdf", "truncated: no %%EOF marker at the end of the file")
    try:
        pages = _pages(data)
    except Exception as exc:  # a damaged PDF fails in many ways inside pypdf; none may stop the run
        return Reject(origin, "unreadable_pdf", f"{type(exc).__name__}: {exc}")
    if not pages:
        return Reject(origin, "unreadable_pdf", "no pages")
    if sum(ch.isalnum() for page in pages for ch in page) < MIN_TEXT_CHARS:
        return Reject(
            origin, "no_text_layer", f"{len(pages)} page(s) without extractable text (a scan? OCR it)"
        )

    meta: dict[str, object] = {"pages": len(pages)}
    internal = next(filter(None, map(_INTERNAL_NUMBER.match, pages[0].splitlines()[:5])), None)
    if internal:
        meta["internal_number"] = internal.group(1)
    return ruling_doc(clean_pages(pages), path.stem, origin, meta)
