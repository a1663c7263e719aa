"""Style ``ict`` of the offline backend: the Inverse Cloze Task (Lee, Chang and Toutanova, 2019), not an LLM.

The pseudo-question of a chunk is one of its own sentences, picked at random; with probability
``generate.ict.remove_probability`` (0.9 in the paper) the sentence is cut out of the passage, so the pair
teaches context matching rather than string matching. The question is a statement copied from the law, not a
question anyone would ask: use ICT to run the whole pipeline without any LLM (the bundled demo, CI) or as a
pre-training signal, and an LLM backend for real training data.

Sentences are those of :func:`lexqa.boundaries.split_sentences`, the splitter the chunk stage cuts with
(legal abbreviations, initials and enumeration labels do not end a sentence; a line break does). The
shortened passage is stored in the ``passage`` column of ``questions.parquet`` (null when the sentence was
kept, meaning the chunk text). Sentences shorter than ``min_sentence_chars`` or longer than
``max_sentence_chars`` are never picked, nor table rows (cells joined by `` | ``); a chunk with a single
sentence keeps it (removing it would leave an empty passage). Draws are seeded per chunk (``seed`` and chunk
id), so a chunk's questions do not depend on which other chunks are in the run::

    >>> from lexqa.config import IctParams
    >>> text = "Le bail est conclu pour trois ans au moins. Le locataire peut le résilier à tout moment."
    >>> ict_pairs("doc#0", text, n=1, params=IctParams(min_sentence_chars=20), seed=2)
    [('Le locataire peut le résilier à tout moment.', 'Le bail est conclu pour trois ans au moins.')]
"""

from __future__ import annotations

import random
import re

from lexqa.boundaries import split_sentences
from lexqa.config import IctParams


def _remove(text: str, start: int, end: int) -> str:
    """``text`` without ``text[start:end]``, joining what is left with the separator that was there."""
    before, after = text[:start].rstrip(" "), text[end:].lstrip(" ")
    if not before or before.endswith("\n") or not after or after.startswith("\n"):
        joined = before + after
    else:
        joined = before + " " + after
    return re.sub(r"\n{3,}", "\n\n", joined).strip()


def ict_pairs(chunk_id: str, text: str, n: int, params: IctParams, seed: int) -> list[tuple[str, str | None]]:
    """Up to ``n`` ``(pseudo-question, passage)`` pairs; passage None = the chunk text unchanged."""
    spans = split_sentences(text)
    eligible = [
        (a, b)
        for a, b in spans
        if params.min_sentence_chars <= b - a <= params.max_sentence_chars and " | " not in text[a:b]
    ]
    rng = random.Random(f"{seed}:{chunk_id}")
    picked = sorted(rng.sample(eligible, min(n, len(eligible))), key=eligible.index)
    pairs = []
    for a, b in picked:
        removable = len(spans) > 1
        remove = rng.random() < params.remove_probability
        pairs.append((" ".join(text[a:b].split()), _remove(text, a, b) if removable and remove else None))
    return pairs
