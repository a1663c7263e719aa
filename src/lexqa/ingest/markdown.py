"""Markdown codes → one document per article: the generic path for new legal corpora.

Accepted shapes (one code per ``*.md`` file, UTF-8 or an encoding charset-normalizer recognises)::

    ---                                 optional YAML front matter (a mapping):
    title: "Code civil"                   title → Doc.title (else the ``#`` heading, else the file stem)
    identifier: "LEGITEXT000006070721"    identifier → first half of native_id (else the file stem)
    last_updated: "2026-04-03"            last_updated → Doc.date (ISO yyyy-mm-dd)
    source: "https://www.legifrance…"     source → Doc.url when it is an http(s) URL
    ---                                   other keys (status, rank, …) are copied into meta
    # Code civil                        the code title: not part of the path
    ## Livre Ier : Des personnes        section headings (any level) → Doc.path, outermost first
    #### Titre Ier : …
    #### Chapitre Ier : …
    ##### Article 9                     one document per ``Article NUM`` heading (any level)
    Chacun a droit au respect …         its paragraphs, up to the next heading → Doc.text

*Article words*: the source's ``article_words`` (default ``["Article"]``) are the words that open a unit,
matched case-insensitively: with ``["Artikel", "§"]`` the headings ``### Artikel 13 - Titel``, ``### § 12`` and
``### §12`` open articles 13, 12 and 12. A word ending in a letter or digit must end there (``Articles 1 à 3``
is not an article); one ending otherwise (``§``, ``Art.``) may be followed by the number directly. The word
that opened a unit, spelt as in ``article_words``, is kept as ``article_word`` in meta: the chunk context
names the unit with it (``§ 12``, not ``Artikel 12``).

*Plain-line variant* (a file with no article heading at all, like LEGITEXT000006070666.md): a line
standing alone between blank lines that reads ``Chapitre I : …``, ``Section 2 : …``, ``Paragraphe II : …``
(also Partie, Livre, Titre, Sous-titre, Sous-section, Sous-paragraphe) is a section heading, and a line
``Article 9`` (or ``Статья 9`` with ``article_words: ["Статья"]``) starts an article.

Section nesting follows the heading level. Headings that share a level (legalize-fr puts Titre, Chapitre,
Section, Sous-section and Paragraphe all at ``####``) nest by their leading word, in the order
Partie > Livre (or Annexe) > Titre > Sous-titre > Chapitre > Section > Sous-section > Paragraphe >
Sous-paragraphe. A heading with another leading word (``Première partie : …``, ``Dispositions communes …``)
nests under the named heading before it at its level and gives way to the next heading of the same or an
outer rank.

Text rules: paragraphs are separated by one blank line. Inside a block every line is a paragraph (the codes
put one alinéa per line) unless it continues a sentence: the previous line has no final punctuation and this
one starts in lower case (soft-wrapped Markdown). Emphasis, inline code, links and images are reduced to
their text (``[art. 9](https://…)`` → ``art. 9``) while ``(*)`` footnote marks stay as written; that is why
this is a few regular expressions rather than a CommonMark parser (markdown-it reads ``(*) … (*)`` as
emphasis, and parsing the Code de la consommation with it alone takes 0.75 s). Pipe tables become one line
per row, cells joined by `` | ``. Text between a section heading and the first article belongs to no
article and is ignored.

Identifiers and rejects:

- ``native_id = "<identifier or file stem>:<number>"``. A number repeated in one file (legalize-fr keeps
  e.g. two versions of ``L111-4`` in the Code de la consommation, and ``2303`` twice in the Code civil) gets
  ``~2``, ``~3`` … on its later occurrences, in file order; every copy notes ``occurrence`` and
  ``occurrences`` in meta.
- ``Article`` with no number → ``Reject("no_article_number")`` for that unit; a file without any article →
  ``Reject("no_articles")`` (its detail names the ``article_words`` param, the fix for a corpus in another
  language); front matter that is not valid YAML, not a mapping, never closed, or over one of the bounds of
  :mod:`lexqa.ingest.bounded_yaml` (16 KiB of text, 10 levels of nesting, 4,096 characters per scalar, 2,000
  nodes and 64 Ki characters once aliases are expanded: an alias bomb or a recursive alias is refused before
  anything is built) → ``Reject("bad_front_matter")`` for the whole file, its detail naming the limit (no best
  effort: the identifier that builds every doc id would be guessed); NUL bytes or no recognisable encoding →
  ``Reject("binary_content")``.
- ``README.md`` files describe a folder and are skipped.

    >>> from lexqa.config import MarkdownSource
    >>> from lexqa.ingest.markdown import read
    >>> src = MarkdownSource(name="md", kind="markdown", path="data/raw/sample/markdown", lang="fr",
    ...                      domain="fr_codes")
    >>> [d.native_id for d in read(src)][:2]                          # doctest: +SKIP
    ['EXEMPLE-CODE-FONTAINES:1', 'EXEMPLE-CODE-FONTAINES:2']
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

from lexqa.config import MarkdownSource
from lexqa.ingest.bounded_yaml import YamlError, YamlLimitError, load_bounded
from lexqa.ingest.records import Doc, Reject, iter_files

log = logging.getLogger("lexqa.ingest.markdown")

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_NUMBER_TAIL = re.compile(r"\s+[:–—-]\s+")  # "Article 12 - Intitulé": the number ends at the separator
_RANK_WORD = re.compile(r"^(?:sous-)?(?:partie|livre|titre|chapitre|section|paragraphe)\b|^annexes?\b", re.I)
_RANKS = {"partie": 0, "livre": 1, "annexe": 1, "annexes": 1, "titre": 2, "sous-titre": 3, "chapitre": 4}
_RANKS |= {"section": 5, "sous-section": 6, "paragraphe": 7, "sous-paragraphe": 8}
_ORDINAL = (
    r"(?:[IVXLCDM]+|\d+)(?:er|re|e|ème)?(?:\s+(?:bis|ter|quater|quinquies))?"
    r"|unique|préliminaire|premier|première"
)
_PLAIN_SECTION = re.compile(
    rf"^(?:sous-)?(?:partie|livre|titre|chapitre|section|paragraphe)\s+(?:{_ORDINAL})(?:\s*[:.–—-]\s*\S.*)?$",
    re.IGNORECASE,
)
_PLAIN_MAX = 250  # a plain-line heading is a short line

_TERMINAL = tuple(".;:!?»)…")
_ENUMERATOR = re.compile(r"^(?:[a-z]{1,5}[).]|[-+*•–])\s")  # "b) …", "iv. …", "- …": a new item, not a sequel
_ALIGN_ROW = re.compile(r":?-{2,}:?")  # a cell of the |---|:--:| row under a table header
_SPACES = re.compile(r"[ \t\u00a0]{2,}|\t")
_INLINE_MARKS = re.compile(r"[*_`\[\\<]")
_INLINE = [
    (re.compile(r"!?\[([^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"), r"\1"),  # [text](url), ![alt](src)
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),  # <https://…>
    (re.compile(r"(?<!\\)`([^`]+)`"), r"\1"),
    (re.compile(r"(?<![\w*\\])(\*\*|__)(?=[^\s*_])(.+?)(?<=[^\s*_\\])\1(?![\w*])"), r"\2"),
    (re.compile(r"(?<![\w*\\])\*(?=[^\s*)])(.+?)(?<=[^\s*(\\])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_\\])_(?=[^\s_])(.+?)(?<=[^\s_\\])_(?![\w_])"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),  # backslash escapes
]
_FRONT_USED = {"title", "identifier", "last_updated", "source"}


def read(source: MarkdownSource) -> Iterator[Doc | Reject]:
    """Yield one :class:`Doc` per article of every ``*.md`` file of ``source``, or rejects."""
    for path in iter_files(source, "*.md"):
        if isinstance(path, Reject):
            yield path
            continue
        if path.name.lower() == "readme.md":
            log.debug("%s: folder description, skipped", path)
            continue
        yield from read_file(path, source.article_words)


def read_file(path: Path, article_words: Sequence[str] = ("Article",)) -> Iterator[Doc | Reject]:
    """Parse one Markdown code file whose units open with one of ``article_words``."""
    origin = str(path)
    text = _decode(path.read_bytes())
    if text is None:
        yield Reject(origin, "binary_content", "not text: NUL bytes or no recognisable encoding")
        return
    try:
        front, body, body_line = _split_front_matter(text)
    except ValueError as exc:
        yield Reject(origin, "bad_front_matter", str(exc))
        return
    units = _unit_patterns(tuple(article_words))
    parsed = _Parser(body.split("\n"), units, first_line=body_line).parse()
    yield from (Reject(origin, "no_article_number", detail) for detail in parsed.unnumbered)
    if not parsed.articles:
        if not parsed.unnumbered:
            words = ", ".join(f"'{w} NUM'" for w in article_words)
            yield Reject(
                origin,
                "no_articles",
                f"no {words} heading or line in the file: if its articles open with another word, list it "
                "in the source's article_words in params.yaml (e.g. article_words: [Artikel, §])",
            )
        return
    file_id = str(front.get("identifier") or path.stem)
    title = str(front.get("title") or parsed.title or path.stem)
    date = _iso_date(front.get("last_updated"))
    url = front.get("source") if isinstance(front.get("source"), str) else None
    url = url if url and url.startswith(("http://", "https://")) else None
    extra = {k: _jsonable(v) for k, v in front.items() if k not in _FRONT_USED}
    counts = Counter(a.number for a in parsed.articles)
    spelling = {w.lower(): w for w in article_words}
    seen: Counter[str] = Counter()
    for art in parsed.articles:
        seen[art.number] += 1
        suffix = f"~{seen[art.number]}" if seen[art.number] > 1 else ""
        word = spelling.get(art.word.lower(), art.word)
        meta: dict[str, Any] = {**extra, "file_id": file_id, "line": art.line, "article_word": word}
        if art.heading:
            meta["heading"] = art.heading
        if counts[art.number] > 1:
            meta |= {"occurrence": seen[art.number], "occurrences": counts[art.number]}
        yield Doc(
            native_id=f"{file_id}:{art.number}{suffix}",
            text=_paragraphs(art.lines),
            origin=origin,
            title=title,
            path=list(art.path),
            number=art.number,
            date=date,
            url=url,
            meta=meta,
            where=f"{word} {art.number}, line {art.line}",
        )


# --------------------------------------------------------------------------------------------- file level
def _decode(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            return None
        text = str(best)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _split_front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """(front matter, body, line number of the body's first line); ValueError for a broken front matter."""
    if not text.startswith("---\n"):
        return {}, text, 1
    end = re.search(r"^(?:---|\.\.\.)[ \t]*$", text[4:], re.MULTILINE)
    if end is None:
        raise ValueError("front matter opened with '---' is never closed")
    raw, body = text[4 : 4 + end.start()], text[4 + end.end() :].removeprefix("\n")
    try:
        front = load_bounded(raw)
    except YamlLimitError as exc:
        raise ValueError(f"front matter over a limit: {exc}") from None
    except YamlError as exc:
        raise ValueError(f"front matter is {exc}") from None
    if front is None:
        front = {}
    if not isinstance(front, dict):
        raise ValueError(f"front matter must be a mapping of keys, got {type(front).__name__}")
    return front, body, raw.count("\n") + 3


def _iso_date(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
        return value[:10]
    return None


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


# --------------------------------------------------------------------------------------------- structure
@functools.cache
def _unit_patterns(words: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(heading pattern, plain-line pattern) of units opened by ``words``; both capture ``word`` and ``num``.

    A word ending in a word character ends at a word boundary (``Articles`` is not ``Article``); ``§`` or
    ``Art.`` may touch the number (``§12``). The plain line allows at most three tokens after the word.

    >>> heading, plain = _unit_patterns(("Artikel", "§"))
    >>> heading.match("§12 - Titel")["num"], plain.match("ARTIKEL 3")["num"]
    ('12 - Titel', '3')
    """
    heads, plains = [], []
    for word in sorted(words, key=len, reverse=True):
        escaped = re.escape(word)
        if re.match(r"\w", word[-1]):
            heads.append(rf"{escaped}\b")
            plains.append(rf"{escaped}(?=\s|\.?$)")
        else:
            heads.append(rf"{escaped}(?=[\s\d]|$)")
            plains.append(rf"{escaped}(?=[\s\d]|$)")
    heading = re.compile(rf"^(?P<word>{'|'.join(heads)})\s*(?P<num>.*?)\s*$", re.IGNORECASE)
    plain = re.compile(
        rf"^(?P<word>{'|'.join(plains)})(?:\s*(?P<num>[^\s:]+(?:\s+[^\s:]+){{0,2}}?))?\s*\.?$", re.IGNORECASE
    )
    return heading, plain


@dataclass(slots=True)
class _Article:
    word: str
    number: str
    line: int
    path: tuple[str, ...]
    heading: str | None = None
    lines: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Section:
    level: int
    rank: float | None  # None: an unnamed heading with no named one before it at its level
    named: bool
    title: str


@dataclass(slots=True)
class _Parsed:
    title: str | None = None
    articles: list[_Article] = field(default_factory=list)
    unnumbered: list[str] = field(default_factory=list)


class _Parser:
    """One pass over the lines: headings (or plain-line headings) drive a section stack and open articles."""

    def __init__(
        self, lines: list[str], units: tuple[re.Pattern[str], re.Pattern[str]], first_line: int = 1
    ) -> None:
        self.lines = lines
        self.first_line = first_line
        self.article, self.plain_article = units
        self.plain = not any(
            (m := _HEADING.match(line)) and self.article.match(m[2]) for line in lines if line.startswith("#")
        )
        self.stack: list[_Section] = []
        self.out = _Parsed()

    def parse(self) -> _Parsed:
        current: _Article | None = None
        lines, plain = self.lines, self.plain
        for i, line in enumerate(lines):
            lineno = self.first_line + i
            heading = _HEADING.match(line) if line.startswith("#") else None
            if heading:
                current = self._heading(len(heading[1]), _clean(heading[2]), lineno)
                continue
            if plain and line and not line[0].isspace() and self._alone(i):
                stripped = line.strip()
                if len(stripped) <= _PLAIN_MAX and (m := self.plain_article.match(stripped)):
                    current = self._open(m["word"], m["num"] or "", None, lineno)
                    continue
                if len(stripped) <= _PLAIN_MAX and _PLAIN_SECTION.match(stripped):
                    self._push(2, _clean(stripped))
                    current = None
                    continue
            if current is not None:
                current.lines.append(line)
        return self.out

    def _alone(self, i: int) -> bool:
        """Whether line ``i`` is a block of its own (blank lines, or the file's ends, around it)."""
        return (i == 0 or not self.lines[i - 1].strip()) and (
            i + 1 == len(self.lines) or not self.lines[i + 1].strip()
        )

    def _heading(self, level: int, text: str, lineno: int) -> _Article | None:
        if m := self.article.match(text):
            number, *rest = _NUMBER_TAIL.split(m["num"], maxsplit=1)
            return self._open(m["word"], number, rest[0] if rest else None, lineno)
        if level == 1 and self.out.title is None and not self.out.articles:
            self.out.title = text
        else:
            self._push(level, text)
        return None

    def _open(self, word: str, number: str, heading: str | None, lineno: int) -> _Article | None:
        number = number.strip().rstrip(".").strip()
        if not number:
            self.out.unnumbered.append(f"line {lineno}: an '{word}' heading without a number")
            return None
        art = _Article(word, number, lineno, tuple(s.title for s in self.stack), heading)
        self.out.articles.append(art)
        return art

    def _push(self, level: int, title: str) -> None:
        stack = self.stack
        while stack and stack[-1].level > level:
            stack.pop()
        rank = _rank(title)
        if rank is not None:
            while stack and stack[-1].level == level and (stack[-1].rank is None or stack[-1].rank >= rank):
                stack.pop()
            stack.append(_Section(level, rank, True, title))
            return
        # Unnamed: a sibling of the last unnamed heading at its level, else nested under the named one before.
        same = [k for k, s in enumerate(stack) if s.level == level and not s.named]
        sibling = same[-1] if same else None
        if sibling is not None:
            rank = stack[sibling].rank
            del stack[sibling:]
        elif stack and stack[-1].level == level and stack[-1].rank is not None:
            rank = stack[-1].rank + 0.5
        stack.append(_Section(level, rank, False, title))


def _rank(title: str) -> float | None:
    m = _RANK_WORD.match(title)
    return float(_RANKS[m[0].lower()]) if m else None


# --------------------------------------------------------------------------------------------- text
def _paragraphs(lines: list[str]) -> str:
    """Article body lines → paragraphs separated by one blank line (see the module docstring)."""
    paras: list[str] = []
    tables: set[int] = set()  # indexes of paragraphs that are pipe tables, kept as built
    open_para = False  # whether the next line of the same block may continue the last paragraph
    for raw in lines:
        line = raw.strip()
        while line.startswith(">"):
            line = line[1:].lstrip()
        if not line:
            open_para = False
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(_ALIGN_ROW.fullmatch(c) for c in cells if c):
                continue
            row = " | ".join(_clean(c) for c in cells)
            if paras and len(paras) - 1 in tables and open_para:
                paras[-1] += "\n" + row
            else:
                tables.add(len(paras))
                paras.append(row)
            open_para = True
            continue
        continues = open_para and len(paras) - 1 not in tables and not paras[-1].endswith(_TERMINAL)
        if continues and line[0].islower() and not _ENUMERATOR.match(line):
            paras[-1] += " " + line
        else:
            paras.append(line)
        open_para = True
    return "\n\n".join(p if i in tables else _clean(p) for i, p in enumerate(paras))


def _clean(text: str) -> str:
    """Inline markup reduced, runs of spaces collapsed."""
    return _SPACES.sub(" ", _inline(text)).strip()


def _inline(text: str) -> str:
    """Markdown emphasis, code, links and escapes reduced to their text."""
    if not _INLINE_MARKS.search(text):
        return text
    for pattern, repl in _INLINE:
        text = pattern.sub(repl, text)
    return text
