"""The folders stages hand to each other (lexqa.paths) are the ones dvc.yaml tracks between those stages."""

from __future__ import annotations

from pathlib import Path

import yaml

from lexqa.paths import DATASET, MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_dvc_yaml_tracks_the_folders_stages_hand_over() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert str(DATASET) in stages["split"]["outs"]
    assert str(DATASET) in stages["train"]["deps"] and str(MODEL_DIR) in stages["train"]["outs"]
    evaluate_deps = stages["evaluate"]["deps"]
    assert str(MODEL_DIR) in evaluate_deps and any(d.startswith(str(DATASET)) for d in evaluate_deps)
