"""The ``context`` column: where a chunk comes from, in words, kept out of the chunk's text.

Codes read as a breadcrumb (title > section path > article), rulings as court and case number; later
stages may prepend it to the text or not::

    >>> from lexqa.chunk.context import context
    >>> context("article", "fr", "Code civil", ["Livre Ier : Des personnes", "Titre Ier"], "9")
    'Code civil > Livre Ier : Des personnes > Titre Ier > Article 9'
    >>> context("ruling", "ru", "Высший Арбитражный Суд РФ, определение", [], "ВАС-6700/14")
    'Высший Арбитражный Суд РФ, определение, дело № ВАС-6700/14'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from lexqa.languages import article_word as language_article_word
from lexqa.languages import case_word

__all__ = ["context"]


def context(
    style: Literal["article", "ruling"],
    lang: str | None,
    title: str | None,
    path: Sequence[str] | None,
    number: str | None,
    article_word: str | None = None,
) -> str:
    """``title > path... > Article N`` for codes, ``title, дело № N`` for rulings; empty pieces skipped.

    ``article_word`` is the word that opened the article in its source (markdown's ``article_word`` meta, e.g.
    ``§``); without it, the language's (:mod:`lexqa.languages`): ``context("article", "de", "BGB", [], "12",
    "§")`` ends ``§ 12``."""
    title = (title or "").strip()
    number = (number or "").strip()
    if style == "ruling":
        case = f"{case_word(lang)} {number}" if number else ""
        return ", ".join(p for p in (title, case) if p)
    crumbs = [title] if title else []
    for section in path or ():
        section = section.strip()
        if section and (not crumbs or section != crumbs[-1]):
            crumbs.append(section)
    if number:
        word = article_word or language_article_word(lang)
        crumbs.append(number if number.lower().startswith(word.lower()) else f"{word} {number}")
    return " > ".join(crumbs)
