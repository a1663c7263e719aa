"""`make bench BENCH_FLAGS=--quick`, the README's smoke run of every script in benchmarks/.

Each script takes ``--quick`` (tiny sizes, seconds) and then prints, as its first line, a line starting with
``quick smoke run``, followed by the same figure lines as a full run. The Makefile's ``bench`` target echoes
``== benchmarks/<name>.py <flags>`` before each script, which is how the output is cut into one part per script.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(ROOT.glob("benchmarks/*.py"))
QUICK_HEADER = "quick smoke run"
# A figure line each script prints only once its measurement ran (generate.py: its header is checked only).
FIGURES = {
    "chunk.py": r"^chunks/s \(CPU\) +[\d,]+ ",
    "dedup.py": r"^speed-up lexqa / datasketch: [\d.]+x$",
    "evaluate.py": r"^largest metric difference: ",
    "hostile_inputs.py": r"^rows lost in all cases: 0$",
    "ingest.py": r"^Légifrance JSON .*: [\d,]+ articles/s",
    "lang.py": r"^  lingua +accuracy +[\d.]+% +[\d,]+ texts/s",
    "pipeline.py": r"^ratio encodings / distinct \(run 1, base\): ",
    # The style table is its last figure, printed after the gain ("gain at 384: 1.16x").
    "quality.py": r"^  (ict|keywords|title|citation) +[\d,]+ +[\d.]+% +[\d.]+% ",
    "embedding_store.py": r"^sqlite +[\d,]+ +[\d,]+ ",
    # After `make run` (as in CI) it times the no-change repro; on a fresh clone it says to run the pipeline.
    "repro.py": r"^  dvc repro \(nothing to run\) +best [\d.]+ s|^the pipeline has stages to run",
    "train.py": r"^peak RSS: [\d.]+ GiB \(VmHWM\); the train stage's estimate: [\d.]+ GiB$",
}


def test_every_benchmark_has_a_quick_option():
    assert {p.name for p in SCRIPTS} >= set(FIGURES), "a benchmark script is missing"
    procs = {
        p.name: subprocess.Popen(
            [sys.executable, str(p), "--help"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in SCRIPTS
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name} --help failed:\n{err[-2000:]}"
        assert "--quick" in out, f"{name} has no --quick option:\n{out}"


def split_by_script(stdout: str) -> dict[str, list[str]]:
    """The stdout lines of each script, keyed by its file name, from the target's ``== benchmarks/x.py`` lines."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        match = re.match(r"^== benchmarks/(\S+\.py)\b", line)
        if match:
            current = parts.setdefault(match.group(1), [])
        elif current is not None:
            current.append(line)
    return parts


def test_split_by_script_cuts_at_the_echo_lines():
    out = "make: noise\n== benchmarks/a.py --quick\nquick smoke run\nx 1\n== benchmarks/b.py --quick\n\n"
    assert split_by_script(out) == {"a.py": ["quick smoke run", "x 1"], "b.py": [""]}


@pytest.mark.slow
def test_make_bench_quick_runs_every_script():
    # `-o .venv/.installed`: use the venv as it is (the test runs in it), never reinstall it offline.
    proc = subprocess.run(
        ["make", "-o", ".venv/.installed", "bench", "BENCH_FLAGS=--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    report = f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, report
    parts = split_by_script(proc.stdout)
    assert list(parts) == [p.name for p in SCRIPTS], report
    for name, lines in parts.items():
        assert lines and lines[0].lower().startswith(QUICK_HEADER), f"{name}: no quick header first\n{report}"
        if name in FIGURES:
            assert any(re.search(FIGURES[name], line) for line in lines), f"{name}: no figure line\n{report}"
