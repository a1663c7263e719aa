"""Training-time retrieval evaluation: every Matryoshka dimension from ONE encoding of the eval split.

sentence-transformers' recipe runs one ``InformationRetrievalEvaluator`` per dimension, each encoding the
queries and the whole corpus again; on the demo that made the training evaluations cost more than training
itself. This evaluator plugs the ``evaluate`` stage's ranking into the trainer
(:func:`lexqa.evaluate.retrieval.dense_metrics`: the same metrics as the sentence-transformers evaluator to
1e-4, see ``benchmarks/evaluate.py``)::

    >>> evaluator = MatryoshkaRetrievalEvaluator(beir_set, dims=[384, 128, 32])        # doctest: +SKIP
    >>> evaluator(model)["matryoshka_mean_ndcg@10"]                                   # doctest: +SKIP
    0.81

Its keys are ``matryoshka_dim_<d>_cosine_<metric>`` plus the primary metric ``matryoshka_mean_ndcg@10``, the
mean nDCG@10 over the dimensions, by which the trainer keeps the best checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

from lexqa.evaluate.beir import BeirSet
from lexqa.evaluate.retrieval import dense_metrics

NAME = "matryoshka"
PRIMARY = "mean_ndcg@10"


class MatryoshkaRetrievalEvaluator(BaseEvaluator):
    """IR metrics at each of ``dims`` on ``data``; mean nDCG@10 over the dims as the primary metric."""

    def __init__(self, data: BeirSet, dims: Sequence[int], batch_size: int = 64) -> None:
        super().__init__()
        self.data = data
        self.dims = list(dims)
        self.batch_size = batch_size
        self.name = NAME
        self.primary_metric = PRIMARY

    def __call__(
        self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        by_dim = dense_metrics(model, self.data, self.dims, self.batch_size)
        metrics: dict[str, Any] = {
            f"dim_{dim}_cosine_{name}": value
            for dim, values in by_dim.items()
            for name, value in values.items()
        }
        metrics[PRIMARY] = float(np.mean([by_dim[dim]["ndcg@10"] for dim in self.dims]))
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        data = self.data
        return {"matryoshka_dims": self.dims, "queries": len(data.query_ids), "corpus": len(data.corpus_ids)}
