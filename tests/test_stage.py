"""run_stage: what a user sees when a stage cannot run — one line and exit status 2, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lexqa.errors import InputError
from lexqa.split.groups import assign
from lexqa.stage import run_stage

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_unusable_input_exits_2_with_its_message(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def stage(params) -> None:
        assign({"only-group": 3}, {"only-group": "fr"}, 0.2, params.seed)

    with pytest.raises(SystemExit) as exit_info:
        run_stage(stage)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot split 1 group(s) into train and eval") and "Traceback" not in err


def test_missing_input_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def stage(params) -> None:
        raise FileNotFoundError("data/processed/chunks.parquet not found: run the chunk stage first")

    with pytest.raises(SystemExit) as exit_info:
        run_stage(stage)
    assert exit_info.value.code == 2 and "run the chunk stage first" in capsys.readouterr().err


def test_a_bug_is_not_swallowed(project: Path) -> None:
    def stage(params) -> None:
        raise KeyError("a programming error keeps its traceback")

    with pytest.raises(KeyError):
        run_stage(stage)


def test_input_error_is_a_value_error() -> None:
    assert issubclass(InputError, ValueError)
