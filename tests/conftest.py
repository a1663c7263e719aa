"""Shared test fixtures: the real samples in ../shared/data (skipped when absent) and an offline environment."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DVC_NO_ANALYTICS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # One torch thread per test process: on 2 shared cores (and under xdist) a second thread only spins and
    # waits, which made tiny-model training up to 10x slower.
    "OMP_NUM_THREADS": "1",
    "LEXQA_NO_PROGRESS": "1",
}.items():
    os.environ.setdefault(_key, _value)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real legal samples beside the project; tests using it skip when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real samples not available: {SHARED_DATA} is absent (only in the developers' workspace)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def german_pipeline(tmp_path_factory, worker_id):
    """A project copy scaffolded for a German Markdown corpus with `lexqa new-domain` and run to the
    evaluation report with a tiny model (tests/pipeline_project.py). Built once per test run, whatever the
    xdist scheduling (pytest 9 drops xdist's group suffix, so `--dist loadgroup` does not keep the tests that
    use it on one worker): the first worker builds it under a file lock in the run's shared temporary folder,
    the others wait and reuse it. Copy it before changing it."""
    from filelock import FileLock
    from pipeline_project import PipelineProject, german_pipeline

    if worker_id == "master":
        return german_pipeline(tmp_path_factory.mktemp("german_pipeline"))
    shared = tmp_path_factory.getbasetemp().parent
    built = shared / "german_pipeline.json"
    with FileLock(str(shared / "german_pipeline.lock")):
        if built.exists():
            saved = json.loads(built.read_text(encoding="utf-8"))
            return PipelineProject(Path(saved["root"]), saved["log"])
        project = german_pipeline(tmp_path_factory.mktemp("german_pipeline"))
        built.write_text(json.dumps({"root": str(project.root), "log": project.log}), encoding="utf-8")
        return project


@pytest.fixture(autouse=True)
def _sigint_left_as_found():
    """A test (or the stage it runs) must leave Ctrl-C working: SIGINT's handler as it found it. A stage that
    left SIGINT ignored would make Ctrl-C useless in the notebook or shell that ran it."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"SIGINT's handler was left changed: {before!r} -> {after!r}")
