"""Hostile input (issue 12, input side): every case ends as a reject row with a clear reason, in bounded time and
memory, opens nothing the input names, and loses no other row.

Cases that could hang (a FIFO named by the input) run in a thread with a deadline: when the deadline passes the
FIFO is opened for writing once, which releases the blocked reader, and the test fails instead of hanging.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lexqa.config import LegiXmlSource, SudrfHtmlSource
from lexqa.ingest import legi_xml, sudrf_html
from lexqa.ingest.records import Doc, Reject

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/raw/sample"
LEGI_ARTICLE = next((SAMPLE / "legi").rglob("LEGIARTI000099999903.xml"))
DEADLINE_S = 10.0


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe: opening it for reading blocks until a writer comes."""
    path = tmp_path / "pipe.dtd"
    os.mkfifo(path)
    return path


def finishes(fn: Callable[[], Any], release: Path | None = None) -> Any:
    """``fn()``'s result, or a test failure if it runs past :data:`DEADLINE_S` (blocked on ``release``)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    if thread.is_alive():
        if release is not None:  # a writer end lets the blocked open() return, so the thread can finish
            os.close(os.open(release, os.O_WRONLY | os.O_NONBLOCK))
            thread.join(DEADLINE_S)
        pytest.fail(f"still running after {DEADLINE_S} s: blocked on what the input names?")
    if "error" in box:
        raise box["error"]
    return box["result"]


def items_of(reader: Callable[[Any], Any], source: Any) -> tuple[list[Doc], list[Reject]]:
    items = list(reader(source))
    return [i for i in items if isinstance(i, Doc)], [i for i in items if isinstance(i, Reject)]


# --------------------------------------------------------------------------------------------- 2. XML
def with_doctype(doctype: str, encoding: str = "utf-8") -> bytes:
    """The sample LEGI article with ``doctype`` after its XML declaration (re-encoded when asked)."""
    text = LEGI_ARTICLE.read_text(encoding="utf-8")
    declaration, rest = text.split("\n", 1)
    if encoding != "utf-8":
        declaration = declaration.replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
    return f"{declaration}\n{doctype}\n{rest}".encode(encoding)


EXTERNAL_DOCTYPES = {
    "system dtd": '<!DOCTYPE ARTICLE SYSTEM "{path}">',
    "public dtd": '<!DOCTYPE ARTICLE PUBLIC "-//LEXQA//TEST//EN" "{path}">',
    "file url": '<!DOCTYPE ARTICLE SYSTEM "file://{path}">',
    "parameter entity": '<!DOCTYPE ARTICLE [<!ENTITY % ext SYSTEM "{path}"> %ext;]>',
}


@pytest.mark.parametrize("shape", sorted(EXTERNAL_DOCTYPES))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_legi_doctype_naming_a_fifo_is_refused_without_opening_it(fifo, shape, encoding):
    data = with_doctype(EXTERNAL_DOCTYPES[shape].format(path=fifo), encoding)
    result = finishes(lambda: legi_xml.parse_article(data, "hostile.xml"), release=fifo)
    assert isinstance(result, Reject) and result.reason == "unsafe_xml", result
    assert str(fifo.parent) not in result.detail and "pipe" not in result.detail


@pytest.mark.parametrize("content", ["", '<!ENTITY x "from the DTD">', "not a DTD at all <<<"])
@pytest.mark.parametrize("shape", ["system dtd", "parameter entity"])
def test_legi_local_file_named_by_doctype_is_neither_read_nor_named(tmp_path, content, shape):
    # An empty DTD used to let the article through; a non-DTD file's name (and parse errors) reached the detail.
    named = tmp_path / "secret-local-name.txt"
    named.write_text(content)
    result = legi_xml.parse_article(with_doctype(EXTERNAL_DOCTYPES[shape].format(path=named)), "h.xml")
    assert isinstance(result, Reject) and result.reason == "unsafe_xml", result
    assert "secret-local-name" not in result.detail and "from the DTD" not in result.detail


def test_legi_missing_file_named_by_doctype_is_refused_and_not_named(tmp_path):
    missing = tmp_path / "does-it-exist.dtd"
    result = legi_xml.parse_article(
        with_doctype(EXTERNAL_DOCTYPES["system dtd"].format(path=missing)), "h.xml"
    )
    assert isinstance(result, Reject) and result.reason == "unsafe_xml"
    assert "does-it-exist" not in result.detail


def test_legi_folder_with_a_hostile_file_keeps_every_other_article(tmp_path, fifo):
    (tmp_path / "good.xml").write_bytes(LEGI_ARTICLE.read_bytes())
    (tmp_path / "bad.xml").write_bytes(with_doctype(EXTERNAL_DOCTYPES["system dtd"].format(path=fifo)))
    src = LegiXmlSource(name="t", kind="legi_xml", path=tmp_path, lang="fr", domain="fr_codes")
    docs, rejects = finishes(lambda: items_of(legi_xml.read, src), release=fifo)
    assert [d.number for d in docs] == ["L111-2"]
    assert [(Path(r.origin).name, r.reason) for r in rejects] == [("bad.xml", "unsafe_xml")]


# The other parsers open nothing an input names either: lxml's HTML parser never loads a DTD or an entity
# (sudrf pages, LEGI and Légifrance HTML fragments), pypdf reads only the bytes it is given (an external
# stream's /F file specification and a /Launch action are ignored), json and polars have no include mechanism.
def test_sudrf_page_whose_doctype_names_a_fifo_is_read_without_opening_it(tmp_path, fifo):
    page = (SAMPLE / "sudrf_html/primersk_oblast_33-2041-2024.html").read_text(encoding="utf-8")
    doctype = (
        f'<!DOCTYPE html SYSTEM "{fifo}" [<!ENTITY % p SYSTEM "{fifo}"> %p; <!ENTITY e SYSTEM "{fifo}">]>'
    )
    (tmp_path / "page.html").write_text(page.replace("<!DOCTYPE html>", doctype, 1), encoding="utf-8")
    src = SudrfHtmlSource(name="s", kind="sudrf_html", path=tmp_path, lang="ru", domain="ru_rulings")
    docs, rejects = finishes(lambda: items_of(sudrf_html.read, src), release=fifo)
    assert [d.number for d in docs] == ["33-2041/2024"] and not rejects


def hostile_pdf(target: Path) -> bytes:
    """A one-page PDF whose content stream is an external file (``/F``) and whose open action launches it."""
    objects = [
        f"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /Launch /F ({target}) >> >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        f"<< /Length 0 /F ({target}) >>\nstream\n\nendstream",
    ]
    out, offsets = b"%PDF-1.7\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_pdf_naming_an_external_file_is_read_without_opening_it(tmp_path, fifo):
    from lexqa.ingest.arbitr_pdf import read_pdf

    path = tmp_path / "hostile.pdf"
    path.write_bytes(hostile_pdf(fifo))
    result = finishes(lambda: read_pdf(path), release=fifo)
    assert isinstance(result, Reject) and result.reason == "no_text_layer", result
