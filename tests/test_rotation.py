"""lexqa.train.rotation: a learnt orthogonal map that lifts the truncated dimensions and keeps the full one."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

from lexqa.train import rotation as rotation_module
from lexqa.train.rotation import _candidates, fit_rotation, prefix_accuracy, rotation_layer


def _world(n: int, seed: int, dim: int = 16):
    """Questions and their passages whose topics differ mostly along the last 4 of ``dim`` axes."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(n, dim)) * np.r_[np.full(dim - 4, 0.3), np.full(4, 3.0)]
    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    return norm(topics + 0.3 * rng.normal(size=topics.shape)), norm(topics)


def test_docstring_examples_run():
    assert doctest.testmod(rotation_module).failed == 0


def test_a_rotation_learnt_on_training_pairs_lifts_the_prefix_of_unseen_ones():
    anchors, positives = _world(200, seed=0)
    rotation = fit_rotation(anchors, positives, np.arange(200), dims=[4, 8], scale=20, epochs=20, lr=0.02)
    new_a, new_p = _world(200, seed=1)  # other questions and passages of the same kind
    assert prefix_accuracy(new_a @ rotation, new_p @ rotation, 4) > prefix_accuracy(new_a, new_p, 4) + 0.2
    np.testing.assert_allclose((new_a @ rotation) @ (new_p @ rotation).T, new_a @ new_p.T, atol=1e-5)


def test_several_questions_may_share_a_passage():
    anchors, positives = _world(60, seed=2)
    targets = np.arange(60) // 3  # three questions per passage
    rotation = fit_rotation(anchors, positives[::3], targets, dims=[4], scale=20, epochs=10, lr=0.02)
    assert rotation.shape == (16, 16) and rotation.dtype == np.float32


def test_many_passages_are_scored_through_a_draw(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    targets = torch.tensor([5, 99, 5])
    rows, labels = _candidates(targets, 100, gen)
    assert len(rows) == 100 and rows[labels].tolist() == [5, 99, 5]  # all of them, while few
    monkeypatch.setattr(rotation_module, "MAX_CANDIDATES", 10)
    rows, labels = _candidates(targets, 100, gen)
    assert 10 <= len(rows) <= 12 and rows[labels].tolist() == [5, 99, 5]  # the targets always among them
    anchors, positives = _world(50, seed=3)
    rotation = fit_rotation(anchors, positives, np.arange(50), dims=[4], scale=20, epochs=20, lr=0.02)
    assert prefix_accuracy(anchors @ rotation, positives @ rotation, 4) > prefix_accuracy(
        anchors, positives, 4
    )


@pytest.mark.parametrize(
    ("targets", "dims", "message"),
    [
        (np.arange(5), [4], "10 anchors but 5 targets"),
        (np.arange(10), [16], "between 0 and the full dimension 16"),
    ],
)
def test_bad_arguments_are_named(targets, dims, message):
    anchors, positives = _world(10, seed=4)
    with pytest.raises(ValueError, match=message):
        fit_rotation(anchors, positives, targets, dims=dims, scale=20, epochs=1, lr=0.01)


def test_the_layer_multiplies_by_the_rotation():
    q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(8, 8)))
    x = np.random.default_rng(6).normal(size=(3, 8)).astype(np.float32)
    out = rotation_layer(q.astype(np.float32))({"sentence_embedding": torch.from_numpy(x)})
    np.testing.assert_allclose(out["sentence_embedding"].detach().numpy(), x @ q, atol=1e-5)
