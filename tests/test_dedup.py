"""lexqa.dedup: normalised exact keys, shingling, MinHash LSH recall on planted near-duplicates."""

from __future__ import annotations

import numpy as np
import pytest
from jaccard import true_jaccard

from lexqa import dedup


def corpus(n_docs: int, n_copies: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """Random 80–160-word texts, then copies of some of them with 1–3 word substitutions."""
    rng = np.random.default_rng(seed)
    vocab = [f"mot{i}" if i % 2 else f"слово{i}" for i in range(3000)]
    docs = [[vocab[w] for w in rng.integers(0, len(vocab), rng.integers(80, 161))] for _ in range(n_docs)]
    originals = [int(i) for i in rng.integers(0, n_docs, n_copies)]
    texts = [" ".join(d) + "." for d in docs]
    for orig in originals:
        copy = list(docs[orig])
        for _ in range(int(rng.integers(1, 4))):
            copy[int(rng.integers(0, len(copy)))] = vocab[int(rng.integers(0, len(vocab)))]
        texts.append(", ".join(copy).upper())
    return texts, originals


def test_exact_duplicates_ignore_case_punctuation_spacing_and_compatibility_forms():
    texts = [
        "Article 9 : chacun a droit au respect de sa vie privée.",
        "ARTICLE 9 — chacun a droit au respect de sa vie privée",
        "article   9 chacun a droit au respect de sa vie privée !!",
        "Article 9 : chacun a droit au respect de sa vie publique.",
        "Статья 1. Ёлка",
        "статья 1 ёлка",
        "Ｆｉｎ ﬁn",  # full-width letters and the fi ligature (NFKC)
        "fin fin",
        "",
        "  ...  ",
    ]
    assert dedup.exact_duplicates(texts).tolist() == [0, 0, 0, 3, 4, 4, 6, 6, 8, 8]


def test_exact_keys_separate_word_boundaries():
    keys = dedup.exact_keys(["ab cd", "abcd", "ab-cd", "cd ab"])
    assert len({tuple(k) for k in keys.tolist()}) == 3
    assert tuple(keys[0]) == tuple(keys[2])


def test_shingle_counts_and_short_texts():
    s = dedup.shingle(["a b c d e f", "a b", "", "x y z"], unit="word", n=3)
    assert np.diff(s.offsets).tolist() == [4, 1, 0, 1]
    # The same words with other punctuation give the same shingles; another order does not.
    same = dedup.shingle(["Un, deux; trois quatre", "un deux trois quatre", "deux un trois quatre"], n=2)
    assert set(same.of(0).tolist()) == set(same.of(1).tolist())
    assert set(same.of(0).tolist()) != set(same.of(2).tolist())


def test_char_shingles_see_word_boundaries_not_punctuation():
    s = dedup.shingle(["ab cd", "ab, cd!", "abcd"], unit="char", n=3)
    assert s.of(0).tolist() == s.of(1).tolist()
    assert s.of(0).tolist() != s.of(2).tolist()
    assert np.diff(s.offsets).tolist() == [2, 2, 2]


def test_batches_give_the_same_shingles_as_one_batch(monkeypatch):
    texts, _ = corpus(40, 5)
    whole = dedup.shingle(texts)
    monkeypatch.setattr(dedup, "_BATCH_CHARS", 500)
    assert len(dedup._batches(texts)) > 10
    parts = dedup.shingle(texts, threads=2)
    assert parts.offsets.tolist() == whole.offsets.tolist()
    assert parts.hashes.tolist() == whole.hashes.tolist()


def test_minhash_estimates_jaccard_and_is_deterministic():
    texts, originals = corpus(30, 10)
    s = dedup.shingle(texts)
    sig = dedup.minhash(s, num_perm=128, seed=3, threads=1)
    assert np.array_equal(sig, dedup.minhash(s, num_perm=128, seed=3, threads=2))
    for k, orig in enumerate(originals):
        copy = 30 + k
        estimate = float((sig[orig] == sig[copy]).mean())
        assert abs(estimate - true_jaccard(texts[orig], texts[copy])) < 0.15
    assert float((sig[0] == sig[1]).mean()) < 0.1  # unrelated texts


def test_lsh_bands_reach_the_target_recall_at_the_threshold():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = dedup.lsh_bands(threshold, 64)
        assert bands * rows <= 64
        assert 1 - (1 - threshold**rows) ** bands >= 0.99
    with pytest.raises(ValueError, match="threshold"):
        dedup.lsh_bands(1.5, 64)


def test_near_duplicates_find_every_planted_copy_and_nothing_else():
    texts, originals = corpus(400, 60)
    found = dedup.near_duplicates(texts, threshold=0.7, ngram=5, num_perm=64)
    truth = [true_jaccard(texts[o], texts[400 + k]) for k, o in enumerate(originals)]
    near = [k for k, j in enumerate(truth) if j >= 0.7]
    assert len(near) >= 50  # 1–3 substitutions in 80–160 words keep most copies above 0.7
    hits = [found.duplicate_of[400 + k] == found.duplicate_of[originals[k]] for k in near]
    assert np.mean(hits) >= 0.95
    # Every row flagged is a planted copy (or an original copied twice), verified at the threshold.
    flagged = np.flatnonzero(found.is_duplicate)
    assert set(flagged.tolist()) <= set(range(400, 460)) | set(originals)
    for i in flagged:
        assert true_jaccard(texts[i], texts[found.duplicate_of[i]]) >= 0.7 - 1e-9
        assert found.similarity[i] == pytest.approx(
            true_jaccard(texts[i], texts[found.duplicate_of[i]]), abs=0.02
        )
    assert all(found.duplicate_of[i] <= i for i in range(len(texts)))


def test_near_duplicates_link_transitively_and_keep_the_first():
    base = [f"w{i}" for i in range(60)]
    a = " ".join(base)
    b = " ".join([*base[:30], "x", *base[31:]])
    c = " ".join([*base[:30], "x", *base[31:45], "y", *base[46:]])
    found = dedup.near_duplicates([c, "autre chose entièrement", a, b], threshold=0.8)
    assert found.duplicate_of.tolist() == [0, 1, 0, 0]
    assert found.similarity[1] == 1.0


def test_short_questions_with_character_shingles():
    questions = [
        "Quel est le délai de prescription en matière civile ?",
        "Quel est le délai de la prescription en matière civile ?",
        "Quel est le délai de prescription en matière pénale ?",
        "Какой срок исковой давности по договору займа?",
        "Какой срок исковой давности по договору займа",
        "?",
    ]
    found = dedup.near_duplicates(questions, threshold=0.75, unit="char", ngram=5)
    assert found.duplicate_of.tolist() == [0, 0, 2, 3, 3, 5]
    # An inserted article (Jaccard 0.78) and another meaning (0.73) are close in characters: a threshold for
    # short questions only catches trivial variants; semantic dedup is for paraphrases.
    assert found.similarity[1] == pytest.approx(0.778, abs=0.001)


def test_texts_without_words_are_never_near_duplicates():
    found = dedup.near_duplicates(["", "...", "", "!!"], threshold=0.5)
    assert found.duplicate_of.tolist() == [0, 1, 2, 3]
