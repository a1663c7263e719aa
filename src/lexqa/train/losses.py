"""The training loss: MatryoshkaLoss around an in-batch-negatives loss chosen in ``train.loss``.

- ``mnrl``: MultipleNegativesRankingLoss; every other positive of the batch is a negative for a question.
- ``cached_mnrl``: CachedMultipleNegativesRankingLoss (GradCache): the same loss over a large batch computed
  in mini-batches, so a small GPU gets many in-batch negatives (gradient accumulation would not add any).
- ``gist``: GISTEmbedLoss with the base model as guide: in-batch "negatives" the guide scores above the true
  positive are masked (false negatives, frequent when several questions share a chunk or chunks overlap).

Under DDP (torchrun / accelerate launch) the negatives are gathered across processes, GPUs or CPU (gloo)::

    >>> loss = build_loss(params.train, model)                 # doctest: +SKIP
    >>> check_dims([384, 256], 384, "train.matryoshka_dims")   # fine
    >>> check_dims([512, 256], 384, "train.matryoshka_dims")
    Traceback (most recent call last):
    ...
    lexqa.config.ParamsError: train.matryoshka_dims: 512 is above the model's embedding dimension (384)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lexqa.config import ParamsError, TrainParams

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn


def check_dims(dims: Sequence[int], model_dim: int | None, key: str) -> None:
    """Raise :class:`ParamsError` naming ``key`` when a Matryoshka dimension exceeds the model's."""
    too_big = [d for d in dims if model_dim is not None and d > model_dim]
    if too_big:
        raise ParamsError(
            f"{key}: {', '.join(map(str, too_big))} is above the model's embedding dimension ({model_dim})"
        )


def world_size() -> int:
    """Number of training processes (torchrun / accelerate launch set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def build_loss(
    params: TrainParams, model: SentenceTransformer, guide: SentenceTransformer | None = None
) -> nn.Module:
    """MatryoshkaLoss(params.loss) for ``model``; ``guide`` (the base model) is required for ``gist``."""
    from sentence_transformers.sentence_transformer import losses

    check_dims(params.matryoshka_dims, model.get_embedding_dimension(), "train.matryoshka_dims")
    gather = world_size() > 1
    if params.loss == "mnrl":
        inner = losses.MultipleNegativesRankingLoss(model, scale=params.scale, gather_across_devices=gather)
    elif params.loss == "cached_mnrl":
        inner = losses.CachedMultipleNegativesRankingLoss(
            model, scale=params.scale, mini_batch_size=params.mini_batch_size, gather_across_devices=gather
        )
    else:
        if guide is None:
            raise ValueError("the gist loss needs the base model as guide")
        inner = losses.GISTEmbedLoss(
            model, guide, temperature=1.0 / params.scale, gather_across_devices=gather
        )
    return losses.MatryoshkaLoss(
        model,
        inner,
        matryoshka_dims=list(params.matryoshka_dims),
        matryoshka_weights=params.matryoshka_weights,
    )
