"""Exact and near-duplicate detection of chunks and questions: vectorised MinHash LSH, exact verification.

Texts are normalised (NFKC, lower-cased, every run of non-alphanumeric characters read as one separator), cut
into shingles (word n-grams for passages, character n-grams for short questions) and hashed in bulk with numpy
over the code points of a whole batch at once. MinHash signatures (``a·h + b mod 2³²`` permutations, the
scheme of datasketch 2's ``affine32``) are banded for LSH; every candidate pair is then *verified with its
exact shingle Jaccard*, so the banding can be tuned for recall without letting false positives through. The
row kept in each cluster of duplicates is the first one in input order: callers order rows by priority.

Why not datasketch: ``benchmarks/dedup.py`` runs both on the same 200,000 chunks (see docs/curate.md for the
figures); datasketch hashes every shingle through Python and inserts signatures one by one.

    >>> from lexqa.dedup import exact_duplicates, near_duplicates
    >>> exact_duplicates(["Article 9.", "article  9", "Article 10"]).tolist()
    [0, 0, 2]
    >>> base = " ".join(f"mot{i}" for i in range(60))
    >>> dups = near_duplicates([base, base.replace("mot30", "autre"), "un texte sans rapport"], threshold=0.8)
    >>> dups.duplicate_of.tolist(), round(float(dups.similarity[1]), 2)
    ([0, 0, 2], 0.84)
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

Unit = Literal["word", "char"]

_U64 = np.uint64
_TOKEN_MUL = _U64(0x100000001B3)  # polynomial base over the code points of a word
_NGRAM_MUL = _U64(0x9E3779B97F4A7C15)  # polynomial base over the tokens of a shingle
_DOC_MULS = (_U64(0xC2B2AE3D27D4EB4F), _U64(0x165667B19E3779F9))  # two independent keys for exact matching
_SPACE_FLAG = 1 << 21  # above every code point: marks a character that starts a new word
_WORD_BIT = np.uint32(1 << 31)  # in the code point table: a letter or digit
_BATCH_CHARS = 1 << 20  # code points hashed at once: a batch's arrays stay in the CPU cache
_BLOCK_SHINGLES = 1 << 16  # shingles per MinHash block: the block stays in the CPU cache across permutations


@dataclass(frozen=True)
class Duplicates:
    """Result of a deduplication over ``n`` texts.

    ``duplicate_of[i]`` is the index of the text kept for ``i`` (``i`` itself when ``i`` is kept);
    ``similarity[i]`` is the shingle Jaccard between ``i`` and that text (1.0 for kept texts).
    """

    duplicate_of: np.ndarray
    similarity: np.ndarray

    @property
    def is_duplicate(self) -> np.ndarray:
        return self.duplicate_of != np.arange(len(self.duplicate_of))


@dataclass(frozen=True)
class Shingles:
    """Shingle hashes of ``n`` texts in CSR layout: text ``i`` owns ``hashes[offsets[i]:offsets[i + 1]]``."""

    hashes: np.ndarray  # uint32
    offsets: np.ndarray  # int64, length n + 1

    def of(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]


@cache
def _table() -> np.ndarray:
    """For every code point of the Basic Multilingual Plane: its lower-case form (itself when lowering gives
    several characters), with ``_WORD_BIT`` set for letters and digits."""
    chars = [chr(i) for i in range(0x10000)]
    lower = np.array([ord(c.lower()) if len(c.lower()) == 1 else ord(c) for c in chars], dtype=np.uint32)
    return lower | np.where([c.isalnum() for c in chars], _WORD_BIT, 0).astype(np.uint32)


def _mix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads polynomial hashes over all bits."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> _U64(33))
        x = x * _U64(0xFF51AFD7ED558CCD)
        x = x ^ (x >> _U64(33))
        x = x * _U64(0xC4CEB9FE1A85EC53)
        return x ^ (x >> _U64(33))


def _powers(base: np.uint64, length: int) -> np.ndarray:
    """``base**k mod 2**64`` for k in 0..length-1."""
    out = np.ones(length, dtype=_U64)
    with np.errstate(over="ignore"):
        np.cumprod(np.full(length - 1, base, dtype=_U64), out=out[1:])
    return out


@dataclass(frozen=True)
class _Tokens:
    """Tokens of a batch of texts in text order: one uint64 hash per word (or per character)."""

    values: np.ndarray  # uint64
    counts: np.ndarray  # int64, tokens per text


def _scan(texts: Sequence[str], count_chars: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """The word characters of the texts (NFKC, lower-cased) in order, whether each starts a word, and per text
    its number of words (and of word characters when asked). Characters beyond the BMP count as letters."""
    normal = [unicodedata.normalize("NFKC", t) for t in texts]
    cp = np.frombuffer(("\x00".join(normal) + "\x00").encode("utf-32-le"), dtype=np.uint32)
    table = _table()
    if cp.max(initial=0) > 0xFFFF:
        coded = np.where(cp > 0xFFFF, cp | _WORD_BIT, table[np.minimum(cp, 0xFFFF)])
    else:
        coded = table[cp]
    is_word = coded >= _WORD_BIT
    starts = is_word.copy()
    starts[1:] &= ~is_word[:-1]
    ends = np.cumsum([len(t) + 1 for t in normal], dtype=np.int64)  # one past each text's separator

    def per_text(flags: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(ends, np.flatnonzero(flags), side="right"), minlength=len(normal))

    chars = per_text(is_word) if count_chars else None
    return coded[is_word] & ~_WORD_BIT, starts[is_word], per_text(starts), chars


def _words(texts: Sequence[str]) -> _Tokens:
    """Hash every word (maximal run of letters and digits, lower-cased) of each text."""
    chars, first, words, _ = _scan(texts)
    index = np.arange(len(chars), dtype=np.int32)
    within = index - np.maximum.accumulate(np.where(first, index, 0))
    powers = _powers(_TOKEN_MUL, int(within.max(initial=0)) + 1)
    with np.errstate(over="ignore"):
        contrib = (chars.astype(_U64) + _U64(1)) * powers[within]
    values = np.add.reduceat(contrib, np.flatnonzero(first)) if len(chars) else np.zeros(0, dtype=_U64)
    return _Tokens(values, words)


def _chars(texts: Sequence[str]) -> _Tokens:
    """Every letter and digit of each text, lower-cased; the first one of each later word carries a flag, so
    that character n-grams see a word boundary as one separator whatever the spaces and punctuation were."""
    chars, first, _, counts = _scan(texts, count_chars=True)
    values = chars.astype(_U64)
    first[(np.cumsum(counts) - counts)[counts > 0]] = False
    values[first] += _U64(_SPACE_FLAG)
    return _Tokens(values, counts)


def _ngrams(tokens: _Tokens, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every run of ``n`` consecutive tokens inside a text; a text shorter than ``n`` tokens gives
    one shingle of all its tokens. Returns (uint32 hashes in text order, shingles per text)."""
    values, counts = tokens.values, tokens.counts
    ends = np.cumsum(counts)
    begins = ends - counts
    per_text = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
    with np.errstate(over="ignore"):
        # Texts with at least n tokens: every window, computed over the whole array and then masked.
        width = max(len(values) - n + 1, 0)
        acc = values[:width].copy()
        for k in range(1, n):
            acc *= _NGRAM_MUL
            acc += values[k : k + width]
        long_ = counts >= n
        marks = np.zeros(width + 1, dtype=np.int32)
        np.add.at(marks, begins[long_], 1)
        np.add.at(marks, ends[long_] - n + 1, -1)
        valid = np.cumsum(marks[:width]) > 0
        # Texts with 1..n-1 tokens: one shingle of all their tokens.
        short = np.flatnonzero((counts > 0) & (counts < n))
        short_acc = np.zeros(len(short), dtype=_U64)
        for k in range(n - 1):
            has = counts[short] > k
            short_acc[has] = short_acc[has] * _NGRAM_MUL + values[begins[short][has] + k]
    out = np.empty(int(per_text.sum()), dtype=_U64)
    is_short = np.zeros(len(out), dtype=bool)
    is_short[(np.cumsum(per_text) - per_text)[short]] = True
    out[is_short] = short_acc
    out[~is_short] = acc[valid]
    return (_mix64(out) >> _U64(32)).astype(np.uint32), per_text


def _batches(texts: Sequence[str]) -> list[slice]:
    """Slices of ``texts`` holding about ``_BATCH_CHARS`` characters each."""
    out, start, size = [], 0, 0
    for i, text in enumerate(texts):
        size += len(text) + 1
        if size >= _BATCH_CHARS:
            out.append(slice(start, i + 1))
            start, size = i + 1, 0
    if start < len(texts) or not out:
        out.append(slice(start, len(texts)))
    return out


def _map_batches(fn, texts: Sequence[str], threads: int | None) -> list:
    """``fn`` over the batches of ``texts``, in order, in ``threads`` threads."""
    parts = [texts[s] for s in _batches(texts)]
    workers = min(threads or os.cpu_count() or 1, len(parts))
    if workers <= 1:
        return [fn(p) for p in parts]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, parts))


def shingle(texts: Sequence[str], unit: Unit = "word", n: int = 5, threads: int | None = None) -> Shingles:
    """Hash the ``n``-gram shingles of every text (words for passages, characters for short questions).

    >>> s = shingle(["a b c d", "a b c d e", "x"], unit="word", n=3)
    >>> s.offsets.tolist()
    [0, 2, 5, 6]
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    tokenize = _words if unit == "word" else _chars
    parts = _map_batches(lambda batch: _ngrams(tokenize(batch), n), texts, threads)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.concatenate([p[1] for p in parts]), out=offsets[1:])
    return Shingles(np.concatenate([p[0] for p in parts]), offsets)


def exact_keys(texts: Sequence[str], threads: int | None = None) -> np.ndarray:
    """A 128-bit key per text (two uint64 columns), equal for texts with the same lower-cased words."""

    def keys(batch: Sequence[str]) -> np.ndarray:
        tokens = _words(batch)
        counts = tokens.counts
        within = np.arange(len(tokens.values)) - np.repeat(np.cumsum(counts) - counts, counts)
        out = np.zeros((len(batch), 2), dtype=_U64)
        nonempty = counts > 0
        if not nonempty.any():
            return out
        for col, mul in enumerate(_DOC_MULS):
            with np.errstate(over="ignore"):
                contrib = _mix64(tokens.values) * _powers(mul, int(within.max()) + 1)[within]
                sums = np.add.reduceat(contrib, (np.cumsum(counts) - counts)[nonempty])
                out[nonempty, col] = _mix64(sums + counts[nonempty].astype(_U64))
        return out

    parts = _map_batches(keys, texts, threads)
    return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=_U64)


def exact_duplicates(texts: Sequence[str], scope: Sequence[str] | None = None) -> np.ndarray:
    """For each text, the index of the first text with the same normalised words (itself if first); with
    ``scope``, only texts of the same scope (compared as given, not normalised) are duplicates.

    >>> exact_duplicates(["Congés payés", "congés payés", "Congés payés L1"], scope=["L1", "L2", ""]).tolist()
    [0, 1, 2]
    """
    keys = exact_keys(texts)
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    if scope is not None:
        codes = np.unique(np.asarray(scope, dtype=str), return_inverse=True)[1]
        keys = np.column_stack([keys, codes.ravel().astype(_U64)])
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return first[inverse.ravel()].astype(np.int64)


def lsh_bands(threshold: float, num_perm: int, target_recall: float = 0.99) -> tuple[int, int]:
    """(bands, rows) with ``bands * rows <= num_perm``: the most rows per band (fewest spurious candidates)
    such that a pair at exactly ``threshold`` Jaccard still becomes a candidate with probability
    ``target_recall``.

    >>> lsh_bands(0.8, 64)
    (12, 5)
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= target_recall:
            best = (bands, rows)
    return best


def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = (rng.integers(0, 2**32, num_perm, dtype=np.uint64) | 1).astype(np.uint32)
    b = rng.integers(0, 2**32, num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def minhash(shingles: Shingles, num_perm: int = 64, seed: int = 0, threads: int | None = None) -> np.ndarray:
    """MinHash signatures, shape (n, num_perm) uint32; a text without shingles gets the all-max signature.

    Shingles are processed in cache-sized blocks of whole texts; blocks run in ``threads`` threads (numpy
    releases the GIL inside its loops).
    """
    a, b = _permutations(num_perm, seed)
    n = len(shingles.offsets) - 1
    sig = np.full((n, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    docs = np.flatnonzero(np.diff(shingles.offsets) > 0)
    if not len(docs):
        return sig
    # Blocks of consecutive non-empty texts whose shingles start in the same window of _BLOCK_SHINGLES.
    window = shingles.offsets[docs] // _BLOCK_SHINGLES
    blocks = np.split(docs, np.flatnonzero(np.diff(window)) + 1)

    def run(block: np.ndarray) -> None:
        lo, hi = shingles.offsets[block[0]], shingles.offsets[block[-1] + 1]
        values = shingles.hashes[lo:hi]
        starts = shingles.offsets[block] - lo
        tmp = np.empty_like(values)
        out = np.empty((len(block), num_perm), dtype=np.uint32)
        for k in range(num_perm):
            np.multiply(values, a[k], out=tmp)
            np.add(tmp, b[k], out=tmp)
            out[:, k] = np.minimum.reduceat(tmp, starts)
        sig[block] = out

    workers = threads or os.cpu_count() or 1
    if workers == 1 or len(blocks) == 1:
        for block in blocks:
            run(block)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, blocks))
    return sig


def candidate_pairs(sig: np.ndarray, bands: int, rows: int, valid: np.ndarray | None = None) -> np.ndarray:
    """Pairs (i, j), i < j, that share at least one LSH band; each band links every member of a bucket to the
    bucket's first member. ``valid`` masks out texts (e.g. empty ones) that must never be candidates."""
    n = len(sig)
    idx = np.arange(n) if valid is None else np.flatnonzero(valid)
    found = []
    rng = np.random.default_rng(12345)
    for band in range(bands):
        cols = sig[idx, band * rows : (band + 1) * rows].astype(_U64)
        muls = rng.integers(1, 2**63, rows, dtype=np.uint64) | _U64(1)
        with np.errstate(over="ignore"):
            keys = _mix64((cols * muls).sum(axis=1, dtype=_U64))
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        same = np.zeros(len(order), dtype=bool)
        same[1:] = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            continue
        run_start = np.maximum.accumulate(np.where(same, 0, np.arange(len(order))))
        members = np.flatnonzero(same)
        found.append(np.stack([idx[order[run_start[members]]], idx[order[members]]], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0).astype(np.int64)


def jaccard(shingles: Shingles, pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the shingle sets of each pair."""
    out = np.empty(len(pairs), dtype=np.float64)
    sets: dict[int, np.ndarray] = {}

    def get(i: int) -> np.ndarray:
        if i not in sets:
            sets[i] = np.unique(shingles.of(i))
        return sets[i]

    for row, (i, j) in enumerate(pairs.tolist()):
        x, y = get(i), get(j)
        inter = len(np.intersect1d(x, y, assume_unique=True))
        union = len(x) + len(y) - inter
        out[row] = inter / union if union else 1.0
    return out


def near_duplicates(
    texts: Sequence[str],
    threshold: float = 0.8,
    unit: Unit = "word",
    ngram: int = 5,
    num_perm: int = 64,
    seed: int = 0,
    threads: int | None = None,
) -> Duplicates:
    """Clusters of texts whose shingle Jaccard is at least ``threshold`` (linked transitively); the first text
    of each cluster is kept. Texts without any shingle are never near-duplicates (:func:`exact_duplicates`
    handles them)."""
    n = len(texts)
    shingles = shingle(texts, unit=unit, n=ngram)
    sig = minhash(shingles, num_perm=num_perm, seed=seed, threads=threads)
    bands, rows = lsh_bands(threshold, num_perm)
    pairs = candidate_pairs(sig, bands, rows, valid=np.diff(shingles.offsets) > 0)
    sims = jaccard(shingles, pairs)
    edges = pairs[sims >= threshold]
    keep_of = np.arange(n, dtype=np.int64)
    similarity = np.ones(n, dtype=np.float64)
    if len(edges):
        graph = coo_array((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        first = np.full(labels.max() + 1, n, dtype=np.int64)
        np.minimum.at(first, labels, np.arange(n))
        keep_of = first[labels]
        dup = np.flatnonzero(keep_of != np.arange(n))
        similarity[dup] = jaccard(shingles, np.stack([keep_of[dup], dup], axis=1))
    return Duplicates(keep_of, similarity)
