"""Training-time retrieval evaluation: every Matryoshka dimension from ONE encoding of the eval split.

sentence-transformers' recipe runs one ``InformationRetrievalEvaluator`` per dimension, each encoding the
queries and the whole corpus again; on the demo that made the training evaluations cost more than training
itself. This evaluator plugs the ``evaluate`` stage's ranking into the trainer
(:func:`lexqa.evaluate.retrieval.vector_metrics`: the same metrics as the sentence-transformers evaluator to
1e-4, see ``benchmarks/evaluate.py``).

Before the first training step the model is the base model, whose vectors the shared embedding layer has
cached (curate and split encoded the same texts): that evaluation reads them through ``base`` (an
:class:`lexqa.embed.Embedder` that encodes what is missing with the trainer's model). Later evaluations encode
with the model being trained, and keep their vectors in ``keep_dir`` so that, once the best checkpoint is saved
as the fine-tuned model, its vectors go to the cache under that model's fingerprint
(:func:`remember_best`) and the ``evaluate`` stage does not encode the eval split again::

    >>> evaluator = MatryoshkaRetrievalEvaluator(beir_set, dims=[384, 128, 32], base=base)   # doctest: +SKIP
    >>> evaluator(model)["matryoshka_mean_ndcg@10"]                                       # doctest: +SKIP
    0.81

Its keys are ``matryoshka_dim_<d>_cosine_<metric>`` plus the primary metric ``matryoshka_mean_ndcg@10``, the
mean nDCG@10 over the dimensions, by which the trainer keeps the best checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

from lexqa.embed import Embedder, MemoryStore
from lexqa.evaluate.beir import BeirSet
from lexqa.evaluate.retrieval import vector_metrics

NAME = "matryoshka"
PRIMARY = "mean_ndcg@10"


class MatryoshkaRetrievalEvaluator(BaseEvaluator):
    """IR metrics at each of ``dims`` on ``data``; mean nDCG@10 over the dims as the primary metric."""

    def __init__(
        self,
        data: BeirSet,
        dims: Sequence[int],
        base: Embedder,
        keep_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.data = data
        self.dims = list(dims)
        self.base = base
        self.keep_dir = Path(keep_dir) if keep_dir is not None else None
        self.name = NAME
        self.primary_metric = PRIMARY

    def _embedder(self, model, steps: int) -> Embedder:
        if steps <= 0:  # no step taken: the base model, whose vectors may be cached
            self.base.model = model
            return self.base
        spec = dataclasses.replace(self.base.spec, name=f"training step {steps}")
        return Embedder(spec, MemoryStore(), self.base.batch_size, "training", model)

    def __call__(
        self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        embedder = self._embedder(model, steps)
        queries = embedder.queries(self.data.query_texts)
        corpus = embedder.passages(self.data.corpus_texts)
        if self.keep_dir is not None and steps > 0:
            save_vectors(self.keep_dir, steps, queries, corpus)
        by_dim = vector_metrics(queries, corpus, self.data, self.dims)
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


def _paths(keep_dir: Path, step: int) -> tuple[Path, Path]:
    return keep_dir / f"step-{step}.queries.npy", keep_dir / f"step-{step}.corpus.npy"


def save_vectors(keep_dir: Path, step: int, queries: np.ndarray, corpus: np.ndarray) -> None:
    """Keep one evaluation's vectors (written whole or not at all)."""
    keep_dir.mkdir(parents=True, exist_ok=True)
    for path, vectors in zip(_paths(keep_dir, step), (queries, corpus), strict=True):
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, vectors)
        tmp.replace(path)


def remember_best(keep_dir: Path, step: int, data: BeirSet, tuned: Embedder) -> bool:
    """Store the vectors of the evaluation at ``step`` under the saved fine-tuned model (``tuned``); False when
    that evaluation kept none (the base model was best, or the run resumed past it)."""
    paths = _paths(keep_dir, step)
    if not all(p.exists() for p in paths):
        return False
    queries, corpus = (np.load(p) for p in paths)
    tuned.remember(data.query_texts, queries, tuned.spec.query_prompt)
    tuned.remember(data.corpus_texts, corpus, tuned.spec.passage_prompt)
    return True
