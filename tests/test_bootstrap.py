"""benchmarks/support/bootstrap.py: intervals over requests, the noise bar of benchmarks/quality.md."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from support import bootstrap
from support.bootstrap import difference_interval, ratio_interval, request_of


def _benchmark(n_requests: int, variants: int, effect: float, seed: int = 0):
    """Ids and two systems' per-query scores; each request's variants share one request-level score."""
    rng = np.random.default_rng(seed)
    ids = [f"q{r}v{v}" for r in range(n_requests) for v in range(variants)]
    level = np.repeat(rng.uniform(0, 1, n_requests), variants)
    old = np.clip(level + rng.normal(0, 0.02, len(ids)), 0, 1)
    new = np.clip(old + np.repeat(rng.normal(effect, 0.1, n_requests), variants), 0, 1)
    return ids, new, old


def _quality(*args: object, check: bool = False) -> subprocess.CompletedProcess:
    """Run ``benchmarks/quality.py`` with ``args``, its output captured."""
    script = Path(__file__).resolve().parents[1] / "benchmarks/quality.py"
    command = [sys.executable, str(script), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=check)


def test_docstring_examples_run():
    assert doctest.testmod(bootstrap).failed == 0


def test_request_of_strips_the_variant_only():
    assert [request_of(i) for i in ["q4v0", "q12v31", "qv", "v3", "doc-1"]] == [
        "q4",
        "q12",
        "qv",
        "v3",
        "doc-1",
    ]


def test_a_clear_gain_excludes_zero_and_no_gain_includes_it():
    ids, new, old = _benchmark(60, 20, effect=0.15)
    low, high = difference_interval(ids, new, old)
    assert 0 < low < (new - old).mean() < high
    ids, new, old = _benchmark(60, 20, effect=0.0)
    low, high = difference_interval(ids, new, old)
    assert low < 0 < high
    low, high = ratio_interval(ids, new, old)
    assert low < 1 < high


def test_resampling_requests_is_wider_than_resampling_queries():
    """Twenty variants of one request are not twenty observations: the interval must reflect 60 requests."""
    ids, new, old = _benchmark(60, 20, effect=0.05, seed=1)
    low, high = difference_interval(ids, new, old)
    as_queries = [f"x{i}" for i in range(len(ids))]  # every query its own request
    q_low, q_high = difference_interval(as_queries, new, old)
    assert (high - low) > 2 * (q_high - q_low)


def test_the_interval_is_reproducible():
    ids, new, old = _benchmark(30, 5, effect=0.05)
    assert difference_interval(ids, new, old) == difference_interval(ids, new, old)


def test_quality_compare_prints_each_dimension_with_its_interval(tmp_path):
    """`benchmarks/quality.py --compare A B` on two kept runs' per-query tables."""
    ids, new, old = _benchmark(40, 5, effect=0.2)
    for name, scores in (("better", new), ("worse", old)):
        rows = [
            {"dataset": "cdtn_dev", "system": "finetuned", "dim": dim, "query_id": q, "ndcg_at_10": float(v)}
            for dim in (64, 32)
            for q, v in zip(ids, scores, strict=True)
        ]
        (tmp_path / name).mkdir()
        pl.DataFrame(rows).write_parquet(tmp_path / name / "queries.parquet")
    out = _quality("--compare", tmp_path / "better", tmp_path / "worse", check=True).stdout
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(lines) == {"64", "32"}
    _, a, b, diff, low, _, high = lines["64"]
    assert abs(float(diff) - (float(a) - float(b))) <= 0.0015  # three decimals each
    assert 0 < float(low) < float(diff) < float(high)
    missing = _quality("--compare", tmp_path / "better", tmp_path / "none")
    assert missing.returncode != 0 and "queries.parquet not found" in missing.stderr


def test_quality_against_base_reads_each_dimension_against_the_base_at_full(tmp_path):
    """`benchmarks/quality.py --against-base RUN`: fine-tuned at each dim minus the base at its full dim."""
    ids, better, base = _benchmark(40, 5, effect=0.2)
    _, worse, _ = _benchmark(40, 5, effect=-0.2)
    scores = {("base", 384): base, ("base", 64): worse, ("finetuned", 384): better, ("finetuned", 64): worse}
    rows = [
        {"dataset": "cdtn_dev", "system": system, "dim": dim, "query_id": q, "ndcg_at_10": float(v)}
        for (system, dim), values in scores.items()
        for q, v in zip(ids, values, strict=True)
    ]
    rows += [
        {"dataset": "cdtn_dev", "system": "bm25", "dim": None, "query_id": q, "ndcg_at_10": 0.5} for q in ids
    ]
    (tmp_path / "run").mkdir()
    pl.DataFrame(rows).write_parquet(tmp_path / "run" / "queries.parquet")
    out = _quality("--against-base", tmp_path / "run", check=True).stdout
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(lines) == {"384", "64"}
    for dim, sign in (("384", 1), ("64", -1)):
        _, tuned, base_full, diff, low, _, high = lines[dim]
        assert float(base_full) == round(float(np.mean(base)), 3)  # always the base's 384, never its 64
        assert abs(float(diff) - (float(tuned) - float(base_full))) <= 0.0015
        assert sign * float(low) > 0 and sign * float(high) > 0, lines[dim]
