"""Decode raw bytes to text, deciding the encoding from the bytes themselves.

Court sites declare an encoding in ``<meta>`` that is often wrong (the sudrf samples declare windows-1251 and
are UTF-8; pages fetched from the sites are windows-1251), so a declaration is never trusted. The order is:

1. a byte-order mark (UTF-8, UTF-16, UTF-32) decides;
2. binary content (a NUL byte, or more than 1% of control characters) raises :class:`BinaryContentError`;
3. strict UTF-8: windows-1251 Cyrillic is almost never valid UTF-8, so a clean decode is UTF-8;
4. otherwise charset-normalizer chooses among the 8-bit encodings that legal texts in our languages use
   (:data:`CANDIDATES`), without looking at declarations in the content.

Readers turn an :class:`EncodingError` into a ``Reject`` with ``exc.reason`` as the reason code::

    >>> from lexqa.ingest.encoding import decode
    >>> decode("Суд установил: иск удовлетворить.".encode("cp1251")).encoding
    'cp1251'
    >>> decode(b"\\xef\\xbb\\xbfplain").text
    'plain'
    >>> decode(b"%PDF\\x00\\x01\\x02")
    Traceback (most recent call last):
    ...
    lexqa.ingest.encoding.BinaryContentError: binary content: 3 NUL or control bytes in the first 7 bytes
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from charset_normalizer import from_bytes

__all__ = ["CANDIDATES", "BinaryContentError", "Decoded", "EncodingError", "UndecodableError", "decode"]

CANDIDATES: tuple[str, ...] = (
    "cp1251",  # Windows Cyrillic: sudrf pages, most Russian documents
    "koi8_r",
    "cp866",
    "iso8859_5",
    "mac_cyrillic",
    "cp1252",  # Windows Western: French documents
    "iso8859_15",
    "latin_1",
)
"""8-bit encodings charset-normalizer may choose from once strict UTF-8 has failed."""

_BOMS: tuple[tuple[bytes, str], ...] = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\f\v") + b"\x7f"
_SAMPLE = 1 << 16  # bytes inspected for binary content
MAX_CONTROL_SHARE = 0.01


class EncodingError(ValueError):
    """Bytes that cannot be turned into text; ``reason`` is the reject code."""

    reason = "undecodable"


class BinaryContentError(EncodingError):
    """NUL bytes or many control characters: not a text file, whatever its name says."""

    reason = "binary_content"


class UndecodableError(EncodingError):
    """Neither UTF-8 nor any of the candidate encodings gives plausible text."""

    reason = "undecodable"


@dataclass(frozen=True, slots=True)
class Decoded:
    """Decoded text and the encoding it was read with (a Python codec name)."""

    text: str
    encoding: str


def _check_binary(data: bytes) -> None:
    sample = data[:_SAMPLE]
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    if b"\x00" in sample or controls > MAX_CONTROL_SHARE * len(sample):
        raise BinaryContentError(
            f"binary content: {controls} NUL or control bytes in the first {len(sample)} bytes"
        )


def decode(data: bytes, candidates: tuple[str, ...] = CANDIDATES) -> Decoded:
    """Decode ``data``: BOM, then strict UTF-8, then the best of ``candidates`` by charset-normalizer.

    Raises :class:`BinaryContentError` for binary content and :class:`UndecodableError` when nothing fits.
    Empty input decodes to ``""`` (readers reject empty files before calling this).

    >>> decode("Décision du juge".encode("cp1252")).text
    'Décision du juge'
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(data.decode(codec), codec)
            except UnicodeDecodeError as exc:
                raise UndecodableError(f"invalid {codec} after a {codec} byte-order mark: {exc}") from None
    _check_binary(data)
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    # The few control bytes the binary check tolerates (an ESC, a stray \x01) would count as "mess" for
    # charset-normalizer: choose the encoding without them, then decode everything with it.
    sample = data.translate(None, _CONTROL)
    match = from_bytes(sample, cp_isolation=list(candidates), preemptive_behaviour=False).best()
    if match is None:
        raise UndecodableError(f"neither UTF-8 nor any of {', '.join(candidates)} decodes these bytes")
    try:
        return Decoded(data.decode(match.encoding), match.encoding)
    except UnicodeDecodeError as exc:  # a byte the encoding lacks, outside the chunks charset-normalizer read
        raise UndecodableError(f"{match.encoding}: {exc}") from None
