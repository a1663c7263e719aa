"""How a chunk becomes the passage a model reads: the positive of a training pair, and the text of the
evaluation corpus (the same rule, so that the eval corpus holds what training saw). Shared by ``curate``
(pairs, round trip) and ``split`` (eval corpus).
"""

from __future__ import annotations

import polars as pl


def positive_text(context: str | None, text: str, with_context: bool) -> str:
    """The passage a question is paired with: ``context``, a blank line, ``text`` (or ``text`` alone).

    >>> positive_text("Code civil > Article 9", "Chacun a droit au respect de sa vie privée.", True)
    'Code civil > Article 9\\n\\nChacun a droit au respect de sa vie privée.'
    """
    return f"{context}\n\n{text}" if with_context and context else text


def positive_expr(column: str, with_context: bool) -> pl.Expr:
    """:func:`positive_text` as a polars expression over ``context`` and ``column``."""
    if not with_context:
        return pl.col(column)
    return (
        pl.when(pl.col("context").fill_null("") != "")
        .then(pl.concat_str([pl.col("context"), pl.lit("\n\n"), pl.col(column)]))
        .otherwise(pl.col(column))
    )
