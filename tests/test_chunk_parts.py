"""Ruling parts (УСТАНОВИЛ / РЕШИЛ markers) and the French / Russian sentence splitter used for cuts."""

from __future__ import annotations

import itertools

import pytest

from lexqa.boundaries import Level, find_breaks, split_sentences
from lexqa.chunk.parts import ruling_parts


def parts(text: str) -> list[tuple[str, str]]:
    return [(name, text[a:b].strip()) for a, b, name in ruling_parts(text)]


def test_parts_tile_the_text():
    text = "Дело № 1\n\nУСТАНОВИЛ:\n\nДоводы.\n\nПОСТАНОВИЛ:\n\nИтог."
    spans = ruling_parts(text)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize(
    ("reasoning", "operative"),
    [
        ("Суд установил:", "определил:"),  # arbitration courts, lower case
        ("УСТАНОВИЛА:", "ОПРЕДЕЛИЛА:"),  # a panel (коллегия), feminine
        ("У С Т А Н О В И Л :", "Р Е Ш И Л:"),  # spaced out, space before the colon
        ("установил:", "П О С Т А Н О В И Л :"),
        ("УСТАНОВИЛ:", "ПРИГОВОРИЛ:"),  # criminal verdict
        ("Суд установил следующее:", "решил:"),
        ("УСТАНОВИЛ", "ОПРЕДЕЛИЛ"),  # capitals without a colon
    ],
)
def test_marker_forms(reasoning, operative):
    text = f"Дело № А40-1/2014\n\n{reasoning}\n\nИстец обратился в суд.\n\n{operative}\n\nВ иске отказать."
    assert parts(text) == [
        ("header", "Дело № А40-1/2014"),
        ("reasoning", f"{reasoning}\n\nИстец обратился в суд."),
        ("operative", f"{operative}\n\nВ иске отказать."),
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Суды установили, что договор расторгнут.",  # plural, no colon: reasoning text
        "Коллегия не установила оснований для пересмотра.",
        "Суд первой инстанции постановил приговор.",
        "Ранее суд определил размер неустойки.",
        "Судья решила отложить заседание.",
    ],
)
def test_ordinary_uses_of_the_verbs_are_no_markers(sentence):
    assert parts(f"Дело № 1\n\n{sentence}") == [("text", f"Дело № 1\n\n{sentence}")]


def test_operative_part_starts_at_the_sentence_of_its_marker():
    text = (
        "Дело № А51-22876/2013. Суд установил: решением суда иск удовлетворен. Доводы не свидетельствуют о "
        "нарушениях. Учитывая изложенное и руководствуясь статьями 299, 301 АПК РФ, Суд ОПРЕДЕЛИЛ в передаче "
        "дела отказать."
    )
    names = parts(text)
    assert [n for n, _ in names] == ["header", "reasoning", "operative"]
    assert names[1][1].startswith("Суд установил: решением")
    assert names[2][1].startswith("Учитывая изложенное и руководствуясь")


def test_quoted_lower_court_decision_does_not_end_the_reasoning():
    text = (
        "Дело № 33-1/2025\n\nУСТАНОВИЛА:\n\nСуд первой инстанции решил: иск удовлетворить.\n\n"
        "Доводы жалобы несостоятельны.\n\nОПРЕДЕЛИЛА:\n\nрешение оставить без изменения."
    )
    assert parts(text)[2] == ("operative", "ОПРЕДЕЛИЛА:\n\nрешение оставить без изменения.")


def test_operative_without_reasoning_and_empty_header():
    assert parts("РЕШИЛ:\n\nИск удовлетворить.") == [("operative", "РЕШИЛ:\n\nИск удовлетворить.")]
    assert parts("Дело № 5\n\nПОСТАНОВИЛ:\n\nШтраф.") == [
        ("header", "Дело № 5"),
        ("operative", "ПОСТАНОВИЛ:\n\nШтраф."),
    ]
    assert ruling_parts("  \n ") == []


# ------------------------------------------------------------------------------------------- sentences
def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.mark.parametrize(
    "text",
    [
        "Selon l'art. 9 du code civil, chacun a droit au respect de sa vie privée.",
        "Voir al. 2 et n° 5 de la loi, cf. Art. L. 121-1 du code.",
        "M. Dupont et Mme Durand ont comparu devant la C. cass. le 3 mai.",
        "Согласно п. 2 ч. 1 ст. 12 ГК РФ истец вправе требовать.",
        "В 2014 г. Иванов И.И. обратился в суд, т.е. в пределах срока.",
        "Расходы на проезд, проживание и т.д. подлежат возмещению.",
        "Судья Кирейкова Г.Г. Рассмотрела заявление.",  # initials: no cut even before a capital
    ],
)
def test_abbreviations_do_not_end_sentences(text):
    assert sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Le juge statue. La cour confirme!", ["Le juge statue.", "La cour confirme!"]),
        ("Il dit « Non. » Puis il part.", ["Il dit « Non. »", "Puis il part."]),
        ("Суд отказал. 2. Истец обжаловал?", ["Суд отказал.", "2. Истец обжаловал?"]),
        ("Расходы на проезд и т.д. Суд их взыскал.", ["Расходы на проезд и т.д.", "Суд их взыскал."]),
        ("Voir l'article 12. Le contrat est nul.", ["Voir l'article 12.", "Le contrat est nul."]),
        (
            "1. Le contrat est nul.\n2. La partie est tenue.",
            ["1. Le contrat est nul.", "2. La partie est tenue."],
        ),
        ("Premier alinéa\n\nsecond alinéa", ["Premier alinéa", "second alinéa"]),
    ],
)
def test_sentence_ends(text, expected):
    assert sentences(text) == expected


def test_enumeration_label_at_line_start_is_no_sentence_end():
    text = "Sont nuls :\n1. Le contrat conclu sans cause.\nII. Les actes simulés."
    qs, _ = find_breaks(text, Level.SENTENCE)
    assert [text[:q] for q in qs] == ["Sont nuls :\n1. Le contrat conclu sans cause."]


def test_break_levels():
    text = "Titre\n\nUn. Deux trois.\nLigne | deux"
    assert find_breaks(text, Level.PARAGRAPH) == ([5], [7])
    assert find_breaks(text, Level.LINE) == ([5, 22], [7, 23])
    assert find_breaks(text, Level.SENTENCE) == ([10, 22], [11, 23])
    q, p = find_breaks(text, Level.WORD)
    assert all(text[a:b].isspace() for a, b in zip(q, p, strict=True)) and len(q) == 6
