"""Tabular sources → one document per row: JSON lines, CSV or parquet with configurable columns.

Formats, chosen by the file's suffix:

- ``.jsonl`` / ``.json``: JSON lines, one object per line (a ``.json`` file holding one array of objects is
  read too). A line that is not valid JSON, or not an object, is rejected alone (``malformed_row``).
- ``.csv``: UTF-8 with a header row; every value is read as a string (ids like ``007`` keep their zeros).
- ``.parquet``: any column types; id, text, title and number values are turned into strings.

Columns come from the source's params (``id_column``, ``text_column``, ``title_column``, ``number_column``,
``date_column``); every other column goes into ``meta``, with ``row`` (1-based row or line number).

Rejects: a configured column that the file lacks rejects the whole file (``missing_column``, naming the column
and the columns present); a file that cannot be parsed → ``malformed_file``; a file with no row →
``empty_file``; a row without an id → ``missing_id``. A row with empty text is passed on and the ingest stage
rejects it as ``empty``. A date value becomes ``Doc.date`` (ISO ``yyyy-mm-dd``) when it is a date or starts
with one, else it stays in meta as given. In a directory, files with other suffixes are rejected
(``unsupported_format``); ``README.*`` (a folder's description) and hidden files are skipped::

    >>> from lexqa.config import TabularSource
    >>> from lexqa.ingest.tabular import read
    >>> src = TabularSource(name="faq", kind="tabular", path="data/raw/sample/tabular/faq.jsonl", lang="fr",
    ...                     domain="fr_faq")
    >>> next(read(src)).native_id                                        # doctest: +SKIP
    'faq-01'
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from lexqa.config import TabularSource
from lexqa.ingest.records import Doc, Reject, iter_files

log = logging.getLogger("lexqa.ingest.tabular")

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")

Row = tuple[int, dict[str, Any]]  # (1-based row or line number, values by column)


def read(source: TabularSource) -> Iterator[Doc | Reject]:
    """Yield one :class:`Doc` per row of every table file of ``source``, or rejects."""
    for path in iter_files(source, "*"):
        if isinstance(path, Reject):
            yield path
            continue
        if path.name.lower().startswith(("readme", ".")):
            log.debug("%s: folder description or hidden file, skipped", path)
            continue
        if path.suffix.lower() not in SUFFIXES:
            yield Reject(str(path), "unsupported_format", f"expected one of {', '.join(SUFFIXES)}")
            continue
        yield from read_file(path, source)


def read_file(path: Path, source: TabularSource) -> Iterator[Doc | Reject]:
    """The documents of one table file."""
    origin = str(path)
    rows: list[Row] = []
    bad_rows: list[Reject] = []
    try:
        if path.suffix.lower() in (".jsonl", ".json"):
            for item in _json_rows(path):
                if isinstance(item, Reject):
                    bad_rows.append(item)
                else:
                    rows.append(item)
            present = list(dict.fromkeys(k for _, row in rows for k in row))
        else:
            csv = path.suffix.lower() == ".csv"
            df = pl.read_csv(path, infer_schema=False) if csv else pl.read_parquet(path)
            rows = list(enumerate(df.iter_rows(named=True), start=1))
            present = df.columns
    except (pl.exceptions.PolarsError, OSError, ValueError, RecursionError) as exc:
        reason = _short(exc)
        yield Reject(origin, "malformed_file", f"cannot read the {path.suffix} table: {reason}")
        return
    yield from bad_rows
    if not rows:
        if not bad_rows:
            yield Reject(origin, "empty_file", "no rows")
        return
    columns = {
        "id_column": source.id_column,
        "text_column": source.text_column,
        "title_column": source.title_column,
        "number_column": source.number_column,
        "date_column": source.date_column,
    }
    missing = [f"{key}={col!r}" for key, col in columns.items() if col is not None and col not in present]
    if missing:
        yield Reject(origin, "missing_column", f"{', '.join(missing)} not in the file; it has {present}")
        return
    used = {c for c in columns.values() if c is not None}
    for n, row in rows:
        yield _doc(source, origin, n, row, used)


def _doc(source: TabularSource, origin: str, n: int, row: dict[str, Any], used: set[str]) -> Doc | Reject:
    native_id = _string(row.get(source.id_column))
    if not native_id:
        return Reject(f"{origin}:{n}", "missing_id", f"row {n}: no value in id column {source.id_column!r}")
    meta = {k: _jsonable(v) for k, v in row.items() if k not in used}
    date = None
    if source.date_column and row.get(source.date_column) is not None:
        date = _iso_date(row[source.date_column])
        if date is None:
            meta[source.date_column] = _jsonable(row[source.date_column])  # kept as given: not an ISO date
    return Doc(
        native_id=native_id,
        text=_string(row.get(source.text_column)) or "",
        origin=origin,
        title=(_string(row.get(source.title_column)) if source.title_column else None) or "",
        number=_string(row.get(source.number_column)) if source.number_column else None,
        date=date,
        meta={**meta, "row": n},
        where=f"{'line' if Path(origin).suffix.lower() == '.jsonl' else 'row'} {n}",
    )


def _json_rows(path: Path) -> Iterator[Row | Reject]:
    """(row number, object) per JSON line, or a Reject for a line that is not a JSON object."""
    text = path.read_text(encoding="utf-8-sig")
    numbered: list[tuple[int, Any]] = []
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        numbered = list(enumerate(json.loads(text), start=1))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                yield Reject(f"{path}:{n}", "malformed_row", f"line {n}: not valid JSON ({exc.msg})")
            except (
                ValueError,
                RecursionError,
            ) as exc:  # an integer of over 4,300 digits, nesting past the stack
                yield Reject(
                    f"{path}:{n}", "malformed_row", f"line {n}: JSON Python cannot read ({_short(exc)})"
                )
    for n, item in numbered:
        if isinstance(item, dict):
            yield n, item
        else:
            kind = type(item).__name__
            yield Reject(f"{path}:{n}", "malformed_row", f"row {n}: a JSON {kind}, not an object")


def _short(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters."""
    message = " ".join(str(exc).split())
    return message if len(message) <= 300 else message[:299] + "…"


def _string(value: Any) -> str | None:
    if value is None:
        return None
    return value.strip() if isinstance(value, str) else str(value)


def _iso_date(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value.strip()):
        return value.strip()[:10]
    return None


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime | dt.time) else value
