"""The Markdown reader's ``article_words``: units of codes in other languages (``§``, ``Artikel``, ``Статья``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexqa.config import MarkdownSource, ParamsError, parse_params
from lexqa.ingest.markdown import read
from lexqa.ingest.records import Doc, Reject

GERMAN = """---
title: "Gesetz über Gemeinschaftsgärten"
identifier: "GARTENGESETZ"
---
# Gesetz über Gemeinschaftsgärten

## Abschnitt 1: Allgemeine Vorschriften

### § 12

Dieses Gesetz regelt die Nutzung gemeinschaftlicher Gärten.

Es gilt nicht für private Gärten.

## Abschnitt 2: Pflichten

### Artikel 13 - Pflege der Beete

Die Gärtner pflegen ihre Beete.

### §14

Ohne Leerzeichen nach dem Zeichen.

### Paragraphen 15 bis 17

Kein Artikel: das Wort ist nicht Paragraph, der Text gehört zu § 14.
"""


def source(folder: Path, words: list[str] | None = None, lang: str = "de") -> MarkdownSource:
    extra = {} if words is None else {"article_words": words}
    return MarkdownSource(name="m", kind="markdown", path=folder, lang=lang, domain="d", **extra)


def read_text(tmp_path: Path, text: str, words: list[str] | None, lang: str = "de") -> list[Doc | Reject]:
    (tmp_path / "code.md").write_text(text, encoding="utf-8")
    return list(read(source(tmp_path, words, lang)))


def test_german_paragraph_and_artikel_headings(tmp_path):
    items = read_text(tmp_path, GERMAN, ["Artikel", "§"])
    assert all(isinstance(i, Doc) for i in items)
    docs = {d.native_id: d for d in items}
    assert list(docs) == ["GARTENGESETZ:12", "GARTENGESETZ:13", "GARTENGESETZ:14"]
    p12, a13, p14 = docs.values()
    assert p12.number == "12" and a13.number == "13" and p14.number == "14"
    assert [d.meta["article_word"] for d in (p12, a13, p14)] == ["§", "Artikel", "§"]
    assert p12.text == (
        "Dieses Gesetz regelt die Nutzung gemeinschaftlicher Gärten.\n\nEs gilt nicht für private Gärten."
    )
    assert p12.path == ["Abschnitt 1: Allgemeine Vorschriften"]
    assert a13.path == ["Abschnitt 2: Pflichten"]
    assert a13.text == "Die Gärtner pflegen ihre Beete." and a13.meta["heading"] == "Pflege der Beete"
    # '### Paragraphen 15 bis 17' is a section heading, not a unit: § 14 ends there.
    assert p14.text == "Ohne Leerzeichen nach dem Zeichen."
    assert p14.path == ["Abschnitt 2: Pflichten"]


def test_words_are_matched_case_insensitively_and_as_whole_words(tmp_path):
    text = "# G\n\n### ARTIKEL 1\n\nEins.\n\n### Artikeln 2 und 3\n\nZwei.\n\n### artikel 4\n\nVier.\n"
    docs = [d for d in read_text(tmp_path, text, ["Artikel"]) if isinstance(d, Doc)]
    assert {d.meta["article_word"] for d in docs} == {"Artikel"}  # spelt as in article_words, not as written
    assert [d.number for d in docs] == ["1", "4"]
    assert docs[0].text == "Eins."  # 'Artikeln 2 und 3' is a section heading, its text belongs to no article


def test_plain_line_variant_with_another_word(tmp_path):
    text = (
        "Гражданский кодекс\n\nГлава 1. Общие положения\n\nСтатья 5\n\nОбычаем признается правило поведения.\n\n"
        "Статья 6.\n\nВ случаях, когда отношения прямо не урегулированы.\n\nстатья 7\n\nСемь.\n\n"
        "Статьи 8 и 9 утратили силу.\n"
    )
    docs = [d for d in read_text(tmp_path, text, ["Статья"], lang="ru") if isinstance(d, Doc)]
    assert [d.native_id for d in docs] == ["code:5", "code:6", "code:7"]
    assert docs[0].text == "Обычаем признается правило поведения."
    assert docs[1].text == "В случаях, когда отношения прямо не урегулированы."
    assert docs[2].text == "Семь.\n\nСтатьи 8 и 9 утратили силу."  # 'Статьи' is not the word: body text


def test_word_without_number_is_rejected_with_the_word_as_written(tmp_path):
    items = read_text(tmp_path, "# G\n\n### §\n\nWaise.\n\n### § 2\n\nZwei.\n", ["§"])
    rejects = [i for i in items if isinstance(i, Reject)]
    assert [(r.reason, r.detail) for r in rejects] == [
        ("no_article_number", "line 3: an '§' heading without a number")
    ]
    assert [d.number for d in items if isinstance(d, Doc)] == ["2"]


def test_default_source_rejects_paragraph_headings_and_names_the_param(tmp_path):
    text = "# G\n\n### § 1\n\nEins.\n\n### § 2\n\nZwei.\n"
    (rej,) = read_text(tmp_path, text, None)
    assert isinstance(rej, Reject) and rej.reason == "no_articles"
    assert "'Article NUM'" in rej.detail and "article_words" in rej.detail
    assert [d.number for d in read_text(tmp_path, text, ["§"])] == ["1", "2"]


def test_default_is_article(tmp_path):
    assert source(tmp_path).article_words == ["Article"]
    items = read_text(tmp_path, "# C\n\n## ARTICLE 1\n\nUn.\n\n## Artikel 2\n\nZwei.\n", None, lang="fr")
    assert [(d.number, d.text) for d in items] == [("1", "Un.")]  # "## Artikel 2": a section heading


@pytest.mark.parametrize(
    ("words", "allowed"),
    [([], "at least 1 item"), ([""], "must match ^\\S+$"), (["Art 1"], "must match ^\\S+$")],
)
def test_article_words_validation(words, allowed):
    raw = {
        "model": {"name_or_path": "m"},
        "sources": [
            {
                "name": "m",
                "kind": "markdown",
                "path": "x",
                "lang": "de",
                "domain": "d",
                "article_words": words,
            }
        ],
    }
    with pytest.raises(ParamsError) as info:
        parse_params(raw)
    line = next(ln for ln in str(info.value).splitlines() if "article_words" in ln)
    assert line.strip().startswith("sources[m].article_words") and allowed in line, line
