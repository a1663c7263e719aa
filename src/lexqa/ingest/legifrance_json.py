"""Reader for Légifrance API JSON: a whole code as a tree of sections and articles → one document per article.

``source.path`` is one ``.json`` file or a directory of them (``*.json``, or ``source.glob``). The shape is
the API's (as republished by @socialgouv/legi-data)::

    {"type": "code", "data": {"id": "LEGITEXT…", "title": "Code …", …},
     "children": [{"type": "section", "data": {"title": "Livre Ier : …"}, "children": [
         {"type": "article", "data": {"id": "LEGIARTI…", "num": "L100-1", "etat": "VIGUEUR",
                                      "texteHtml": "<p>…</p>", "nota": "", "dateDebut": 1451606400000,
                                      "dateFin": 32472144000000, "articleVersions": […]}}]}]}

Fields and version rule are those of :mod:`lexqa.ingest.legi_xml`: title = code title, path = section
titles (outermost first), number = ``num``, text = ``texteHtml`` as clean text, date = ``dateDebut``; an
article is kept when its ``etat`` is in force (:data:`~lexqa.ingest.legi_xml.IN_FORCE`), or with ``as_of``
when ``dateDebut <= as_of < dateFin`` (epoch milliseconds, UTC)::

    >>> from lexqa.config import LegifranceJsonSource
    >>> from lexqa.ingest import legifrance_json
    >>> src = LegifranceJsonSource(
    ...     name="ex", kind="legifrance_json", path="data/raw/sample/legifrance_json", lang="fr", domain="fr"
    ... )
    >>> docs = [d for d in legifrance_json.read(src) if isinstance(d, legifrance_json.Doc)]  # doctest: +SKIP
    >>> docs[0].number, docs[0].path                                                      # doctest: +SKIP
    ('L1', ['Livre Ier : ...', ...])

Rejects: ``malformed_json`` (not JSON, or not UTF-8), ``not_a_code`` (JSON of another shape),
``malformed_article`` (an article without id), ``no_article_number`` (all logged); ``not_in_force`` and
``not_valid_at_date`` (by design, not logged). Their ``origin`` is the file; their ``detail`` names the
article.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lexqa.config import LegifranceJsonSource
from lexqa.ingest.html_text import html_to_text
from lexqa.ingest.legi_xml import IN_FORCE, URL
from lexqa.ingest.records import Doc, Reject, iter_files

__all__ = ["Doc", "Reject", "read", "read_code"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _iso(ms: Any) -> str | None:
    """ISO date of an epoch-milliseconds timestamp (UTC), ``None`` when absent or not a number."""
    if not isinstance(ms, int | float) or isinstance(ms, bool):
        return None
    try:
        return (_EPOCH + dt.timedelta(milliseconds=ms)).date().isoformat()
    except (OverflowError, ValueError):
        return None


def _ms(day: dt.date) -> int:
    return int((dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - _EPOCH).total_seconds() * 1000)


def _walk(node: dict[str, Any], path: list[str]) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Every article node under ``node`` with the titles of the sections above it."""
    for child in node.get("children") or ():
        if not isinstance(child, dict):
            continue
        if child.get("type") == "article":
            yield child.get("data") or {}, path
        else:
            title = " ".join(str((child.get("data") or {}).get("title") or "").split())
            yield from _walk(child, [*path, title] if title else path)


def _plain(text: str) -> str:
    """The convention applied to plain text: one paragraph per non-blank line, whitespace collapsed."""
    return "\n\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _valid_at(start: Any, end: Any, at: int) -> bool:
    """``start <= at < end`` in epoch ms; a missing end is an open end, a missing start never matches."""
    if not isinstance(start, int | float) or start > at:
        return False
    return not isinstance(end, int | float) or at < end


def _article(
    a: dict[str, Any], code: dict[str, Any], path: list[str], origin: str, as_of: int | None
) -> Doc | Reject:
    article_id = str(a.get("id") or a.get("cid") or "")
    if not article_id:
        return Reject(
            origin, "malformed_article", f"article without id under {' > '.join(path) or 'the root'}"
        )
    state = str(a.get("etat") or "")
    start, end = a.get("dateDebut"), a.get("dateFin")
    label = f"{article_id} ({a.get('num') or 'no number'})"
    if as_of is None and state not in IN_FORCE:
        return Reject(origin, "not_in_force", f"{label}: etat {state or '(none)'}", warn=False)
    if as_of is not None and not _valid_at(start, end, as_of):
        detail = f"{label}: valid {_iso(start) or '?'} to {_iso(end) or 'open end'}, not on {_iso(as_of)}"
        return Reject(origin, "not_valid_at_date", detail, warn=False)
    number = " ".join(str(a.get("num") or "").split())
    if not number:
        return Reject(origin, "no_article_number", f"article {article_id} has no num")
    html = a.get("texteHtml")
    return Doc(
        native_id=article_id,
        text=html_to_text(html) if html else _plain(str(a.get("texte") or "")),
        origin=origin,
        title=" ".join(str(code.get("title") or "").split()),
        path=list(path),
        number=number,
        date=_iso(start),
        url=URL.format(article_id),
        meta={
            "code_id": str(code.get("cid") or code.get("id") or ""),
            "state": state,
            "date_debut": _iso(start),
            "date_fin": _iso(end),
            "nota": html_to_text(a["notaHtml"]) if a.get("notaHtml") else _plain(str(a.get("nota") or "")),
            "versions": len(a.get("articleVersions") or ()),
        },
        where=f"article {number}",
    )


def read_code(raw: bytes, origin: str, as_of: dt.date | None = None) -> Iterator[Doc | Reject]:
    """Documents and rejects of one code file's bytes."""
    try:
        tree = json.loads(raw)
    except (
        ValueError,
        RecursionError,
    ) as exc:  # not JSON, not UTF-8, a 5,000-digit number, nesting past the stack
        yield Reject(origin, "malformed_json", f"{type(exc).__name__}: {exc}")
        return
    if not isinstance(tree, dict) or tree.get("type") != "code" or not isinstance(tree.get("data"), dict):
        kind = tree.get("type") if isinstance(tree, dict) else type(tree).__name__
        yield Reject(origin, "not_a_code", f"expected a root of type 'code', got {kind!r}")
        return
    at = _ms(as_of) if as_of else None
    for article, path in _walk(tree, []):
        yield _article(article, tree["data"], path, origin, at)


def read(source: LegifranceJsonSource) -> Iterator[Doc | Reject]:
    """Yield one :class:`Doc` per kept article and one :class:`Reject` per other article or bad file."""
    for path in iter_files(source, "*.json"):
        if isinstance(path, Reject):
            yield path
            continue
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            yield Reject(str(path), "unreadable", str(exc))
            continue
        yield from read_code(raw, str(path), source.as_of)
