"""The demo's real-question benchmark, ``data/raw/sample/questions``: a BEIR folder the evaluate stage reads,
with questions written the way people ask (French and Russian; layperson's, lawyer's and search-box wording)
and graded qrels; ``make run`` prints its table beside the eval split's, with how to read each."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tiny_model import build_tiny_model, write_tiny_dataset

from lexqa.config import parse_params
from lexqa.evaluate import load_beir, run
from lexqa.evaluate.metrics import GRADED_NDCG, METRICS
from lexqa.evaluate.report import DatasetResult, dim_table, markdown

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "data/raw/sample/questions"
NAME = "sample_questions"
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _qrels() -> list[list[str]]:
    lines = (FOLDER / "qrels/test.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    return [line.split("\t") for line in lines[1:]]


def _make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", FOLDER / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------- the folder
def test_the_folder_loads_without_rejects():
    rejects: list[dict] = []
    data = load_beir(FOLDER, NAME, rejects)
    assert rejects == []
    assert len(data.query_ids) >= 40 and data.unjudged_queries == 0  # every query is evaluated
    assert data.missing_passages == 0 and data.graded
    assert len(data.corpus_ids) == 50


def test_queries_are_french_and_russian_in_every_style():
    queries = _jsonl(FOLDER / "queries.jsonl")
    assert len(queries) >= 40
    for query in queries:
        assert query["lang"] in {"fr", "ru"} and query["_id"].startswith(query["lang"] + "-")
        assert bool(CYRILLIC.search(query["text"])) == (query["lang"] == "ru"), query  # labelled right
        assert query["style"] in {"layperson", "lawyer", "keywords"} and isinstance(query["typos"], bool)
    for lang in ("fr", "ru"):
        mine = [q for q in queries if q["lang"] == lang]
        assert len(mine) >= 15, lang
        assert {q["style"] for q in mine} == {"layperson", "lawyer", "keywords"}, lang
        assert any(q["typos"] for q in mine), f"{lang}: no query typed the way people type"
        keywords = [q["text"] for q in mine if q["style"] == "keywords"]
        assert all(len(text.split()) <= 7 and "?" not in text for text in keywords), keywords


def test_qrels_are_graded_and_point_to_existing_passages():
    passages = {p["_id"] for p in _jsonl(FOLDER / "corpus.jsonl")}
    queries = {q["_id"] for q in _jsonl(FOLDER / "queries.jsonl")}
    rows = _qrels()
    pairs = [(q, c) for q, c, _ in rows]
    assert len(pairs) == len(set(pairs)), "a (query, passage) pair is judged twice"
    assert {c for _, c in pairs} <= passages, sorted({c for _, c in pairs} - passages)
    assert {q for q, _ in pairs} == queries  # no qrel of an unknown query, no query without a qrel
    grades = [int(score) for *_, score in rows]
    assert set(grades) == {1, 2, 3}  # 3 answers it, 2 relevant, 1 related (README.md)
    best = {}
    for (query, _), grade in zip(pairs, grades, strict=True):
        best[query] = max(best.get(query, 0), grade)
    assert min(best.values()) >= 2, "every query needs a passage that is at least relevant"


def test_passages_are_the_sample_as_ingest_reads_it():
    """corpus.jsonl is what make_corpus.py writes from the bundled sample today: a change to the sample or to
    ingest that moves its text shows here (rebuild with `.venv/bin/python data/raw/sample/questions/make_corpus.py`
    and check the qrels still hold)."""
    make_corpus = _make_corpus()
    documents = make_corpus.sample_documents(ROOT / "params.yaml")
    expected = make_corpus.corpus_lines(documents)
    assert (FOLDER / "corpus.jsonl").read_text(encoding="utf-8") == expected, (
        "data/raw/sample/questions/corpus.jsonl is not the sample as ingest reads it: run make_corpus.py"
    )
    parts = [p["_id"].rsplit(":", 1)[1] for p in make_corpus.passages(documents) if p["_id"][0].isdigit()]
    assert parts.count("reasoning") == 4  # every ruling is cut in its four parts (the arbitration ones too)


def test_a_ruling_without_its_markers_is_refused_by_name():
    ruling = {
        "doc_id": "s:X",
        "domain": "ru_rulings",
        "number": "2-845/2024",
        "text": "Решение\n\nбез частей",
    }
    with pytest.raises(ValueError, match=r"s:X: 'У С Т А Н О В И Л :' opens 0 paragraphs"):
        _make_corpus().passages([ruling])
    unknown = {"doc_id": "sample_new:1", "domain": "fr_codes", "number": "1", "title": "t", "text": "x"}
    with pytest.raises(ValueError, match="sample_new:1: a new document of the sample"):
        _make_corpus().passages([unknown])


# ------------------------------------------------------------------------------------------- the pipeline
def test_params_list_it_and_the_evaluate_stage_depends_on_every_benchmark():
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    benchmarks = params["evaluate"]["benchmarks"]
    assert {"name": NAME, "path": "data/raw/sample/questions"} in benchmarks
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["evaluate"]["deps"]
    assert all(b["path"] in deps for b in benchmarks), "a benchmark folder is missing from evaluate's deps"


def _make_run_prints(report: Path) -> str:
    """What `make run` prints of the report: the awk program of the Makefile's run target, run on it."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    program = re.search(r"@awk '([^']+)' reports/eval\.md", makefile).group(1)
    return subprocess.run(["awk", program, str(report)], capture_output=True, text=True, check=True).stdout


def test_make_run_prints_each_set_with_how_to_read_it(tmp_path):
    every = {name: 0.5 for name in METRICS} | {GRADED_NDCG: 0.25}
    eval_split = DatasetResult("eval", 22, 130, False, {64: every}, {64: every}, every)
    bench = DatasetResult(NAME, 73, 50, True, {64: every, 32: every}, {64: every, 32: every}, every)
    report = tmp_path / "eval.md"
    report.write_text(markdown([eval_split, bench], "base", "models/lexqa", "bm25s"), encoding="utf-8")
    printed = _make_run_prints(report)
    assert dim_table(eval_split) in printed and dim_table(bench) in printed
    assert dim_table(bench, GRADED_NDCG) in printed
    assert "**eval split**: questions the pipeline's own generator wrote" in printed
    assert "**benchmarks** (`evaluate.benchmarks`): questions written apart from the pipeline" in printed
    assert f"**benchmark `{NAME}`**: 73 queries, 50 passages." in printed
    assert "## " not in printed and "| accuracy@1 |" not in printed  # per-set details stay in the file
    assert "## benchmark `sample_questions`" in report.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_evaluate_stage_reports_the_sample_benchmark(tmp_path):
    """The evaluate stage (tiny BERT as both models) on the committed folder, as params.yaml lists it."""
    model = build_tiny_model(tmp_path / "tiny")
    write_tiny_dataset(tmp_path / "data/processed/dataset")
    shutil.copytree(model, tmp_path / "models/lexqa")
    sources = [{"name": n, "kind": "text", "path": "x", "lang": n, "domain": "d"} for n in ("fr", "ru")]
    params = parse_params(
        {
            "model": {"name_or_path": str(model)},
            "sources": sources,
            "train": {"matryoshka_dims": [64, 32]},
            "evaluate": {"benchmarks": [{"name": NAME, "path": str(FOLDER)}]},
        }
    )
    results = run(params, root=tmp_path)
    assert [r.name for r in results] == ["eval", NAME]
    metrics = json.loads((tmp_path / "metrics/eval.json").read_text(encoding="utf-8"))[NAME]
    assert metrics["queries"] == len(_jsonl(FOLDER / "queries.jsonl")) and metrics["corpus"] == 50
    assert GRADED_NDCG in metrics["finetuned"]["dim_32"] and 0 < metrics["bm25"]["ndcg@10"] <= 1
    printed = _make_run_prints(tmp_path / "reports/eval.md")
    assert dim_table(results[1]) in printed and dim_table(results[0]) in printed
