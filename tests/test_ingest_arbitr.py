"""Arbitration-court PDFs: the text layer without page furniture, case numbers and dates, and bad PDFs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.image import imread
from pypdf import PdfReader, PdfWriter

from lexqa.config import ArbitrPdfSource
from lexqa.ingest.arbitr_pdf import read, read_pdf
from lexqa.ingest.records import Doc, Reject
from lexqa.ingest.rulings import marker_kind

# Checked by hand against the text layers in arbitr_txt/: "№ ВАС-…", "Москва <date>", "по делу № А…".
# The file names carry the publication date, which is not always the act's (A28-11568, A36-2063).
REAL = {
    "A04-1588-2013__20140610": ("ВАС-6700/14", "А04-1588/2013", "2014-06-10"),
    "A04-2947-2013__20140610": ("ВАС-6688/14", "А04-2947/2013", "2014-06-10"),
    "A04-6533-2012__20140610": ("ВАС-6835/14", "А04-6533/2012", "2014-06-10"),
    "A04-8595-2013__20140610": ("ВАС-8075/14", "А04-8595/2013", "2014-06-10"),
    "A11-5377-2012__20140609": ("ВАС-7197/14", "А11-5377/2012", "2014-06-09"),
    "A28-11568-2011__20140609": ("ВАС-6272/14", "А28-11568/2011", "2014-06-06"),
    "A28-9919-2013__20140609": ("ВАС-6679/14", "А28-9919/2013", "2014-06-09"),
    "A28-9962-2013__20140609": ("ВАС-6884/14", "А28-9962/2013", "2014-06-09"),
    "A36-2063-2013__20140610": ("ВАС-6692/14", "А36-2063/2013", "2014-06-04"),
    "A43-22004-2013__20140609": ("ВАС-6676/14", "А43-22004/2013", "2014-06-09"),
    "A43-8229-2013__20140610": ("ВАС-6583/14", "А43-8229/2013", "2014-06-10"),
    "A51-16127-2013__20140610": ("ВАС-8074/14", "А51-16127/2013", "2014-06-10"),
    "A51-17106-2013__20140610": ("ВАС-6677/14", "А51-17106/2013", "2014-06-10"),
    "A51-20952-2013__20140610": ("ВАС-6721/14", "А51-20952/2013", "2014-06-10"),
    "A51-22876-2013__20140610": ("ВАС-6855/14", "А51-22876/2013", "2014-06-10"),
}
# Furniture lines of the reference text layers: page numbers, the site footer, the internal number.
FURNITURE = re.compile(
    r"^\s*(?:\d{1,3}|\d+_\d+|Официальный сайт Высшего Арбитражного Суда Российской Федерации: http://www\.arbitr\.ru/"
    r"|\(информация о движении дела, справочные материалы и др\.\)\.)\s*$"
)


@pytest.fixture(scope="module")
def real_docs(shared_data) -> dict[str, Doc]:
    """The 15 real ВАС determinations, read once (about 0.3 s each)."""
    docs = {}
    for path in sorted((shared_data / "ru_rulings/arbitr_pdf").glob("*.pdf")):
        doc = read_pdf(path)
        assert isinstance(doc, Doc), doc
        docs[path.stem] = doc
    assert sorted(docs) == sorted(REAL)
    return docs


def assert_text_convention(text: str) -> list[str]:
    assert text == text.strip() and "\n\n\n" not in text
    assert re.search(r"(?<!\n)\n(?!\n)", text) is None, "a hard line break survived"
    assert "  " not in text and " \n" not in text
    return text.split("\n\n")


@pytest.mark.parametrize("stem", sorted(REAL))
def test_real_pdf_numbers_date_and_title(real_docs, stem):
    vas, case, date = REAL[stem]
    doc = real_docs[stem]
    assert (doc.meta["vas_number"], doc.number, doc.date) == (vas, case, date)
    assert doc.native_id == f"{vas}@{date}"
    assert doc.title == "Высший Арбитражный Суд Российской Федерации: Определение"
    assert re.fullmatch(r"\d+_\d+", doc.meta["internal_number"])


def test_real_pdf_text_has_no_furniture_and_no_hard_wraps(real_docs):
    for stem, doc in real_docs.items():
        paragraphs = assert_text_convention(doc.text)
        assert "arbitr.ru" not in doc.text and "информация о движении дела" not in doc.text, stem
        assert doc.meta["internal_number"] not in doc.text, stem
        assert not [p for p in paragraphs if re.fullmatch(r"[-–\s\d]+", p)], stem  # no page number left
        assert not [p for p in paragraphs if "___" in p], stem
        # One reasoning marker, then one operative marker, each a paragraph of its own.
        markers = [(i, marker_kind(p)) for i, p in enumerate(paragraphs) if marker_kind(p)]
        assert [kind for _, kind in markers] == ["reasoning", "operative"], stem
        assert paragraphs[markers[0][0] - 1 :][:1] != ["Суд"], stem  # "Суд" / "установил:" rejoined
        # Wrapped lines rejoined: each reasoning paragraph ends a sentence (or leads to the operative part).
        reasoning = paragraphs[markers[0][0] + 1 : markers[1][0]]
        unfinished = [p[-40:] for p in reasoning if not re.search(r"[.:;]$", p) and "уководствуясь" not in p]
        assert not unfinished, (stem, unfinished)
        assert len(reasoning) >= 3, stem
        assert (
            paragraphs[0] == "ВЫСШИЙ АРБИТРАЖНЫЙ СУД РОССИЙСКОЙ ФЕДЕРАЦИИ" and paragraphs[1] == "ОПРЕДЕЛЕНИЕ"
        )
        assert paragraphs[-1].startswith("Судья"), stem


def test_real_pdf_keeps_every_character_of_the_text_layer(real_docs, shared_data):
    """Only furniture is dropped: the non-space characters equal the reference text layer's, furniture lines
    removed (up to the signatures, which the layout mode orders by position on the page)."""
    for stem, doc in real_docs.items():
        reference = (shared_data / "ru_rulings/arbitr_txt" / f"{stem}.txt").read_text(encoding="utf-8")
        kept = "".join("".join(line.split()) for line in reference.splitlines() if not FURNITURE.match(line))
        ours = "".join(doc.text.split())
        assert ours.split("Председательствующий")[0] == kept.split("Председательствующий")[0], stem


def test_bundled_sample_pdfs(root):
    docs = list(
        read(
            ArbitrPdfSource(
                name="a",
                kind="arbitr_pdf",
                path=root / "data/raw/sample/arbitr_pdf",
                lang="ru",
                domain="ru_rulings",
            )
        )
    )
    assert [(d.number, d.date, d.title) for d in docs] == [
        ("А00-1234/2023", "2024-03-15", "Арбитражный суд Примерной области: Решение"),
        ("А00-5678/2023", "2024-04-22", "Арбитражный суд Примерной области: Определение"),
    ]
    for doc in docs:
        paragraphs = assert_text_convention(doc.text)
        assert doc.meta["pages"] == 2
        assert "ОБРАЗЕЦ: учебный текст, не является судебным актом" in paragraphs
        assert "Учебный образец lexqa" not in doc.text  # the running head of every page
        assert "2" not in paragraphs
        assert [marker_kind(p) for p in paragraphs if marker_kind(p)] == ["reasoning", "operative"]
        assert len(doc.text.split()) > 350
    assert "г. Примерск Дело № А00-1234/2023" in docs[0].text.split("\n\n")
    assert "Р Е Ш Е Н И Е" in docs[0].text.split("\n\n")
    assert docs[1].text.split("\n\n")[-1] == "Судья Е.Е. Тестова"


def image_only_pdf(path: Path) -> Path:
    """A 'scan': a page holding a picture of text and no text layer."""
    picture = Figure(figsize=(4, 1))
    picture.text(0.1, 0.5, "Суд установил: иск удовлетворить", fontsize=12)
    png = io.BytesIO()
    picture.savefig(png, format="png", dpi=80)
    png.seek(0)
    page = Figure(figsize=(8.27, 11.69))
    page.figimage(imread(png), 100, 600)
    with PdfPages(path) as pdf:
        pdf.savefig(page)
    return path


def test_bad_pdfs_become_rejects_and_the_run_goes_on(tmp_path, root):
    sample = (root / "data/raw/sample/arbitr_pdf/A00-1234-2023_reshenie.pdf").read_bytes()
    (tmp_path / "a_good.pdf").write_bytes(sample)
    image_only_pdf(tmp_path / "b_scan.pdf")
    blank = PdfWriter()
    blank.add_blank_page(595, 842)
    blank.write(tmp_path / "c_blank.pdf")
    (tmp_path / "d_truncated.pdf").write_bytes(sample[: len(sample) // 2])
    (tmp_path / "e_empty.pdf").write_bytes(b"")
    (tmp_path / "f_not_a_pdf.pdf").write_bytes(b"<html><body>not a pdf</body></html>")
    (tmp_path / "g_corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n")
    locked = PdfWriter(clone_from=PdfReader(io.BytesIO(sample)))
    locked.encrypt(user_password="secret", owner_password="owner")
    locked.write(tmp_path / "h_encrypted.pdf")

    items = list(
        read(ArbitrPdfSource(name="a", kind="arbitr_pdf", path=tmp_path, lang="ru", domain="ru_rulings"))
    )
    assert isinstance(items[0], Doc) and items[0].number == "А00-1234/2023"
    assert {Path(i.origin).name: i.reason for i in items[1:]} == {
        "b_scan.pdf": "no_text_layer",
        "c_blank.pdf": "no_text_layer",
        "d_truncated.pdf": "unreadable_pdf",
        "e_empty.pdf": "empty_file",
        "f_not_a_pdf.pdf": "unreadable_pdf",
        "g_corrupt.pdf": "unreadable_pdf",
        "h_encrypted.pdf": "unreadable_pdf",
    }
    assert all(isinstance(i, Reject) and i.detail for i in items[1:])
    assert "truncated" in items[3].detail and "encrypted" in items[7].detail


def test_a_pdf_encrypted_without_a_user_password_is_read(tmp_path, root):
    """Owner-only protection (printing/copying restrictions) still opens with the empty password."""
    sample = (root / "data/raw/sample/arbitr_pdf/A00-5678-2023_opredelenie.pdf").read_bytes()
    restricted = PdfWriter(clone_from=PdfReader(io.BytesIO(sample)))
    restricted.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    restricted.write(tmp_path / "restricted.pdf")
    doc = read_pdf(tmp_path / "restricted.pdf")
    assert isinstance(doc, Doc) and doc.number == "А00-5678/2023"
