"""The training loss: MatryoshkaLoss around an in-batch-negatives loss chosen in ``train.loss``.

- ``mnrl``: MultipleNegativesRankingLoss; every other positive of the batch is a negative for a question.
- ``cached_mnrl``: CachedMultipleNegativesRankingLoss (GradCache): the same loss over a large batch computed
  in mini-batches, so a small GPU gets many in-batch negatives (gradient accumulation would not add any).
- ``gist``: GISTEmbedLoss with the base model as guide: in-batch "negatives" the guide scores above the true
  positive are masked (false negatives, frequent when several questions share a chunk or chunks overlap).

With ``train.distill`` on (``mnrl`` only), the in-batch loss gets a teacher's in-batch scores distilled beside it
(:mod:`lexqa.train.distill`).

Under DDP (torchrun / accelerate launch) the negatives are gathered across processes, GPUs or CPU (gloo).
Dimensions above the model's are a params error (:func:`lexqa.models.check_dims`)::

    >>> loss = build_loss(params.train, model)                 # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lexqa.config import TrainParams
from lexqa.models import check_dims
from lexqa.train.distill import FusedTeacher, distill_loss

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn


def world_size() -> int:
    """Number of training processes (torchrun / accelerate launch set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def build_loss(
    params: TrainParams,
    model: SentenceTransformer,
    guide: SentenceTransformer | None = None,
    teacher: FusedTeacher | None = None,
) -> nn.Module:
    """MatryoshkaLoss(params.loss) for ``model``; ``guide`` (the base model) is required for ``gist``,
    ``teacher`` for ``distill``."""
    from sentence_transformers.sentence_transformer import losses

    check_dims(params.matryoshka_dims, model.get_embedding_dimension(), "train.matryoshka_dims")
    gather = world_size() > 1
    if params.distill.enabled:
        if teacher is None:
            raise ValueError("train.distill needs the teacher's scores")
        inner = distill_loss(model, teacher, params.scale, params.distill.weight, gather)
    elif params.loss == "mnrl":
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
