"""One home for language and legal-text knowledge (lexqa.languages): the table is complete and consistent, the
stages read it (params, prompts, context lines, stopwords, the judge, new-domain), ingest and chunk find the same
ruling markers, and chunk and the offline generators split sentences with one splitter."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import pytest

from lexqa import languages
from lexqa.boundaries import split_sentences
from lexqa.chunk.context import context
from lexqa.chunk.parts import ruling_parts
from lexqa.config import IctParams, MarkdownSource, SelfReferenceParams
from lexqa.curate.judge import parse_verdict
from lexqa.generate.ict import ict_pairs
from lexqa.generate.prompts import PromptTemplate
from lexqa.ingest.rulings import marker_kind
from lexqa.languages import TABLE
from lexqa.lexical import stopwords

SRC = Path(__file__).resolve().parents[1] / "src" / "lexqa"


@pytest.mark.parametrize("code", list(TABLE))
def test_every_entry_is_well_formed(code: str) -> None:
    from bm25s import stopwords as lists

    lang = TABLE[code]
    assert lang.code == code and re.fullmatch(r"[a-z]{2}", code) and lang.name[0].isupper()
    assert lang.article_words and lang.case_word
    assert all(a.endswith(".") and a == a.lower() for a in lang.abbreviations + lang.sentence_final)
    for pattern in lang.self_reference:
        re.compile(pattern)
    assert lang.stopwords is None or hasattr(lists, lang.stopwords)
    assert set(lang.answers.values()) <= {"yes", "no"}


def test_params_accept_exactly_the_languages_of_the_table() -> None:
    (codes,) = {typing.get_args(MarkdownSource.model_fields["lang"].annotation)}
    assert codes == languages.CODES == tuple(TABLE)
    assert SelfReferenceParams().patterns == languages.SELF_REFERENCE_PATTERNS
    assert set(languages.SELF_REFERENCE_PATTERNS) == {"fr", "ru", "en"}


def test_the_stages_read_names_words_and_stopwords_from_the_table() -> None:
    template = PromptTemplate.parse("---\nstyles: {query: q}\n---\nIn $language: $text", "t.md")
    assert template.render(text="x", context=None, lang="pl", slots=["query"]) == "In Polish: x\n"
    assert context("article", "uk", "Кодекс", [], "5") == "Кодекс > Стаття 5"
    assert context("ruling", "uk", "Суд", [], "1/2") == "Суд, справа № 1/2"
    assert context("article", "sv", "Lag", [], "5") == "Lag > Article 5"  # not in the table
    assert "le" in stopwords(("fr",)) and not stopwords(("pl",)) and not stopwords(("xx",))
    assert parse_verdict('{"a": "oui", "b": "нет", "c": true}', ["a", "b", "c"]) == [
        ("a", "yes"),
        ("b", "no"),
        ("c", "yes"),
    ]


def test_new_domain_imports_the_language_table_not_the_stages() -> None:
    tree = ast.parse((SRC / "new_domain.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert {m for m in imported if m.startswith("lexqa")} == {
        "lexqa.config",
        "lexqa.languages",
        "lexqa.tables",
    }


@pytest.mark.parametrize("verb", languages.REASONING_VERBS + languages.OPERATIVE_VERBS)
@pytest.mark.parametrize("ending", ["", *languages.VERB_ENDINGS])
def test_ingest_and_chunk_find_the_same_ruling_markers(verb: str, ending: str) -> None:
    kind = "reasoning" if verb in languages.REASONING_VERBS else "operative"
    marker = f"{verb}{ending}:".upper()
    assert marker_kind(marker) == kind
    other = "РЕШИЛ:" if kind == "reasoning" else "УСТАНОВИЛ:"
    first, second = (marker, other) if kind == "reasoning" else (other, marker)
    text = f"Дело № 1\n\n{first}\n\nТекст.\n\n{second}\n\nЕщё текст."
    assert [name for _, _, name in ruling_parts(text)] == ["header", "reasoning", "operative"]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        # a month (the offline generators' knowledge) and a year after it
        (
            "Signé le 1er janv. 2020. Le juge statue.",
            ["Signé le 1er janv. 2020.", "Le juge statue."],
        ),
        # an enumeration label stays with its item (the chunker's knowledge)
        ("Indicateurs :\n1. Période de référence", ["Indicateurs :", "1. Période de référence"]),
        ("Sont nuls : 2. Les actes passés.", ["Sont nuls : 2. Les actes passés."]),
        # a letter glued to what precedes it: depersonalised dates of sudrf rulings
        (
            "Приказом от <Дата обезличена>г. Иванов уволен. Суд отказал.",
            ["Приказом от <Дата обезличена>г. Иванов уволен.", "Суд отказал."],
        ),
        ("В рп. Новый прошёл суд. Иск отклонён.", ["В рп. Новый прошёл суд.", "Иск отклонён."]),
    ],
)
def test_one_sentence_splitter_for_chunks_and_offline_questions(text: str, sentences: list[str]) -> None:
    assert [text[a:b] for a, b in split_sentences(text)] == sentences
    picked = {
        q for i in range(40) for q, _ in ict_pairs(f"d#{i}", text, 2, IctParams(min_sentence_chars=5), 0)
    }
    assert picked == set(sentences)  # the ICT questions are those sentences, whole
