"""Table contracts and atomic writers: schema checks, no half-written files, JSON and JSON-lines output."""

from __future__ import annotations

import json
import stat

import polars as pl
import pytest

from lexqa.tables import (
    CHUNKS,
    DOCUMENTS,
    REJECTS,
    TableWriter,
    atomic_path,
    check_schema,
    empty,
    frame,
    read_table,
    write_json,
    write_jsonl,
    write_table,
    write_text,
)

REJECT_ROW = {"stage": "ingest", "source": "s", "origin": "a.md", "reason": "empty", "detail": "0 characters"}


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_frame_fills_missing_columns_and_refuses_unknown_ones():
    df = frame([REJECT_ROW], REJECTS)
    assert df.columns == list(REJECTS) and df.row(0, named=True)["duplicate_of"] is None
    with pytest.raises(ValueError, match=r"columns not in the schema: \['typo'\]"):
        frame([{**REJECT_ROW, "typo": 1}], REJECTS)
    assert frame([], DOCUMENTS).schema == pl.Schema(DOCUMENTS)


def test_schema_check_names_what_differs():
    good = empty(CHUNKS)
    check_schema(good, CHUNKS)
    with pytest.raises(ValueError, match=r"chunks: columns .* differ from the contract"):
        check_schema(good.drop("heading"), CHUNKS, "chunks")
    with pytest.raises(ValueError, match="differ from the contract"):
        check_schema(good.select(list(reversed(CHUNKS))), CHUNKS)
    with pytest.raises(ValueError, match=r"wrong dtypes: n_tokens: Int64 != Int32"):
        check_schema(good.with_columns(pl.col("n_tokens").cast(pl.Int64)), CHUNKS)


def test_every_contract_round_trips_through_parquet(tmp_path):
    for name, schema in [("documents", DOCUMENTS), ("chunks", CHUNKS), ("rejects", REJECTS)]:
        path = write_table(empty(schema), tmp_path / f"{name}.parquet", schema)
        assert read_table(path, schema).schema == pl.Schema(schema)


def test_write_table_refuses_a_frame_off_contract_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="differ from the contract"):
        write_table(pl.DataFrame({"stage": ["x"]}), tmp_path / "r.parquet", REJECTS)
    assert list(tmp_path.iterdir()) == []


def test_read_table_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run the stage that writes it first \(dvc repro\)"):
        read_table(tmp_path / "missing.parquet")
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "old.parquet")
    with pytest.raises(ValueError, match=r"old.parquet: columns \['a'\] differ"):
        read_table(tmp_path / "old.parquet", REJECTS)


def test_failure_mid_write_keeps_the_previous_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "rejects.parquet"
    write_table(frame([REJECT_ROW], REJECTS), path, REJECTS)
    before = path.read_bytes()

    def crash(self, file, **kwargs):
        with open(file, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        write_table(frame([REJECT_ROW, REJECT_ROW], REJECTS), path, REJECTS)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert read_table(path, REJECTS).height == 1


def test_interrupted_atomic_path_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "x.json"  # parent created on demand
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("partial", encoding="utf-8")
        raise KeyboardInterrupt
    assert not target.exists() and leftovers(target.parent) == []


def test_written_files_are_readable_by_others(tmp_path):
    path = write_text("x", tmp_path / "a.txt")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_json_is_pretty_utf8_and_atomic(tmp_path):
    obj = {"stage": "ingest", "rejects_by_reason": {"wrong_language": 2}, "title": "Code civil — article 9"}
    path = write_json(obj, tmp_path / "summary.json")
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == obj
    assert "Code civil — article 9" in text and text.endswith("}\n") and '\n  "stage"' in text
    write_json({"stage": "again"}, path)
    assert json.loads(path.read_text(encoding="utf-8")) == {"stage": "again"}
    assert leftovers(tmp_path) == []


def test_write_jsonl_keeps_key_order_and_unicode(tmp_path):
    rows = [
        {"anchor": "Что такое аренда?", "positive": "Статья 606."},
        {"anchor": "Qu'est-ce ?", "positive": "Art."},
    ]
    path = write_jsonl(iter(rows), tmp_path / "train.json")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows
    assert lines[0].startswith('{"anchor": "Что такое') and list(json.loads(lines[1])) == [
        "anchor",
        "positive",
    ]
    assert pl.read_ndjson(path).columns == ["anchor", "positive"]


def test_write_jsonl_failure_keeps_previous_file(tmp_path):
    path = write_jsonl([{"a": 1}], tmp_path / "rows.jsonl")

    def rows():
        yield {"a": 2}
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        write_jsonl(rows(), path)
    assert path.read_text(encoding="utf-8") == '{"a": 1}\n' and leftovers(tmp_path) == []


def test_table_writer_writes_parts_as_row_groups_of_one_file(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "rejects.parquet"
    parts = [frame([REJECT_ROW | {"origin": f"{k}.{i}"} for i in range(3)], REJECTS) for k in range(4)]
    with TableWriter(path, REJECTS) as writer:
        assert not path.exists()  # nothing at the final path before the block ends
        for part in parts:
            writer.write(part)
    assert writer.rows == 12 and pq.ParquetFile(path).num_row_groups == 4
    assert read_table(path, REJECTS).equals(pl.concat(parts))
    assert leftovers(tmp_path) == []


def test_table_writer_with_no_part_writes_an_empty_table(tmp_path):
    with TableWriter(tmp_path / "empty.parquet", REJECTS):
        pass
    assert read_table(tmp_path / "empty.parquet", REJECTS).height == 0


def test_table_writer_failing_mid_way_keeps_the_previous_file(tmp_path):
    path = tmp_path / "rejects.parquet"
    write_table(frame([REJECT_ROW], REJECTS), path, REJECTS)
    with pytest.raises(RuntimeError, match="reader failed"), TableWriter(path, REJECTS) as writer:
        writer.write(frame([REJECT_ROW | {"origin": "new"}] * 5, REJECTS))
        raise RuntimeError("reader failed")
    assert read_table(path, REJECTS)["origin"].to_list() == ["a.md"]
    with pytest.raises(ValueError, match="columns"), TableWriter(path, REJECTS) as writer:
        writer.write(pl.DataFrame({"origin": ["x"]}))
    assert read_table(path, REJECTS).height == 1 and leftovers(tmp_path) == []
