"""Language detection restricted to the languages in play, and naming a language outside them.

We use lingua-language-detector rather than langdetect: restricted to the few languages a run declares it is
deterministic without seeding, reads short Russian questions correctly (langdetect often says mk/bg), and was
about 60x faster in our check (see docs/decisions.md)::

    >>> from lexqa.lang import LanguageDetector, identify
    >>> det = LanguageDetector(["fr", "ru"])
    >>> det.detect("Quelles sont les conditions de la prescription acquisitive ?")
    ('fr', 1.0)

A restricted detector can only answer with a language in play: German text among French (and English, the
second language lingua needs) reads as English. :func:`identify` names the language among all 75 that lingua
knows, for messages such as the ``wrong_language`` reject's::

    >>> lang, confidence = identify("Jede Person hat das Recht auf Achtung ihres Privat- und Familienlebens.")
    >>> lang, round(confidence, 2)
    ('de', 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

_SAMPLE_CHARS = 2000  # the first characters decide; whole documents add time, not accuracy


@cache
def _build(codes: tuple[str, ...]):
    langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in codes]
    if len(langs) == 1:  # lingua needs two candidates; English is a harmless second
        langs.append(Language.ENGLISH if langs[0] != Language.ENGLISH else Language.FRENCH)
    return LanguageDetectorBuilder.from_languages(*langs).with_preloaded_language_models().build()


class LanguageDetector:
    """Detects the language of texts among ``codes`` (ISO 639-1) and returns (code, confidence)."""

    def __init__(self, codes: Iterable[str]) -> None:
        self.codes = tuple(sorted(set(codes)))
        self._detector = _build(self.codes)

    def detect(self, text: str) -> tuple[str | None, float]:
        """The most likely language and its confidence in [0, 1]; (None, 0.0) for text with no letters or in
        none of the languages in play."""
        sample = text[:_SAMPLE_CHARS]
        if not any(ch.isalpha() for ch in sample):
            return None, 0.0
        return _best(self._detector.compute_language_confidence_values(sample))

    def detect_many(self, texts: Sequence[str]) -> list[tuple[str | None, float]]:
        """Detect a batch in parallel threads (lingua releases the GIL)."""
        samples = [t[:_SAMPLE_CHARS] for t in texts]
        results = self._detector.compute_language_confidence_values_in_parallel(samples)
        return [
            _best(values) if any(ch.isalpha() for ch in sample) else (None, 0.0)
            for sample, values in zip(samples, results, strict=True)
        ]


@cache
def _naming_detector():
    """Every language lingua knows, in low-accuracy mode (trigram models only: about 70 MB, milliseconds a text
    once loaded), built on first use: only documents that are rejected are named."""
    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def identify(text: str) -> tuple[str | None, float]:
    """The language of ``text`` among every language lingua knows, and its confidence; (None, 0.0) without
    letters. Low-accuracy mode is reliable from about 60 characters (a short Russian sentence may read as
    Ukrainian): use it to name a language in a message, not to decide what is kept."""
    sample = text[:_SAMPLE_CHARS]
    if not any(ch.isalpha() for ch in sample):
        return None, 0.0
    return _best(_naming_detector().compute_language_confidence_values(sample))


def _best(values: list) -> tuple[str | None, float]:
    """The top (code, confidence); (None, 0.0) when no language in play fits (e.g. Greek among fr, ru)."""
    if not values or values[0].value <= 0:
        return None, 0.0
    return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)
