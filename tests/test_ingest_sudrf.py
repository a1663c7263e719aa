"""sudrf.ru case pages: the act's text and the case card, on real pages, bundled samples and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lexqa.config import SudrfHtmlSource
from lexqa.ingest.records import Doc, Reject
from lexqa.ingest.rulings import marker_kind
from lexqa.ingest.sudrf_html import read, read_page


def source(path: Path) -> SudrfHtmlSource:
    return SudrfHtmlSource(name="sudrf", kind="sudrf_html", path=path, lang="ru", domain="ru_rulings")


def only_doc(path: Path) -> Doc:
    items = list(read_page(path))
    assert len(items) == 1 and isinstance(items[0], Doc), items
    return items[0]


def assert_clean(doc: Doc) -> list[str]:
    """The text convention, no page furniture from the site; returns the paragraphs."""
    text = doc.text
    assert text == text.strip() and "\n\n\n" not in text
    assert re.search(r"(?<!\n)\n(?!\n)", text) is None
    assert "  " not in text and "\u00a0" not in text
    for furniture in (
        "ДВИЖЕНИЕ ДЕЛА",
        "Судебный акт #",
        "Обычная версия сайта",
        "cnt.php",
        "index_docs",
        "<p ",
    ):
        assert furniture not in text, furniture
    return text.split("\n\n")


# Checked by hand against the pages: card tab «ДЕЛО», div.casenumber, and the act's header.
REAL = {
    "kirov_koap.html": dict(
        native_id="43RS0001-01-2026-000667-40@5-174/2026",
        number="5-174/2026",
        date="2026-06-05",
        title="Ленинский районный суд г. Кирова: Постановление",
        judge="Глушков А.С.",
        first="Дело № 5-174/2026",
        last="Судья А.С. Глушков",
        markers=["УСТАНОВИЛ:", "ПОСТАНОВИЛ:"],
        kept=["{Адрес изъят}", "{Дата изъята}", "{ ... }"],
        host="leninsky--kir.sudrf.ru",
    ),
    "leninsky_ufa_criminal.html": dict(
        native_id="03RS0003-01-2026-003803-62@1-151/2026",
        number="1-151/2026",
        date="2026-05-06",
        title="Ленинский районный суд г. Уфы Республики Башкортостан: Постановление",
        judge="Ардуванова Д.Р.",
        first="дело № 1 – 151/2026",
        last="Председательствующий Д.Р. Ардуванова",
        markers=["УСТАНОВИЛ:", "ПОСТАНОВИЛ:"],
        kept=["<адрес>", "<данные изъяты>", "ДД.ММ.ГГГГ", "ФИО6"],
        host="leninsky--bkr.sudrf.ru",
    ),
    "sgs_1inst.html": dict(
        native_id="11RS0001-01-2025-011255-03@2-7212/2025",
        number="2-7212/2025",
        date="2025-08-18",
        title="Сыктывкарский городской суд Республики Коми: Заочное решение",
        judge="Машкалева Ольга Александровна",
        first="УИД 11RS0001-01-2025-011255-03 Дело № 2-7212/2025",
        last="Мотивированное решение вынесено 21.08.2025",
        markers=["УСТАНОВИЛ :", "Р Е Ш И Л:"],
        kept=["** ** **"],
        host="syktsud--komi.sudrf.ru",
    ),
    "vsrk_appeal.html": dict(
        native_id="11RS0001-01-2025-011255-03@33-4818/2025",
        number="33-4818/2025",
        date="2025-10-06",
        title="Верховный Суд Республики Коми: Апелляционное определение",
        judge="Батова Л. А.",
        first="УИД 11RS0001-01-2025-011255-03",
        last="Судьи",
        markers=["УСТАНОВИЛА:", "ОПРЕДЕЛИЛА:"],
        kept=["<Дата обезличена>", "<Номер обезличен>"],
        host="vs--komi.sudrf.ru",
    ),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_pages_give_the_act_and_the_card(shared_data, name):
    want = REAL[name]
    doc = only_doc(shared_data / "ru_rulings/sudrf_html" / name)
    paragraphs = assert_clean(doc)
    assert (doc.native_id, doc.number, doc.date, doc.title) == (
        want["native_id"],
        want["number"],
        want["date"],
        want["title"],
    )
    assert doc.meta["judge"] == want["judge"] and doc.meta["encoding"] == "utf-8"
    assert doc.url and doc.url.startswith(f"https://{want['host']}/modules.php?name=sud_delo")
    assert paragraphs[0] == want["first"] and paragraphs[-1] == want["last"]
    assert [p for p in paragraphs if marker_kind(p)] == want["markers"]
    for placeholder in want["kept"]:
        assert placeholder in doc.text
    assert 45 <= len(paragraphs) <= 70  # one per <p>: the sites' paragraphs, neither merged nor split


def test_real_card_fields(shared_data):
    sgs = only_doc(shared_data / "ru_rulings/sudrf_html/sgs_1inst.html").meta
    assert sgs["category"].startswith("Споры, возникающие из трудовых отношений → Трудовые споры")
    assert (sgs["received_date"], sgs["decision_date"]) == ("2025-07-22", "2025-08-18")
    assert sgs["result"] == "Иск (заявление, жалоба) УДОВЛЕТВОРЕН"
    assert sgs["case_number_full"] == "2-7212/2025 ~ М-5922/2025"
    assert sgs["proceedings"] == "Гражданские дела - первая инстанция"
    assert sgs["card"]["ЖАЛОБА № 2*"]["Вышестоящий суд"] == "Третий кассационный суд общей юрисдикции"
    appeal = only_doc(shared_data / "ru_rulings/sudrf_html/vsrk_appeal.html").meta
    assert (
        appeal["card"]["РАССМОТРЕНИЕ В НИЖЕСТОЯЩЕМ СУДЕ"]["Номер дела в первой инстанции"]
        == "2-7212/2025 ~ М-5922/2025"
    )
    assert appeal["act_title"] == "АПЕЛЛЯЦИОННОЕ ОПРЕДЕЛЕНИЕ"


def test_br_inside_a_paragraph_is_a_space(shared_data):
    doc = only_doc(shared_data / "ru_rulings/sudrf_html/leninsky_ufa_criminal.html")
    assert any(
        p.startswith("Ю.Г.Р., ДД.ММ.ГГГГ года рождения, уроженки <адрес>, гражданки")
        for p in doc.text.split("\n\n")
    )


def test_first_instance_and_appeal_of_one_case_keep_distinct_ids(shared_data):
    docs = [d for d in read(source(shared_data / "ru_rulings/sudrf_html")) if isinstance(d, Doc)]
    assert len(docs) == 4
    assert len({d.native_id for d in docs}) == 4
    assert {d.meta["uid"] for d in docs if "11RS0001-01-2025-011255-03" in d.native_id} == {
        "11RS0001-01-2025-011255-03"
    }


def test_bundled_samples(root):
    docs = list(read(source(root / "data/raw/sample/sudrf_html")))
    assert all(isinstance(d, Doc) for d in docs)
    by_number = {d.number: d for d in docs}
    first, appeal = by_number["2-1187/2024"], by_number["33-2041/2024"]
    assert first.meta["encoding"] == "cp1251" and appeal.meta["encoding"] == "utf-8"
    assert first.title == "Образцовый районный суд г. Примерска: Решение" and first.date == "2024-03-12"
    assert (
        appeal.title == "Примерский областной суд: Апелляционное определение" and appeal.date == "2024-06-04"
    )
    assert (
        first.url
        == "https://obrazcovy-rayon.sample.invalid/modules.php?name=sud_delo&srv_num=1&name_op=case&case_id=1187"
    )
    assert appeal.url.endswith("case_id=2041")
    assert first.native_id == "00RS0001-01-2024-001187-11@2-1187/2024"
    for doc in docs:
        paragraphs = assert_clean(doc)
        assert "ОБРАЗЕЦ: учебный текст, не является судебным актом" in paragraphs
        assert [marker_kind(p) for p in paragraphs if marker_kind(p)] == ["reasoning", "operative"]
        assert len(doc.text.split()) > 400
    assert "У С Т А Н О В И Л А :" in appeal.text.split("\n\n")
    assert "претензия, направленная по адресу: <адрес>, оставлена без ответа" in first.text


PAGE = """<html><head><meta charset="windows-1251"><title>Тестовый суд</title>{head}</head><body>
<div id="content"><div class="casenumber">ДЕЛО № 2-5/2024</div>
<div id="cont1"><table id="tablcont"><tr><th colspan="2">ДЕЛО</th></tr>
<tr><td>Дата рассмотрения</td><td>02.02.2024</td></tr></table></div>
{acts}</div></body></html>"""
ACT = """<div id="cont_doc{n}"><span><p>Дело № 2-5/2024</p><p>{kind}</p>
<p>Тестовый суд в составе судьи ФИО1,</p><p>УСТАНОВИЛ:</p><p>Истец просит взыскать долг.</p>
<p>РЕШИЛ:</p><p>иск удовлетворить.</p></span></div>"""


def write(tmp_path: Path, name: str, data: bytes | str, codec: str = "cp1251") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(codec) if isinstance(data, str) else data)
    return path


def test_url_from_canonical_or_og_and_date_from_the_card(tmp_path):
    acts = ACT.format(n=1, kind="ОПРЕДЕЛЕНИЕ")
    og = write(
        tmp_path,
        "og.html",
        PAGE.format(head='<meta property="og:url" content="https://x.sudrf.ru/c?1">', acts=acts),
    )
    doc = only_doc(og)
    assert doc.url == "https://x.sudrf.ru/c?1"
    assert doc.date == "2024-02-02"  # no date in the act's header: the card's decision date
    assert doc.native_id == "2-5/2024@2024-02-02"  # no УИД
    none = only_doc(write(tmp_path, "none.html", PAGE.format(head="", acts=acts)))
    assert none.url is None and none.title == "Тестовый суд: Определение"


def test_a_page_with_two_acts_gives_two_documents(tmp_path):
    acts = ACT.format(n=1, kind="РЕШЕНИЕ") + ACT.format(n=2, kind="ОПРЕДЕЛЕНИЕ")
    docs = list(read_page(write(tmp_path, "two.html", PAGE.format(head="", acts=acts))))
    assert [d.native_id for d in docs] == ["2-5/2024@2024-02-02", "2-5/2024@2024-02-02@act2"]
    assert [d.meta["act_type"] for d in docs] == ["РЕШЕНИЕ", "ОПРЕДЕЛЕНИЕ"]


def test_xhtml_with_an_encoding_declaration(tmp_path):
    xhtml = '<?xml version="1.0" encoding="windows-1251"?>\n' + PAGE.format(
        head="", acts=ACT.format(n=1, kind="РЕШЕНИЕ")
    )
    assert only_doc(write(tmp_path, "x.xhtml.html", xhtml)).number == "2-5/2024"


def test_bad_pages_become_rejects_and_the_run_goes_on(tmp_path, root):
    good = (root / "data/raw/sample/sudrf_html/primersk_rayon_2-1187-2024.html").read_bytes()
    write(tmp_path, "a_good.html", good)
    write(tmp_path, "b_empty.html", b"")
    write(tmp_path, "c_binary.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    write(tmp_path, "d_card_only.html", PAGE.format(head="", acts=""))
    write(tmp_path, "e_blank_act.html", PAGE.format(head="", acts='<div id="cont_doc1"><p>&nbsp;</p></div>'))
    write(tmp_path, "f_spaces.htm", b"   \n\t  ")
    items = list(read(source(tmp_path)))
    assert [type(i).__name__ for i in items] == ["Doc", "Reject", "Reject", "Reject", "Reject", "Reject"]
    rejects = {Path(i.origin).name: i.reason for i in items if isinstance(i, Reject)}
    assert rejects == {
        "b_empty.html": "empty_file",
        "c_binary.html": "binary_content",
        "d_card_only.html": "no_act_text",
        "e_blank_act.html": "no_act_text",
        "f_spaces.htm": "empty_file",
    }
    assert all(i.detail for i in items if isinstance(i, Reject))
