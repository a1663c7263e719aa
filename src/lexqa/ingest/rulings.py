"""What the Russian court-ruling readers share: text cleaning and header parsing.

Cleaning turns the text of a ruling (a PDF text layer, a plain-text file, or the paragraphs of a sudrf page)
into the ``documents.parquet`` text convention: one paragraph per block, paragraphs separated by exactly one
blank line, no trailing spaces, no page furniture. Hard-wrapped lines are rejoined into paragraphs using what
a line layout tells (first-line indents, centred lines, short last lines, hyphenation); page numbers, the
arbitr.ru site footer and header/footer lines repeated on several pages are dropped; runs of spaces
(justification, centring) become one. Depersonalisation placeholders (``<адрес>``, ``{Адрес изъят}``,
``<данные изъяты>``, ``ФИО19``, ``ДД.ММ.ГГГГ``) are kept as they are. Section markers (``УСТАНОВИЛ:``,
``Суд установил:``, ``РЕШИЛ:``, ``ПОСТАНОВИЛ:``, ``определил:``, the spaced-out ``У С Т А Н О В И Л :``;
the verbs of :data:`lexqa.languages.REASONING_VERBS` and :data:`~lexqa.languages.OPERATIVE_VERBS`) always
stand as a paragraph of their own, so the chunker can split a ruling into header, reasoning and
operative part with :func:`marker_kind`::

    >>> from lexqa.ingest.rulings import clean_text, parse_header, marker_kind
    >>> raw = '''ОПРЕДЕЛЕНИЕ
    ...
    ... № ВАС-7011/14
    ...
    ... Москва                                        10 июня 2014 г.
    ...
    ...        Коллегия судей рассмотрела заявление по делу № А04-1588/2013
    ... о пересмотре судебных актов.
    ...                          Суд установил:
    ...        решением суда первой инстанции иск удовлетворен.
    ...                               2
    ...        Руководствуясь статьями 299, 301, 304 Кодекса, Суд определил:
    ... в передаче дела отказать.'''
    >>> text = clean_text(raw)
    >>> print(text)
    ОПРЕДЕЛЕНИЕ
    <BLANKLINE>
    № ВАС-7011/14
    <BLANKLINE>
    Москва 10 июня 2014 г.
    <BLANKLINE>
    Коллегия судей рассмотрела заявление по делу № А04-1588/2013 о пересмотре судебных актов.
    <BLANKLINE>
    Суд установил:
    <BLANKLINE>
    решением суда первой инстанции иск удовлетворен.
    <BLANKLINE>
    Руководствуясь статьями 299, 301, 304 Кодекса, Суд
    <BLANKLINE>
    определил:
    <BLANKLINE>
    в передаче дела отказать.
    >>> header = parse_header(text.split("\\n\\n"))
    >>> header.act_type, header.vas_number, header.arbitr_numbers, header.date
    ('ОПРЕДЕЛЕНИЕ', 'ВАС-7011/14', ['А04-1588/2013'], '2014-06-10')
    >>> marker_kind("У С Т А Н О В И Л :"), marker_kind("определил:"), marker_kind("Суд пришёл к выводу")
    ('reasoning', 'operative', None)
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lexqa.ingest.records import Doc
from lexqa.languages import OPERATIVE_VERBS, REASONING_VERBS, VERB_ENDINGS

__all__ = [
    "RulingHeader",
    "case_numbers",
    "clean_pages",
    "clean_text",
    "find_date",
    "header_paragraphs",
    "marker_kind",
    "normalize_space",
    "parse_date",
    "parse_header",
    "ruling_id",
    "ruling_title",
    "tidy_paragraphs",
]


# ------------------------------------------------------------------------------------------------ patterns
def _spaced(word: str) -> str:
    """A regex matching ``word`` written plainly or spaced out letter by letter (``Р Е Ш И Л``)."""
    return r"\s?".join(re.escape(ch) for ch in word)


_ENDINGS = rf"(?:\s?[{VERB_ENDINGS}])?"  # установила (a panel), установили


def _verbs(words: Iterable[str]) -> str:
    return "|".join(_spaced(w) + _ENDINGS for w in words)


_VERB = rf"(?P<verb>{_verbs(REASONING_VERBS + OPERATIVE_VERBS)})"
# "Суд ", "Судебная коллегия ", "Коллегия судей ", "СУД ": a capitalised word and up to three more
_SUBJECT_WORDS = r"(?-i:[А-ЯЁ][а-яё]+(?:\s+[а-яё]+){0,3}|[А-ЯЁ]+(?:\s+[А-ЯЁ]+){0,3})"
_SUBJECT = rf"(?:{_SUBJECT_WORDS}\s+)"
# A marker opening a paragraph, with whatever follows it on the same line.
_MARKER_START = re.compile(rf"^(?P<marker>{_SUBJECT}?{_VERB}\s*:)\s*(?P<rest>.*)$", re.I | re.S)
_VERB_ALONE = re.compile(rf"^{_VERB}$", re.I)
# A marker inside a paragraph ("..., руководствуясь статьями ..., суд решил: ...").
_MARKER_INNER = re.compile(rf"(?<=\s)(?P<marker>{_VERB}\s*:)(?=\s|$)", re.I)
_LEADS_TO_OPERATIVE = re.compile(r"руководствуясь|на основании изложенного|учитывая изложенное", re.I)

_ACT_TYPES = ("РЕШЕНИЕ", "ПОСТАНОВЛЕНИЕ", "ОПРЕДЕЛЕНИЕ", "ПРИГОВОР")
_ACT_QUALIFIERS = ("ЗАОЧНОЕ", "АПЕЛЛЯЦИОННОЕ", "АПЕЛЛЯЦИОННЫЙ", "КАССАЦИОННОЕ", "КАССАЦИОННЫЙ", "ЧАСТНОЕ")
_ACT_QUALIFIERS += ("ДОПОЛНИТЕЛЬНОЕ", "НАДЗОРНОЕ")
_ACT_RE = re.compile(
    rf"^(?P<title>(?:(?:{'|'.join(_spaced(q) for q in _ACT_QUALIFIERS)})\s+)*"
    rf"(?P<type>{'|'.join(_spaced(t) for t in _ACT_TYPES)}))(?![А-ЯЁа-яё])"
)

_PAGE_NUMBER = re.compile(
    r"^(?:[-–—]\s*\d{1,4}\s*[-–—]|\d{1,4}|(?:стр\.?|страница)\s*\d{1,4}(?:\s*(?:из|/)\s*\d{1,4})?"
    r"|\d{1,4}\s*(?:из|/)\s*\d{1,4})$",
    re.I,
)
_SITE_FURNITURE = (  # arbitr.ru: the site footer of page one and the internal document number ("925_571961")
    re.compile(r"^Официальный сайт Высшего Арбитражного Суда Российской Федерации:?\s*(?:https?://\S*)?$"),
    re.compile(r"^\(информация о движении дела, справочные материалы и др\.\)\.?$"),
    re.compile(r"^\d{1,6}_\d{5,7}$"),
)
_SIGNATURE_RULE = re.compile(r"_{3,}")  # "Судья ______________ М.В. Пронина"

_SPACES = re.compile(r"[\s\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")  # soft hyphen, zero-width characters
_TERMINATED = re.compile(r"[.!?:;][»\"')\]]*$")


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace (non-breaking and other Unicode spaces too) into one space; strip.

    >>> normalize_space("Судья\\u00a0\\u00a0\\u00a0  А.С.\\u00adГлушков ")
    'Судья А.С.Глушков'
    """
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def marker_kind(paragraph: str) -> Literal["reasoning", "operative"] | None:
    """``"reasoning"`` or ``"operative"`` when the paragraph is a section marker, else None.

    A marker ends with a colon, except a verb in capitals standing alone (``ОПРЕДЕЛИЛ``, seen in ВАС rulings).
    """
    text = paragraph.strip()
    m = _MARKER_START.match(text) or (_VERB_ALONE.match(text) if text.isupper() else None)
    if m is None or m.groupdict().get("rest"):
        return None
    verb = m.group("verb").replace(" ", "").lower()
    return "reasoning" if verb.startswith(REASONING_VERBS) else "operative"


def _act_match(paragraph: str) -> re.Match[str] | None:
    """The act-type title opening a short paragraph (``ЗАОЧНОЕ РЕШЕНИЕ``, ``П Р И Г О В О Р``)."""
    if len(paragraph) > 80:
        return None
    return _ACT_RE.match(paragraph.strip())


# ------------------------------------------------------------------------------------------------ cleaning
@dataclass(slots=True)
class _Line:
    indent: int  # leading spaces (tabs expanded)
    width: int  # indent + length without trailing spaces: where the line ends on the page
    text: str  # whitespace-collapsed content
    blank_before: bool
    gaps: tuple[int, int]  # the two widest runs of spaces between words, widest first

    @property
    def standalone(self) -> bool:
        """Lines that are a paragraph on their own: section markers, act titles, signature lines."""
        return bool(marker_kind(self.text) or _act_match(self.text) or _SIGNATURE_RULE.search(self.text))

    def spread(self, full: int) -> bool:
        """A short line pushed apart by one wide gap: ``Судья      С.В. Самуйлов``, ``Москва      10 июня``.

        Justified body lines have wide gaps too, but evenly spread and with the line nearly full.
        """
        widest, second = self.gaps
        return widest >= 8 and widest >= 2 * second and self.indent + len(self.text) < 0.6 * full


def _is_furniture(line: str) -> bool:
    return bool(_PAGE_NUMBER.match(line) or any(p.match(line) for p in _SITE_FURNITURE))


def _repeated_lines(pages: Sequence[Sequence[str]], edge: int = 3) -> set[str]:
    """Lines of 10+ characters among the first or last ``edge`` lines of most pages (running heads, feet)."""
    if len(pages) < 2:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        lines = [normalize_space(x) for x in page if x.strip()]
        seen.update({x for x in lines[:edge] + lines[-edge:] if len(x) >= 10})
    return {line for line, n in seen.items() if n >= max(2, math.ceil(0.6 * len(pages)))}


def _lines(pages: Sequence[str]) -> list[_Line]:
    """Non-empty content lines of all pages, furniture dropped.

    Neither a page break nor the blank lines around a dropped page number or running head break a paragraph.
    """
    split = [page.splitlines() for page in pages]
    repeated = _repeated_lines(split)
    out: list[_Line] = []
    for page in split:
        blank, after_furniture = False, True
        for raw in page:
            expanded = _INVISIBLE.sub("", raw.expandtabs(4)).replace("\u00a0", " ").rstrip()
            text = _SPACES.sub(" ", expanded).strip()
            if not text:
                blank = not after_furniture
            elif _is_furniture(text) or text in repeated:
                blank, after_furniture = False, True
            else:
                indent = len(expanded) - len(expanded.lstrip())
                gaps = sorted((len(g) for g in re.findall(r"(?<=\S) +(?=\S)", expanded)), reverse=True)
                widest = (*gaps[:2], 0, 0)[:2]
                out.append(_Line(indent, len(expanded), text, blank and bool(out), widest))
                blank, after_furniture = False, False
    return out


def _join(lines: list[_Line], soft_blank_lines: bool) -> list[str]:
    """Rejoin hard-wrapped lines into paragraphs.

    When the text indents the first line of its paragraphs (as PDF layouts of rulings do), an indent starts a
    paragraph and little else does; otherwise a paragraph ends at a short line that ends a sentence (a period
    followed by a lowercase line is an abbreviation or initials, not an end). A blank line ends a paragraph,
    except with ``soft_blank_lines`` (PDF layouts, where a wider line spacing shows as a blank line inside a
    paragraph): then only after a line that ends a sentence. Centred lines are paragraphs of their own, or one
    title when several follow in the same letter case.
    """
    if not lines:
        return []
    widths = sorted(x.width for x in lines if len(x.text) >= 20) or [max(x.width for x in lines)]
    full = widths[int(0.9 * (len(widths) - 1))]  # the body's line width
    if full > 160:  # not hard-wrapped: every line is a paragraph
        return [x.text for x in lines]
    margin = min(x.indent for x in lines)
    indented_style = sum(margin + 2 <= x.indent < margin + 10 for x in lines) >= max(2, 0.03 * len(lines))

    def offset(x: _Line) -> bool:  # centred or right-aligned
        return x.indent >= margin + 10

    def continues(prev: _Line, cur: _Line) -> bool:
        if prev.standalone or cur.standalone or prev.spread(full) or cur.spread(full):
            return False
        if _MARKER_START.match(cur.text):  # "Суд установил: решением ..." opens a part of the ruling
            return False
        if offset(prev) and offset(cur):  # a title wrapped over centred lines, in one letter case
            return not cur.blank_before and prev.text.isupper() == cur.text.isupper()
        if cur.blank_before and (not soft_blank_lines or _TERMINATED.search(prev.text)):
            return False
        if cur.indent > margin + 1 or offset(prev) or prev.width < 0.6 * full:
            return False
        if indented_style or prev.width >= 0.85 * full or not _TERMINATED.search(prev.text):
            return True
        return bool(re.search(r"\.[»\"')\]]*$", prev.text)) and cur.text[:1].islower()

    paragraphs = [lines[0].text]
    for prev, cur in itertools.pairwise(lines):
        if not continues(prev, cur):
            paragraphs.append(cur.text)
        elif re.search(r"\w-$", paragraphs[-1]) and cur.text[:1].islower():
            paragraphs[-1] += cur.text  # "жилищно-" + "коммунального": keep the hyphen, no space
        else:
            paragraphs[-1] += " " + cur.text
    return paragraphs


def tidy_paragraphs(paragraphs: Iterable[str]) -> list[str]:
    """Normalise paragraphs and give every section marker a paragraph of its own.

    Collapses whitespace, drops signature rules (``______``) and empty paragraphs, splits markers off
    (``Суд установил: решением ...``, ``..., руководствуясь ..., суд решил: взыскать``), and rejoins a subject
    wrapped away from its marker (``Суд`` / ``установил:``).

    >>> tidy_paragraphs(["Суд", "установил:", "Суд установил: иск подан.", "Согласно ст. 1, суд решил: да"])
    ['Суд установил:', 'Суд установил:', 'иск подан.', 'Согласно ст. 1, суд решил: да']
    >>> tidy_paragraphs(["Руководствуясь ст. 1, суд решил: да"])
    ['Руководствуясь ст. 1, суд', 'решил:', 'да']
    """
    out: list[str] = []
    for raw in paragraphs:
        text = normalize_space(_SIGNATURE_RULE.sub(" ", raw))
        for part in _split_markers(text) if text else []:
            if marker_kind(part) and out and _is_subject(out[-1]) and part[:1].islower():
                out[-1] = f"{out[-1]} {part}"
            else:
                out.append(part)
    return out


def _split_markers(text: str) -> list[str]:
    """Split section markers off a paragraph: at its start always; inside it when written in capitals, for
    an operative marker after ``руководствуясь`` / ``на основании изложенного``, or for ``установил:`` ending
    it."""
    start = _MARKER_START.match(text)
    if start and start.group("rest"):
        return [start.group("marker"), *_split_markers(start.group("rest"))]
    for m in _MARKER_INNER.finditer(text):
        marker, before, rest = m.group("marker"), text[: m.start()].strip(), text[m.end() :].strip()
        operative = marker_kind(marker) == "operative"
        if marker.isupper() or (operative and _LEADS_TO_OPERATIVE.search(before)) or not (operative or rest):
            return [before, marker, *(_split_markers(rest) if rest else [])]
    return [text]


def _is_subject(paragraph: str) -> bool:
    """A bare subject such as ``Суд`` or ``Судебная коллегия`` left on its own line before its verb."""
    return re.fullmatch(_SUBJECT_WORDS, paragraph) is not None


def clean_pages(pages: Sequence[str], soft_blank_lines: bool = True) -> str:
    """Clean the text of a ruling given page by page (as a PDF text layer in layout mode gives it).

    Page numbers, the arbitr.ru footer and lines repeated at the top or bottom of most pages are dropped; a
    paragraph running over a page break is rejoined. See :func:`_join` for ``soft_blank_lines``.
    """
    return "\n\n".join(tidy_paragraphs(_join(_lines(pages), soft_blank_lines)))


def clean_text(text: str) -> str:
    """Clean a ruling given as one string, where a blank line ends a paragraph; form feeds separate pages."""
    return clean_pages(text.replace("\r\n", "\n").replace("\r", "\n").split("\f"), soft_blank_lines=False)


# ------------------------------------------------------------------------------------------------ header
_GENITIVE_MONTHS = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря"
_MONTHS = {m: i for i, m in enumerate(_GENITIVE_MONTHS.split(), start=1)}
_DATE_WORDS = re.compile(rf"«?\b(\d{{1,2}})»?\s*({'|'.join(_MONTHS)})\s+(\d{{4}})", re.I)
_DATE_DIGITS = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?![\d.]\d)")

_UID = re.compile(r"(?<![\w-])\d{2}[A-ZА-Я]{2}\d{4}-\d{2}-\d{4}-\d{6}-\d{2}(?![\w-])")
_VAS = re.compile(r"ВАС\s*-\s*(\d+)\s*/\s*(\d{2,4})")
_ARBITR = re.compile(r"(?<![\w/-])[АA](\d{2})\s*-\s*(\d+)\s*/\s*(\d{4}|\d{2})(?!\d)")
_GENERAL_BODY = r"(\d{1,2}[а-яёa-z]{0,2}|[А-ЯЁ]{1,2})\s*[-–—]\s*(\d+)\s*/\s*(\d{4})(?!\d)"
_GENERAL = re.compile(rf"№\s*{_GENERAL_BODY}", re.I)
_DELO = re.compile(rf"(?:дело|дела)\s*№\s*{_GENERAL_BODY}", re.I)
_COURT_CAPS = re.compile(r"^[А-ЯЁ][А-ЯЁ .,\-()]*\bСУД\b[А-ЯЁ .,\-()]*$")
# "Мировой судья судебного участка № 3 Ленинского судебного района Иванов И.И., рассмотрев ..."
_MAGISTRATE = re.compile(
    r"^(?P<court>Мировой судья судебного участка\s*№\s*\d+[^,]*?)"
    r"(?:\s+(?:[А-ЯЁ][а-яё]+\s+[А-ЯЁ]\.\s?[А-ЯЁ]\.|ФИО\d+))?,"
)
_COURT_SENTENCE = re.compile(r"^(?P<court>[А-ЯЁ][^,:;«»]*?\b[Сс]уд\b[^,:;«»]*?)(?:\s+в составе\b.*)?$", re.S)
_KNOWN_COURTS = {  # official spelling of names printed in capitals
    "ВЫСШИЙ АРБИТРАЖНЫЙ СУД РОССИЙСКОЙ ФЕДЕРАЦИИ": "Высший Арбитражный Суд Российской Федерации",
    "ВЕРХОВНЫЙ СУД РОССИЙСКОЙ ФЕДЕРАЦИИ": "Верховный Суд Российской Федерации",
    "КОНСТИТУЦИОННЫЙ СУД РОССИЙСКОЙ ФЕДЕРАЦИИ": "Конституционный Суд Российской Федерации",
}


def parse_date(day: str | int, month: str | int, year: str | int) -> str | None:
    """ISO date from day, month (number or genitive name) and year; None when it is not a real date.

    >>> parse_date("10", "июня", "2014"), parse_date(31, 2, 2014)
    ('2014-06-10', None)
    """
    month_number = _MONTHS.get(str(month).lower()) if not str(month).isdigit() else int(month)
    try:
        return dt.date(int(year), month_number or 0, int(day)).isoformat()
    except ValueError:
        return None


def find_date(text: str) -> str | None:
    """The first date written in ``text`` (``10 июня 2014 г.``, ``«10» июня 2014 года``, ``10.06.2014``).

    >>> find_date("г. Уфа 06 мая 2026 года"), find_date("от 10.06.2014 № 5"), find_date("ДД.ММ.ГГГГ")
    ('2026-05-06', '2014-06-10', None)
    """
    found = [(m.start(), m.groups()) for m in _DATE_WORDS.finditer(text)]
    found += [(m.start(), m.groups()) for m in _DATE_DIGITS.finditer(text)]
    for _, (day, month, year) in sorted(found):
        iso = parse_date(day, month, year)
        if iso:
            return iso
    return None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _general(m: re.Match[str]) -> str:
    return f"{m.group(1)}-{m.group(2)}/{m.group(3)}"


def case_numbers(text: str) -> dict[str, list[str]]:
    """Case numbers in ``text`` by kind, in order of appearance, normalised (no inner spaces, ``-`` dashes).

    ``vas``: Supreme Arbitration Court numbers; ``arbitr``: arbitration-court case numbers (Cyrillic ``А``);
    ``general``: courts of general jurisdiction (``2-1234/2020``, ``33а-77/2021``, ``М-5922/2025``).

    >>> case_numbers("№ ВАС-7011/14 по делу № А04-1588/2013; дело № 1 – 151/2026 (№ 33-4818/2025)")
    {'vas': ['ВАС-7011/14'], 'arbitr': ['А04-1588/2013'], 'general': ['1-151/2026', '33-4818/2025']}
    """
    return {
        "vas": _unique(f"ВАС-{m.group(1)}/{m.group(2)}" for m in _VAS.finditer(text)),
        "arbitr": _unique(f"А{m.group(1)}-{m.group(2)}/{m.group(3)}" for m in _ARBITR.finditer(text)),
        "general": _unique(_general(m) for m in _GENERAL.finditer(text)),
    }


@dataclass(slots=True)
class RulingHeader:
    """What the header of a ruling (the part before its first section marker) says."""

    act_type: str | None = None  # РЕШЕНИЕ | ПОСТАНОВЛЕНИЕ | ОПРЕДЕЛЕНИЕ | ПРИГОВОР
    # the title as written, spaces normalised: "ЗАОЧНОЕ РЕШЕНИЕ", "АПЕЛЛЯЦИОННОЕ ОПРЕДЕЛЕНИЕ"
    act_title: str | None = None
    case_number: str | None = None  # "Дело № ..." of a court of general jurisdiction
    vas_number: str | None = None
    arbitr_numbers: list[str] = field(default_factory=list)
    general_numbers: list[str] = field(default_factory=list)
    uid: str | None = None  # УИД, the case's unique id across instances
    date: str | None = None  # ISO
    court: str | None = None

    @property
    def number(self) -> str | None:
        """``Дело № ...``, else the arbitration case number, else the ВАС number, else any ``№ x-y/z``."""
        firsts = (
            self.arbitr_numbers[:1],
            [self.vas_number] if self.vas_number else [],
            self.general_numbers[:1],
        )
        return self.case_number or next((f[0] for f in firsts if f), None)

    def native_id(self, fallback: str) -> str:
        """``ВАС number@date``, else ``case number@date`` (either alone without a date), else ``fallback``."""
        return ruling_id(self.vas_number or self.number, self.date, fallback)

    def meta(self) -> dict[str, object]:
        """The parsed fields for ``Doc.meta`` (empty ones left out)."""
        fields = {
            "court": self.court,
            "act_type": self.act_type,
            "act_title": self.act_title,
            "act_date": self.date,
            "uid": self.uid,
            "vas_number": self.vas_number,
            "arbitr_numbers": self.arbitr_numbers,
            "general_numbers": self.general_numbers,
        }
        return {k: v for k, v in fields.items() if v}


def ruling_title(court: str | None, act_title: str | None) -> str:
    """``"<court>: <act title>"`` with the act title in sentence case, or whichever part is known.

    >>> ruling_title("Верховный Суд Республики Коми", "АПЕЛЛЯЦИОННОЕ ОПРЕДЕЛЕНИЕ")
    'Верховный Суд Республики Коми: Апелляционное определение'
    """
    return ": ".join(p for p in (court, act_title.capitalize() if act_title else None) if p)


def ruling_doc(text: str, stem: str, origin: str, meta: dict[str, object]) -> Doc:
    """The document of a ruling whose cleaned ``text`` opens with its header (PDF text layers, text files):
    id, title, case number and date come from the header, ``stem`` (the file name) is the id of last resort."""
    header = parse_header(text.split("\n\n"))
    return Doc(
        native_id=header.native_id(stem),
        text=text,
        origin=origin,
        title=ruling_title(header.court, header.act_title),
        number=header.number,
        date=header.date,
        meta={**meta, **header.meta()},
    )


def ruling_id(key: str | None, qualifier: str | None, fallback: str) -> str:
    """A ruling's ``native_id``: ``key@qualifier``, else ``key``, else ``fallback`` (the file stem).

    The qualifier keeps apart the acts that share a key: the first-instance and appeal pages of one case share
    their УИД (``УИД@case number``), one ВАС number may carry several determinations (``ВАС-…@date``).

    >>> ruling_id("11RS0001-01-2025-011255-03", "33-4818/2025", "page"), ruling_id(None, "2014-06-10", "a")
    ('11RS0001-01-2025-011255-03@33-4818/2025', 'a')
    """
    if not key:
        return fallback
    return f"{key}@{qualifier}" if qualifier else key


def _court(paragraph: str) -> str | None:
    """A court's name heading the ruling (``ВЫСШИЙ АРБИТРАЖНЫЙ СУД ...``) or opening its panel sentence."""
    if _act_match(paragraph):
        return None
    if _COURT_CAPS.match(paragraph) and len(paragraph.split()) <= 12:
        return paragraph
    m = _MAGISTRATE.match(paragraph) or _COURT_SENTENCE.match(paragraph)
    if m and 2 <= len(m.group("court").split()) <= 12:
        return m.group("court").strip()
    return None


def _pick_court(candidates: list[str]) -> str | None:
    """The first court named; a name printed in capitals takes the spelling it has elsewhere in the header
    (``АРБИТРАЖНЫЙ СУД ПРИМЕРНОЙ ОБЛАСТИ`` → ``Арбитражный суд Примерной области``) or its official one."""
    if not candidates:
        return None
    first = candidates[0]
    if not first.isupper():
        return first
    same = (c for c in candidates[1:] if c.casefold() == first.casefold() and not c.isupper())
    return next(same, _KNOWN_COURTS.get(first, first))


def _unspace(title: str) -> str:
    """``Р Е Ш Е Н И Е`` → ``РЕШЕНИЕ``; titles written normally are kept."""
    words = title.split()
    return "".join(words) if all(len(w) == 1 for w in words) else " ".join(words)


def header_paragraphs(paragraphs: Sequence[str], limit: int = 30) -> list[str]:
    """The paragraphs before the first section marker (at most ``limit``)."""
    out: list[str] = []
    for p in paragraphs[:limit]:
        if marker_kind(p):
            break
        out.append(p)
    return out


def parse_header(paragraphs: Sequence[str]) -> RulingHeader:
    """Parse act type, case numbers, УИД, date and court from the header of a cleaned ruling.

    >>> h = parse_header(["Дело № 2-1234/2020", "Р Е Ш Е Н И Е", "Именем Российской Федерации",
    ...                   "«10» июня 2020 года г. Примерск", "Примерский районный суд в составе судьи ФИО1,"])
    >>> h.case_number, h.act_type, h.act_title, h.date, h.court
    ('2-1234/2020', 'РЕШЕНИЕ', 'РЕШЕНИЕ', '2020-06-10', 'Примерский районный суд')
    """
    head = header_paragraphs(paragraphs)
    text = "\n".join(head)
    header = RulingHeader()
    for p in head:
        act = _act_match(p)
        if act and header.act_type is None:
            header.act_type = act.group("type").replace(" ", "")
            header.act_title = _unspace(act.group("title"))
    header.court = _pick_court([c for c in map(_court, head) if c])
    numbers = case_numbers(text)
    header.vas_number = next(iter(numbers["vas"]), None)
    header.arbitr_numbers = numbers["arbitr"]
    header.general_numbers = numbers["general"]
    delo = _DELO.search(text)
    header.case_number = _general(delo) if delo else None
    uid = _UID.search(text)
    header.uid = uid.group(0) if uid else None
    header.date = find_date(text)
    return header
