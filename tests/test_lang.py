"""Language detection restricted to the languages in play: short questions, long texts, no letters."""

from __future__ import annotations

import pytest

from lexqa.lang import LanguageDetector

FR_QUESTIONS = [
    "Quel est le délai de prescription ?",
    "Qui peut demander une parcelle ?",
    "Le bail peut-il être résilié ?",
    "Droit de rétractation : combien de jours ?",
]
RU_QUESTIONS = [  # short Russian questions are what langdetect misreads as mk/bg
    "Что такое аренда?",
    "Кто платит госпошлину?",
    "Срок исковой давности?",
    "Можно ли обжаловать решение суда?",
]
FR_LONG = (
    "Les lois et, lorsqu'ils sont publiés au Journal officiel de la République française, les actes "
    "administratifs entrent en vigueur à la date qu'ils fixent ou, à défaut, le lendemain de leur "
    "publication. "
) * 40
RU_LONG = (
    "Суд, исследовав материалы дела, выслушав объяснения сторон, пришёл к выводу о том, что исковые "
    "требования подлежат частичному удовлетворению по следующим основаниям. "
) * 40


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(["ru", "fr", "fr"])


def test_codes_are_deduplicated_and_sorted(detector):
    assert detector.codes == ("fr", "ru")


@pytest.mark.parametrize(
    ("text", "lang"), [(q, "fr") for q in FR_QUESTIONS] + [(q, "ru") for q in RU_QUESTIONS]
)
def test_short_questions(detector, text, lang):
    found, confidence = detector.detect(text)
    assert found == lang and confidence >= 0.5


def test_long_texts_and_mixed_references(detector):
    assert detector.detect(FR_LONG) == ("fr", pytest.approx(1.0, abs=0.01))
    assert detector.detect(RU_LONG)[0] == "ru"
    # A Russian ruling citing a French statute stays Russian; a French text quoting a Russian court, French.
    assert detector.detect(RU_LONG[:600] + " Code civil, article 1240.")[0] == "ru"
    assert detector.detect(FR_LONG[:600] + " (Верховный суд)")[0] == "fr"


@pytest.mark.parametrize("text", ["", "   ", "12.03.2024 — 15:30", "№ 2-1234/2024", "§ 3 (1) — 4.5 %"])
def test_texts_without_letters(detector, text):
    assert detector.detect(text) == (None, 0.0)


def test_detect_many_matches_detect(detector):
    texts = [FR_QUESTIONS[0], RU_QUESTIONS[0], "2024-01-01", FR_LONG, RU_LONG]
    assert detector.detect_many(texts) == [detector.detect(t) for t in texts]
    assert [lang for lang, _ in detector.detect_many(texts)] == ["fr", "ru", None, "fr", "ru"]
    assert detector.detect_many([]) == []


def test_single_language_detector_can_still_say_no():
    french_only = LanguageDetector(["fr"])
    assert french_only.detect(FR_QUESTIONS[1])[0] == "fr"
    assert french_only.detect("What is the limitation period for a contract claim?")[0] == "en"


def test_detection_is_deterministic(detector):
    results = {detector.detect(RU_QUESTIONS[2]) for _ in range(5)}
    assert len(results) == 1
