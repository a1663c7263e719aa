"""A no-change ``dvc repro`` of the demo pipeline: how long a user waits to learn that nothing needs to run.

Runs in the project root after ``make run`` (when ``dvc status dvc.yaml`` reports a stage to run, it prints so
and measures nothing: a benchmark never runs the pipeline). Prints the best and median of several runs against
the baseline of ``dvc --version`` (DVC's own start-up), measured in the same run. Target: under 2 s.

    python benchmarks/repro.py              # 7 rounds
    python benchmarks/repro.py --quick      # 1 round: a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from support.quick import parse_args

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")
ENV = os.environ | {
    "DVC_NO_ANALYTICS": "1",
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
}


def seconds(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([DVC, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed runs of each command")
    args = parse_args(parser, "1 round", rounds=1)
    rounds = args.rounds
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"no-change dvc repro on {os.cpu_count()} CPUs (load average {load})")
    status = subprocess.run([DVC, "status", "--quiet", "dvc.yaml"], cwd=ROOT, env=ENV, capture_output=True)
    if status.returncode != 0:
        print("the pipeline has stages to run: run `make run` first (nothing measured)")
        return
    seconds("repro")  # warm the file-system and DVC's state database once
    repro, version = [], []
    for _ in range(rounds):
        elapsed, out = seconds("repro")
        assert "Running stage" not in out, out
        repro.append(elapsed)
        version.append(seconds("--version")[0])
    print(f"  dvc repro (nothing to run)  best {min(repro):.2f} s  median {statistics.median(repro):.2f} s")
    print(
        f"  dvc --version (start-up)    best {min(version):.2f} s  median {statistics.median(version):.2f} s"
    )
    print(f"  repro / start-up: {min(repro) / min(version):.1f}x   target: under 2 s")


if __name__ == "__main__":
    main()
