"""An orthogonal rotation of the fine-tuned embedding space that moves into its prefixes what they need.

A Matryoshka model is used truncated: its first 64 components stand for the whole vector. Fine-tuning with
``MatryoshkaLoss`` asks the transformer to put the most useful directions first, but a few epochs at a small
learning rate reorganise a pretrained space little. A rotation ``R`` (``R Rᵀ = I``) applied to every vector
changes no full-dimension cosine, so the full dimension scores exactly as before, while each prefix of the
rotated vectors sees other directions. This module learns ``R`` on the training pairs' vectors alone, with
the loss of training (softmax over the training passages of the scaled cosine, at each Matryoshka dimension
below the full one), ``R = exp(A − Aᵀ)`` from ``A = 0`` (the identity) so it stays exactly orthogonal. It is
the supervised form of the Matryoshka-Adaptor (Yoon et al. 2024, "Matryoshka-Adaptor: Unsupervised and
Supervised Tuning for Smaller Embedding Dimensions"), constrained to a rotation so the full dimension cannot
lose. The train stage appends it to the saved model as a bias-free ``Dense`` layer, so the model in
``models/lexqa`` gives rotated vectors to anyone who loads it::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> topics = rng.normal(size=(40, 8)) * np.r_[np.full(6, 0.2), 3.0, 3.0]   # what tells them apart: last 2
    >>> norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    >>> anchors, positives = norm(topics + 0.1 * rng.normal(size=topics.shape)), norm(topics)
    >>> rotation = fit_rotation(anchors, positives, np.arange(40), dims=[2], scale=20, epochs=30, lr=0.05)
    >>> bool(np.allclose(rotation @ rotation.T, np.eye(8), atol=1e-5))              # a rotation
    True
    >>> prefix_accuracy(anchors @ rotation, positives @ rotation, 2) > prefix_accuracy(anchors, positives, 2)
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lexqa.embed import truncate

__all__ = ["fit_rotation", "prefix_accuracy", "rotation_layer"]

MAX_CANDIDATES = 8192
"""Passages scored per step: all of them up to this many, else the batch's own and a random draw."""


def prefix_accuracy(anchors: np.ndarray, positives: np.ndarray, dim: int) -> float:
    """Share of anchors whose own positive (same row) is the nearest by cosine of the first ``dim`` components."""
    scores = truncate(anchors, dim) @ truncate(positives, dim).T
    return float(np.mean(np.argmax(scores, axis=1) == np.arange(len(anchors))))


def fit_rotation(
    anchors: np.ndarray,
    positives: np.ndarray,
    targets: np.ndarray,
    dims: Sequence[int],
    scale: float,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """The rotation ``R`` (dim × dim, float32) such that ``vectors @ R`` ranks ``positives[targets[i]]``
    first for ``anchors[i]`` at each prefix size in ``dims``.

    ``anchors``: (n, dim) question vectors; ``positives``: (m, dim) distinct passage vectors; ``targets``:
    (n,) the row of each question's passage. Adam on the skew-symmetric generator, ``epochs`` passes over the
    questions in shuffled batches of ``batch_size``; the other passages scored are the negatives.
    """
    import torch
    import torch.nn.functional as F

    if len(anchors) != len(targets):
        raise ValueError(f"{len(anchors)} anchors but {len(targets)} targets")
    full = anchors.shape[1]
    if not dims or any(not 0 < d < full for d in dims):
        raise ValueError(f"prefix sizes must lie between 0 and the full dimension {full}, got {list(dims)}")
    gen = torch.Generator().manual_seed(seed)
    a = torch.from_numpy(np.ascontiguousarray(anchors, dtype=np.float32))
    p = torch.from_numpy(np.ascontiguousarray(positives, dtype=np.float32))
    t = torch.from_numpy(np.asarray(targets, dtype=np.int64))
    generator = torch.zeros(full, full, requires_grad=True)
    optimiser = torch.optim.Adam([generator], lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(a), generator=gen)
        for start in range(0, len(a), batch_size):
            batch = order[start : start + batch_size]
            candidates, labels = _candidates(t[batch], len(p), gen)
            rotation = torch.linalg.matrix_exp(generator - generator.T)
            ra, rp = a[batch] @ rotation, p[candidates] @ rotation
            loss = sum(
                F.cross_entropy(
                    scale * F.normalize(ra[:, :d], dim=1) @ F.normalize(rp[:, :d], dim=1).T, labels
                )
                for d in dims
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        return torch.linalg.matrix_exp(generator - generator.T).numpy().astype(np.float32)


def _candidates(targets, n_passages: int, gen):
    """(passage rows to score, each target's position among them): every passage while there are at most
    :data:`MAX_CANDIDATES`, else the batch's targets and a random draw of the others."""
    import torch

    if n_passages <= MAX_CANDIDATES:
        return torch.arange(n_passages), targets
    drawn = torch.randperm(n_passages, generator=gen)[:MAX_CANDIDATES]
    rows, labels = torch.unique(torch.cat([targets, drawn]), return_inverse=True)
    return rows, labels[: len(targets)]


def rotation_layer(rotation: np.ndarray):
    """A sentence-transformers ``Dense`` module (no bias, no activation) whose output is ``input @ rotation``."""
    import torch
    from sentence_transformers.sentence_transformer.modules import Dense

    n = rotation.shape[0]
    weight = torch.from_numpy(np.ascontiguousarray(rotation.T, dtype=np.float32))  # Dense: input @ weight.T
    return Dense(n, n, bias=False, activation_function=torch.nn.Identity(), init_weight=weight)
