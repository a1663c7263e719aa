"""Hostile runtime faults (issue 12, points 3, 5, 6, 8): secrets never echo, killed writers' temp files are
removed by the next run, connection errors keep their class, and params never coerce one type into another.

Everything network-bound runs against real sockets on 127.0.0.1 that the tests open (a server that echoes the
request's headers in its error bodies, a closed port, a server that resets or never answers, plain HTTP spoken
to an https URL), plus one unresolvable ``.invalid`` name.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import openai
import polars as pl
import pytest
import yaml
from llm_server import generate_params, write_chunks

from lexqa import generate
from lexqa.config import ParamsError, parse_params
from lexqa.curate.judge import Judge
from lexqa.fetch.client import FetchError, PoliteClient
from lexqa.secrets import redact, remember
from lexqa.summary import StageSummary
from lexqa.tables import (
    DOCUMENTS,
    QUESTIONS,
    STALE_AFTER_S,
    empty,
    read_table,
    remove_stale_temp_files,
    write_table,
)

ROOT = Path(__file__).resolve().parents[1]
KEY = "3f9c2a7b4e1d8f6a0c5b9e2d7a4f1c8b6e3d0a9f"  # not shaped like a key: only remembering it hides it
PASTED = "sk-proj-Pasted4ByMistake0123456789abcdef"
OTHER = "sk-live-SomeoneElsesKey0123456789"  # a key the process never knew: hidden by its shape
ENV = "LEXQA_TEST_API_KEY"


def raw_params() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def params_error(raw: dict[str, Any]) -> str:
    with pytest.raises(ParamsError) as info:
        parse_params(raw)
    return str(info.value)


def stage_env(**extra: str) -> dict[str, str]:
    return os.environ | {"LEXQA_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT / "src"), **extra}


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def assert_nowhere(secret: str, texts: list[str], files: list[Path]) -> None:
    """Neither the secret nor a 16-character piece of it in any text or file."""
    for piece in (secret, secret[4:20]):
        assert not [t for t in texts if piece in t], f"{piece!r} printed"
        assert not [p for p in files if piece.encode() in p.read_bytes()], f"{piece!r} written"


# ============================================================================ 3. secrets never echo
@pytest.mark.parametrize(
    "pasted",
    [
        PASTED,  # an OpenAI key
        "3f9c2a7b4e1d8f6a0c5b9e2d",  # lower-case hex: the old pattern took it for a variable name
        "AKZQ7TUVW3XY4Z5A6B7C8D9E",  # upper case, no underscore, digits: shaped like a key, not a name
    ],
)
def test_a_key_pasted_into_api_key_env_is_refused_without_being_shown(pasted: str) -> None:
    raw = raw_params()
    raw["generate"]["api_key_env"] = pasted
    raw["generate"]["concurrency"] = pasted  # a second error about the same value, under another key
    message = params_error(raw)
    assert "generate.api_key_env: must be the NAME of an environment variable" in message
    assert "generate.concurrency: must be a whole number, not a string" in message
    assert pasted not in message and pasted[4:16] not in message


def test_a_pasted_secret_of_the_wrong_type_is_not_shown_either() -> None:
    raw = raw_params()
    raw["fetch"] = {"legifrance": {"client_secret_env": 4829175630184726}}
    message = params_error(raw)
    assert "fetch.legifrance.client_secret_env: must be a string, not a whole number" in message
    assert "4829175630184726" not in message


def test_the_stage_prints_the_params_error_without_the_pasted_key(tmp_path: Path) -> None:
    raw = raw_params()
    raw["generate"]["api_key_env"] = PASTED
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "ingest.py")],
        cwd=tmp_path,
        env=stage_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "generate.api_key_env" in proc.stderr
    assert_nowhere(PASTED, [proc.stdout, proc.stderr], files_under(tmp_path)[1:])


CRASHING_STAGE = """
import logging, os, threading, warnings
from lexqa.stage import run_stage

def stage(params):
    key = os.environ[params.generate.api_key_env]
    log = logging.getLogger("lexqa.test")
    log.info("sending with headers {'Authorization': 'Bearer %s'}", key)
    try:
        raise ConnectionError(f"the server answered: key {key} refused")
    except ConnectionError:
        log.exception("request failed")
    warnings.warn(f"key {key} expires soon")
    thread = threading.Thread(target=lambda: 1 / 0 if key else None, name="sender")
    thread.start(); thread.join()
    raise RuntimeError(f"crashed while using {key} and {OTHER!r}")

if __name__ == "__main__":
    run_stage(stage)
"""


def test_a_crash_traceback_logs_and_warnings_never_print_the_key(tmp_path: Path) -> None:
    raw = raw_params()
    raw["generate"]["api_key_env"] = ENV
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    script = tmp_path / "crash.py"
    script.write_text(f"OTHER = {OTHER!r}\n" + CRASHING_STAGE, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=stage_env(**{ENV: KEY}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = proc.stderr
    assert proc.returncode == 1  # a crash is still a crash, with its traceback...
    assert "Traceback" in err and "RuntimeError: crashed while using *** and 'sk-***'" in err
    assert "ConnectionError: the server answered: key *** refused" in err  # log.exception's traceback
    assert "Bearer ***" in err and "key *** expires soon" in err  # a log line and a warning
    assert "Exception in thread sender" in err and "ZeroDivisionError" in err
    assert_nowhere(KEY, [proc.stdout, err], [])  # ...without the key
    assert_nowhere(OTHER, [proc.stdout, err], [])


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with one of :data:`ECHOES` in turn: error bodies that repeat the request's headers
    (as JSON, as plain text, the bare key, in a validation error, next to another key), and a 200 whose body
    is not JSON but the same echo."""

    protocol_version = "HTTP/1.1"
    counter = itertools.count()
    echoes: ClassVar[list[Callable[[dict, str, str], tuple[int, Any, str]]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers)
        auth = self.headers.get("Authorization", "")
        echo = self.echoes[next(self.counter) % len(self.echoes)]
        status, body, kind = echo(headers, auth, auth.removeprefix("Bearer "))
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST


JSON, TEXT = "application/json", "text/plain"
ECHOES: list[Callable[[dict, str, str], tuple[int, Any, str]]] = [
    lambda h, auth, key: (
        400,
        {"error": {"message": f"response_format json_schema unsupported ({auth})"}},
        JSON,
    ),
    lambda h, auth, key: (
        400,
        {"error": {"message": f"invalid request; headers were {json.dumps(h)}"}},
        JSON,
    ),
    lambda h, auth, key: (500, f"upstream failed\nAuthorization: {auth}\n".encode(), TEXT),
    lambda h, auth, key: (503, {"error": {"message": f"key {key} is over its quota"}}, JSON),
    lambda h, auth, key: (422, {"detail": [{"msg": "bad", "input": {"headers": h}}]}, JSON),
    lambda h, auth, key: (429, {"error": {"message": f"x-api-key: {key}; also seen {OTHER}"}}, JSON),
    lambda h, auth, key: (200, f"OK, {auth}".encode(), TEXT),
]


@contextmanager
def echo_server(echoes: list | None = None) -> Iterator[SimpleNamespace]:
    EchoHandler.counter, EchoHandler.echoes = itertools.count(), echoes or ECHOES
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_error_bodies_echoing_the_headers_reach_no_table_cache_summary_or_log(tmp_path: Path) -> None:
    """The generate stage, run as DVC runs it, against a server whose every answer repeats the key."""
    raw = raw_params()
    with echo_server() as server:
        params = generate_params(
            server, tmp_path / "data" / "cache" / "llm", concurrency=1, max_retries=0, max_failed_fraction=1.0
        )
        raw["generate"] = json.loads(params.generate.model_dump_json())
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        write_chunks(tmp_path / "data" / "processed" / "chunks.parquet", 6)
        proc = subprocess.run(
            [sys.executable, str(ROOT / "stages" / "generate.py")],
            cwd=tmp_path,
            env=stage_env(**{ENV: KEY}),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    questions = read_table(tmp_path / "data" / "processed" / "questions.parquet", QUESTIONS)
    errors = questions.unique("chunk_id")["error"].to_list()
    assert sorted(e.split(":")[0] for e in errors) == [
        "bad_response",
        "http_400",
        "http_422",
        "http_429",
        "http_500",
        "http_503",
    ]
    echoed = [e for e in errors if e.split(":")[0] in ("http_400", "http_503", "http_429", "bad_response")]
    assert len(echoed) == 4 and all("***" in e for e in echoed), errors  # the echo was kept, the key was not
    assert "the server refused response_format json_schema" in proc.stderr and "Bearer ***" in proc.stderr
    files = files_under(tmp_path)  # parquet, summary, metrics, the SQLite cache and its WAL
    assert {p.name for p in files} >= {"questions.parquet", "generate_summary.json", "responses.sqlite"}
    assert_nowhere(KEY, [proc.stdout, proc.stderr], files)
    assert_nowhere(OTHER, [proc.stdout, proc.stderr], files)


def test_the_judge_stores_no_echoed_key_in_its_rejects_or_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    with echo_server() as server:
        params = generate_params(server, tmp_path / "cache", concurrency=1, max_retries=0)
        judge = Judge(params.curate.judge.model_copy(update={"enabled": True}), params.generate)
        live = pl.DataFrame(
            {
                "question_id": [f"q{i}" for i in range(len(ECHOES))],
                "question": [f"Question {i} ?" for i in range(len(ECHOES))],
                "passage": [f"Passage {i}." for i in range(len(ECHOES))],
            }
        )
        rejected = judge(live)
    assert rejected.height == len(ECHOES) and set(rejected["reason"]) <= {"judge_failed", "judge_unparseable"}
    assert_nowhere(KEY, rejected["detail"].to_list(), files_under(tmp_path))


def test_fetch_errors_and_retry_logs_hide_query_string_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    busy = [lambda h, auth, key: (503, f"busy; you sent {h}".encode(), TEXT)]
    with echo_server(busy) as server:
        url = server.url.replace("/v1", f"/page?api_key={KEY}&token={OTHER}")
        http = parse_params(raw_params()).fetch.http.model_copy(update={"max_attempts": 2, "backoff_s": 0.0})
        with PoliteClient(http) as client, pytest.raises(FetchError) as info:
            client.request("GET", url)  # 503, retried once (a warning), then a FetchError
    assert "api_key=***" in str(info.value)
    assert_nowhere(KEY, [str(info.value), caplog.text], [])
    assert_nowhere(OTHER, [str(info.value), caplog.text], [])


def test_summaries_are_redacted_whatever_a_stage_puts_in_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remember(KEY)
    summary = StageSummary("generate")
    summary.extra["last_error"] = f"HTTP 500: Authorization: Bearer {KEY}"
    summary.extra["requests"] = {"notes": [f"key {KEY} refused", OTHER]}
    summary.finish(tmp_path / "summary.json")
    assert_nowhere(KEY, [capsys.readouterr().out], [tmp_path / "summary.json"])
    assert_nowhere(OTHER, [], [tmp_path / "summary.json"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Incorrect API key provided: sk-proj-abc123def456ghi", "Incorrect API key provided: sk-***"),
        ('{"authorization": "Bearer tok.en-1"}', '{"authorization": "Bearer ***"}'),
        ("proxy-authorization: Basic dXNlcjpwYXNz", "proxy-authorization: Basic ***"),
        ("x-api-key=deadbeefcafe&model=m", "x-api-key=***&model=m"),
        ("client_secret: 's3cr3t'", "client_secret: '***'"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2ln", "token ***"),
        ("prompt_tokens: 12, max_tokens=1024, api_key_env: OPENAI_API_KEY", None),  # left alone
    ],
)
def test_redact_hides_what_is_shaped_like_a_credential(text: str, expected: str | None) -> None:
    assert redact(text) == (text if expected is None else expected)
    assert redact(redact(text)) == redact(text)  # applying it twice changes nothing


# ============================================================================ 5. killed writers' temp files
WRITER = """
import sys, time
import polars as pl
from lexqa.tables import DOCUMENTS, TableWriter, empty
with TableWriter(sys.argv[1], DOCUMENTS) as writer:
    writer.write(empty(DOCUMENTS))
    print("writing", flush=True)
    sys.stdin.readline()  # stays mid-write until told (or killed)
"""


def start_writer(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        env=stage_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    return proc


def temp_files(folder: Path, name: str) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(f".{name}.") and p.name.endswith(".tmp")
    )


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "documents.parquet"
    writer = start_writer(path)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    left = temp_files(tmp_path, path.name)
    assert len(left) == 1 and f"-{writer.pid}." in left[0]  # the writer is in the name
    assert not path.exists()
    write_table(empty(DOCUMENTS), path, DOCUMENTS)  # the next run
    assert temp_files(tmp_path, path.name) == [] and read_table(path, DOCUMENTS).height == 0


def test_a_live_writers_and_other_outputs_temp_files_are_kept(tmp_path: Path) -> None:
    path, other = tmp_path / "documents.parquet", tmp_path / "chunks.parquet"
    killed = start_writer(other)  # another output's leftover: not this writer's business
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    live = start_writer(path)  # a second run of the same stage, still writing
    try:
        live_temp = temp_files(tmp_path, path.name)
        write_table(empty(DOCUMENTS), path, DOCUMENTS)
        assert temp_files(tmp_path, path.name) == live_temp  # not removed under the live writer's feet
        assert len(temp_files(tmp_path, other.name)) == 1
        live.communicate("done\n", timeout=60)  # the live writer finishes and renames its file
        assert live.returncode == 0
    finally:
        live.kill()
    assert temp_files(tmp_path, path.name) == [] and read_table(path, DOCUMENTS).height == 0


def test_temp_files_whose_writer_cannot_be_checked_go_by_age(tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    names = {
        "old_other_host": ".pairs.parquet.0badc0de-1234.abcdefgh.tmp",
        "new_other_host": ".pairs.parquet.0badc0de-1234.ijklmnop.tmp",
        "old_unnamed_writer": ".pairs.parquet.qrstuvwx.tmp",  # named before writers were recorded
        "not_a_temp_file": ".pairs.parquet.notes.txt",
    }
    for name in names.values():
        (tmp_path / name).write_text("x", encoding="utf-8")
    old = time.time() - STALE_AFTER_S - 60
    for key in ("old_other_host", "old_unnamed_writer"):
        os.utime(tmp_path / names[key], (old, old))
    removed = remove_stale_temp_files(path)
    assert sorted(p.name for p in removed) == sorted([names["old_other_host"], names["old_unnamed_writer"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [names["new_other_host"], names["not_a_temp_file"]]
    )


# ============================================================================ 6. connection error classes
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@contextmanager
def raw_server(behaviour: str) -> Iterator[int]:
    """A TCP server on 127.0.0.1: ``reset`` accepts then resets (SO_LINGER 0), ``silent`` accepts and never
    answers, ``http`` answers anything with a plain-HTTP 400 (so a TLS client hello gets HTTP back)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if behaviour == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            elif behaviour == "http":
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for conn in held:
            conn.close()


def resolver_fails_fast(host: str, within_s: float = 5.0) -> bool:
    """Whether the system resolver says quickly that ``host`` does not exist (it may hang or forward)."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(socket.getaddrinfo, host, 80)
    pool.shutdown(wait=False)
    try:
        future.result(timeout=within_s)
    except socket.gaierror:
        return True
    except (FutureTimeout, OSError):
        return False
    return False  # it resolved: a resolver that answers every name


@contextmanager
def target(kind: str) -> Iterator[str]:
    """A base URL that fails with ``kind``."""
    if kind == "connection_refused":
        yield f"http://127.0.0.1:{closed_port()}/v1"
    elif kind == "connection_dns":
        if not resolver_fails_fast("nonexistent.invalid"):
            pytest.skip("the system resolver does not fail fast on a .invalid name (it hangs or answers)")
        yield "http://nonexistent.invalid/v1"
    else:
        behaviour = {"connection_reset": "reset", "connection_tls": "http", "timeout": "silent"}[kind]
        with raw_server(behaviour) as port:
            scheme = "https" if kind == "connection_tls" else "http"
            yield f"{scheme}://127.0.0.1:{port}/v1"


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The client's aiohttp transport (the default), or its httpx one (when aiohttp is not installed)."""
    if request.param == "httpx":

        def missing(**_kwargs: Any) -> None:
            raise RuntimeError("aiohttp not installed")

        monkeypatch.setattr(openai, "DefaultAioHttpClient", missing)
    return request.param


CLASSES = {
    "connection_refused": "connection refused by 127.0.0.1:",
    "connection_reset": "reset or closed the connection before answering",
    "connection_dns": "cannot resolve the host of nonexistent.invalid:80",
    "connection_tls": "TLS handshake with 127.0.0.1:",
    "timeout": "no answer within 0.5 s",
}


@pytest.mark.parametrize("kind", list(CLASSES))
def test_each_connection_failure_is_recorded_as_its_class(
    kind: str, transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    write_chunks(tmp_path / "chunks.parquet", 2)
    with target(kind) as url:
        params = generate_params(
            SimpleNamespace(url=url),
            tmp_path / "cache",
            max_retries=1,
            timeout_s=0.5,
            concurrency=2,
            max_failed_fraction=1.0,
        )
        started = time.monotonic()
        generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path / "metrics")
        elapsed = time.monotonic() - started
    errors = read_table(tmp_path / "questions.parquet", QUESTIONS).unique("chunk_id")["error"].to_list()
    assert len(errors) == 2
    for error in errors:
        code, detail = error.split(": ", 1)
        assert code == kind and CLASSES[kind] in detail, error
    summary = json.loads((tmp_path / "generate_summary.json").read_text(encoding="utf-8"))
    assert summary["rejects_by_reason"] == {kind: 2}
    assert elapsed < 30  # two tries of two requests, bounded by the 0.5 s timeout: nothing hangs


def test_the_batch_backend_names_the_class_when_the_server_cannot_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    write_chunks(tmp_path / "chunks.parquet", 2)
    with target("connection_refused") as url:
        params = generate_params(
            SimpleNamespace(url=url), tmp_path / "cache", backend="openai-batch", max_retries=0
        )
        with pytest.raises(ParamsError, match=r"cannot be reached \(connection_refused: connection refused"):
            generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path / "metrics")


# ============================================================================ 8. strictly typed params
def set_key(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    *sections, key = dotted.split(".")
    node = raw
    for section in sections:
        node = node.setdefault(section, {})
    node[key] = value
    return raw


@pytest.mark.parametrize(
    ("dotted", "value", "says"),
    [
        ("generate.concurrency", True, "must be a whole number, not a boolean (got True)"),
        ("generate.concurrency", "16", "must be a whole number, not a string (got '16')"),
        ("generate.concurrency", 16.0, "must be a whole number, not a decimal number (got 16.0)"),
        ("generate.timeout_s", True, "must be a number, not a boolean (got True)"),
        ("generate.timeout_s", "120", "must be a number, not a string (got '120')"),
        ("ingest.detect_language", "yes", "must be true or false, not a string (got 'yes')"),
        ("ingest.detect_language", 1, "must be true or false, not a whole number (got 1)"),
        ("evaluate.bm25", "false", "must be true or false, not a string (got 'false')"),
        ("generate.model", 4, "must be a string, not a whole number (got 4)"),
        ("model.name_or_path", True, "must be a string, not a boolean (got True)"),
        ("train.matryoshka_dims", [384, "256"], "must be a whole number, not a string (got '256')"),
        ("generate.cache_dir", 7, "must be a path (a string), not a whole number (got 7)"),
        (
            "fetch.legifrance.date",
            20240101,
            "must be a date written YYYY-MM-DD, not a whole number (got 20240101)",
        ),
        ("fetch.legifrance.date", "2024-13-01", "must be a date written YYYY-MM-DD (got '2024-13-01')"),
    ],
)
def test_params_never_coerce_booleans_numbers_and_strings(dotted: str, value: Any, says: str) -> None:
    message = params_error(set_key(raw_params(), dotted, value))
    key = dotted.replace(".matryoshka_dims", ".matryoshka_dims[1]")
    line = next((ln.strip() for ln in message.splitlines() if ln.strip().startswith(f"{key}:")), None)
    assert line == f"{key}: {says}", message


def test_yaml_natural_spellings_still_work() -> None:
    """A whole number where a decimal one is expected (a widening that loses nothing), a date unquoted or
    quoted, a path as a string."""
    import datetime as dt

    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    raw = set_key(raw, "generate.timeout_s", 30)
    raw = set_key(raw, "train.matryoshka_weights", [1, 0.5, 1, 1, 1])
    raw = set_key(raw, "fetch.legifrance.date", yaml.safe_load("2024-01-01"))
    raw = set_key(raw, "fetch.legi.out", "data/raw/legi/other.tar.gz")
    params = parse_params(raw)
    assert params.generate.timeout_s == 30.0 and isinstance(params.generate.timeout_s, float)
    assert params.train.matryoshka_weights == [1.0, 0.5, 1.0, 1.0, 1.0]
    assert params.fetch.legifrance.date == dt.date(2024, 1, 1)
    assert params.fetch.legi.out == Path("data/raw/legi/other.tar.gz")
    quoted = parse_params(set_key(raw, "fetch.legifrance.date", "2024-01-01"))
    assert quoted.fetch.legifrance.date == dt.date(2024, 1, 1)
