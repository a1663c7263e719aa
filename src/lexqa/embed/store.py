"""The vectors of one model, content-addressed, in one SQLite file.

A row is ``(key, vector, check)``: ``key`` is 16 bytes of SHA-256 over the prompt, the max sequence length and
the text (:func:`text_key`); ``vector`` the L2-normalised float32 embedding at the model's full dimension;
``check`` a CRC-32 of key and vector. One file per model fingerprint (:mod:`lexqa.embed.fingerprint`), so a
model's vectors are never served for another model. Why SQLite (measured in ``benchmarks/embedding_store.py``,
reasons in docs/decisions.md):

- a commit is atomic (WAL journal): a process killed mid-write leaves the rows of earlier commits and nothing
  of the torn one; the CRC catches what SQLite cannot (a row damaged on disk), and such a row is never served;
- several processes may read and write at once (DDP ranks, parallel ``dvc exp`` runs): writers take turns
  (busy timeout), ``INSERT OR IGNORE`` on the key keeps one copy of a vector two of them wrote;
- look-ups go through the key's B-tree: a million 768-d vectors (3 GB) never need to be in memory.

A damaged file (not a database, or malformed pages) is moved aside with a warning and a new one started, so
its vectors are encoded again; a full disk raises :class:`CacheFullError` and the file stays readable::

    >>> import tempfile, numpy as np
    >>> store = VectorStore(tempfile.mkdtemp() + "/demo.sqlite", fingerprint="0" * 64, name="demo")
    >>> key = text_key("query: ", 256, "démission préavis")
    >>> store.put([key], np.array([[0.6, 0.8]], dtype=np.float32))
    >>> store.get([key])[key].tolist()
    [0.6000000238418579, 0.800000011920929]
    >>> store.get([text_key("", 256, "an unseen text")])
    {}
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lexqa.errors import CacheFullError

log = logging.getLogger("lexqa.embed")

FORMAT = 1
"""Bumped when the row layout changes; a file of another format is set aside like a damaged one."""

_IN = 500
"""Keys per ``SELECT ... IN (...)`` (below SQLite's bound on host parameters)."""

_PAGE = 16384
"""Page size of new files: a 768-d vector (3 KB) fits in one page (writes 1.4x faster than 4 KB pages)."""

_CACHE_KIB = 65_536
"""SQLite's page cache per connection (allocated as used): the key index of a million vectors (~35 MB) stays
in memory, so inserts and look-ups at random keys do not go back to the file for index pages."""

_BUSY_MS = 120_000
"""How long a writer waits for another process's write to end before giving up."""


def text_key(prompt: str, max_seq_length: int, text: str) -> bytes:
    """The row key of ``text`` encoded with ``prompt`` and truncated at ``max_seq_length`` tokens.

    >>> len(text_key("query: ", 512, "congés payés"))
    16
    """
    return hashlib.sha256(f"{prompt}\0{max_seq_length}\0{text}".encode()).digest()[:16]


def _check(key: bytes, blob: bytes) -> int:
    return zlib.crc32(blob, zlib.crc32(key))


class VectorStore:
    """Vectors of one model in ``path``; ``get`` returns what is there and intact, ``put`` adds new ones."""

    def __init__(self, path: str | Path, fingerprint: str, name: str, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.name = name
        self.max_bytes = max_bytes
        self.discarded = 0
        """Rows found damaged (CRC or length) and not served."""
        self._db: sqlite3.Connection | None = None

    # ---------------------------------------------------------------------------------------- connection
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if _is_full(exc):
                raise self._full(exc) from None
            self._set_aside(exc)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=_BUSY_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            db.execute(f"PRAGMA page_size = {_PAGE}")  # a new file only: fewer overflow pages per vector
            db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            if self.max_bytes:
                page = db.execute("PRAGMA page_size").fetchone()[0]
                db.execute(f"PRAGMA max_page_count = {max(1, self.max_bytes // page)}")
            with _transaction(db):
                db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS vectors "
                    "(key BLOB PRIMARY KEY, vector BLOB NOT NULL, crc INTEGER NOT NULL, created REAL NOT NULL)"
                )
                now = repr(time.time())
                meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
                if meta.get("format", str(FORMAT)) != str(FORMAT):
                    raise sqlite3.DatabaseError(f"format {meta['format']}, expected {FORMAT}")
                if meta.get("fingerprint", self.fingerprint) != self.fingerprint:
                    raise sqlite3.DatabaseError(f"holds the vectors of model {meta['fingerprint'][:12]}")
                names = json.loads(meta.get("names", "[]"))
                fresh = {
                    "format": str(FORMAT),
                    "fingerprint": self.fingerprint,
                    "created": meta.get("created", now),
                    "last_used": now,
                    "names": json.dumps(sorted({*names, self.name})),
                }
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", fresh.items())
        except BaseException:
            db.close()
            raise
        return db

    def _set_aside(self, exc: BaseException) -> None:
        """Move a damaged file (and its WAL) out of the way; its vectors will be encoded again."""
        if self._db is not None:
            self._db.close()
            self._db = None
        aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}-{os.getpid()}")
        log.warning(
            "embedding cache %s is damaged (%s): moved to %s, its vectors will be encoded again",
            self.path,
            exc,
            aside.name,
        )
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                src.replace(Path(f"{aside}{suffix}"))

    def _full(self, exc: BaseException) -> CacheFullError:
        where = self.path.parent
        try:
            free = os.statvfs(where).f_bavail * os.statvfs(where).f_frsize
            free_note = f"{free / 2**20:,.0f} MiB free there"
        except OSError:
            free_note = "free space unknown"
        limit = f", limit {self.max_bytes:,} bytes" if self.max_bytes else ""
        return CacheFullError(
            f"the embedding cache {self.path} could not grow ({exc}; {free_note}{limit}): free some space, "
            "prune it with `lexqa cache prune`, or run without it (embed.cache: false); what it held is intact"
        )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---------------------------------------------------------------------------------------- rows
    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The intact vectors of ``keys`` that are stored; damaged rows are deleted and left out."""
        try:
            return self._get(keys)
        except sqlite3.DatabaseError as exc:
            if _is_full(exc):
                raise self._full(exc) from None
            self._set_aside(exc)
            return {}

    def _get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        bad: list[bytes] = []
        unique = list(dict.fromkeys(keys))
        for lo in range(0, len(unique), _IN):
            block = unique[lo : lo + _IN]
            marks = ",".join("?" * len(block))
            rows = self.db.execute(f"SELECT key, vector, crc FROM vectors WHERE key IN ({marks})", block)
            for key, blob, crc in rows:
                if _check(key, blob) != crc or len(blob) % 4:
                    bad.append(key)
                    continue
                found[key] = np.frombuffer(blob, dtype=np.float32)
        if bad:
            self.discarded += len(bad)
            log.warning(
                "embedding cache %s: %d damaged vector(s) (checksum mismatch) not served; encoding them again",
                self.path,
                len(bad),
            )
            with _transaction(self.db):
                self.db.executemany("DELETE FROM vectors WHERE key = ?", [(k,) for k in bad])
        return found

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store ``vectors[i]`` under ``keys[i]`` in one transaction; keys already present are kept as they are."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        now = time.time()
        rows = []
        for key, vector in zip(keys, vectors, strict=True):
            blob = vector.tobytes()
            rows.append((key, blob, _check(key, blob), now))
        for attempt in range(2):
            try:
                with _transaction(self.db):
                    self.db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?, ?)", rows)
                return
            except sqlite3.DatabaseError as exc:
                if _is_full(exc):
                    raise self._full(exc) from None
                if attempt:
                    raise
                self._set_aside(exc)  # then write them to a new file

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM vectors").fetchone()[0]


class MemoryStore:
    """The same interface, in memory, for one process: what ``embed.cache: false`` uses (each text is still
    encoded once per stage)."""

    def __init__(self) -> None:
        self.rows: dict[bytes, np.ndarray] = {}
        self.discarded = 0

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        return {k: self.rows[k] for k in keys if k in self.rows}

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        for key, vector in zip(keys, np.asarray(vectors, dtype=np.float32), strict=True):
            self.rows.setdefault(key, vector.copy())

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self.rows)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error (the connection is in autocommit mode)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _is_full(exc: BaseException) -> bool:
    return getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(exc)
