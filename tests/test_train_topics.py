"""Topic-aware batches (train.batch_sampler: topics): clusters, and the sampler's guarantees."""

from __future__ import annotations

import numpy as np
import pytest

from lexqa.train.topics import TopicBatchSampler, pair_topics, passage_topics, topic_sampler


def _blobs(n_per: int, centres: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """``centres`` tight groups of ``n_per`` unit vectors each, group after group."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, dim))
    points = np.repeat(means, n_per, axis=0) + 0.01 * rng.normal(size=(centres * n_per, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def _same_partition(labels: np.ndarray, groups: np.ndarray) -> bool:
    return len(set(zip(labels.tolist(), groups.tolist(), strict=True))) == len(set(groups.tolist()))


def test_passage_topics_find_the_groups_with_one_batch_of_passages_each():
    vectors = _blobs(8, 5)
    labels = passage_topics(vectors, passages_per_topic=8, seed=0)
    assert len(set(labels.tolist())) == 5
    assert _same_partition(labels, np.repeat(np.arange(5), 8))
    assert passage_topics(vectors, passages_per_topic=4, seed=0).max() == 9  # ceil(40 / 4) topics
    assert set(passage_topics(vectors[:3], passages_per_topic=8, seed=0).tolist()) == {0}  # fewer than one


def test_pairs_of_one_passage_share_its_topic():
    rows = [{"anchor": f"q{i}", "positive": f"p{i % 6}"} for i in range(18)]
    vectors = _blobs(3, 2)  # p0-p2 in one group, p3-p5 in the other (order of first appearance)
    topics = pair_topics(rows, vectors, batch_size=3, seed=0)
    assert all(topics[i] == topics[i % 6] for i in range(18))
    assert topics[0] == topics[1] == topics[2] != topics[3] == topics[4] == topics[5]
    with pytest.raises(ValueError, match="5 passage vectors for 6 distinct positives"):
        pair_topics(rows, vectors[:5], batch_size=3, seed=0)


def test_each_batch_comes_from_one_topic_when_topics_fill_whole_batches():
    rows = [{"anchor": f"q{i}", "positive": f"p{i}"} for i in range(64)]
    topics = [i % 4 for i in range(64)]  # interleaved: a plain shuffle would mix them
    batches = list(TopicBatchSampler(rows, topics, batch_size=8, drop_last=False, seed=3))
    assert len(batches) == 8 and all(len(b) == 8 for b in batches)
    assert all(len({topics[i] for i in b}) == 1 for b in batches)


def test_every_pair_once_per_epoch_and_no_text_twice_in_a_batch():
    # Title-like anchors shared by several positives, chunks with several questions, mined negatives that
    # are other pairs' positives: the collisions the no-duplicates rule exists for.
    rows = [
        {"anchor": f"titre {i // 5}", "positive": f"article {i % 13}", "negative": f"article {(i + 1) % 13}"}
        for i in range(60)
    ]
    topics = pair_topics(rows, _blobs(1, 13, seed=1), batch_size=4, seed=0)
    sampler = TopicBatchSampler(rows, topics, batch_size=4, drop_last=False, seed=0)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(60))
    for batch in batches:
        texts = [v for i in batch for v in rows[i].values()]
        assert len(texts) == len(set(texts)), batch
    assert len(sampler) == 15 and all(batches)


def test_order_changes_with_the_epoch_and_repeats_with_the_seed():
    rows = [{"anchor": f"q{i}", "positive": f"p{i}"} for i in range(40)]
    topics = [i // 10 for i in range(40)]
    one = TopicBatchSampler(rows, topics, batch_size=5, drop_last=False, seed=7)
    first = list(one)
    one.set_epoch(1)
    second = list(one)
    again = list(TopicBatchSampler(rows, topics, batch_size=5, drop_last=False, seed=7))
    assert first == again and first != second


def test_drop_last_yields_only_full_batches():
    rows = [{"anchor": f"q{i}", "positive": f"p{i}"} for i in range(30)]
    sampler = TopicBatchSampler(rows, [i // 7 for i in range(30)], batch_size=8, drop_last=True)
    batches = list(sampler)
    assert len(sampler) == 3 and all(len(b) == 8 for b in batches) and len(batches) <= 3


def test_the_factory_takes_the_trainers_arguments_and_a_datasets_table():
    from datasets import Dataset

    table = Dataset.from_list([{"anchor": f"q{i}", "positive": f"p{i // 2}", "label": 1} for i in range(8)])
    build = topic_sampler([0] * 4 + [1] * 4)
    sampler = build(
        table, batch_size=2, drop_last=False, valid_label_columns=["label"], generator=None, seed=0
    )
    assert isinstance(sampler, TopicBatchSampler)
    assert sampler.texts[0] == frozenset({"q0", "p0"})  # the label column is not a text
    assert sorted(i for b in sampler for i in b) == list(range(8))
    with pytest.raises(ValueError, match="3 topics for 8 training pairs"):
        topic_sampler([0, 1, 2])(table, batch_size=2, drop_last=False)


def test_pairs_left_at_the_end_join_earlier_batches_so_the_trainer_runs_them():
    # Three questions of one chunk and seven others, batches of 4: the trainer runs len() == 3 batches,
    # so the chunk's questions must sit in three different ones.
    rows = [{"anchor": f"q{i}", "positive": "p" if i >= 7 else f"p{i}"} for i in range(10)]
    for seed in range(20):
        sampler = TopicBatchSampler(rows, [0] * 10, batch_size=4, drop_last=False, seed=seed)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 3
        assert sorted(i for b in batches for i in b) == list(range(10))
        assert all(sum(i >= 7 for i in b) <= 1 for b in batches)


def test_a_pair_that_repeats_every_batch_is_left_out_with_a_warning(caplog):
    rows = [{"anchor": f"q{i}", "positive": "le même article"} for i in range(5)]
    with caplog.at_level("WARNING", logger="lexqa.train"):
        batches = list(TopicBatchSampler(rows, [0] * 5, batch_size=2, drop_last=False))
    assert len(batches) == 3 and all(len(b) == 1 for b in batches)
    assert caplog.text.count("repeats a text of every batch") == 2
