"""Clean text from the HTML fragments of legal sources (LEGI ``CONTENU``, Légifrance ``texteHtml``).

The result follows the text convention of ``documents.parquet``: one paragraph per ``<p>``, ``<div>``, list
item or ``<br/>``-separated line; paragraphs separated by exactly one blank line; whitespace (non-breaking
spaces included) collapsed inside a paragraph; no empty paragraph; entities decoded. A table row becomes one
paragraph of its own, its cells joined by `` | `` (empty cells are kept so columns stay aligned; rows with no
text are dropped), so the output never holds a lone ``\\n`` and ``text.split("\\n\\n")`` gives paragraphs
and rows::

    >>> from lexqa.ingest.html_text import html_to_text
    >>> html = "<p>Article premier&nbsp;:<br/>les   parties</p><table><tr><td>A</td><td>1</td></tr></table>"
    >>> print(html_to_text(html))
    Article premier :
    <BLANKLINE>
    les parties
    <BLANKLINE>
    A | 1

It takes a string (parsed with ``lxml.html``) or an element already parsed (the ``CONTENU`` element of a LEGI
XML tree: walked directly, no second parse). Comments, processing instructions and unresolved entity
references are dropped, never expanded.
"""

from __future__ import annotations

from collections.abc import Callable

import lxml.html
from lxml import etree

__all__ = ["html_to_text"]

_BLOCKS = frozenset(
    {"p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
    | {"center", "address", "section", "article", "header", "footer", "hr", "caption", "tr", "thead", "tbody"}
    | {"tfoot"}
)
_SKIP = frozenset(("script", "style", "head", "title", "template"))
_CELLS = frozenset(("td", "th"))


_BREAK = "\x00"  # paragraph boundary marker: never in XML text, removed from HTML strings before parsing


def _walk(el: etree._Element, put: Callable[[str], None]) -> None:
    """Emit the text pieces of ``el`` and its tail, with ``_BREAK`` around block elements."""
    tag = el.tag
    # A comment, processing instruction or entity reference has a non-str tag: only its tail counts.
    if tag.__class__ is str:
        tag = tag.lower()
        if tag in _BLOCKS:
            put(_BREAK)
            if el.text:
                put(el.text)
            for child in el:
                _walk(child, put)
            put(_BREAK)
        elif tag == "br":
            put(_BREAK)
        elif tag == "table":
            put(_BREAK)
            _table(el, put)
        elif tag not in _SKIP:
            if el.text:
                put(el.text)
            for child in el:
                _walk(child, put)
    if el.tail:
        put(el.tail)


def _paragraphs(pieces: list[str]) -> list[str]:
    """Whitespace-collapsed, non-empty paragraphs of the emitted pieces."""
    collapsed = (" ".join(p.split()) for p in "".join(pieces).split(_BREAK))
    return [p for p in collapsed if p]


def _cell_text(cell: etree._Element) -> str:
    pieces = [cell.text] if cell.text else []
    for child in cell:
        _walk(child, pieces.append)
    return " ".join(_paragraphs(pieces))


def _table(table: etree._Element, put: Callable[[str], None]) -> None:
    """One paragraph per row of this table (rows of nested tables are flattened into their cell)."""
    for caption in table.iterchildren("caption", "CAPTION"):
        _walk(caption, put)
    for row in table.iter("tr", "TR"):
        if next(row.iterancestors("table", "TABLE")) is not table:
            continue
        cells = [_cell_text(c) for c in row if isinstance(c.tag, str) and c.tag.lower() in _CELLS]
        if any(cells):
            put(_BREAK + " | ".join(cells).strip() + _BREAK)
    put(_BREAK)


def html_to_text(fragment: str | etree._Element | None) -> str:
    """Readable text of an HTML fragment (string or parsed element); ``""`` when it holds no text.

    >>> html_to_text("<p>Un</p><p>  </p><ul><li>deux</li><li>trois &amp; quatre</li></ul>")
    'Un\\n\\ndeux\\n\\ntrois & quatre'
    """
    if fragment is None or (not isinstance(fragment, str) and not len(fragment) and not fragment.text):
        return ""  # the common empty LEGI NOTA: <CONTENU/>
    if isinstance(fragment, str):
        if not fragment.strip():
            return ""
        fragment = lxml.html.fragment_fromstring(fragment.replace(_BREAK, ""), create_parent="div")
    pieces = [fragment.text] if fragment.text else []
    for child in fragment:
        _walk(child, pieces.append)
    return "\n\n".join(_paragraphs(pieces))
