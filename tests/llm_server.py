"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks, with injectable faults.

It speaks the endpoints the generate stage uses: ``POST /v1/chat/completions``, ``POST /v1/files``, ``GET
/v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}`` and ``GET /v1/batches``. Answers are
made from the request's JSON schema (the number of questions and the allowed styles), so any prompt gets a
well-formed reply unless a fault says otherwise::

    with LLMServer(latency_s=0.1) as server:
        server.add_fault("429", times=2, retry_after=0.2)     # the next two chat requests get 429
        server.add_fault("wrong_count", match="Article 9")     # the next request whose prompt has "Article 9"
        ...  # point the client at server.url ("http://127.0.0.1:<port>/v1")
        assert server.chat_requests == 5

    LLMServer(reject_formats=("json_schema",))   # a server that answers 400 to structured outputs
    LLMServer(reject_formats=("json_schema",), reject_status=500)   # ...or 500, as llama-cpp-python does

Faults: ``429`` (with ``retry-after``), ``500``, ``401`` (echoes the presented key, like real servers do),
``slow`` (answers after ``delay_s``, past the client's timeout), ``reset`` (closes the connection: TCP RST),
``empty`` (empty content), ``malformed`` (content that is not JSON), ``wrong_count`` (one question too few).
Faults also apply to the lines of a batch (as per-line errors or bad contents).

Run it alone (benchmarks, manual trials): ``python tests/llm_server.py --port 8000 --latency 0.1``; it prints
its URL, and ``GET /v1/_stats`` returns its request counters.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import itertools
import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAULTS = ("429", "500", "401", "slow", "reset", "empty", "malformed", "wrong_count")


@dataclass
class Fault:
    kind: str
    times: int
    match: str | None
    retry_after: float
    delay_s: float


def _prompt_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def default_answer(body: dict[str, Any]) -> list[dict[str, str]]:
    """Questions for a request: as many as the JSON schema's ``minItems``, styles from its enum in turn.

    Each question is made of words of the excerpt (between ``<<<`` and ``>>>`` in the prompt), every third one
    from a different start, so questions are in the chunk's language, differ from chunk to chunk and from each
    other, point at their chunk, and copy no run of it: they pass curate's filters as an LLM's would.
    """
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or {}
    items = schema.get("properties", {}).get("questions", {})
    n = int(items.get("minItems", 3))
    styles = items.get("items", {}).get("properties", {}).get("style", {}).get("enum") or ["query"]
    prompt = _prompt_text(body)
    excerpt = prompt.rpartition("<<<")[2].partition(">>>")[0] or prompt
    words = list(dict.fromkeys(w for w in re.findall(r"\w{4,}", excerpt) if not w.isdigit()))
    questions = []
    for k in range(n):
        picked = words[k::3][:6] or [f"règle{k}"]
        text = " ".join(picked)
        questions.append({"style": styles[k % len(styles)], "question": f"{text[:1].upper()}{text[1:]} ?"})
    return questions


class LLMServer:
    """A threaded loopback server; ``with LLMServer() as s:`` starts and stops it. Thread-safe counters."""

    def __init__(
        self,
        latency_s: float = 0.0,
        api_key: str | None = None,
        batch_polls: int = 1,
        port: int = 0,
        reject_formats: tuple[str, ...] = (),
        reject_status: int = 400,
    ) -> None:
        self.latency_s = latency_s
        self.reject_formats = reject_formats
        self.reject_status = reject_status
        self.in_flight = 0
        self.max_in_flight = 0
        self.api_key = api_key
        self.batch_polls = batch_polls
        self.chat_requests = 0
        self.statuses: Counter[int] = Counter()
        self.request_log: list[dict[str, Any]] = []
        self.authorizations: set[str] = set()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_creations = 0
        self.batch_lines = 0
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self), bind_and_activate=False)
        self._httpd.request_queue_size = 4096
        self._httpd.daemon_threads = True
        self._httpd.allow_reuse_address = True
        self._httpd.server_bind()
        self._httpd.server_activate()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> LLMServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_fault(
        self,
        kind: str,
        times: int = 1,
        match: str | None = None,
        retry_after: float = 0.0,
        delay_s: float = 1.0,
    ) -> None:
        """The next ``times`` requests (whose prompt contains ``match``, when given) get fault ``kind``."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        with self._lock:
            self._faults.append(Fault(kind, times, match, retry_after, delay_s))

    def reset_counters(self) -> None:
        with self._lock:
            self.chat_requests = 0
            self.max_in_flight = 0
            self.statuses.clear()
            self.request_log.clear()

    def take_fault(self, body: dict[str, Any]) -> Fault | None:
        prompt = _prompt_text(body)
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and (fault.match is None or fault.match in prompt):
                    fault.times -= 1
                    return fault
        return None

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    # ------------------------------------------------------------------ answers
    def completion(self, body: dict[str, Any], fault: Fault | None) -> dict[str, Any]:
        """A chat.completion object for ``body``; content faults (empty, malformed, wrong_count) shape it."""
        questions = default_answer(body)
        if fault and fault.kind == "wrong_count":
            questions = questions[:-1]
        content = json.dumps({"questions": questions}, ensure_ascii=False)
        if fault and fault.kind == "empty":
            content = ""
        elif fault and fault.kind == "malformed":
            content = '{"questions": [{"style": "query", "question": "Quel'
        prompt_tokens = max(1, len(_prompt_text(body)) // 4)
        completion_tokens = max(1, len(content) // 4)
        return {
            "id": self.new_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "test-model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def run_batch(self, batch: dict[str, Any]) -> None:
        """Answer every line of a batch's input file; results go to an output file and an error file."""
        out, errors = [], []
        for line in self.files[batch["input_file_id"]].decode("utf-8").splitlines():
            if not line.strip():
                continue
            req = json.loads(line)
            with self._lock:
                self.batch_lines += 1
            fault = self.take_fault(req["body"])
            rid = self.new_id("batch_req")
            if fault and fault.kind in ("429", "500", "401", "reset", "slow"):
                code = {"429": 429, "401": 401}.get(fault.kind, 500)
                err = {"message": f"injected {fault.kind}", "type": "server_error"}
                response = {"status_code": code, "request_id": rid, "body": {"error": err}}
                errors.append({"id": rid, "custom_id": req["custom_id"], "response": response, "error": None})
                continue
            response = {"status_code": 200, "request_id": rid, "body": self.completion(req["body"], fault)}
            out.append({"id": rid, "custom_id": req["custom_id"], "response": response, "error": None})
        for name, rows in (("output_file_id", out), ("error_file_id", errors)):
            if rows:
                fid = self.new_id("file")
                self.files[fid] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(
                    "utf-8"
                )
                batch[name] = fid
        batch["request_counts"] = {
            "total": len(out) + len(errors),
            "completed": len(out),
            "failed": len(errors),
        }
        batch["status"] = "completed"
        batch["completed_at"] = int(time.time())


def _handler_for(server: LLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm the body waits for the client's
        # delayed ACK of the headers (~40 ms on Linux), which would dwarf the latency under test.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        # ----------------------------------------------------------- plumbing
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = []  # uploads from aiohttp come chunked
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            with server._lock:
                server.statuses[status] += 1

        def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": "error", "code": str(status)}}, headers)

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization", "")
            with server._lock:
                server.authorizations.add(auth)
            if server.api_key is None or auth == f"Bearer {server.api_key}":
                return True
            presented = auth.removeprefix("Bearer ")
            self._error(401, f"Incorrect API key provided: {presented}. You can find your API key elsewhere.")
            return False

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        # ----------------------------------------------------------- routes
        def do_POST(self) -> None:
            raw = self._body()
            if not self._authorized():
                return
            if self.path == "/v1/chat/completions":
                self._chat(json.loads(raw))
            elif self.path == "/v1/files":
                self._upload(raw)
            elif self.path == "/v1/batches":
                self._create_batch(json.loads(raw))
            else:
                self._error(404, f"no route {self.path}")

        def do_GET(self) -> None:
            if not self._authorized():
                return
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts == ["v1", "_stats"]:
                self._send(200, {"chat_requests": server.chat_requests, "batch_lines": server.batch_lines})
            elif parts[:2] == ["v1", "batches"] and len(parts) == 3:
                self._retrieve_batch(parts[2])
            elif parts[:2] == ["v1", "batches"]:
                data = list(server.batches.values())
                self._send(200, {"object": "list", "data": data, "has_more": False})
            elif parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content":
                if parts[2] in server.files:
                    self._send(200, server.files[parts[2]])
                else:
                    self._error(404, f"no file {parts[2]}")
            else:
                self._error(404, f"no route {self.path}")

        def _chat(self, body: dict[str, Any]) -> None:
            with server._lock:
                server.chat_requests += 1
                server.request_log.append(body)
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._answer_chat(body)
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _answer_chat(self, body: dict[str, Any]) -> None:
            fmt = (body.get("response_format") or {}).get("type")
            if fmt in server.reject_formats:
                self._error(
                    server.reject_status, f"response_format of type {fmt} is not supported by this model"
                )
                return
            fault = server.take_fault(body)
            if server.latency_s:
                time.sleep(server.latency_s)
            if fault is None or fault.kind in ("empty", "malformed", "wrong_count"):
                self._send(200, server.completion(body, fault))
            elif fault.kind == "429":
                self._error(429, "Rate limit reached", {"retry-after": f"{fault.retry_after:g}"})
            elif fault.kind == "500":
                self._error(500, "The server had an error while processing your request.")
            elif fault.kind == "401":
                self._error(401, f"Incorrect API key provided: {self.headers.get('Authorization', '')[7:]}.")
            elif fault.kind == "slow":
                time.sleep(fault.delay_s)
                self._send(200, server.completion(body, None))
            elif fault.kind == "reset":
                self._reset()

        def _upload(self, raw: bytes) -> None:
            head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + raw)
            content = next(p.get_payload(decode=True) for p in message.iter_parts() if p.get_filename())
            fid = server.new_id("file")
            server.files[fid] = content
            now = int(time.time())
            meta = {
                "id": fid,
                "object": "file",
                "bytes": len(content),
                "created_at": now,
                "filename": "input.jsonl",
            }
            self._send(200, {**meta, "purpose": "batch", "status": "processed"})

        def _create_batch(self, body: dict[str, Any]) -> None:
            if body.get("input_file_id") not in server.files:
                self._error(400, "unknown input_file_id")
                return
            bid = server.new_id("batch")
            batch = {
                "id": bid,
                "object": "batch",
                "endpoint": body["endpoint"],
                "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"],
                "status": "validating",
                "created_at": int(time.time()),
                "metadata": body.get("metadata"),
                "polls": 0,
            }
            with server._lock:
                server.batches[bid] = batch
                server.batch_creations += 1
            self._send(200, batch)

        def _retrieve_batch(self, bid: str) -> None:
            batch = server.batches.get(bid)
            if batch is None:
                self._error(404, f"no batch {bid}")
                return
            with server._lock:
                batch["polls"] += 1
                if batch["status"] == "validating":
                    batch["status"] = "in_progress"
                if batch["status"] == "in_progress" and batch["polls"] >= server.batch_polls:
                    server.run_batch(batch)
            self._send(200, batch)

    return Handler


# ---------------------------------------------------------------------- helpers for the generate tests
FR_TEXT = (
    "Article {i}. Le bail d'habitation est conclu pour une durée d'au moins trois ans. "
    "Le locataire peut donner congé à tout moment, avec un préavis de trois mois."
)
RU_TEXT = (
    "Дело № А{i}-15/2024. Истец обратился в суд с иском о взыскании задолженности по договору займа. "
    "Ответчик в судебное заседание не явился, о времени и месте извещён надлежащим образом."
)


def write_chunks(path: Path, n: int) -> Path:
    """A ``chunks.parquet`` of ``n`` small chunks, French and Russian in turn, as the chunk stage makes."""
    from lexqa.tables import CHUNKS, frame, write_table

    rows = []
    for i in range(n):
        fr = i % 2 == 0
        text = (FR_TEXT if fr else RU_TEXT).format(i=i)
        rows.append(
            {
                "chunk_id": f"src:doc{i}#0",
                "doc_id": f"src:doc{i}",
                "ordinal": 0,
                "text": text,
                "n_tokens": len(text) // 4,
                "char_start": 0,
                "char_end": len(text),
                "heading": "article" if fr else "reasoning",
                "context": f"Code civil > Article {i}" if fr else f"Арбитражный суд, дело № А{i}-15/2024",
                "lang": "fr" if fr else "ru",
                "domain": "fr_codes" if fr else "ru_rulings",
                "source": "src",
            }
        )
    return write_table(frame(rows, CHUNKS), path, CHUNKS)


def generate_params(server: LLMServer | None, cache_dir: Path, **overrides: Any) -> Any:
    """The project's params with a ``generate`` section aimed at ``server``: fast retries, no rate limits."""
    from lexqa.config import load_params

    root = Path(__file__).resolve().parents[1]
    base = load_params(root / "params.yaml")
    prompts = {k: root / v for k, v in base.generate.prompts.items()}
    batch = {"poll_interval_s": 0.02, **overrides.pop("batch", {})}
    settings = {
        "backend": "openai",
        "base_url": server.url if server else "http://127.0.0.1:9/v1",
        "model": "test-model",
        "api_key_env": "LEXQA_TEST_API_KEY",
        "prompts": prompts,
        "cache_dir": cache_dir,
        "concurrency": 8,
        "requests_per_minute": 0,
        "tokens_per_minute": 0,
        "timeout_s": 2.0,
        "max_retries": 4,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "batch": base.generate.batch.model_copy(update=batch),
        **overrides,
    }
    generate = type(base.generate).model_validate(base.generate.model_dump() | settings)
    return base.model_copy(update={"generate": generate})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each chat answer")
    args = parser.parse_args()
    server = LLMServer(latency_s=args.latency, port=args.port)
    print(server.url, flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
