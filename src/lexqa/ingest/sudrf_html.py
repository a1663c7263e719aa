"""sudrf.ru case pages → one document per judicial act embedded in the page.

A court site's case page (``modules.php?name=sud_delo&name_op=case...``) comes in two templates (:data:`TEMPLATES`):

- the district courts' one holds the case card in tabs (``li#tab1..`` / ``div#cont1..``, each a
  ``table#tablcont``) and, under the «СУДЕБНЫЕ АКТЫ» tab, the text of the acts in ``div#cont_doc1``,
  ``div#cont_doc2``... (tab labels ``li#tab_doc1``...), the case number in ``div.casenumber``;
- the newer one (regional and appeal courts) puts everything in ``div#case_window``: the case number in
  ``div.case-num``, tabs ``li#tab_id_Case``, ``li#tab_id_EventList``, ``li#tab_id_PersonList``,
  ``li#tab_id_Document1``... whose contents are ``div.lawcase-tab-content`` (``#tab_content_Case`` holds the
  card as ``table.law-case-table`` rows), each act in its own ``div#tab_content_DocumentN``.

Each act holds one ``<p>`` (or ``<span>``) per paragraph. The reader takes:

- the act's text from each act ``div``: one paragraph per ``<p>`` (a ``<br>`` inside a ``<p>`` is a space:
  the sites put them mid-sentence, before placeholders), cleaned with :mod:`lexqa.ingest.rulings` (section
  markers on their own paragraph, placeholders such as ``<адрес>`` or ``{Адрес изъят}`` kept); several act tabs
  are several acts;
- the card: every label/value row of the card tables, by table heading (``ДЕЛО``, ``РАССМОТРЕНИЕ В НИЖЕСТОЯЩЕМ
  СУДЕ``, ``ЖАЛОБА № 1*``..., else the tab's label: ``Дело``) in ``meta["card"]`` (tables inside an act are
  the act's, not the card's), and the usual fields by name: ``uid`` (УИД), ``category``, ``judge``
  (``Судья``), ``rapporteur`` (``Докладчик``), ``received_date``, ``decision_date``, ``result``
  (``Результат рассмотрения`` or ``Решение``); the case number (``div.casenumber`` or ``div.case-num``), the
  proceedings type (``div.title``) and the court (page heading, else ``<title>``);
- the page's URL: ``<link rel=canonical>``, ``og:url``, else the page address that the sudrf visit counter
  carries (``counter.sudrf.ru/cnt.php?...&pg=<url>``).

Document fields: ``number`` = the card's case number (``2-7212/2025``; the ``~ М-…`` material number stays in
``meta["case_number_full"]``), else the act's ``Дело № …``; ``date`` = the act's date from its header, else
the card's decision date; ``title`` = ``"<court>: <act title>"``; ``native_id`` = ``УИД@case number``: the УИД
alone is not unique, since a case keeps it through every instance (the real first-instance and appeal pages in
``../shared/data`` share one); without УИД ``case number@date``, else the file stem; a second act on the same
page gets ``@act2``.

The bytes decide the encoding (:mod:`lexqa.ingest.encoding`), whatever the ``<meta>`` declares. Rejects: an
empty file (``empty_file``), binary content (``binary_content``), nothing a parser can read
(``malformed_html``), a page past libxml2's limits for untrusted input, which drops the rest of the page
(``over_parser_limits``: a text node over 10 MB, elements nested over 256 deep), a page without an act text
(``no_act_text``: a case card whose act is not published; the detail lists the markers looked for, so a third
template shows up as such).

    >>> from lexqa.config import SudrfHtmlSource
    >>> from lexqa.ingest.sudrf_html import read
    >>> src = SudrfHtmlSource(name="sudrf", kind="sudrf_html", path="data/raw/sample/sudrf_html", lang="ru",
    ...                       domain="ru_rulings")
    >>> [d.number for d in read(src)]                                    # doctest: +SKIP
    ['2-1187/2024', '33-2041/2024']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import lxml.html
from lxml import etree

from lexqa.config import SudrfHtmlSource
from lexqa.ingest.encoding import EncodingError, decode
from lexqa.ingest.html_text import html_to_text
from lexqa.ingest.records import Doc, Reject, iter_files
from lexqa.ingest.rulings import (
    find_date,
    normalize_space,
    parse_header,
    ruling_id,
    ruling_title,
    tidy_paragraphs,
)

__all__ = ["read", "read_page"]

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")  # lxml refuses str input that declares an encoding
_CARD_FIELDS = {
    "Уникальный идентификатор дела": "uid",
    "Категория дела": "category",
    "Судья": "judge",
    "Докладчик": "rapporteur",
    "Дата поступления": "received_date",
    "Дата рассмотрения": "decision_date",
    "Результат рассмотрения": "result",
    "Решение": "result",
}
_DATE_FIELDS = frozenset({"received_date", "decision_date"})


def read(source: SudrfHtmlSource) -> Iterator[Doc | Reject]:
    """Every act of every ``*.htm*`` page of the source (see the module docstring)."""
    for path in iter_files(source, "*.htm*"):
        if isinstance(path, Reject):
            yield path
        else:
            yield from read_page(path)


def read_page(path: Path) -> Iterator[Doc | Reject]:
    """The acts of one saved case page, or one reject saying why there is none."""
    origin = str(path)
    data = path.read_bytes()
    if not data.strip():
        yield Reject(origin, "empty_file", f"{len(data)} bytes")
        return
    try:
        decoded = decode(data)
    except EncodingError as exc:
        yield Reject(origin, exc.reason, str(exc))
        return
    parser = lxml.html.HTMLParser()  # its own error log: libxml2's limits truncate silently otherwise
    try:
        root = lxml.html.document_fromstring(_XML_DECLARATION.sub("", decoded.text, count=1), parser=parser)
    except (etree.ParserError, ValueError) as exc:
        yield Reject(origin, "malformed_html", f"{type(exc).__name__}: {exc}")
        return
    limit = next((e for e in parser.error_log if e.type_name == "ERR_RESOURCE_LIMIT"), None)
    if limit is not None:  # a text node over 10 MB, nesting deeper than 256: what follows was dropped
        detail = (
            f"over libxml2's limits for untrusted input ({limit.message.split(',')[0]}, line {limit.line})"
        )
        yield Reject(origin, "over_parser_limits", f"{detail}: the rest of the page is not read")
        return

    page = _page(root, decoded.encoding)
    found = False
    for index, (act, label) in enumerate(_acts(root), start=1):
        paragraphs = act_paragraphs(act)
        if paragraphs:
            found = True
            yield _doc(path, page, paragraphs, index, label)
    if not found:
        looked = "; ".join(t.markers for t in TEMPLATES)
        detail = f"no act with text under {looked}: the page may have the case card but no published act"
        yield Reject(origin, "no_act_text", detail)


@dataclass(frozen=True, slots=True)
class Template:
    """Where one sudrf page template keeps its acts and its card."""

    markers: str  # what the no_act_text reject says was looked for
    act_id: str  # prefix of the id of each act's div; a number follows
    tab_id: str  # prefix of the id of each act's tab (its label); the act's number follows
    card: str  # XPath condition on a div whose tables (outside acts) are card tables


TEMPLATES = (
    Template(
        markers="div#cont_doc1, #cont_doc2... (tabs li#tab_doc*)",
        act_id="cont_doc",
        tab_id="tab_doc",
        card='starts-with(@id, "cont")',
    ),
    Template(
        markers="div#case_window's div.lawcase-tab-content#tab_content_Document1, #..Document2... "
        "(tabs li#tab_id_Document*)",
        act_id="tab_content_Document",
        tab_id="tab_id_Document",
        card='contains(concat(" ", @class, " "), " lawcase-tab-content ")',
    ),
)
"""The page templates read, the district courts' first; a page may have acts under both (none seen so far)."""

_IN_ACT = " or ".join(f'starts-with(@id, "{t.act_id}")' for t in TEMPLATES)


def _acts(root: etree._Element) -> list[tuple[etree._Element, str | None]]:
    """Each act's div with its tab label (``Судебный акт #1 (Решения)``), template by template, in number order."""
    out = []
    for template in TEMPLATES:
        acts = root.xpath(f'//div[starts-with(@id, "{template.act_id}")]')
        numbered = sorted((_number(act.get("id"), template.act_id), act) for act in acts)
        for number, act in numbered:
            tab = root.xpath(f'//li[@id="{template.tab_id}{number}"]') if number else []
            out.append((act, (_text(tab[0]) or None) if tab else None))
    return out


def _number(element_id: str, prefix: str) -> int:
    """The number after ``prefix`` in an id (``cont_doc2`` → 2); 0 when there is none."""
    digits = re.sub(r"\D", "", element_id.removeprefix(prefix))
    return int(digits) if digits else 0


def act_paragraphs(act: etree._Element) -> list[str]:
    """The paragraphs of an act's ``div``: ``<br>`` inside a ``<p>`` read as a space, markers split off."""
    for br in act.xpath(".//p//br"):
        br.tail = " " + (br.tail or "")
        br.drop_tag()
    return tidy_paragraphs(html_to_text(act).split("\n\n"))


def _text(el: etree._Element) -> str:
    """An element's text with ``<br>`` read as a space, whitespace collapsed."""
    for br in el.iter("br"):
        br.tail = " " + (br.tail or "")
    return normalize_space(el.text_content())


def _card(root: etree._Element) -> dict[str, dict[str, str]]:
    """Label/value rows of the card tables (two cells per row), grouped by the table's heading, else its tab's
    label; tables inside an act belong to the act."""
    card: dict[str, dict[str, str]] = {}
    in_card = " or ".join(t.card for t in TEMPLATES)
    for table in root.xpath(f"//table[ancestor::div[{in_card}]][not(ancestor::div[{_IN_ACT}])]"):
        heading = table.xpath("./tr/th | ./tbody/tr/th | ./thead/tr/th")
        rows = {}
        for row in table.xpath("./tr | ./tbody/tr"):
            cells = [c for c in row if isinstance(c.tag, str) and c.tag in ("td", "th")]
            if len(cells) == 2 and all(c.tag == "td" for c in cells):
                label, value = _text(cells[0]), _text(cells[1])
                if label and value:
                    rows[label] = value
        if rows:
            card.setdefault(_text(heading[0]) if heading else _tab_label(root, table), {}).update(rows)
    return card


def _tab_label(root: etree._Element, table: etree._Element) -> str:
    """The label of the newer template's tab holding ``table`` (``#tab_content_Case`` → ``li#tab_id_Case``)."""
    for div in table.iterancestors("div"):
        tab_id = (div.get("id") or "").removeprefix("tab_content_")
        if tab_id != div.get("id"):
            tab = root.xpath(f'//li[@id="tab_id_{tab_id}"]')
            return _text(tab[0]) if tab else tab_id
    return ""


def _court(root: etree._Element) -> str | None:
    for xpath in ('//*[contains(concat(" ", @class, " "), " heading_title ")]', "//title"):
        for el in root.xpath(xpath):
            name = _text(el)
            if name:
                return name
    description = root.xpath('//meta[@name="Description" or @name="description"]/@content')
    return normalize_space(description[0]) or None if description else None


def _url(root: etree._Element) -> str | None:
    """The page's own address: canonical link, og:url, else the ``pg`` of the sudrf visit counter."""
    candidates = root.xpath('//link[@rel="canonical"]/@href | //meta[@property="og:url"]/@content')
    for src in root.xpath('//img[contains(@src, "cnt.php")]/@src'):
        candidates += parse_qs(urlsplit(src).query).get("pg", [])
    return next((c.strip() for c in candidates if c.strip().startswith(("http://", "https://"))), None)


@dataclass(slots=True)
class _Page:
    """What the page says about the case, whichever act is read from it (all of it goes to ``Doc.meta``)."""

    court: str | None
    url: str | None
    encoding: str
    card: dict[str, dict[str, str]]
    fields: dict[str, str] = field(default_factory=dict)  # uid, category, judge, dates, result, ...


def _page(root: etree._Element, encoding: str) -> _Page:
    card = _card(root)
    page = _Page(court=_court(root), url=_url(root), encoding=encoding, card=card)
    for rows in card.values():
        for label, key in _CARD_FIELDS.items():
            value = find_date(rows[label]) if key in _DATE_FIELDS and label in rows else rows.get(label)
            if value and key not in page.fields:
                page.fields[key] = value
    kind = root.xpath('//div[contains(concat(" ", @class, " "), " title ")]')
    if kind and _text(kind[0]):
        page.fields["proceedings"] = _text(kind[0])  # "Гражданские дела - апелляция"
    number = root.xpath(
        '//div[contains(concat(" ", @class, " "), " casenumber ") or contains(concat(" ", @class, " "), " case-num ")]'
    )
    full = re.sub(r"^ДЕЛО\s*№\s*", "", _text(number[0]), flags=re.I) if number else ""
    if full:
        page.fields["case_number_full"] = full  # "2-7212/2025 ~ М-5922/2025"
        page.fields["case_number"] = full.split("~")[0].strip()
    return page


def _doc(path: Path, page: _Page, paragraphs: list[str], index: int, label: str | None) -> Doc:
    header = parse_header(paragraphs)
    court = page.court or header.court
    number = page.fields.get("case_number") or header.number
    date = header.date or page.fields.get("decision_date")
    uid = page.fields.get("uid") or header.uid
    native_id = ruling_id(uid, number, path.stem) if uid else ruling_id(number, date, path.stem)
    if index > 1:
        native_id += f"@act{index}"
    meta = {
        **header.meta(),
        **page.fields,
        "court": court,
        "encoding": page.encoding,
        "card": page.card,
        "act_index": index,
        "act_label": label,
    }
    return Doc(
        native_id=native_id,
        text="\n\n".join(paragraphs),
        origin=str(path),
        title=ruling_title(court, header.act_title or (_label_act(label) if label else None)),
        number=number,
        date=date,
        url=page.url,
        meta={k: v for k, v in meta.items() if v},
        where=f"act {index}",
    )


def _label_act(label: str) -> str | None:
    """``Судебный акт #1 (Решения)`` → ``Решения``."""
    m = re.search(r"\(([^)]+)\)\s*$", label)
    return m.group(1) if m else None
