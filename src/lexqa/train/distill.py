"""``train.distill``: a hybrid teacher's in-batch scores distilled beside the in-batch loss.

The loss is MultipleNegativesRankingLoss plus ``weight`` × the KL divergence from the teacher's softmax over the
same in-batch candidates (every positive and hard negative of the batch) to the student's: the in-batch
distillation of TCT-ColBERT (Lin, Yang & Lin 2021, "In-Batch Negatives for Knowledge Distillation with
Tightly-Coupled Teachers"), here with a lexicon-aware teacher as in LED (Zhang et al. 2023): a model's cosines
fused with BM25 (:mod:`lexqa.fusion`). A fine-tuned model fused with BM25 ranks real questions better than the
model alone (benchmarks/quality.md, ``--hybrid``); distilling the fusion is meant to put that word matching into
the student, with no second retriever at query time. Measured on multilingual-e5-small with offline
pseudo-queries, it did not (quality.md: the pseudo-queries are their passages' own words, so BM25 mostly agrees
with the positive the in-batch loss already pulls up); off by default.

The teacher's logit for question ``q`` and passage ``p``, over the training passages ``P``::

    scale × (cos(q, p) + w / (1 − w) × span_q × minmax_q(BM25)(p)),   span_q = max − min of cos(q, P)

ranks as ``lexqa.fusion.fused`` with BM25 weight ``w`` does, on the student's logit scale (``train.scale``
times a cosine): with ``w = 0`` and the base model as teacher, teacher and student agree at the first step.
A question sharing no word with any passage keeps the model's cosines::

    >>> import numpy as np
    >>> from lexqa.lexical import Bm25
    >>> passages = ["Le salarié a droit à un congé payé.", "Le bail est conclu pour trois ans.", "Le loyer."]
    >>> vectors = np.array([[0.8, 0.6], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)  # 0 and 1 look alike
    >>> question = np.array([[1.0, 0.0]], dtype=np.float32)
    >>> lexical = Bm25(passages, ["fr"])
    >>> FusedTeacher(question, vectors, lexical, ["congé payé"], weight=0.0, scale=10).logits(
    ...     np.array([0]), np.array([0, 1, 2])).round(2).tolist()       # the model alone: a tie
    [[8.0, 8.0, 0.0]]
    >>> FusedTeacher(question, vectors, lexical, ["congé payé"], weight=0.5, scale=10).logits(
    ...     np.array([0]), np.array([0, 1, 2])).round(2).tolist()       # passage 0 holds the words
    [[16.0, 8.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lexqa.fusion import minmax
from lexqa.lexical import Bm25

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import Tensor, nn


class FusedTeacher:
    """Teacher logits from the teacher model's normalised vectors of the distinct training questions and
    passages, fused with BM25 over those passages (``lexical``: none when ``weight`` is 0)."""

    def __init__(
        self,
        questions: np.ndarray,
        passages: np.ndarray,
        lexical: Bm25 | None,
        texts: Sequence[str],
        weight: float,
        scale: float,
    ) -> None:
        if not 0 <= weight < 1:
            raise ValueError(f"the teacher's BM25 weight must be within [0, 1), got {weight}")
        if weight and lexical is None:
            raise ValueError("a BM25 weight above 0 needs the BM25 index of the passages")
        self.questions, self.passages, self.lexical = questions, passages, lexical
        self.texts, self.weight, self.scale = list(texts), weight, scale

    def logits(self, questions: np.ndarray, passages: np.ndarray) -> np.ndarray:
        """Logits of questions × passages (indices into the teacher's questions and passages)."""
        cosines = self.questions[questions] @ self.passages.T
        out = cosines[:, passages]
        if self.weight:
            assert self.lexical is not None
            words = minmax(self.lexical.scores([self.texts[i] for i in questions]))[:, passages]
            span = cosines.max(axis=1, keepdims=True) - cosines.min(axis=1, keepdims=True)
            out = out + self.weight / (1 - self.weight) * span * words
        return (self.scale * out).astype(np.float32)


def candidate_ids(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], list[list[int]]]:
    """The distinct questions, the distinct passages (positives and negatives) and, per row, the indices of its
    question and of its passages in column order: the labels the loss looks the teacher's scores up with.

    >>> rows = [{"anchor": "a", "positive": "p", "negative": "n"}, {"anchor": "b", "positive": "n", "negative": "p"}]
    >>> candidate_ids(rows)
    (['a', 'b'], ['p', 'n'], [[0, 0, 1], [1, 1, 0]])
    """
    questions = list(dict.fromkeys(r["anchor"] for r in rows))
    passages = list(dict.fromkeys(v for r in rows for k, v in r.items() if k != "anchor"))
    question_id = {q: i for i, q in enumerate(questions)}
    passage_id = {p: i for i, p in enumerate(passages)}
    ids = [[question_id[r["anchor"]], *(passage_id[v] for k, v in r.items() if k != "anchor")] for r in rows]
    return questions, passages, ids


def distill_loss(
    model: SentenceTransformer, teacher: FusedTeacher, scale: float, weight: float, gather: bool
) -> nn.Module:
    """The in-batch loss plus the distillation term, as a sentence-transformers loss module (wrap it in
    MatryoshkaLoss); each row's label is its :func:`candidate_ids` entry. Under DDP (``gather``) the ranking term
    sees every process's candidates and the distillation term its own process's batch."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers.base.losses.merged_forward import embed_columns
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.util import cos_sim

    class InBatchDistillLoss(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.ranking = losses.MultipleNegativesRankingLoss(
                model, scale=scale, gather_across_devices=gather
            )
            self._cached: tuple[bytes, np.ndarray] | None = None

        def forward(self, sentence_features, labels: Tensor) -> Tensor:
            return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

        def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
            ranking = self.ranking.compute_loss_from_embeddings(embeddings, labels)
            student = scale * cos_sim(embeddings[0], torch.cat(embeddings[1:]))
            target = torch.as_tensor(self._teacher(labels), device=student.device, dtype=student.dtype)
            divergence = F.kl_div(
                F.log_softmax(student, dim=1),
                F.log_softmax(target, dim=1),
                log_target=True,
                reduction="batchmean",
            )
            return ranking + weight * divergence

        def _teacher(self, labels: Tensor) -> np.ndarray:
            """The teacher's logits for this batch: questions × its candidates, positives first then each
            negative column (the order of ``torch.cat(embeddings[1:])``); MatryoshkaLoss asks once per dim."""
            ids = labels.detach().cpu().numpy().astype(np.int64)
            key = ids.tobytes()
            if self._cached is None or self._cached[0] != key:
                self._cached = (key, teacher.logits(ids[:, 0], ids[:, 1:].T.reshape(-1)))
            return self._cached[1]

        @property
        def citation(self) -> str:
            return "Lin, Yang & Lin 2021, In-Batch Negatives for Knowledge Distillation with Tightly-Coupled Teachers"

    return InBatchDistillLoss()
