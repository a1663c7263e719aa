"""Where a training run keeps its checkpoints, and which one a killed run resumes from.

Checkpoints live in ``data/cache/train/<fingerprint>/checkpoint-<step>``, outside every DVC out (``dvc repro``
deletes a stage's outs before running it). The fingerprint hashes the model and train params, the seed and the
training data, so a re-run with the same inputs resumes and a changed one starts afresh::

    >>> run = run_dir("data/cache/train", {"lr": 2e-5}, files=[])
    >>> run.parent.as_posix(), len(run.name)
    ('data/cache/train', 16)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("lexqa.train")

STATE_FILE = "trainer_state.json"
"""Written last when the trainer saves a checkpoint: a checkpoint without it was cut short by a kill."""

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def run_dir(cache: str | Path, config: Any, files: Sequence[Path]) -> Path:
    """``cache/<16 hex>``: the run folder for this configuration (JSON-able) and these input files."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for path in files:
        digest.update(path.name.encode())
        if path.exists():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return Path(cache) / digest.hexdigest()[:16]


def last_checkpoint(folder: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``folder``; None when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = sorted(
        ((int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))),
        reverse=True,
    )
    for _, path in found:
        if (path / STATE_FILE).exists():
            return path
        log.warning("%s is incomplete (no %s: the run was killed while saving): skipped", path, STATE_FILE)
    return None
