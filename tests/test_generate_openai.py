"""The ``openai`` backend against a real HTTP server on 127.0.0.1 with injected faults (tests/llm_server.py).

Every test checks the stage's promise: each chunk ends with its questions or a recorded failure, answers are
paid once (a re-run sends nothing), failures are retried on the next run, and the API key never leaks.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import polars as pl
import pytest
from llm_server import LLMServer, generate_params, write_chunks

from lexqa import generate
from lexqa.config import ParamsError
from lexqa.llm.cache import ResponseCache
from lexqa.tables import QUESTIONS, read_table

KEY = "sk-test-Zq8xVv3LlmSecretKey0123456789"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LEXQA_TEST_API_KEY", KEY)
    return KEY


@pytest.fixture
def server(key_env: str):
    with LLMServer(api_key=key_env) as s:
        yield s


def run(tmp_path: Path, params) -> pl.DataFrame:
    generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path / "metrics")
    return read_table(tmp_path / "questions.parquet", QUESTIONS)


def assert_every_chunk_accounted(questions: pl.DataFrame, n_chunks: int, per_chunk: int = 3) -> None:
    """Each chunk has ``per_chunk`` ok questions, or only failure rows with an error; ids are unique."""
    assert questions["chunk_id"].n_unique() == n_chunks
    assert questions["question_id"].is_unique().all()
    for (chunk_id,), rows in questions.group_by("chunk_id"):
        statuses = set(rows["status"])
        assert statuses in ({"ok"}, {"failed"}), chunk_id
        if statuses == {"ok"}:
            assert rows.height == per_chunk and rows["question"].str.len_chars().min() > 0
        else:
            assert rows["error"].null_count() == 0 and rows["question"].null_count() == rows.height


def test_generates_every_chunk_then_a_rerun_sends_nothing(tmp_path: Path, server: LLMServer) -> None:
    write_chunks(tmp_path / "chunks.parquet", 30)
    params = generate_params(server, tmp_path / "cache")
    questions = run(tmp_path, params)
    assert server.chat_requests == 30 and server.statuses == {200: 30}
    assert_every_chunk_accounted(questions, 30)
    assert (questions["status"] == "ok").all()
    assert set(questions["style"]) == {"layperson", "practitioner", "query"}
    assert questions["question_id"][0].startswith(questions["chunk_id"][0] + ":")
    assert (questions["backend"] == "openai").all() and (questions["model"] == "test-model").all()
    assert questions["prompt_sha"].n_unique() == 2  # the French and the Russian template
    assert (questions["prompt_tokens"] > 0).all() and (questions["completion_tokens"] > 0).all()
    # the prompt carries the chunk's context and text, in the chunk's language's template
    prompts = [r["messages"][0]["content"] for r in server.request_log]
    assert any("Code civil > Article 0" in p and "exactement 3 questions" in p for p in prompts)
    assert any("Арбитражный суд, дело № А1-15/2024" in p and "ровно 3 вопросов" in p for p in prompts)
    assert all(r["response_format"]["type"] == "json_schema" for r in server.request_log)

    summary = json.loads((tmp_path / "generate_summary.json").read_text())
    metrics = json.loads((tmp_path / "metrics" / "generate.json").read_text())
    prompt_tokens = questions.unique("chunk_id")["prompt_tokens"].sum()
    assert summary["tokens"]["prompt_tokens"] == metrics["prompt_tokens"] == prompt_tokens
    requests = summary["requests"]
    assert requests["seconds"] > 0 and requests["per_second"] == pytest.approx(
        30 / requests["seconds"], rel=0.01
    )
    assert {k: v for k, v in requests.items() if k not in ("seconds", "per_second")} == {
        "total": 30,
        "from_cache": 0,
        "sent": 30,
        "retries": 0,
        "batches_created": 0,
        "processes": 1,
    }
    assert metrics["questions"] == 90 and metrics["chunks_failed"] == 0 and metrics["requests_sent"] == 30

    server.reset_counters()
    again = run(tmp_path, params)
    assert server.chat_requests == 0
    assert again.equals(questions)
    assert json.loads((tmp_path / "generate_summary.json").read_text())["requests"]["from_cache"] == 30


def test_cost_estimate_from_the_price_table(tmp_path: Path, server: LLMServer) -> None:
    write_chunks(tmp_path / "chunks.parquet", 4)
    questions = run(tmp_path, generate_params(server, tmp_path / "cache", model="gpt-4o-mini"))
    per_request = questions.unique("chunk_id")
    expected = (
        per_request["prompt_tokens"].sum() * 0.15 + per_request["completion_tokens"].sum() * 0.60
    ) / 1e6
    metrics = json.loads((tmp_path / "metrics" / "generate.json").read_text())
    assert metrics["cost_usd"] == pytest.approx(expected, rel=1e-6) and metrics["cost_usd"] > 0
    assert metrics["run_cost_usd"] == pytest.approx(expected, rel=1e-6)


def test_transient_faults_are_retried_and_nothing_is_lost(tmp_path: Path, server: LLMServer) -> None:
    write_chunks(tmp_path / "chunks.parquet", 20)
    server.add_fault("429", times=2, retry_after=0.3)
    server.add_fault("500", times=2)
    server.add_fault("reset", times=2)
    server.add_fault("slow", times=1, delay_s=1.5)
    params = generate_params(server, tmp_path / "cache", timeout_s=0.5, concurrency=4)
    start = time.perf_counter()
    questions = run(tmp_path, params)
    assert time.perf_counter() - start >= 0.3  # the retry-after was honoured
    assert_every_chunk_accounted(questions, 20)
    assert (questions["status"] == "ok").all()
    assert server.statuses[429] == 2 and server.statuses[500] == 2
    summary = json.loads((tmp_path / "generate_summary.json").read_text())
    # 7 faults, 7 retries; a loaded machine may time out one more request past the 0.5 s timeout
    retries = summary["requests"]["retries"]
    assert 7 <= retries <= 9 and summary["requests"]["sent"] == 20 + retries
    assert 20 + 7 <= server.chat_requests <= 20 + retries


def test_content_faults_are_recorded_failures_retried_next_run(tmp_path: Path, server: LLMServer) -> None:
    write_chunks(tmp_path / "chunks.parquet", 12)
    server.add_fault("empty", match="Article 0.")
    server.add_fault("malformed", match="Article 2.")
    server.add_fault("wrong_count", match="дело № А3-15/2024")
    params = generate_params(server, tmp_path / "cache", max_failed_fraction=0.5)
    questions = run(tmp_path, params)
    assert_every_chunk_accounted(questions, 12)
    errors = dict(
        questions.filter(pl.col("status") == "failed").unique("chunk_id").select("chunk_id", "error").rows()
    )
    assert {k: v.split(":")[0] for k, v in errors.items()} == {
        "src:doc0#0": "empty",
        "src:doc2#0": "bad_json",
        "src:doc3#0": "wrong_count",
    }
    failed = questions.filter(pl.col("status") == "failed")
    assert (failed["prompt_tokens"] > 0).all()  # a bad reply was still paid for, and counted
    summary = json.loads((tmp_path / "generate_summary.json").read_text())
    assert summary["rejects_by_reason"] == {"empty": 1, "bad_json": 1, "wrong_count": 1}
    with ResponseCache(tmp_path / "cache") as cache:
        assert cache.count("failed") == 3 and cache.count("ok") == 9

    server.reset_counters()
    fixed = run(tmp_path, params)
    assert server.chat_requests == 3  # only the failures went out again
    assert_every_chunk_accounted(fixed, 12)
    assert (fixed["status"] == "ok").all()


def test_exhausted_retries_become_failures_and_too_many_stop_the_stage(
    tmp_path: Path, server: LLMServer
) -> None:
    write_chunks(tmp_path / "chunks.parquet", 6)
    server.add_fault("500", times=100, match="Article 4.")
    params = generate_params(server, tmp_path / "cache", max_retries=2, max_failed_fraction=0.1)
    with pytest.raises(generate.TooManyFailures, match=r"1 of 6 chunks failed"):
        run(tmp_path, params)
    questions = read_table(tmp_path / "questions.parquet", QUESTIONS)  # written all the same, to inspect
    assert_every_chunk_accounted(questions, 6)
    failed = questions.filter(pl.col("status") == "failed")
    assert set(failed["chunk_id"]) == {"src:doc4#0"}
    assert failed["error"][0].startswith("http_500: The server had an error")
    assert server.statuses[500] == 3


def test_concurrency_bound_is_respected(tmp_path: Path, key_env: str) -> None:
    write_chunks(tmp_path / "chunks.parquet", 24)
    with LLMServer(api_key=key_env, latency_s=0.05) as server:
        run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=4))
        assert server.max_in_flight == 4


def test_response_format_steps_down_when_the_server_refuses_it(tmp_path: Path, key_env: str) -> None:
    write_chunks(tmp_path / "chunks.parquet", 6)
    with LLMServer(api_key=key_env, reject_formats=("json_schema",)) as server:
        questions = run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=1))
        formats = [(r.get("response_format") or {}).get("type") for r in server.request_log]
    assert (questions["status"] == "ok").all()
    assert formats[0] == "json_schema" and formats[1:] == ["json_object"] * 6


def test_fatal_refusals_stop_the_run_without_leaking_the_key(
    tmp_path: Path, key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_chunks(tmp_path / "chunks.parquet", 10)
    monkeypatch.setenv("LEXQA_TEST_API_KEY", "sk-wrong-Key0000000000000000")
    with LLMServer(api_key=key_env) as server:
        with pytest.raises(ParamsError) as err:
            run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=2))
        assert server.chat_requests <= 2  # stopped at once, not one refusal per chunk
    assert "LEXQA_TEST_API_KEY" in str(err.value) and "HTTP 401" in str(err.value)
    assert "sk-wrong" not in str(err.value)
    monkeypatch.delenv("LEXQA_TEST_API_KEY")
    with pytest.raises(ParamsError, match=r"LEXQA_TEST_API_KEY .* is not set"):  # a remote server needs one
        run(tmp_path, generate_params(None, tmp_path / "cache", base_url="https://llm.example.invalid/v1"))


def test_the_key_never_reaches_any_output_cache_or_log(
    tmp_path: Path, server: LLMServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    write_chunks(tmp_path / "chunks.parquet", 8)
    server.add_fault("401", match="Article 2.")  # a 401 whose message echoes the key, mid-run
    server.add_fault("500", times=10, match="Article 4.")
    caplog.set_level(logging.DEBUG)
    params = generate_params(server, tmp_path / "cache", max_retries=1, max_failed_fraction=1.0)
    with pytest.raises(ParamsError):
        run(tmp_path, params)
    run(tmp_path, params)  # the 401 was a one-off: the second run completes
    assert f"Bearer {KEY}" in server.authorizations  # the key was sent...
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("responses.sqlite") for p in files) and len(files) >= 4
    for path in files:  # ...and written nowhere: parquet, JSON, SQLite with its WAL
        assert KEY.encode() not in path.read_bytes(), path
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err):
        assert KEY not in text and KEY[8:20] not in text
