"""Table contracts of ``data/processed`` and atomic writers.

Each stage's table has a declared polars schema here; :func:`write_table` checks a frame against it (same columns,
same order, same dtypes) and writes it atomically (temp file in the same directory, fsync, rename), so a killed
stage never leaves a half-written file that the next stage trusts; the temp file a killed writer leaves behind
is removed by the next write of the same output (:func:`remove_stale_temp_files`)::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from lexqa.tables import REJECTS, empty, read_table, write_table
    >>> path = write_table(empty(REJECTS), Path(tempfile.mkdtemp()) / "rejects.parquet", REJECTS)
    >>> read_table(path, REJECTS).columns == list(REJECTS)
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

Schema = dict[str, pl.DataType]
log = logging.getLogger("lexqa")

DOCUMENTS: Schema = {
    "doc_id": pl.String(),  # "<source>:<native id>", unique in the table
    "source": pl.String(),  # source name from params.yaml
    "kind": pl.String(),  # legi_xml, legifrance_json, markdown, sudrf_html, arbitr_pdf, text, tabular
    "domain": pl.String(),
    "lang": pl.String(),  # detected language (ISO 639-1)
    "title": pl.String(),  # code title, or court + act type for rulings
    "path": pl.List(pl.String()),  # section hierarchy (code > livre > titre ...), [] for rulings
    "number": pl.String(),  # article number or case number; null when the source has none
    "date": pl.String(),  # ISO date: article version start, or ruling date
    "url": pl.String(),
    "origin": pl.String(),  # where it came from: file path, or "archive.tar.gz!member"
    "text": pl.String(),
    "meta": pl.String(),  # JSON object with kind-specific fields (state, dates, court, judge, ...)
    "sha256": pl.String(),  # of text
}

CHUNKS: Schema = {
    "chunk_id": pl.String(),  # "<doc_id>#<ordinal>"
    "doc_id": pl.String(),
    "ordinal": pl.Int32(),
    "text": pl.String(),
    "n_tokens": pl.Int32(),  # with the target model's tokenizer, special tokens excluded
    "char_start": pl.Int32(),  # offsets into documents.text
    "char_end": pl.Int32(),
    "heading": pl.String(),  # part of the document: article, header, reasoning, operative, ...
    "context": pl.String(),  # "code title > section > Article N" or "court, case No ..."
    "lang": pl.String(),
    "domain": pl.String(),
    "source": pl.String(),
}

QUESTIONS: Schema = {
    "question_id": pl.String(),  # "<chunk_id>:<style>:<k>"; for a failed request "<chunk_id>:<style>:failed"
    "chunk_id": pl.String(),
    "question": pl.String(),  # null when status != "ok"
    "style": pl.String(),  # layperson, practitioner, query, ... (from params)
    "backend": pl.String(),  # openai, openai-batch, ict
    "model": pl.String(),
    "prompt_sha": pl.String(),  # sha256 of the prompt template file
    "cache_key": pl.String(),  # content address of the request in the generation cache
    "prompt_tokens": pl.Int32(),  # usage of the request that produced the row (shared by its questions)
    "completion_tokens": pl.Int32(),
    "status": pl.String(),  # ok | failed
    "error": pl.String(),  # why it failed; null when ok
    "passage": pl.String(),  # ict: the chunk text without the question's sentence; null = the chunk text
}

REJECTS: Schema = {
    "stage": pl.String(),  # stage that dropped the row
    "source": pl.String(),  # source name, when known
    "origin": pl.String(),  # file path or archive member, or the id of the rejected row
    "reason": pl.String(),  # short stable code: malformed_xml, empty, wrong_language, duplicate, ...
    "detail": pl.String(),  # human message
    "duplicate_of": pl.String(),  # for duplicates: the id of the row that was kept
}

PAIRS: Schema = {
    "pair_id": pl.String(),  # one pair per kept question: its question_id
    "question_id": pl.String(),
    "chunk_id": pl.String(),
    "doc_id": pl.String(),
    "anchor": pl.String(),  # the question
    "positive": pl.String(),  # [context, blank line,] chunk text (ict: the passage without the sentence)
    "lang": pl.String(),
    "domain": pl.String(),
    "source": pl.String(),
    "style": pl.String(),
    "backend": pl.String(),
    "heading": pl.String(),
    "anchor_tokens": pl.Int32(),  # model tokenizer, special tokens excluded
    "positive_tokens": pl.Int32(),
    "cosine": pl.Float32(),  # base-model cosine of question and positive; null when no model filter ran
    "rank": pl.Int32(),  # round-trip rank of the chunk among all distinct chunks (1 = best); null when off
}

CURATE_REJECTS: Schema = {
    **REJECTS,  # origin: the question_id (or the chunk_id of a duplicate chunk)
    "level": pl.String(),  # question | chunk
    "chunk_id": pl.String(),
    "question": pl.String(),  # the rejected question's text; null for a chunk
    "score": pl.Float64(),  # the measured value the reason is about (tokens, ratio, cosine, rank, Jaccard)
}

SPLIT: Schema = {
    "pair_id": pl.String(),
    "question_id": pl.String(),
    "chunk_id": pl.String(),
    "group": pl.String(),  # document, section or case key, merged over near-duplicate positives
    "side": pl.String(),  # train | eval
}


def empty(schema: Schema) -> pl.DataFrame:
    """An empty frame with the schema."""
    return pl.DataFrame(schema=schema)


def frame(rows: Iterable[Mapping[str, Any]], schema: Schema) -> pl.DataFrame:
    """Build a frame from dict rows; missing keys become null, extra keys are an error."""
    rows = list(rows)
    for row in rows:
        extra = set(row) - set(schema)
        if extra:
            raise ValueError(f"columns not in the schema: {sorted(extra)}")
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else empty(schema)


def check_schema(df: pl.DataFrame, schema: Schema, name: str = "table") -> None:
    """Raise ``ValueError`` when ``df`` does not have exactly the declared columns, order and dtypes."""
    if list(df.columns) != list(schema):
        raise ValueError(f"{name}: columns {df.columns} differ from the contract {list(schema)}")
    wrong = [f"{c}: {df.schema[c]} != {t}" for c, t in schema.items() if df.schema[c] != t]
    if wrong:
        raise ValueError(f"{name}: wrong dtypes: {'; '.join(wrong)}")


STALE_AFTER_S = 24 * 3600.0
"""Age after which a temp file whose writer cannot be checked (another machine's, or one named before writers
were recorded in the name) counts as abandoned."""

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP_TAIL = re.compile(r"(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.)?[A-Za-z0-9_]{8}\.tmp")
"""What follows ``.<name>.`` in a temp file's name: its writer (absent in names made before it was recorded)
and tempfile's 8 random characters."""


def _temp_prefix(path: Path) -> str:
    """``.<name>.<host>-<pid>.``: the writer of a temp file is in its name (:func:`remove_stale_temp_files`)."""
    return f".{path.name}.{_HOST}-{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _abandoned(entry: Path, host: str | None, pid: str | None) -> bool:
    if host == _HOST and pid is not None:
        return not _alive(int(pid))
    try:  # another machine's writer (a shared folder), or a name without its writer: by age only
        return time.time() - entry.lstat().st_mtime > STALE_AFTER_S
    except FileNotFoundError:
        return False


def remove_stale_temp_files(path: str | Path) -> list[Path]:
    """Remove the temp files that killed writers of ``path`` left beside it (``.<name>.*.tmp``); return them.

    Called by every atomic write before it starts, so the next run of a stage removes its own leftovers.
    Only temp files of this very output are considered (another output's, another stage's, are never touched),
    and only abandoned ones: a temp file's name holds its writer's host and process id, and it is removed only
    when that process is gone. The pid, not the file's age, decides, because two runs may write at once: a run
    that removed every temp file older than itself would delete the file a slower, still-running run is
    writing, and that run's rename would fail. A reused pid only keeps a leftover until that process ends. A
    writer on another machine (a shared folder) cannot be checked, so its temp file, and one named before
    writers were recorded, is removed only after :data:`STALE_AFTER_S`.
    """
    path = Path(path)
    prefix, removed = f".{path.name}.", []
    with os.scandir(path.parent) as entries:
        for entry in entries:
            tail = entry.name.removeprefix(prefix) if entry.name.startswith(prefix) else None
            match = _TEMP_TAIL.fullmatch(tail) if tail else None
            if match and _abandoned(Path(entry.path), match["host"], match["pid"]):
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    if removed:
        log.info("removed %d temp file(s) left by killed writers of %s", len(removed), path)
    return removed


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed over ``path``. Temp files
    that killed writers of ``path`` left are removed first (:func:`remove_stale_temp_files`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private (0600); outputs are ordinary readable files
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_table(df: pl.DataFrame, path: str | Path, schema: Schema | None = None) -> Path:
    """Write ``df`` as parquet atomically, after checking it against ``schema`` when given."""
    if schema is not None:
        check_schema(df, schema, Path(path).name)
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd", statistics=True)
    return Path(path)


class TableWriter:
    """Write a parquet table part by part, for stages whose output should not be held in memory whole.

    Each part is checked against ``schema`` and becomes a row group; the file appears at ``path`` (fsynced,
    renamed over the old one, like :func:`write_table`) only when the block ends without an error, and holds an
    empty table of the schema when no part was written::

        with TableWriter("data/processed/documents.parquet", DOCUMENTS) as writer:
            for part in parts:
                writer.write(part)
        writer.rows      # rows written
    """

    def __init__(self, path: str | Path, schema: Schema) -> None:
        self.path, self.schema, self.rows = Path(path), schema, 0
        self._atomic = atomic_path(self.path)
        self._tmp: Path | None = None
        self._writer: Any = None

    def __enter__(self) -> TableWriter:
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, part: pl.DataFrame) -> None:
        check_schema(part, self.schema, self.path.name)
        table = part.to_arrow()
        if self._writer is None:
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += part.height

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            elif exc[0] is None:
                empty(self.schema).write_parquet(self._tmp, compression="zstd", statistics=True)
        except BaseException as failure:  # never rename a file that was not finished
            self._atomic.__exit__(type(failure), failure, failure.__traceback__)
            raise
        self._atomic.__exit__(*exc)


def write_text(text: str, path: str | Path) -> Path:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(obj: Any, path: str | Path) -> Path:
    """Write pretty JSON atomically (UTF-8, non-ASCII kept readable)."""
    return write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n", path)


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write JSON lines atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(path)


def read_json_objects(
    path: str | Path, reject: Callable[[str, str, str], None]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(origin, object)`` for each JSON-object line of a JSON-lines file, ``origin`` being ``path:line``.

    Blank lines are skipped; a line that is not JSON, or not an object, goes to ``reject(origin, "malformed_json",
    detail)`` and reading goes on.
    """
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            origin = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                reject(origin, "malformed_json", str(exc))
                continue
            if isinstance(row, dict):
                yield origin, row
            else:
                reject(origin, "malformed_json", "a line must be a JSON object")


def read_table(path: str | Path, schema: Schema | None = None) -> pl.DataFrame:
    """Read a parquet table, checking its schema when given (a clear error if an upstream stage changed it)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the stage that writes it first (dvc repro)")
    df = pl.read_parquet(path)
    if schema is not None:
        check_schema(df, schema, path.name)
    return df
