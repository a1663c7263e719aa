"""benchmarks/support/styles.py: which pseudo-query styles the real queries of a benchmark resemble, and
``benchmarks/quality.py --styles``, which prints it for a run."""

from __future__ import annotations

import doctest
import math
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402
from support import styles  # noqa: E402
from support.styles import nearest_styles  # noqa: E402


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_docstring_examples_run():
    assert doctest.testmod(styles).failed == 0


def test_each_real_query_counts_once_for_the_style_of_its_nearest_pseudo_query():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(3, 16)))
    pseudo = _unit(np.repeat(centres, [5, 3, 2], axis=0) + 0.05 * rng.normal(size=(10, 16)))
    kinds = ["ict"] * 5 + ["keywords"] * 3 + ["title"] * 2
    # 7 real queries near the keyword centre, 3 near the title centre, none near ict
    real = _unit(np.repeat(centres[1:], [7, 3], axis=0) + 0.05 * rng.normal(size=(10, 16)))
    rows = {r.style: r for r in nearest_styles(real, pseudo, kinds, block=4)}
    assert [r.style for r in nearest_styles(real, pseudo, kinds)] == ["keywords", "title", "ict"]
    assert (rows["keywords"].pairs, rows["keywords"].pair_share, rows["keywords"].nearest_share) == (
        3,
        0.3,
        0.7,
    )
    assert (rows["title"].nearest_share, rows["ict"].nearest_share) == (0.3, 0.0)
    assert math.isnan(rows["ict"].cosine) and rows["keywords"].cosine > 0.9
    assert sum(r.nearest_share for r in rows.values()) == pytest.approx(1.0)


def test_the_block_size_does_not_change_the_answer():
    rng = np.random.default_rng(1)
    pseudo, real = _unit(rng.normal(size=(50, 8))), _unit(rng.normal(size=(33, 8)))
    kinds = [("ict", "keywords", "title")[i % 3] for i in range(50)]
    assert nearest_styles(real, pseudo, kinds, block=5) == nearest_styles(real, pseudo, kinds, block=1000)


@pytest.mark.parametrize(
    ("real", "pseudo", "kinds", "message"),
    [
        (np.ones((2, 2)), np.ones((3, 2)), ["ict", "ict"], "3 pseudo-query vectors but 2 styles"),
        (np.ones((2, 2)), np.ones((0, 2)), [], "no pseudo-queries"),
        (np.ones((0, 2)), np.ones((1, 2)), ["ict"], "no real queries"),
    ],
)
def test_mismatched_or_empty_inputs_are_refused_with_a_reason(real, pseudo, kinds, message):
    with pytest.raises(ValueError, match=message):
        nearest_styles(real, pseudo, kinds)


def _project(folder: Path, benchmarks: list) -> Path:
    """A project folder with the project's params (``evaluate.benchmarks`` replaced) and a pairs table."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["evaluate"]["benchmarks"] = benchmarks
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    (folder / "data/processed").mkdir(parents=True)
    pl.DataFrame({"anchor": ["congés payés"], "style": ["keywords"]}).write_parquet(
        folder / "data/processed/pairs.parquet"
    )
    return folder


def test_quality_styles_needs_the_runs_pairs(tmp_path):
    with pytest.raises(SystemExit, match=r"pairs\.parquet not found: runs keep their tables with --keep"):
        quality.print_styles(tmp_path)


def test_quality_styles_needs_a_benchmark_of_real_queries(tmp_path):
    with pytest.raises(SystemExit, match=r"lists no benchmark of real queries in evaluate\.benchmarks"):
        quality.print_styles(_project(tmp_path, []))
