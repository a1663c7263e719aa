"""Sending from several forked processes (``generate.processes``): shares, faults, progress, failures, kills."""

from __future__ import annotations

import _thread
import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from llm_server import LLMServer, generate_params, write_chunks
from test_generate_openai import assert_every_chunk_accounted
from test_generate_resume import scratch_project, start_stage, wait_until

from lexqa import generate
from lexqa.config import GenerateParams, ParamsError
from lexqa.llm import processes
from lexqa.llm.accounting import RunStats
from lexqa.llm.cache import ResponseCache
from lexqa.tables import QUESTIONS, read_table

KEY = "sk-test-processes-0123456789abcdef"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LEXQA_TEST_API_KEY", KEY)
    return KEY


def run(tmp_path: Path, params) -> pl.DataFrame:
    generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path / "metrics")
    return read_table(tmp_path / "questions.parquet", QUESTIONS)


def summary(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "generate_summary.json").read_text())


def test_process_count_one_per_64_in_flight_within_cpus_limits_and_platform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(processes, "cpu_count", lambda: 4)
    unlimited = {"requests_per_minute": 0, "tokens_per_minute": 0}
    count = processes.process_count
    assert count(GenerateParams(concurrency=128, **unlimited), 2000) == 2
    assert count(GenerateParams(concurrency=1024, **unlimited), 2000) == 4  # at most one per CPU
    assert count(GenerateParams(concurrency=16, **unlimited), 2000) == 1
    assert count(GenerateParams(concurrency=128, **unlimited), 60) == 1  # few requests left to send
    assert count(GenerateParams(concurrency=128, processes=8, **unlimited), 2000) == 8  # asked: not capped
    assert count(GenerateParams(concurrency=3, processes=8, **unlimited), 2000) == 3  # one request each
    assert count(GenerateParams(concurrency=128, processes=8, requests_per_minute=5), 2000) == 5
    monkeypatch.setattr(processes.sys, "platform", "darwin")
    assert count(GenerateParams(concurrency=128, processes=8, **unlimited), 2000) == 1


def test_worker_shares_add_up_to_the_params() -> None:
    params = GenerateParams(concurrency=7, requests_per_minute=500, tokens_per_minute=0, processes=3)
    shares = [processes.worker_params(params, i, 3) for i in range(3)]
    assert [s.concurrency for s in shares] == [3, 2, 2]
    assert [s.requests_per_minute for s in shares] == [167, 167, 166]
    assert [s.tokens_per_minute for s in shares] == [0, 0, 0]  # unlimited stays unlimited
    assert all(s.processes == 1 and s.model == params.model for s in shares)


def test_run_stats_add_up() -> None:
    total = RunStats(sent=3, retries=1, prompt_tokens=10) + RunStats(sent=2, answered=2, prompt_tokens=5)
    assert total == RunStats(sent=5, retries=1, answered=2, prompt_tokens=15)


def test_two_processes_send_every_chunk_once_through_faults_and_a_rerun_sends_nothing(
    tmp_path: Path, key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    real_worker = processes._worker

    def recording_worker(*args: object) -> None:
        with pids.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        real_worker(*args)

    monkeypatch.setattr(processes, "_worker", recording_worker)
    write_chunks(tmp_path / "chunks.parquet", 40)
    with LLMServer(api_key=key_env, latency_s=0.02) as server:
        server.add_fault("429", times=2, retry_after=0.2)
        server.add_fault("500", times=2)
        server.add_fault("reset", times=1)
        server.add_fault("malformed", match="Article 2.")
        params = generate_params(
            server, tmp_path / "cache", concurrency=8, processes=2, max_failed_fraction=0.5
        )
        questions = run(tmp_path, params)
        assert server.max_in_flight <= 8
        requests = summary(tmp_path)["requests"]
        assert requests["processes"] == 2
        assert requests["sent"] == server.chat_requests == 40 + 5 and requests["retries"] == 5
        assert_every_chunk_accounted(questions, 40)
        assert set(questions.filter(pl.col("status") == "failed")["chunk_id"]) == {"src:doc2#0"}

        server.reset_counters()
        again = run(tmp_path, params)  # only the recorded failure is sent again (one request: one process)
        assert server.chat_requests == 1 and summary(tmp_path)["requests"]["processes"] == 1
        assert (again["status"] == "ok").all() and again["chunk_id"].n_unique() == 40
    worker_pids = pids.read_text().split()
    assert len(worker_pids) == 2 and len(set(worker_pids) | {str(os.getpid())}) == 3
    assert multiprocessing.active_children() == []


def test_progress_adds_up_the_workers_counts(
    tmp_path: Path, key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks: list[int] = []

    class RecordingTicker:
        def __init__(self, total: int, desc: str) -> None:
            ticks.append(0)
            self.total, self.desc = total, desc

        def tick(self, n: int = 1) -> None:
            ticks[-1] += n

        def close(self) -> None:
            assert ticks[-1] == self.total and "3 processes" in self.desc

    monkeypatch.setattr(processes, "Ticker", RecordingTicker)
    write_chunks(tmp_path / "chunks.parquet", 30)
    with LLMServer(api_key=key_env, latency_s=0.01) as server:
        run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=6, processes=3))
    assert ticks == [30]


def test_per_minute_limits_are_shared_out_not_multiplied(tmp_path: Path, key_env: str) -> None:
    # 1,200 requests/min = 20/s in all; each worker's bucket holds one second of its share (10), so 40
    # requests take at least 1 s. Were the limit not divided, both buckets would hold 20 and all 40 go at once.
    write_chunks(tmp_path / "chunks.parquet", 40)
    with LLMServer(api_key=key_env) as server:
        params = generate_params(
            server, tmp_path / "cache", concurrency=8, processes=2, requests_per_minute=1200
        )
        start = time.perf_counter()
        run(tmp_path, params)
        assert time.perf_counter() - start >= 0.95
        assert server.chat_requests == 40


def test_a_fatal_answer_in_one_worker_stops_all_of_them(tmp_path: Path, key_env: str) -> None:
    # worker 0's first chunk is refused with 401; worker 1 alone would go on for 20 x 100 ms
    write_chunks(tmp_path / "chunks.parquet", 40)
    with LLMServer(api_key=key_env, latency_s=0.1) as server:
        server.add_fault("401", match="Article 0.")
        with pytest.raises(ParamsError, match=r"HTTP 401") as err:
            run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=2, processes=2))
        stopped_at = server.chat_requests
        time.sleep(0.3)
        assert server.chat_requests == stopped_at <= 8  # a few of worker 1's, under load; 21 if it went on
    assert KEY not in str(err.value)
    assert multiprocessing.active_children() == []


def test_an_interrupted_stage_stops_its_workers_gracefully(
    tmp_path: Path, key_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the stage only (not its workers): they get SIGTERM, stop sending, store what they received,
    and return normally (the default SIGTERM would kill them before the cache writer's last commit)."""
    exits = tmp_path / "exits"
    real_worker = processes._worker

    def recording_worker(*args: object) -> None:
        real_worker(*args)
        with exits.open("a") as fh:
            fh.write("returned\n")

    monkeypatch.setattr(processes, "_worker", recording_worker)
    # Ctrl-C as a terminal sends it, whatever an earlier test in this worker left as the SIGINT handler
    # (interrupt_main does nothing when SIGINT is ignored or at its default)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_a_busy_stage(tmp_path, key_env, exits)
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_a_busy_stage(tmp_path: Path, key_env: str, exits: Path) -> None:
    write_chunks(tmp_path / "chunks.parquet", 60)
    with LLMServer(api_key=key_env, latency_s=0.1) as server:

        def interrupt_when_busy() -> None:
            wait_until(lambda: server.chat_requests >= 12)
            _thread.interrupt_main()

        threading.Thread(target=interrupt_when_busy, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=4, processes=2))
        sent = server.chat_requests
    assert multiprocessing.active_children() == []
    assert exits.read_text().split() == ["returned", "returned"]
    with ResponseCache(tmp_path / "cache") as cache:
        assert 0 < cache.count("ok") < 60 and sent < 60


@pytest.mark.parametrize("how", ["raises", "dies"])
def test_a_crashed_worker_fails_the_run_with_its_reason(
    tmp_path: Path, key_env: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    real_worker = processes._worker

    def faulty_worker(params: GenerateParams, *args: object) -> None:
        if params.concurrency == 1 and how == "dies":  # worker 1 of (2 + 1)
            os.kill(os.getpid(), signal.SIGKILL)
        if params.concurrency == 1:
            args[-1].send(("error", "Traceback ...\nOSError: disk full"))  # type: ignore[union-attr]
            return
        real_worker(params, *args)

    monkeypatch.setattr(processes, "_worker", faulty_worker)
    write_chunks(tmp_path / "chunks.parquet", 30)
    expected = r"worker 1 died \(exit code -9\)" if how == "dies" else r"(?s)worker 1 failed:\n.*disk full"
    with LLMServer(api_key=key_env, latency_s=0.05) as server, pytest.raises(RuntimeError, match=expected):
        run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=3, processes=2))
    assert multiprocessing.active_children() == []
    assert not (tmp_path / "questions.parquet").exists()


@pytest.mark.slow  # a subprocess: a few seconds of imports
def test_sigkilled_stage_stops_its_workers_and_resumes(tmp_path: Path, key_env: str) -> None:
    n = 160
    with LLMServer(api_key=key_env, latency_s=0.04) as server:
        project = scratch_project(tmp_path, server, n, concurrency=4, processes=2)
        proc = start_stage(project)
        wait_until(lambda: server.chat_requests >= 40 or proc.poll() is not None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        time.sleep(2 * processes.PARENT_CHECK_S + 0.3)  # the orphaned workers notice and stop
        stopped_at = server.chat_requests
        time.sleep(0.5)
        assert server.chat_requests == stopped_at < n  # nothing is sent any more
        with ResponseCache(project / "data" / "cache" / "llm") as cache:
            stored = cache.count("ok")
        assert stopped_at - stored <= 4  # in flight when the workers stopped, at most
        server.reset_counters()
        processed = project / "data" / "processed"
        from lexqa.config import load_params

        generate.run(
            load_params(project / "params.yaml"), in_dir=processed, out_dir=processed, metrics_dir=tmp_path
        )
        assert server.chat_requests == n - stored  # only what had no answer
    questions = read_table(processed / "questions.parquet", QUESTIONS)
    assert questions["chunk_id"].n_unique() == n and (questions["status"] == "ok").all()
