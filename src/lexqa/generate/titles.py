"""Style ``title``: the section titles above a chunk as its pseudo-queries, offline.

The headings of a code are the words its editors chose to say what the articles below them are about
("Congés payés", "Rupture conventionnelle", "Période d'essai") — and short, like what people type in a search
box. Pairing a heading with the articles under it is the *title / body* pre-training task of Chang et al.
(2020, "Pre-training Tasks for Embedding-based Large-scale Retrieval", ICLR: Body First Selection uses the
page's own text, WLP the linking pages; here the section title stands for the query). A chunk's queries are
the titles of its document's path, deepest first, numbering stripped (the structure words of
:data:`lexqa.languages.STRUCTURE_WORDS`); headings with nothing but a number (``Livre Ier``, ``Partie
législative``) give none::

    >>> section_title("Section 2 : Congés payés.")
    'Congés payés'
    >>> section_title("Chapitre II bis : Mesures visant à supprimer les écarts")
    'Mesures visant à supprimer les écarts'
    >>> section_title("Глава 3. Общие положения")
    'Общие положения'
    >>> section_title("Livre Ier") is None
    True
    >>> titles(["Partie législative", "Titre II : Contrat de travail", "Chapitre Ier : Période d'essai"], 2)
    ["Période d'essai", 'Contrat de travail']

Some headings say nothing of their subject: "Ordre public", "Dispositions générales", "Champ d'application"
recur under dozens of sections of a code. :func:`generic_titles` finds the titles that head sections under at
least ``min_parents`` different parents, and :func:`titles` can skip them for the heading above::

    >>> paths = [["Titre I : Congés payés", "Chapitre I : Ordre public"],
    ...          ["Titre II : Congé parental", "Chapitre I : Ordre public"]]
    >>> sorted(generic_titles(paths, 2))
    ['ordre public']
    >>> titles(paths[0], 1, skip=generic_titles(paths, 2))
    ['Congés payés']
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

from lexqa.languages import STRUCTURE_WORDS

_STRUCTURE = "(?:" + "|".join(map(re.escape, STRUCTURE_WORDS)) + ")"
_ADDED = r"(?:\s+(?:bis|ter|quater|quinquies|sexies|septies|octies|nonies|decies|[A-Z]))?"
"""What follows a number when a division was inserted later: ``Chapitre II bis``, ``Section 3 A``."""
_NUMBERED = re.compile(
    rf"^\s*{_STRUCTURE}\b\.?\s*[\w.\-]*{_ADDED}\s*(?:[:.–—-]\s*(?P<title>.*))?$", re.IGNORECASE
)
_MIN_CHARS = 3


def section_title(heading: str) -> str | None:
    """The title words of a heading, without its structural numbering; None when nothing but numbering."""
    heading = " ".join(heading.split())
    match = _NUMBERED.match(heading)
    title = (match.group("title") or "") if match else heading
    title = title.strip().rstrip(".").strip()
    return title if len(title) >= _MIN_CHARS else None


def generic_titles(paths: Iterable[Sequence[str]], min_parents: int) -> set[str]:
    """The titles (lower-cased) found under at least ``min_parents`` different parent paths in ``paths``."""
    parents: dict[str, set[tuple[str, ...]]] = {}
    for path in paths:
        for depth, heading in enumerate(path):
            title = section_title(heading)
            if title:
                parents.setdefault(title.lower(), set()).add(tuple(path[:depth]))
    return {title for title, seen in parents.items() if len(seen) >= min_parents}


def titles(path: Sequence[str], n: int, skip: Collection[str] = ()) -> list[str]:
    """Up to ``n`` distinct titles of ``path`` (a document's section headings, outermost first), deepest first,
    leaving out those whose lower-cased form is in ``skip``."""
    out: list[str] = []
    for heading in reversed(path):
        title = section_title(heading)
        if title and title not in out and title.lower() not in skip:
            out.append(title)
            if len(out) == n:
                break
    return out
