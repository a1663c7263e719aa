"""Killing and resuming the generate stage (online and Batch API), and the stage script's exit codes.

The stage runs as a real subprocess (``python stages/generate.py`` in a scratch project) against the loopback
server, and is killed with SIGKILL mid-way; the next run must re-send only what had no stored answer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from llm_server import LLMServer, generate_params, write_chunks

from lexqa import generate
from lexqa.llm.cache import ResponseCache
from lexqa.tables import QUESTIONS, read_table

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-resume-0123456789abcdef"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LEXQA_TEST_API_KEY", KEY)
    return KEY


def scratch_project(tmp_path: Path, server: LLMServer, n_chunks: int, **generate_overrides: object) -> Path:
    """A directory with params.yaml (the project's, ``generate`` aimed at ``server``) and chunks.parquet."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = generate_params(server, tmp_path / "data" / "cache" / "llm", **generate_overrides)
    raw["generate"] = json.loads(params.generate.model_dump_json())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    write_chunks(tmp_path / "data" / "processed" / "chunks.parquet", n_chunks)
    return tmp_path


def start_stage(project: Path) -> subprocess.Popen:
    env = os.environ | {"LEXQA_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "stages" / "generate.py")],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def load(project: Path):
    from lexqa.config import load_params

    return load_params(project / "params.yaml")


def run_in(project: Path) -> pl.DataFrame:
    processed = project / "data" / "processed"
    generate.run(load(project), in_dir=processed, out_dir=processed, metrics_dir=project / "metrics")
    return read_table(processed / "questions.parquet", QUESTIONS)


@pytest.mark.slow  # a subprocess: a few seconds of imports
def test_sigkill_mid_run_resumes_and_resends_only_what_was_in_flight(tmp_path: Path, key_env: str) -> None:
    concurrency, n = 4, 120
    with LLMServer(api_key=key_env, latency_s=0.04) as server:
        project = scratch_project(tmp_path, server, n, concurrency=concurrency)
        proc = start_stage(project)
        wait_until(lambda: server.chat_requests >= 40 or proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        sent_before_kill = server.chat_requests
        with ResponseCache(project / "data" / "cache" / "llm") as cache:
            stored = cache.count("ok")
        assert not (project / "data" / "processed" / "questions.parquet").exists()
        assert 30 <= stored < n
        # what was sent but not stored was in flight: at most one request per worker (plus a commit under way)
        assert sent_before_kill - stored <= 2 * concurrency

        server.reset_counters()
        questions = run_in(project)
        assert server.chat_requests == n - stored  # only what had no answer
    assert questions["chunk_id"].n_unique() == n and (questions["status"] == "ok").all()


def test_batch_run_collects_failed_lines_are_resubmitted_with_discount(tmp_path: Path, key_env: str) -> None:
    with LLMServer(api_key=key_env) as server:
        server.add_fault("500", match="Article 2.")
        server.add_fault("wrong_count", match="дело № А5-15/2024")
        params = generate_params(
            server, tmp_path / "cache", backend="openai-batch", model="gpt-4o-mini", max_failed_fraction=0.5
        )
        write_chunks(tmp_path / "chunks.parquet", 10)
        generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path)
        questions = read_table(tmp_path / "questions.parquet", QUESTIONS)
        failed = questions.filter(pl.col("status") == "failed").unique("chunk_id")
        assert dict(failed.select("chunk_id", pl.col("error").str.extract(r"^(\w+)")).rows()) == {
            "src:doc2#0": "batch_500",
            "src:doc5#0": "wrong_count",
        }
        assert server.batch_creations == 1 and server.batch_lines == 10 and server.chat_requests == 0
        ok = questions.filter(pl.col("status") == "ok")
        assert (ok["backend"] == "openai-batch").all() and ok["chunk_id"].n_unique() == 8
        per_request = questions.unique("chunk_id")
        full_price = (
            per_request["prompt_tokens"].sum() * 0.15 + per_request["completion_tokens"].sum() * 0.6
        ) / 1e6
        metrics = json.loads((tmp_path / "generate.json").read_text())
        assert metrics["cost_usd"] == pytest.approx(full_price / 2, rel=1e-6)

        generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path)
        assert server.batch_creations == 2 and server.batch_lines == 12  # a new batch with the 2 failures
        assert (read_table(tmp_path / "questions.parquet", QUESTIONS)["status"] == "ok").all()

        generate.run(
            params.model_copy(update={"generate": params.generate.model_copy(update={"backend": "openai"})}),
            in_dir=tmp_path,
            out_dir=tmp_path,
            metrics_dir=tmp_path,
        )
        assert server.chat_requests == 0  # batch answers serve the online backend too: same cache keys


@pytest.mark.slow  # a subprocess: a few seconds of imports
def test_batch_killed_while_polling_resumes_the_same_batch(tmp_path: Path, key_env: str) -> None:
    with LLMServer(api_key=key_env, batch_polls=10**9) as server:
        project = scratch_project(tmp_path, server, 20, backend="openai-batch")
        proc = start_stage(project)
        wait_until(lambda: any(b["polls"] >= 2 for b in server.batches.values()) or proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert server.batch_creations == 1
        server.batch_polls = 0  # the batch completes at the next poll
        questions = run_in(project)
        assert server.batch_creations == 1 and server.batch_lines == 20
        summary = json.loads((project / "data" / "processed" / "generate_summary.json").read_text())
        assert summary["requests"]["batches_created"] == 0
    assert questions["chunk_id"].n_unique() == 20 and (questions["status"] == "ok").all()


@pytest.mark.parametrize("created_on_server", [True, False])
def test_batch_lost_between_upload_and_record(tmp_path: Path, key_env: str, created_on_server: bool) -> None:
    """A kill after the upload: the batch is adopted by its input file if it exists, else submitted again."""
    with LLMServer(api_key=key_env) as server:
        params = generate_params(server, tmp_path / "cache", backend="openai-batch")
        chunks = write_chunks(tmp_path / "chunks.parquet", 6)
        jobs = generate.build_jobs(params.generate, pl.read_parquet(chunks))
        lines = [
            {"custom_id": j.key, "method": "POST", "url": "/v1/chat/completions", "body": j.body}
            for j in jobs
        ]
        server.files["file-lost"] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        with ResponseCache(tmp_path / "cache") as cache:
            cache.add_batch("file-lost", {j.key: list(j.labels) for j in jobs})
        if created_on_server:
            server.batches["batch-lost"] = {
                "id": "batch-lost",
                "object": "batch",
                "input_file_id": "file-lost",
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "status": "in_progress",
                "created_at": 0,
                "polls": 0,
            }
        generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path)
        questions = read_table(tmp_path / "questions.parquet", QUESTIONS)
        assert (questions["status"] == "ok").all() and questions["chunk_id"].n_unique() == 6
        assert server.batch_creations == (0 if created_on_server else 1)
        assert server.batch_lines == 6


@pytest.mark.slow  # a subprocess: a few seconds of imports
def test_stage_script_exit_codes(tmp_path: Path, key_env: str) -> None:
    with LLMServer(api_key=key_env) as server:
        server.add_fault("500", times=100)
        project = scratch_project(tmp_path, server, 4, max_retries=0)
        proc = start_stage(project)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert "4 of 4 chunks failed" in err and "generate.max_failed_fraction" in err
        assert (project / "data" / "processed" / "questions.parquet").exists()  # written, to inspect
        assert (project / "metrics" / "generate.json").exists()

    # A missing key is a params error (exit 2) for a remote server; one on this machine needs none.
    params_file = project / "params.yaml"
    params_file.write_text(params_file.read_text().replace(server.url, "https://llm.example.invalid/v1"))
    env_without_key = {k: v for k, v in os.environ.items() if k != "LEXQA_TEST_API_KEY"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "generate.py")],
        cwd=project,
        text=True,
        capture_output=True,
        env=env_without_key | {"PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 2 and "LEXQA_TEST_API_KEY" in proc.stderr and "Traceback" not in proc.stderr
