"""Topic-aware batches (``train.batch_sampler: topics``): pairs about the same thing share a batch.

With in-batch negatives, a question learns only against the other passages of its batch. Drawn at random,
those are about anything else in the corpus and are easy; a legal code's hard cases are its neighbouring
articles ("inaptitude": L1226-2 against L1226-10 and L1226-11). Balanced topic-aware sampling (TAS-B,
Hofstätter et al. 2021, SIGIR) clusters the training pairs and fills each batch from one cluster, so that the
in-batch negatives are the passages nearest the positive. Here the topics are k-means clusters of the
positives' vectors under the base model, about one batch of distinct passages each::

    >>> import numpy as np
    >>> vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], dtype=np.float32)
    >>> labels = passage_topics(vectors, passages_per_topic=2, seed=0)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True

:class:`TopicBatchSampler` then walks the topics in a random order, each topic's pairs shuffled, and fills
batches in that order without repeating a text inside a batch (what sentence-transformers'
``NoDuplicatesBatchSampler`` guarantees: a chunk's several questions would be false negatives of each other);
a pair that would repeat one waits for the next batch. Every pair is drawn once per epoch::

    >>> rows = [{"anchor": f"q{i}", "positive": f"p{i // 2}"} for i in range(8)]
    >>> sampler = TopicBatchSampler(rows, topics=[0, 0, 0, 0, 1, 1, 1, 1], batch_size=2, drop_last=False)
    >>> batches = list(sampler)
    >>> sorted(i for b in batches for i in b)
    [0, 1, 2, 3, 4, 5, 6, 7]
    >>> all(len({rows[i]["positive"] for i in b}) == len(b) for b in batches)    # no repeated passage
    True
    >>> all(len({i // 4 for i in b}) == 1 for b in batches)                      # one topic per batch
    True
"""

from __future__ import annotations

import functools
import logging
import math
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sentence_transformers.base.sampler import DefaultBatchSampler

log = logging.getLogger("lexqa.train")


def passage_topics(vectors: np.ndarray, passages_per_topic: int, seed: int) -> np.ndarray:
    """A k-means topic per row of ``vectors`` (unit passage vectors), ``passages_per_topic`` rows per topic
    on average (scikit-learn's ``KMeans``; on unit vectors its Euclidean distance ranks as cosine does)."""
    from sklearn.cluster import KMeans

    n_topics = max(1, min(len(vectors), math.ceil(len(vectors) / passages_per_topic)))
    if n_topics == 1:
        return np.zeros(len(vectors), dtype=np.int64)
    kmeans = KMeans(n_clusters=n_topics, n_init=1, random_state=seed)
    return kmeans.fit_predict(np.asarray(vectors, dtype=np.float32)).astype(np.int64)


def pair_topics(
    rows: Sequence[dict[str, str]], passage_vectors: np.ndarray, batch_size: int, seed: int
) -> list[int]:
    """The topic of each training pair: that of its positive among the distinct positives' clusters.

    ``passage_vectors`` holds one vector per distinct positive, in order of first appearance in ``rows``.
    """
    passages = list(dict.fromkeys(r["positive"] for r in rows))
    if len(passages) != len(passage_vectors):
        raise ValueError(f"{len(passage_vectors)} passage vectors for {len(passages)} distinct positives")
    labels = passage_topics(passage_vectors, batch_size, seed)
    topic_of = dict(zip(passages, labels.tolist(), strict=True))
    return [topic_of[r["positive"]] for r in rows]


class TopicBatchSampler(DefaultBatchSampler):
    """Batches filled topic by topic (topics in a random order, pairs shuffled within each), no text twice in a
    batch. ``dataset`` is the training rows (a ``datasets.Dataset`` or a list of dicts); ``topics`` one label
    per row. The order changes with each epoch (``set_epoch``) and is fixed by ``seed``."""

    def __init__(
        self,
        dataset: Any,
        topics: Sequence[int],
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: Any = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        if len(topics) != len(dataset):
            raise ValueError(f"{len(topics)} topics for {len(dataset)} training pairs")
        skip = set(valid_label_columns or [])
        self.texts = [
            frozenset(str(v) for k, v in dataset[i].items() if k not in skip) for i in range(len(dataset))
        ]
        self.topics = np.asarray(topics)

    def _order(self) -> list[int]:
        """Row indices topic after topic, both shuffled with this epoch's seed."""
        rng = np.random.default_rng(self.seed + self.epoch)
        order: list[int] = []
        for topic in rng.permutation(np.unique(self.topics)):
            order.extend(rng.permutation(np.flatnonzero(self.topics == topic)).tolist())
        return order

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._plan()

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.topics) // self.batch_size
        return math.ceil(len(self.topics) / self.batch_size)

    def _plan(self) -> list[list[int]]:
        """This epoch's batches: exactly ``len(self)`` of them, since the trainer runs that many and would
        never see the rest. Pairs left at the end that repeat each other's texts (a chunk's last questions)
        join the smallest earlier batch that lacks their texts (which then holds a pair more than
        ``batch_size``)."""
        batches = self._fill(self._order())
        if self.drop_last:
            return [b for b in batches if len(b) == self.batch_size][: len(self)]
        kept, extra = batches[: len(self)], [i for b in batches[len(self) :] for i in b]
        texts = [set().union(*(self.texts[i] for i in b)) for b in kept]
        for index in extra:
            fits = [k for k, seen in enumerate(texts) if seen.isdisjoint(self.texts[index])]
            home = min(fits, key=lambda k: len(kept[k]), default=None)
            if home is None:  # every batch holds one of its texts: a pair repeating the whole set
                log.warning("training pair %d repeats a text of every batch: left out of this epoch", index)
                continue
            kept[home].append(index)
            texts[home].update(self.texts[index])
        return kept

    def _fill(self, order: list[int]) -> list[list[int]]:
        """Batches in ``order``, each pair that would repeat a text of its batch waiting for the next one."""
        batches: list[list[int]] = []
        waiting: deque[int] = deque()
        upcoming = deque(order)
        while waiting or upcoming:
            batch: list[int] = []
            seen: set[str] = set()
            deferred: deque[int] = deque()
            # Pairs that waited go first: they keep close to their own topic's batches.
            for queue in (waiting, upcoming):
                while queue and len(batch) < self.batch_size:
                    index = queue.popleft()
                    if seen.isdisjoint(self.texts[index]):
                        batch.append(index)
                        seen.update(self.texts[index])
                    else:
                        deferred.append(index)
            waiting = deferred + waiting
            if not batch:  # only pairs that repeat each other's texts are left: one per batch
                batch = [waiting.popleft()]
            batches.append(batch)
        return batches


def topic_sampler(topics: Sequence[int]) -> functools.partial:
    """What ``SentenceTransformerTrainingArguments(batch_sampler=...)`` takes: a factory of
    :class:`TopicBatchSampler` over these row topics, called by the trainer with its own arguments (a
    partial, not a closure: the trainer pickles its arguments with every checkpoint)."""
    return functools.partial(TopicBatchSampler, topics=list(topics))
