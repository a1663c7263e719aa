"""A local OpenAI-compatible server, as llama-cpp-python's behaves, emulated on 127.0.0.1 (tests/llm_server.py):
no API key needed, and the ``response_format`` step-down when ``json_schema`` is refused, even with a 500.

The real llama.cpp server is exercised in tests/test_llama_server.py (when it is installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from llm_server import LLMServer, generate_params, write_chunks

from lexqa import generate
from lexqa.config import ParamsError
from lexqa.llm.keys import NO_KEY, api_key, is_local
from lexqa.tables import QUESTIONS, read_table


def run(tmp_path: Path, params: Any) -> pl.DataFrame:
    generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path / "metrics")
    return read_table(tmp_path / "questions.parquet", QUESTIONS)


def sent_formats(server: LLMServer) -> list[str]:
    """The response_format of each request the server saw: its type, ``+schema`` when JSON mode carried one."""
    formats = []
    for body in server.request_log:
        fmt = body.get("response_format") or {"type": "text"}
        formats.append(fmt["type"] + ("+schema" if "schema" in fmt else ""))
    return formats


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEXQA_TEST_API_KEY", raising=False)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.1.2.3:8000/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8080/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://192.168.1.20:8000/v1", False),
        ("http://localhost.example.com/v1", False),
    ],
)
def test_is_local(url: str, local: bool) -> None:
    assert is_local(url) is local


def test_the_key_may_be_unset_for_a_local_server_only(tmp_path: Path, no_key: None) -> None:
    params = generate_params(None, tmp_path / "cache")
    assert api_key(params.generate) == NO_KEY
    remote = generate_params(None, tmp_path / "cache", base_url="https://api.openai.com/v1")
    with pytest.raises(ParamsError, match=r"LEXQA_TEST_API_KEY .* is not set.*needs none"):
        api_key(remote.generate)


def test_generate_against_a_local_server_without_a_key(tmp_path: Path, no_key: None) -> None:
    write_chunks(tmp_path / "chunks.parquet", 4)
    with LLMServer() as server:
        questions = run(tmp_path, generate_params(server, tmp_path / "cache"))
    assert (questions["status"] == "ok").all() and questions.height == 12
    assert server.authorizations == {f"Bearer {NO_KEY}"}  # a placeholder, never another variable's key


def test_a_local_server_that_wants_a_key_stops_the_run_and_says_which_variable(
    tmp_path: Path, no_key: None
) -> None:
    write_chunks(tmp_path / "chunks.parquet", 4)
    with LLMServer(api_key="the-key-it-was-started-with") as server:
        with pytest.raises(
            ParamsError, match=r"asks for an API key \(HTTP 401\) and \$LEXQA_TEST_API_KEY is not set"
        ):
            run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=1))
        assert server.statuses == {401: 1}  # stopped at the first refusal


def test_a_500_refusing_json_schema_steps_down_to_json_mode_with_the_schema(
    tmp_path: Path, no_key: None
) -> None:
    """llama-cpp-python answers ``json_schema`` with a 500 whose message names response_format; it enforces a
    schema given as ``{"type": "json_object", "schema": ...}``. Before the fix every chunk failed http_500."""
    write_chunks(tmp_path / "chunks.parquet", 5)
    with LLMServer(reject_formats=("json_schema",), reject_status=500) as server:
        questions = run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=1))
    assert (questions["status"] == "ok").all()
    assert sent_formats(server) == ["json_schema"] + ["json_object+schema"] * 5
    schema = server.request_log[1]["response_format"]["schema"]
    assert schema["properties"]["questions"]["minItems"] == 3


def test_every_step_down_in_turn(tmp_path: Path, no_key: None) -> None:
    write_chunks(tmp_path / "chunks.parquet", 3)
    with LLMServer(reject_formats=("json_schema", "json_object")) as server:
        questions = run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=1))
    assert (questions["status"] == "ok").all()
    assert sent_formats(server) == ["json_schema", "json_object+schema", "json_object"] + ["text"] * 3


def test_a_500_not_about_the_format_is_retried_without_stepping_down(tmp_path: Path, no_key: None) -> None:
    write_chunks(tmp_path / "chunks.parquet", 3)
    with LLMServer() as server:
        server.add_fault("500", times=2)
        questions = run(tmp_path, generate_params(server, tmp_path / "cache", concurrency=1))
    assert (questions["status"] == "ok").all()
    assert server.statuses[500] == 2 and sent_formats(server) == ["json_schema"] * 5
