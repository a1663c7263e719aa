"""Encoding detection from the bytes: declarations in <meta> are ignored, binary content is refused."""

from __future__ import annotations

import codecs
import random

import pytest

from lexqa.ingest.encoding import BinaryContentError, EncodingError, UndecodableError, decode

RULING = (
    "Суд установил: решением суда первой инстанции от 10.07.2013 обществу «Облкоммунсервис» отказано в "
    "удовлетворении иска — № ВАС-6700/14. Ёлкин Ю.Ю. проживает по адресу: <адрес>."
)


def page(meta_charset: str, body: str = RULING) -> str:
    return (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={meta_charset}"></head>'
        f"<body><p>{body}</p></body></html>"
    )


def test_cp1251_bytes_declaring_utf8_are_read_as_cp1251():
    text = page("utf-8")
    decoded = decode(text.encode("cp1251"))
    assert decoded.encoding == "cp1251"
    assert decoded.text == text


def test_utf8_bytes_declaring_windows_1251_are_read_as_utf8():
    text = page("windows-1251")
    decoded = decode(text.encode("utf-8"))
    assert decoded.encoding == "utf-8"
    assert decoded.text == text


@pytest.mark.parametrize("codec", ["cp1251", "koi8_r", "cp866"])
def test_a_real_sudrf_page_in_each_russian_8bit_encoding(shared_data, codec):
    """The real page, re-encoded: the bytes decide even though its <meta> says windows-1251."""
    original = (shared_data / "ru_rulings/sudrf_html/sgs_1inst.html").read_text(encoding="utf-8")
    decoded = decode(original.encode(codec, errors="replace"))
    assert decoded.encoding == codec
    assert "ЗАОЧНОЕ РЕШЕНИЕ" in decoded.text and "Именем Российской Федерации" in decoded.text


def test_real_sudrf_pages_are_utf8_whatever_their_meta_says(shared_data):
    pages = sorted((shared_data / "ru_rulings/sudrf_html").glob("*.html"))
    assert len(pages) == 4
    for path in pages:
        data = path.read_bytes()
        assert b"charset=windows-1251" in data
        assert decode(data).encoding == "utf-8"


def test_bundled_samples_one_cp1251_one_utf8(root):
    folder = root / "data/raw/sample/sudrf_html"
    assert decode((folder / "primersk_rayon_2-1187-2024.html").read_bytes()).encoding == "cp1251"
    assert decode((folder / "primersk_oblast_33-2041-2024.html").read_bytes()).encoding == "utf-8"
    assert (
        decode((root / "data/raw/sample/text/mirovoy_5-312-2024_cp1251.txt").read_bytes()).encoding
        == "cp1251"
    )


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_a_byte_order_mark_decides_and_is_dropped(bom, codec):
    decoded = decode(bom + RULING.encode(codec))
    assert decoded.text == RULING


def test_french_windows_1252_text():
    text = "Décision : l'article 9 du Code civil s'applique à l'espèce ; «\u00a0Chacun a droit\u00a0»."
    assert decode(text.encode("cp1252")).text == text


def test_a_few_control_characters_are_still_text():
    text = ("Страница 1\f" + RULING * 5).encode("cp1251") + b"\x1b"
    assert decode(text).text.startswith("Страница 1\f")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # an image
        random.Random(0).randbytes(4096),  # random bytes: NULs among them
        b"<html><body>" + bytes(range(1, 9)) * 40 + b"</body></html>",  # control characters, no NUL
        "Суд установил".encode("utf-16-le"),  # UTF-16 without a byte-order mark looks binary
    ],
)
def test_binary_content_is_refused_with_its_reason(data):
    with pytest.raises(BinaryContentError) as err:
        decode(data)
    assert err.value.reason == "binary_content"


def test_bytes_no_candidate_reads_are_undecodable():
    data = bytes(range(0x80, 0xA0)) * 50  # C1 controls in latin-1, a jumble of rare signs in cp1251
    with pytest.raises(UndecodableError) as err:
        decode(data)
    assert isinstance(err.value, EncodingError) and err.value.reason == "undecodable"


def test_empty_input_is_empty_text():
    assert decode(b"").text == ""
