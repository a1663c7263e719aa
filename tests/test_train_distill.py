"""``train.distill``: a teacher fused with BM25, its in-batch scores distilled beside the in-batch loss."""

from __future__ import annotations

import doctest
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_model import build_tiny_model, write_tiny_dataset

from lexqa.config import ParamsError, parse_params
from lexqa.fusion import fused
from lexqa.lexical import Bm25
from lexqa.train import MODEL_DIR, run
from lexqa.train import distill as distill_module
from lexqa.train.distill import FusedTeacher, candidate_ids, distill_loss
from lexqa.train.losses import build_loss

DIMS = [64, 32, 16]
PASSAGES = [
    "Le salarié a droit à un congé payé chaque année.",
    "Le bail d'habitation est conclu pour trois ans.",
    "Le préavis de démission dépend de la convention collective.",
    "Le congé de maternité suspend le contrat de travail.",
    "La période d'essai peut être renouvelée une fois.",
    "Le licenciement pour motif économique suit une procédure.",
]
QUESTIONS = ["congé payé", "préavis démission", "bail durée", "essai renouvelé"]


def _raw(model: Path, **train) -> dict:
    settings = {"matryoshka_dims": DIMS, "learning_rate": 5e-4, "batch_size": 16, "epochs": 1} | train
    return {
        "model": {"name_or_path": str(model), "query_prompt": "query: ", "passage_prompt": "passage: "},
        "sources": [{"name": "fr", "kind": "text", "path": "x", "lang": "fr", "domain": "d"}],
        "train": settings,
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_docstring_examples_run():
    assert doctest.testmod(distill_module).failed == 0


@pytest.mark.parametrize("weight", [0.0, 0.1, 0.5, 0.9])
def test_teacher_ranks_as_the_fusion_of_its_model_and_bm25(weight):
    rng = np.random.default_rng(0)
    questions, passages = _unit(rng.normal(size=(4, 8))), _unit(rng.normal(size=(6, 8)))
    lexical = Bm25(PASSAGES, ["fr"])
    teacher = FusedTeacher(questions, passages, lexical, QUESTIONS, weight, scale=20)
    logits = teacher.logits(np.arange(4), np.arange(6))
    expected = fused(questions @ passages.T, lexical.scores(QUESTIONS), weight)
    # The same order, and the same gaps up to each question's factor: scale × span / (1 − w).
    assert np.argsort(-logits, axis=1).tolist() == np.argsort(-expected, axis=1).tolist()
    span = np.ptp(questions @ passages.T, axis=1, keepdims=True)
    gaps = lambda s: s - s[:, :1]  # noqa: E731
    np.testing.assert_allclose(gaps(logits), gaps(expected) * 20 * span / (1 - weight), rtol=1e-4, atol=1e-4)


def test_teacher_refuses_a_weight_it_cannot_put_on_the_logit_scale():
    with pytest.raises(ValueError, match=r"within \[0, 1\)"):
        FusedTeacher(np.ones((1, 2)), np.ones((1, 2)), None, ["q"], 1.0, 20)
    with pytest.raises(ValueError, match="needs the BM25 index"):
        FusedTeacher(np.ones((1, 2)), np.ones((1, 2)), None, ["q"], 0.1, 20)


def test_candidate_ids_follow_the_columns_of_each_row():
    rows = [
        {"anchor": "q1", "positive": "p1", "negative_1": "p2", "negative_2": "p3"},
        {"anchor": "q2", "positive": "p2", "negative_1": "p1", "negative_2": "p4"},
        {"anchor": "q1", "positive": "p4", "negative_1": "p3", "negative_2": "p2"},
    ]
    questions, passages, ids = candidate_ids(rows)
    assert questions == ["q1", "q2"] and passages == ["p1", "p2", "p3", "p4"]
    for row, label in zip(rows, ids, strict=True):
        assert questions[label[0]] == row["anchor"]
        assert [passages[i] for i in label[1:]] == [row["positive"], row["negative_1"], row["negative_2"]]


def _batch(model, rows: list[dict]):
    """The trainer's features and labels for ``rows`` (anchor, positive, negative)."""
    import torch

    columns = ["anchor", "positive", "negative"]
    features = [model.tokenize([r[c] for r in rows]) for c in columns]
    _, _, ids = candidate_ids(rows)
    return features, torch.tensor(ids)


def _rows() -> list[dict]:
    pairs = list(zip(QUESTIONS, [PASSAGES[0], PASSAGES[2], PASSAGES[1], PASSAGES[4]], strict=True))
    return [
        {"anchor": q, "positive": p, "negative": PASSAGES[(i + 3) % len(PASSAGES)]}
        for i, (q, p) in enumerate(pairs)
    ]


def test_loss_is_the_ranking_loss_when_the_teacher_is_the_student_itself(tiny):
    """A teacher holding the student's own vectors (no BM25) agrees with it on every in-batch candidate: the
    KL term vanishes only if the teacher's scores are laid out as the student's candidates are."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import losses

    model = SentenceTransformer(str(tiny)).eval()
    rows = _rows()
    questions, passages, _ = candidate_ids(rows)
    own = FusedTeacher(
        model.encode(questions, normalize_embeddings=True),
        model.encode(passages, normalize_embeddings=True),
        None,
        questions,
        0.0,
        20,
    )
    features, labels = _batch(model, rows)
    ranking = losses.MultipleNegativesRankingLoss(model, scale=20)
    with torch.no_grad():
        expected = float(ranking(features, labels))
        same = float(distill_loss(model, own, 20, 1.0, False)(features, labels))
        # The same teacher with its passages in another order: the term no longer vanishes.
        shuffled = FusedTeacher(own.questions, own.passages[::-1].copy(), None, questions, 0.0, 20)
        other = float(distill_loss(model, shuffled, 20, 1.0, False)(features, labels))
    assert same == pytest.approx(expected, abs=1e-4)
    assert other > expected + 1e-3


def test_distillation_pulls_the_student_towards_the_teacher(tiny):
    """Steps on the loss make the student's in-batch scores agree more with a teacher's (here a random one, so
    that the agreement can only come from the distillation term)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny)).eval()  # no dropout: the steps' effect alone
    rows = _rows()
    questions, passages, _ = candidate_ids(rows)
    rng = np.random.default_rng(1)
    teacher = FusedTeacher(
        _unit(rng.normal(size=(len(questions), 8))),
        _unit(rng.normal(size=(len(passages), 8))),
        None,
        questions,
        0,
        20,
    )
    target = teacher.logits(np.arange(len(questions)), np.arange(len(passages)))
    features, labels = _batch(model, rows)
    loss = distill_loss(model, teacher, 20, 50.0, False)

    def agreement() -> float:
        q = model.encode(questions, normalize_embeddings=True)
        p = model.encode(passages, normalize_embeddings=True)
        return float(np.mean([np.corrcoef(s, t)[0, 1] for s, t in zip(q @ p.T, target, strict=True)]))

    before = agreement()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(10):
        optimizer.zero_grad()
        loss(features, labels).backward()
        optimizer.step()
    assert agreement() > before + 0.1


def test_build_loss_wraps_the_distillation_in_matryoshka(tiny):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny))
    params = parse_params(_raw(tiny, distill={"enabled": True}))
    teacher = FusedTeacher(np.ones((1, 64)), np.ones((2, 64)), None, ["q"], 0.0, 20)
    built = build_loss(params.train, model, teacher=teacher)
    assert type(built).__name__ == "MatryoshkaLoss" and type(built.loss).__name__ == "InBatchDistillLoss"
    with pytest.raises(ValueError, match="needs the teacher"):
        build_loss(params.train, model)


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"distill": {"enabled": True}, "loss": "gist"}, "distill adds to the mnrl loss"),
        ({"distill": {"bm25_weight": 1.0}}, "train.distill.bm25_weight"),
        ({"distill": {"weight": 0}}, "train.distill.weight"),
        ({"distill": {"temperature": 2}}, "train.distill.temperature: unknown key"),
    ],
)
def test_bad_distill_params_name_their_key(tiny, train, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(_raw(tiny, **train))


def _with_negatives(root: Path) -> None:
    dataset = write_tiny_dataset(root / "data/processed/dataset")
    lines = (dataset / "train.json").read_text(encoding="utf-8").splitlines()[:64]
    rows = [json.loads(line) for line in lines]
    for i, row in enumerate(rows):  # (anchor, positive, negative), as the split stage writes them
        row["negative"] = rows[(i + 7) % len(rows)]["positive"]
    (dataset / "train.json").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_train_stage_distils_a_saved_teacher_fused_with_bm25(tiny, tmp_path):
    _with_negatives(tmp_path)
    teacher = tmp_path / "teachers/earlier"
    shutil.copytree(tiny, teacher)
    params = parse_params(
        _raw(tiny, distill={"enabled": True, "teacher": "teachers/earlier", "bm25_weight": 0.2})
    )
    summary = run(params, root=tmp_path)
    assert summary["loss"].startswith("MatryoshkaLoss(mnrl + distill)") and summary["steps"] == 4
    account = summary["distill"]
    assert account["teacher"] == "teachers/earlier" and account["bm25_weight"] == 0.2
    assert account["questions"] > 0 and account["passages"] > 0 and account["teacher_fingerprint"]
    assert account["encoded"] == account["questions"] + account["passages"]  # a new model: nothing cached
    assert (tmp_path / MODEL_DIR / "model.safetensors").exists()


def test_train_stage_names_a_teacher_folder_that_is_no_model(tiny, tmp_path):
    _with_negatives(tmp_path)
    params = parse_params(_raw(tiny, distill={"enabled": True, "teacher": "nowhere"}))
    with pytest.raises(ParamsError, match=r"train.distill.teacher: .*nowhere is not a saved"):
        run(params, root=tmp_path)
