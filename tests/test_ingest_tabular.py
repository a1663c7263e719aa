"""The tabular reader: JSON lines, JSON arrays, CSV and parquet with configured columns, and its rejects."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from lexqa.config import TabularSource
from lexqa.ingest.records import Doc, Reject
from lexqa.ingest.tabular import read


def source(path: Path, **columns) -> TabularSource:
    return TabularSource(name="t", kind="tabular", path=path, lang="fr", domain="faq", **columns)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    {"id": "q1", "title": "Titre un", "text": "Réponse un.", "theme": "jardins", "votes": 3},
    {"id": "q2", "title": "Titre deux", "text": "Réponse deux.", "theme": "voirie", "votes": 5},
]


def test_jsonl_rows_become_documents_with_other_columns_in_meta(tmp_path):
    path = write_jsonl(tmp_path / "faq.jsonl", ROWS)
    docs = list(read(source(path)))
    assert [(d.native_id, d.title, d.text) for d in docs] == [
        ("q1", "Titre un", "Réponse un."),
        ("q2", "Titre deux", "Réponse deux."),
    ]
    assert docs[1].meta == {"theme": "voirie", "votes": 5, "row": 2}
    assert docs[0].origin == str(path) and docs[0].number is None and docs[0].date is None


def test_configured_columns(tmp_path):
    rows = [
        {"ref": 7, "question": "Q ?", "reponse": "R.", "num": "A-1", "maj": "2024-05-06T10:00:00"},
        {"ref": 8, "question": "Q2 ?", "reponse": "R2.", "num": "A-2", "maj": "mai 2024"},
    ]
    path = write_jsonl(tmp_path / "faq.jsonl", rows)
    cols = dict(
        id_column="ref",
        title_column="question",
        text_column="reponse",
        number_column="num",
        date_column="maj",
    )
    d1, d2 = read(source(path, **cols))
    assert (d1.native_id, d1.title, d1.text, d1.number, d1.date) == ("7", "Q ?", "R.", "A-1", "2024-05-06")
    assert d1.meta == {"row": 1}
    assert d2.date is None and d2.meta["maj"] == "mai 2024"  # kept, not lost


def test_json_array_file(tmp_path):
    path = tmp_path / "faq.json"
    path.write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    assert [d.native_id for d in read(source(path))] == ["q1", "q2"]


def test_csv_keeps_values_as_strings(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text('id,title,text,votes\n007,"Un, deux","Texte ""cité"".",3\n', encoding="utf-8")
    (doc,) = read(source(path))
    assert (doc.native_id, doc.title, doc.text, doc.meta) == (
        "007",
        "Un, deux",
        'Texte "cité".',
        {"votes": "3", "row": 1},
    )


def test_parquet_with_typed_columns(tmp_path):
    path = tmp_path / "faq.parquet"
    pl.DataFrame(
        {"id": [1, 2], "text": ["Un.", "Deux."], "when": [dt.date(2024, 1, 2), None], "tags": [["a"], []]}
    ).write_parquet(path)
    d1, d2 = read(source(path, title_column=None, date_column="when"))
    assert (d1.native_id, d1.title, d1.date) == ("1", "", "2024-01-02")
    assert d1.meta == {"tags": ["a"], "row": 1} and d2.date is None


def test_missing_configured_column_rejects_the_file_naming_it(tmp_path):
    path = write_jsonl(tmp_path / "faq.jsonl", ROWS)
    (rej,) = read(source(path, text_column="body"))
    assert isinstance(rej, Reject) and rej.reason == "missing_column"
    assert "text_column='body'" in rej.detail and "['id', 'title', 'text', 'theme', 'votes']" in rej.detail


def test_bad_rows_are_rejected_alone(tmp_path):
    path = tmp_path / "faq.jsonl"
    lines = [json.dumps(ROWS[0]), "{not json", "[1, 2]", json.dumps({"id": "", "text": "Sans id."}), ""]
    lines.append(json.dumps({"id": "q9", "title": None, "text": None}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(read(source(path)))
    rejects = [(r.origin.rsplit(":", 1)[1], r.reason) for r in items if isinstance(r, Reject)]
    assert rejects == [("2", "malformed_row"), ("3", "malformed_row"), ("4", "missing_id")]
    docs = [d for d in items if isinstance(d, Doc)]
    assert [d.native_id for d in docs] == ["q1", "q9"]
    assert docs[1].text == "" and docs[1].title == ""  # empty text: the stage's `empty` rule decides


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.jsonl", b"", "empty_file"),
        ("header.csv", b"id,title,text\n", "empty_file"),
        ("broken.parquet", b"PAR1 not really", "malformed_file"),
        ("broken.json", b"[{]", "malformed_file"),
        ("latin.csv", "id,text\n1,é\n".encode("cp1252"), "malformed_file"),
    ],
)
def test_unreadable_files_are_rejected(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    (rej,) = read(source(tmp_path / name))
    assert isinstance(rej, Reject) and rej.reason == reason and rej.origin == str(tmp_path / name)


def test_directory_reads_known_suffixes_and_rejects_others(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", ROWS[:1])
    (tmp_path / "b.csv").write_text("id,title,text\nc1,T,Texte.\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("# about\n", encoding="utf-8")
    (tmp_path / ".hidden").write_text("x", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    items = list(read(source(tmp_path)))
    assert [getattr(i, "native_id", None) or i.reason for i in items] == ["q1", "c1", "unsupported_format"]


def test_bundled_sample(root):
    items = list(read(source(root / "data/raw/sample/tabular/faq.jsonl", date_column="updated")))
    assert 5 <= len(items) <= 8 and all(isinstance(d, Doc) and d.text and d.title and d.date for d in items)
