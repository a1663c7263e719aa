"""``lexqa inspect``: row count, schema, text-length statistics and rows; filters; clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lexqa.cli import main
from lexqa.inspect import render_row
from lexqa.tables import DOCUMENTS, frame, write_table

LONG = "Chacun a droit au respect de sa vie privée. " * 30  # 1,320 characters, cut when printed


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    rows = [
        {"doc_id": "fr:1", "source": "fr", "lang": "fr", "path": ["Livre Ier"], "number": "9", "text": LONG},
        {"doc_id": "fr:2", "source": "fr", "lang": "fr", "path": [], "number": "10", "text": "Court texte."},
        {
            "doc_id": "ru:1",
            "source": "ru",
            "lang": "ru",
            "path": [],
            "number": "А40-1/2024",
            "text": "Суд установил",
        },
    ]
    return write_table(frame(rows, DOCUMENTS), tmp_path_factory.mktemp("inspect") / "documents.parquet")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_report(capsys, table):
    code, out, err = run_cli(capsys, str(table))
    assert code == 0 and err == ""
    assert out.startswith(f"{table}: 3 rows\n")
    assert "schema:\n  doc_id: String" in out and "  path: List(String)" in out
    stats = out.split("text lengths (characters):")[1].split("--- row 0 ---")[0]
    text_stats = next(line for line in stats.splitlines() if "│ text " in line)
    assert [cell.strip() for cell in text_stats.strip("│ ").split("┆")] == [
        "text",
        "0",
        "12",
        "448.3",
        "13",
        "1320",
        "1320",
    ]
    assert out.count("--- row ") == 3
    assert "doc_id: fr:1" in out and "number: А40-1/2024" in out
    assert "… [1,320 chars]" in out  # long values are cut, with their length


def test_n_columns_and_where(capsys, table):
    code, out, _ = run_cli(
        capsys, str(table), "--n", "1", "--columns", "doc_id, number", "--where", "lang = 'fr'"
    )
    assert code == 0
    assert out.startswith(f"{table}: 2 rows matching \"lang = 'fr'\"")
    assert out.count("--- row ") == 1
    assert "schema:\n  doc_id: String\n  number: String\ntext lengths" in out
    assert "doc_id: fr:1" in out and "text:" not in out


def test_where_with_sql_functions(capsys, table):
    code, out, _ = run_cli(capsys, str(table), "--where", "length(text) < 20 AND source = 'ru'", "--n", "5")
    assert code == 0 and ": 1 rows matching" in out and "doc_id: ru:1" in out


def test_multi_line_values_stay_under_their_column():
    out = render_row({"doc_id": "x", "text": "Premier alinéa.\n\nSurface | Prix\npetite | 15 €"})
    assert out.splitlines() == [
        "doc_id: x",
        "  text: Premier alinéa.",
        "",
        "        Surface | Prix",
        "        petite | 15 €",
    ]


@pytest.mark.parametrize("name", ["train.json", "rows.jsonl"])
def test_json_lines_tables_are_read_too(capsys, tmp_path, name):
    path = tmp_path / name
    path.write_text(
        '{"anchor": "q1", "positive": "p1"}\n{"anchor": "q2", "positive": "p2"}\n', encoding="utf-8"
    )
    code, out, _ = run_cli(capsys, str(path), "--where", "anchor = 'q2'")
    assert code == 0 and ": 1 rows matching" in out and "anchor: q2" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.parquet"], "missing.parquet does not exist"),
        (
            ["{table}", "--columns", "doc_id,nope"],
            "unknown columns ['nope']; the table has ['doc_id', 'source'",
        ),
        (["{table}", "--where", "lang = = 'fr'"], "--where \"lang = = 'fr'\""),
        (["{table}", "--where", "nope = 1"], "--where 'nope = 1': unable to find column \"nope\""),
        (["{notparquet}"], "expected a .parquet or JSON-lines file"),
    ],
)
def test_clear_errors(capsys, table, tmp_path, args, message):
    notparquet = tmp_path / "x.csv"
    notparquet.write_text("a\n1\n", encoding="utf-8")
    args = [a.format(table=table, notparquet=notparquet) for a in args]
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and "Resolved plan" not in err and err.count("\n") == 1


def test_installed_console_script(table):
    script = Path(sys.executable).with_name("lexqa")
    assert script.exists(), "the console script is installed by `pip install -e .`"
    ok = subprocess.run([script, "inspect", table, "--n", "0"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith(f"{table}: 3 rows") and "--- row" not in ok.stdout
    bad = subprocess.run(
        [script, "inspect", table, "--columns", "x"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown columns ['x']")
    usage = subprocess.run([script], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "inspect" in usage.stderr
