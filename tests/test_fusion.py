"""lexqa.fusion: dense and BM25 scores fused by weight, and ``benchmarks/quality.py --hybrid``,
which prints the fusions of a kept run."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import numpy as np
import pytest

from lexqa import fusion
from lexqa.fusion import fused, minmax

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402


def test_docstring_examples_run():
    assert doctest.testmod(fusion).failed == 0


def test_the_end_weights_rank_as_each_retriever_alone():
    rng = np.random.default_rng(0)
    dense, bm25 = rng.normal(size=(5, 30)), rng.gamma(1.0, 3.0, size=(5, 30))
    order = lambda scores: np.argsort(-scores, axis=1, kind="stable").tolist()  # noqa: E731
    assert order(fused(dense, bm25, 0.0)) == order(dense)
    assert order(fused(dense, bm25, 1.0)) == order(bm25)


def test_scales_do_not_matter_only_each_querys_spread():
    dense = np.array([[0.80, 0.82, 0.81]])
    bm25 = np.array([[12.0, 0.0, 30.0]])
    assert np.allclose(fused(dense, bm25, 0.3), fused(100 * dense - 5, bm25 / 7, 0.3))
    assert np.allclose(minmax(np.array([[5.0, 5.0]])), 0.0)  # no spread: no preference, no division by 0


@pytest.mark.parametrize(
    ("dense", "bm25", "weight", "message"),
    [
        (np.ones((2, 3)), np.ones((2, 4)), 0.5, "differ in shape"),
        (np.ones((2, 3)), np.ones((2, 3)), 1.5, "within 0-1"),
    ],
)
def test_bad_input_is_refused_with_a_reason(dense, bm25, weight, message):
    with pytest.raises(ValueError, match=message):
        fused(dense, bm25, weight)


def test_hybrid_needs_the_runs_model(tmp_path):
    with pytest.raises(SystemExit, match="holds no model: runs keep theirs with --keep"):
        quality.print_hybrid(tmp_path)
