"""Experiments: `dvc exp run -S generate.offline.ict=2`, then `dvc metrics diff` shows what changed;
and a `dvc repro` with nothing changed runs no stage and is quick."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from llm_server import LLMServer

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("metrics/generate.json", "metrics/eval.json")


def test_metrics_files_are_committed_not_git_ignored():
    """`dvc metrics diff` reads the baseline's metrics from git (they are DVC outs with cache: false): a
    git-ignored metrics file has no baseline, and the diff shows '-' for every old value."""
    done = subprocess.run(["git", "check-ignore", "-v", *METRICS], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1, (
        f"metrics files are git-ignored, so no commit holds a baseline:\n{done.stdout}"
    )


def test_dvc_ignores_python_byte_code_in_stage_dependencies():
    """Stages depend on src/lexqa/<stage>/: the .pyc files Python writes on import must not change its hash (they
    did, and a no-change `dvc repro` re-ran ingest and chunk after the tests had imported them)."""
    dvc = Path(sys.executable).parent / "dvc"
    done = subprocess.run(
        [str(dvc), "check-ignore", "src/lexqa/chunk/__pycache__/context.cpython-311.pyc", "src/lexqa/x.pyc"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and len(done.stdout.split()) == 2, done.stdout + done.stderr
    kept = subprocess.run(
        [str(dvc), "check-ignore", "src/lexqa/chunk/context.py"], cwd=ROOT, capture_output=True
    )
    assert kept.returncode == 1


@pytest.mark.slow
@pytest.mark.xdist_group("pipeline")
def test_exp_run_then_metrics_diff_shows_the_change(german_pipeline, tmp_path, monkeypatch):
    project = german_pipeline.copy(tmp_path / "project")
    project.commit("baseline: offline.ict 1")
    baseline = json.loads((project.root / "metrics/generate.json").read_text(encoding="utf-8"))

    # Nothing changed since the baseline run: no stage runs, in well under the time of any stage. The first
    # call after the copy re-reads file hashes (new inodes), the second is what a user sees.
    project.dvc("repro")
    start = time.perf_counter()
    unchanged = project.dvc("repro").stdout
    seconds = time.perf_counter() - start
    assert "Running stage" not in unchanged and "Data and pipelines are up to date." in unchanged
    print(f"\nno-change dvc repro: {seconds:.2f} s")
    assert seconds < 10, f"a no-change dvc repro took {seconds:.1f} s (target: under 2 s on an idle machine)"

    ran = project.dvc("exp", "run", "-S", "generate.offline.ict=2").stdout
    for stage in ("generate", "curate", "split", "train", "evaluate"):
        assert f"Running stage '{stage}'" in ran, stage
    assert "Running stage 'ingest'" not in ran and "Running stage 'chunk'" not in ran

    diff = json.loads(project.dvc("metrics", "diff", "--all", "--json").stdout)
    questions = diff["metrics/generate.json"]["questions"]
    assert questions["old"] == baseline["questions"] > 0
    assert questions["new"] > questions["old"] and questions["diff"] == questions["new"] - questions["old"]
    # Every evaluation number has its baseline value to compare with (whether or not this tiny run moved it).
    evaluation = diff["metrics/eval.json"]
    assert "eval.finetuned.dim_64.ndcg@10" in evaluation
    assert all(v["old"] is not None and v["new"] is not None for v in evaluation.values())

    table = project.dvc("metrics", "diff").stdout
    line = next(
        row for row in table.splitlines() if row.startswith("metrics/generate.json") and " questions " in row
    )
    assert line.split()[2:] == [str(questions["old"]), str(questions["new"]), str(questions["diff"])]

    shown = project.dvc("exp", "show", "--no-pager", "--csv").stdout
    assert "generate.offline.ict" in shown.splitlines()[0]

    # `dvc plots show` (the README's recipe) renders base vs fine-tuned nDCG@10 for every dimension.
    plots = json.loads(project.dvc("plots", "show", "--json").stdout)["data"]["ndcg_by_dim"]
    rows = plots[0]["content"]["data"]["values"]
    assert {row["field"] for row in rows} >= {"base", "finetuned", "bm25"}
    params = yaml.safe_load((project.root / "params.yaml").read_text(encoding="utf-8"))
    assert {int(row["dim"]) for row in rows} == set(params["train"]["matryoshka_dims"])

    # The README's real-LLM recipe, word for word but for the server (the loopback OpenAI-compatible one, whose
    # canned questions are made of each chunk's own words), through every stage to the evaluation.
    key = "sk-readme-recipe-test"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    recipe = readme_llm_recipe()
    with LLMServer(api_key=key) as server:
        ran = project.dvc(*recipe[1:], "-S", f"generate.base_url={server.url}").stdout
    for stage in ("generate", "curate", "split", "train", "evaluate"):
        assert f"Running stage '{stage}'" in ran, stage
    n_chunks = len(pl.read_parquet(project.root / "data/processed/chunks.parquet"))
    assert server.chat_requests == min(20, n_chunks)
    questions = pl.read_parquet(project.root / "data/processed/questions.parquet")
    assert set(questions["backend"]) == {"openai"} and (questions["status"] == "ok").all()
    pairs = pl.read_parquet(project.root / "data/processed/pairs.parquet")
    assert pairs.height > 0 and set(pairs["backend"]) == {"openai"}
    evaluation = json.loads((project.root / "metrics/eval.json").read_text(encoding="utf-8"))
    assert evaluation["eval"]["finetuned"], "no fine-tuned scores after the LLM recipe"


def readme_llm_recipe() -> list[str]:
    """The `dvc exp run -S generate.backend=openai ...` line of README.md, as words (comment dropped)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(
        row for row in readme.splitlines() if row.startswith("dvc exp run -S generate.backend=openai")
    )
    return line.split("#")[0].split()
