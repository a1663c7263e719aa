"""The documented multi-GPU launches, ``torchrun --nproc_per_node N stages/train.py`` (README) and
``accelerate launch --multi_gpu --num_processes N stages/train.py`` (docs/train-evaluate.md), run for real on
the CPU.

No GPU here, so two processes train the tiny BERT with the gloo backend; the same code path (trainer wrapped
in DistributedDataParallel, negatives gathered across processes, only the main process writing) is what NCCL
runs on several GPUs. The run is compared with a single-process run of the same stage on the same project.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny_model import HIDDEN, build_tiny_model, write_tiny_dataset

from lexqa.config import parse_params
from lexqa.train import CACHE, MODEL_DIR, SUMMARY, run

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).parent / "torchrun"
ACCELERATE = Path(sys.executable).parent / "accelerate"
DIMS = [HIDDEN, 32, 16]
PAIRS, BATCH = 128, 16
"""Training pairs and per-process batch: 8 steps in one process, 4 in each of two."""
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "LEXQA_NO_PROGRESS": "1",
}


def _project(root: Path, model: Path) -> dict:
    """A project holding what ``train`` reads: params.yaml and the split's dataset (128 training pairs)."""
    dataset = write_tiny_dataset(root / "data/processed/dataset")
    lines = (dataset / "train.json").read_text(encoding="utf-8").splitlines()[:PAIRS]
    (dataset / "train.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    raw = {
        "model": {"name_or_path": str(model), "query_prompt": "query: ", "passage_prompt": "passage: "},
        "sources": [{"name": "fr", "kind": "text", "path": "x", "lang": "fr", "domain": "d"}],
        "train": {"matryoshka_dims": DIMS, "learning_rate": 5e-4, "batch_size": BATCH, "epochs": 1},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return raw


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _outputs(root: Path) -> list[str]:
    """What the stage wrote: the model folder and the stage's files beside the dataset."""
    files = [*(root / MODEL_DIR).rglob("*"), *(root / "data/processed").glob("train_*")]
    return sorted(p.relative_to(root).as_posix() for p in files if p.is_file())


def _launch(command: list[str], project: Path) -> dict:
    """Run a launcher command in ``project`` and check what a 2-process DDP run of the stage must leave."""
    from sentence_transformers import SentenceTransformer

    # The rendezvous port is free and our own, so that two runs on one machine (xdist workers, other users)
    # never meet on the default 29500: torchrun reads PET_MASTER_PORT, accelerate its --main_process_port.
    env = os.environ | OFFLINE | {"PET_MASTER_PORT": str(_free_port())}
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr[-6000:]}"

    summary = json.loads((project / SUMMARY).read_text(encoding="utf-8"))
    assert summary["world_size"] == 2  # the trainer's own count: DDP took place, not two lone trainings
    assert summary["steps"] == PAIRS // (BATCH * 2)  # each process trained on its half of the batches
    assert summary["train_pairs"] == PAIRS and summary["best_checkpoint"] == f"checkpoint-{summary['steps']}"
    # Only the main process printed the summary and wrote the checkpoint (sentence-transformers' log line).
    assert done.stdout.count("== train ==") == 1
    assert done.stderr.count("Saving model checkpoint to") == 1
    assert not list((project / CACHE).glob("*/checkpoint-*"))

    trained = SentenceTransformer(str(project / MODEL_DIR))
    assert trained.prompts == {"query": "query: ", "document": "passage: "}
    assert trained.encode_query(["bail"], truncate_dim=16).shape == (1, 16)
    assert "Base vs fine-tuned" in (project / MODEL_DIR / "README.md").read_text(encoding="utf-8")
    return summary


@pytest.mark.slow  # two Python processes importing torch and training: ~30 s on 2 idle cores
def test_torchrun_two_processes_train_with_ddp_on_cpu(tmp_path):
    model = build_tiny_model(tmp_path / "tiny")
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    ddp.mkdir()
    raw = _project(ddp, model)
    summary = _launch([str(TORCHRUN), "--nproc_per_node", "2", str(ROOT / "stages/train.py")], ddp)

    # The same stage in one process writes the same files and the same summary keys.
    single.mkdir()
    _project(single, model)
    alone = run(parse_params(raw), root=single)
    assert alone["world_size"] == 1 and alone["steps"] == 2 * summary["steps"]
    assert _outputs(ddp) == _outputs(single)
    assert set(summary) == set(alone)


@pytest.mark.slow  # as above
def test_accelerate_launch_multi_gpu_command_trains_with_ddp_on_cpu(tmp_path):
    """docs/train-evaluate.md's ``accelerate launch --multi_gpu --num_processes N``: without CUDA, accelerate
    starts the same two processes, and the stage trains with gloo."""
    (tmp_path / "ddp").mkdir()
    _project(tmp_path / "ddp", build_tiny_model(tmp_path / "tiny"))
    port = str(_free_port())
    command = [
        "--multi_gpu",
        "--num_processes",
        "2",
        "--main_process_port",
        port,
        str(ROOT / "stages/train.py"),
    ]
    _launch([str(ACCELERATE), "launch", *command], tmp_path / "ddp")
