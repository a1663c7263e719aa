"""Folders one stage writes and later stages read, relative to the project root, as ``dvc.yaml`` names them.

>>> from lexqa.paths import DATASET, MODEL_DIR
>>> str(DATASET / "train.json"), str(MODEL_DIR)
('data/processed/dataset/train.json', 'models/lexqa')
"""

from pathlib import Path

DATASET = Path("data/processed/dataset")
"""Written by ``split`` (train.json, eval.json, beir/, README.md); read by ``train`` and ``evaluate``."""

MODEL_DIR = Path("models/lexqa")
"""Written by ``train`` (the fine-tuned model and its card); read by ``evaluate``."""
