"""Throughput, cache speed and memory of the generate stage against the loopback LLM server.

1. 2,000 chunks against ``tests/llm_server.py`` (its own process) answering after 100 ms, at concurrency 8,
   32 and 128, with ``generate.processes`` at its default (auto: one sending process per 64 in flight, at most
   one per CPU), after an unreported warm-up run. 1a: at the highest concurrency, auto and one process (the
   baseline) alternate for ``--rounds`` pairs, and the ratio of their median efficiencies is printed.
   Against the ideal N x latency / concurrency: the stage's wall time (prompts, requests, cache, table), and
   the sending phase alone (``requests.seconds`` of its summary: first request to last answer stored).
   Target: at least 90 % of ideal at concurrency 128. The CPU per request of the stage (its workers included)
   and of the server are printed with the ceiling they set together on this machine's cores
   (ideal / max(ideal, CPU s / cores)): client and server share the cores, so on a small machine the run is
   CPU-bound long before the concurrency engine is.
1b. The same requests at the highest concurrency without the stage, in the same run: through the official
   ``openai`` client exactly as the stage sends them (``client.post``), and through aiohttp alone (the transport
   under it): what the client library itself costs per request.
2. A fully cached re-run of 10,000 chunks (0 requests): target under 3 s, in process and as ``python
   stages/generate.py`` (imports included).
3. Memory: the peak resident-set growth of each run (sampled every 10 ms), which should not grow with the
   number of requests in flight or the number of chunks.

    python benchmarks/generate.py              # about a minute
    python benchmarks/generate.py --quick      # a smoke run on tiny sizes (figures meaningless)
    python benchmarks/generate.py --chunks 500 --latency 0.05 --concurrency 8 32
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LEXQA_NO_PROGRESS", "1")
os.environ["LEXQA_BENCH_KEY"] = "sk-bench-not-a-secret"

import polars as pl  # noqa: E402
import yaml  # noqa: E402
from llm_server import generate_params, write_chunks  # noqa: E402
from support.quick import parse_args  # noqa: E402

from lexqa import generate  # noqa: E402
from lexqa.llm.cache import Entry, ResponseCache  # noqa: E402
from lexqa.llm.chat import make_client  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[dict[str, float]]:
    """Yields a dict that holds ``mb``, the peak RSS above the starting RSS, once the block is done."""
    result = {"mb": 0.0}
    start, peak, done = rss_mb(), [rss_mb()], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], rss_mb())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result["mb"] = max(peak[0], rss_mb()) - start


@contextlib.contextmanager
def server_process(latency: float) -> Iterator[tuple[str, int]]:
    """The loopback server in its own process: its URL and pid."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "llm_server.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip(), proc.pid
    finally:
        proc.kill()
        proc.wait()


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and of its children already reaped (the stage's workers; the server, still
    running, is not counted)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def requests_seen(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_stats") as response:
        return json.load(response)["chat_requests"]


class Server:  # what generate_params needs from a server
    def __init__(self, url: str) -> None:
        self.url = url


def params_for(url: str, cache: Path, concurrency: int, processes: int = 0):
    return generate_params(
        Server(url),
        cache,
        api_key_env="LEXQA_BENCH_KEY",
        concurrency=concurrency,
        processes=processes,
        timeout_s=30.0,
        requests_per_minute=0,
        tokens_per_minute=0,
    )


HEADER = (
    f"   {'concurrency':>11} {'processes':>9} {'ideal s':>7} {'stage s':>7} {'efficiency':>10} {'sending s':>9} "
    f"{'efficiency':>10} {'requests':>8} {'peak RSS +MB':>12} {'client CPU':>10} {'server CPU':>10} "
    f"{'CPU ceiling':>11}\n   {'ms/req':>102} {'ms/req':>10}"
)


def stage_run(
    url: str, server_pid: int, work: Path, n: int, latency: float, concurrency: int, processes: int
) -> float:
    """One run of the stage on a fresh cache, printed as a row; returns its efficiency (ideal / stage s)."""
    run_dir = work / f"run-{time.monotonic_ns()}"
    params = params_for(url, run_dir / "cache", concurrency, processes)
    before, server_cpu = requests_seen(url), process_cpu_s(server_pid)
    with peak_rss_growth() as mem:
        start, cpu = time.perf_counter(), own_cpu_s()
        with contextlib.redirect_stdout(io.StringIO()):  # the stage's summary: not a figure here
            summary = generate.run(params, in_dir=work, out_dir=run_dir, metrics_dir=run_dir)
        elapsed, cpu = time.perf_counter() - start, own_cpu_s() - cpu
    server_cpu = process_cpu_s(server_pid) - server_cpu
    sent = requests_seen(url) - before
    requests = summary.extra["requests"]
    ideal = n * latency / concurrency
    ceiling = ideal / max(ideal, (cpu + server_cpu) / (os.cpu_count() or 1))
    print(
        f"   {concurrency:>11} {requests['processes']:>9} {ideal:>7.2f} {elapsed:>7.2f} "
        f"{ideal / elapsed:>10.1%} {requests['seconds']:>9.2f} {ideal / requests['seconds']:>10.1%} "
        f"{sent:>8,} {mem['mb']:>12.1f} {cpu / n * 1000:>10.2f} {server_cpu / n * 1000:>10.2f} {ceiling:>11.1%}"
    )
    return ideal / elapsed


def throughput(work: Path, n: int, latency: float, levels: list[int], rounds: int) -> None:
    write_chunks(work / "chunks.parquet", n)
    top = max(levels)
    with server_process(latency) as (url, server_pid):
        with contextlib.redirect_stdout(
            io.StringIO()
        ):  # warm-up (first connections, lazy imports): not shown
            generate.run(params_for(url, work / "warm-up", top), in_dir=work, out_dir=work, metrics_dir=work)
        print(f"\n1. {n:,} chunks, server latency {latency * 1000:.0f} ms (server in its own process)")
        print(HEADER)
        for concurrency in levels:
            stage_run(url, server_pid, work, n, latency, concurrency, 0)
        print(f"\n1a. concurrency {top}: processes auto vs 1 (the baseline), alternating, {rounds} rounds")
        print(HEADER)
        auto, single = [], []
        for _ in range(rounds):
            auto.append(stage_run(url, server_pid, work, n, latency, top, 0))
            single.append(stage_run(url, server_pid, work, n, latency, top, 1))
        print(
            f"   median stage efficiency: auto {statistics.median(auto):.1%}, one process "
            f"{statistics.median(single):.1%}; ratio {statistics.median(auto) / statistics.median(single):.2f}x"
        )
        transports(url, params_for(url, work / "transports", top), work, latency, top)


def transports(url: str, params, work: Path, latency: float, concurrency: int) -> None:
    """The stage's request path alone, through the openai client and through bare aiohttp (its transport)."""
    import aiohttp
    import httpx2

    jobs = generate.build_jobs(params.generate, pl.read_parquet(work / "chunks.parquet"))
    n = len(jobs)
    key = os.environ["LEXQA_BENCH_KEY"]

    async def via_openai() -> None:
        client = make_client(params.generate, key, concurrency)
        pending = iter(jobs)

        async def worker() -> None:
            for job in pending:
                response = await client.post("/chat/completions", body=job.body, cast_to=httpx2.Response)
                json.loads(response.content)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await client.close()

    async def via_aiohttp() -> None:
        pending = iter(jobs)
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

            async def worker() -> None:
                for job in pending:
                    async with session.post(f"{url}/chat/completions", json=job.body, headers=headers) as r:
                        json.loads(await r.read())

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    ideal = n * latency / concurrency
    print(
        f"\n1b. the same {n:,} requests at concurrency {concurrency} without the stage (ideal {ideal:.2f} s)"
    )
    for name, send in (("openai client (client.post)", via_openai), ("aiohttp alone", via_aiohttp)):
        start, cpu = time.perf_counter(), time.process_time()
        asyncio.run(send())
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"   {name:<28} {elapsed:>6.2f} s  efficiency {ideal / elapsed:>6.1%}  CPU {cpu / n * 1000:.2f} ms/req"
        )


def cached_rerun(work: Path, n: int) -> None:
    write_chunks(work / "chunks.parquet", n)
    params = params_for(
        "http://127.0.0.1:9/v1", work / "cache-10k", 16
    )  # nothing listens: 0 requests or fail
    jobs = generate.build_jobs(params.generate, pl.read_parquet(work / "chunks.parquet"))
    with ResponseCache(params.generate.cache_dir) as cache:  # as if a full run had answered everything
        cache.put_many(
            Entry(
                j.key,
                "ok",
                [(s, f"Question {k} ?") for k, s in enumerate(j.labels)],
                None,
                400,
                60,
                "m",
                "openai",
            )
            for j in jobs
        )
    print(f"\n2. fully cached re-run of {n:,} chunks (no server: any request would fail)")
    with peak_rss_growth() as mem:
        start, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            summary = generate.run(params, in_dir=work, out_dir=work, metrics_dir=work)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert summary.extra["requests"]["sent"] == 0 and summary.rows_out == 3 * n
    print(
        f"   in process: {elapsed:.2f} s wall, {cpu:.2f} s CPU ({summary.rows_out:,} questions, 0 requests, "
        f"peak RSS +{mem['mb']:.1f} MB)"
    )

    project = work / "project"
    (project / "data" / "processed").mkdir(parents=True)
    (project / "data" / "processed" / "chunks.parquet").write_bytes((work / "chunks.parquet").read_bytes())
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["generate"] = json.loads(params.generate.model_dump_json())
    (project / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "stages" / "generate.py")],
        cwd=project,
        check=True,
        capture_output=True,
        env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
    )
    print(
        f"   python stages/generate.py: {time.perf_counter() - start:.2f} s (imports and start-up included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument(
        "--rounds", type=int, default=3, help="auto vs one-process pairs at the top concurrency"
    )
    parser.add_argument("--cached-chunks", type=int, default=10_000)
    args = parse_args(
        parser,
        "200 chunks, 20 ms, concurrency 8 and 32, 500 cached",
        chunks=200,
        latency=0.02,
        concurrency=[8, 32],
        cached_chunks=500,
        rounds=1,
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"generate benchmark on {os.cpu_count()} CPUs (load average {load}), Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="lexqa-bench-generate-") as tmp:
        throughput(Path(tmp), args.chunks, args.latency, args.concurrency, args.rounds)
        cached_rerun(Path(tmp) / "cached", args.cached_chunks)


if __name__ == "__main__":
    main()
