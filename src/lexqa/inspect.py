"""``lexqa inspect``: look at any parquet table of the pipeline from the terminal.

Prints the row count, the schema, length statistics of every text column and the first rows, one field per
line so long legal texts stay readable::

    $ lexqa inspect data/processed/chunks.parquet --n 3 --columns chunk_id,text --where "n_tokens > 200"
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import polars as pl


class InspectError(ValueError):
    """A user mistake in the inspect arguments (unknown column, bad expression)."""


def load(path: str | Path, columns: Sequence[str] | None = None, where: str | None = None) -> pl.DataFrame:
    """Read ``path`` lazily, filter with a SQL expression and project ``columns``."""
    path = Path(path)
    if not path.exists():
        raise InspectError(f"{path} does not exist")
    if path.suffix == ".parquet":
        lf = pl.scan_parquet(path)
    elif path.suffix in {".json", ".jsonl"}:
        lf = pl.scan_ndjson(path)
    else:
        raise InspectError(f"{path}: expected a .parquet or JSON-lines file")
    names = lf.collect_schema().names()
    if where:
        try:
            lf = lf.filter(pl.sql_expr(where))
        except Exception as exc:  # polars raises several error types for a bad expression
            raise InspectError(f"--where {where!r}: {exc}") from None
    if columns:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise InspectError(f"unknown columns {unknown}; the table has {names}")
        lf = lf.select(columns)
    try:
        return lf.collect()
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).strip().split("\n")[0]  # polars appends the query plan below
        raise InspectError(f"{path}: {f'--where {where!r}: ' if where else ''}{first_line}") from None


def text_stats(df: pl.DataFrame) -> pl.DataFrame:
    """Character-length statistics (min, mean, p50, p95, max) of every string column."""
    rows = []
    for name, dtype in df.schema.items():
        if dtype != pl.String:
            continue
        lengths = df.get_column(name).str.len_chars().drop_nulls()
        if lengths.is_empty():
            continue
        rows.append(
            {
                "column": name,
                "nulls": df.get_column(name).null_count(),
                "min": int(lengths.min()),  # type: ignore[arg-type]
                "mean": round(float(lengths.mean()), 1),  # type: ignore[arg-type]
                "p50": int(lengths.quantile(0.5)),  # type: ignore[arg-type]
                "p95": int(lengths.quantile(0.95)),  # type: ignore[arg-type]
                "max": int(lengths.max()),  # type: ignore[arg-type]
            }
        )
    return pl.DataFrame(rows)


def render_row(row: dict[str, object], width: int = 100, max_chars: int = 600) -> str:
    """One row as ``column: value`` lines, long values wrapped and cut at ``max_chars``."""
    key_width = max(len(k) for k in row)
    lines = []
    for key, value in row.items():
        text = str(value)
        if len(text) > max_chars:
            text = text[:max_chars] + f" … [{len(text):,} chars]"
        # Wrap each line of the value on its own, so paragraphs and table rows stay under their column.
        room = width - key_width - 2
        wrapped = [part for line in text.split("\n") for part in textwrap.wrap(line, width=room) or [""]]
        lines.append(f"{key:>{key_width}}: {wrapped[0]}")
        lines.extend((" " * (key_width + 2) + part).rstrip() for part in wrapped[1:])
    return "\n".join(lines)


def render(
    path: str | Path, n: int = 5, columns: Sequence[str] | None = None, where: str | None = None
) -> str:
    """The full inspect report as a string."""
    df = load(path, columns, where)
    out = [f"{path}: {df.height:,} rows" + (f" matching {where!r}" if where else "")]
    out.append("schema:")
    out.extend(f"  {name}: {dtype}" for name, dtype in df.schema.items())
    stats = text_stats(df)
    if stats.height:
        out.append("text lengths (characters):")
        with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, tbl_rows=50):
            out.append(textwrap.indent(str(stats), "  "))
    for i, row in enumerate(df.head(n).iter_rows(named=True)):
        out.append(f"--- row {i} ---")
        out.append(render_row(row))
    return "\n".join(out)
