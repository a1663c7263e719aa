"""Which storage for the embedding cache: SQLite (what lexqa uses) against numpy shards and parquet parts.

Each candidate writes ``--n`` random 768-d float32 vectors (16-byte keys, batches of 1,024, as the embedder
stores its blocks), then a fresh process looks up ``--lookups`` random keys (a stage reading its corpus from
the cache). The script prints write and look-up rates, the look-up process's peak RSS over its start-up (what
holding the index costs) and the size on disk::

    .venv/bin/python benchmarks/embedding_store.py                  # 200,000 vectors (600 MB)
    .venv/bin/python benchmarks/embedding_store.py --n 1000000      # the issue's million (3 GB of vectors)
    .venv/bin/python benchmarks/embedding_store.py --quick          # smoke run for CI

Candidates (the two others are written here only to be measured):

- ``sqlite``: :class:`lexqa.embed.store.VectorStore`, one row per vector, WAL journal, CRC per row;
- ``npy-shards``: one ``.npy`` file of vectors and one of keys per batch (written to a temporary name, then
  renamed); a reader loads every key file into a dict, then reads rows through ``np.load(mmap_mode="r")``;
- ``parquet-parts``: one parquet file (key, vector as fixed-size binary) per batch; a reader scans the key
  column of every part, then takes the rows it needs.

What the measurement cannot show, and decides as much: SQLite gives atomic multi-row commits, concurrent
writers with one copy per key (``INSERT OR IGNORE``) and corruption detection out of the box; the shard formats
need a lock or a merge step for two writers and leave deduplication to the reader. See docs/decisions.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from support.quick import parse_args

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1024


def key(i: int) -> bytes:
    return hashlib.sha256(f"text {i}".encode()).digest()[:16]


def vectors(lo: int, n: int, dim: int) -> np.ndarray:
    rows = np.random.default_rng(lo).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------- writers
def write_sqlite(folder: Path, n: int, dim: int) -> None:
    from lexqa.embed.store import VectorStore

    store = VectorStore(folder / "v.sqlite", "f" * 64, "bench")
    for lo in range(0, n, BATCH):
        m = min(BATCH, n - lo)
        store.put([key(i) for i in range(lo, lo + m)], vectors(lo, m, dim))
    store.close()


def write_npy(folder: Path, n: int, dim: int) -> None:
    for lo in range(0, n, BATCH):
        m = min(BATCH, n - lo)
        for name, array in (
            ("v", vectors(lo, m, dim)),
            ("k", np.frombuffer(b"".join(key(i) for i in range(lo, lo + m)), dtype=np.uint8).reshape(m, 16)),
        ):
            tmp = folder / f".{lo:09d}.{name}.npy.tmp"
            with tmp.open("wb") as fh:
                np.save(fh, array)
            tmp.replace(folder / f"{lo:09d}.{name}.npy")


def write_parquet(folder: Path, n: int, dim: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for lo in range(0, n, BATCH):
        m = min(BATCH, n - lo)
        blob = vectors(lo, m, dim)
        table = pa.table(
            {
                "key": pa.array([key(i) for i in range(lo, lo + m)], pa.binary(16)),
                "vector": pa.array([row.tobytes() for row in blob], pa.binary(dim * 4)),
            }
        )
        pq.write_table(table, folder / f".{lo:09d}.tmp", compression="none")
        (folder / f".{lo:09d}.tmp").replace(folder / f"{lo:09d}.parquet")


# --------------------------------------------------------------------------------------------- readers
def read_sqlite(folder: Path, wanted: list[bytes]) -> int:
    from lexqa.embed.store import VectorStore

    return len(VectorStore(folder / "v.sqlite", "f" * 64, "bench").get(wanted))


def read_npy(folder: Path, wanted: list[bytes]) -> int:
    index: dict[bytes, tuple[Path, int]] = {}
    for keys_file in sorted(folder.glob("*.k.npy")):
        shard = keys_file.with_name(keys_file.name.replace(".k.", ".v."))
        for row, k in enumerate(np.load(keys_file)):
            index[k.tobytes()] = (shard, row)
    found: dict[bytes, np.ndarray] = {}
    opened: dict[Path, np.ndarray] = {}
    for k in wanted:
        shard, row = index[k]
        if shard not in opened:
            opened[shard] = np.load(shard, mmap_mode="r")
        found[k] = np.array(opened[shard][row])
    return len(found)


def read_parquet(folder: Path, wanted: list[bytes]) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    want = set(wanted)
    found = 0
    for part in sorted(folder.glob("*.parquet")):
        keys_col = pq.read_table(part, columns=["key"])["key"]
        rows = [i for i, k in enumerate(keys_col.to_pylist()) if k in want]
        if rows:
            found += len(pq.read_table(part, columns=["vector"]).take(pc.cast(rows, "int64")))
    return found


CANDIDATES = {
    "sqlite": (write_sqlite, read_sqlite),
    "npy-shards": (write_npy, read_npy),
    "parquet-parts": (write_parquet, read_parquet),
}


def child(kind: str, folder: Path, n: int, lookups: int) -> None:
    """Look up random keys in a fresh process; print seconds and peak RSS as JSON."""
    rng = np.random.default_rng(1)
    wanted = [key(int(i)) for i in rng.choice(n, size=min(lookups, n), replace=False)]
    import pyarrow.parquet  # noqa: F401  (imports are not what is timed)

    import lexqa.embed.store  # noqa: F401

    started = time.perf_counter()
    found = CANDIDATES[kind][1](folder, wanted)
    seconds = time.perf_counter() - started
    assert found == len(wanted), (found, len(wanted))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss}))


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="vectors written")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--lookups", type=int, default=20_000, help="random keys read back")
    parser.add_argument("--dir", help="where to write (default: a temporary folder)")
    parser.add_argument("--only", choices=sorted(CANDIDATES), action="append", help="measure these only")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parse_args(parser, "4,096 vectors, 512 look-ups", n=4096, lookups=512)
    if args.child:
        child(args.child[0], Path(args.child[1]), args.n, args.lookups)
        return
    base = Path(args.dir or tempfile.mkdtemp(prefix="lexqa-store-"))
    print(
        f"{args.n:,} vectors of {args.dim} dims ({args.n * args.dim * 4 / 2**20:,.0f} MiB), {args.lookups:,} look-ups"
    )
    print(
        f"{'format':<14} {'write vec/s':>12} {'look-up keys/s':>15} {'look-up peak RSS':>17} {'on disk':>10}"
    )
    for kind in args.only or CANDIDATES:
        folder = base / kind
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        CANDIDATES[kind][0](folder, args.n, args.dim)
        write_s = time.perf_counter() - started
        command = [
            sys.executable,
            __file__,
            "--n",
            str(args.n),
            "--lookups",
            str(args.lookups),
            "--child",
            kind,
            str(folder),
        ]
        out = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"PYTHONPATH": str(ROOT / "src")},
        )
        read = json.loads(out.stdout.strip().splitlines()[-1])
        lookups = min(args.lookups, args.n)
        print(
            f"{kind:<14} {args.n / write_s:>12,.0f} {lookups / read['seconds']:>15,.0f} "
            f"{read['rss_mb']:>14,.0f} MB {size_of(folder) / 2**20:>7,.0f} MB",
            flush=True,
        )
        shutil.rmtree(folder, ignore_errors=True)
    if not args.dir:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
