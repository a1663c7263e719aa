"""benchmarks/quality/*.yaml: the recipes of benchmarks/quality.md's rows, as ``--override`` files.

Each file must be valid params once merged into the project's, and give exactly the params its row
records, so that ``--override FILE`` reproduces the row rather than something near it. Also how
``benchmarks/quality.py`` reports a stage that failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from lexqa.config import ParamsError, parse_params

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402
from quality import differences, merge  # noqa: E402

RECIPES = sorted((ROOT / "benchmarks/quality").glob("*.yaml"))
LATER = {"train.rotation.enabled": False}
"""Params added since a row ran, set in its recipe to how the row ran (the key did not exist then)."""
ROWS = {
    "e5.yaml": ("e5_roundtrip_neg_1500", "/tmp/e5-small-local", LATER),
    "whole_code.yaml": ("whole_code_rot", None, {}),
}
"""Each recipe file: the run of benchmarks/quality.md it reproduces, the --model that run took, and the
params it sets that the row could not record."""


def project() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def recorded(run: str) -> dict:
    """The params that differ from params.yaml in ``run``'s row of the Runs table (cell 4, ``key: value``)."""
    rows = [
        r
        for r in (ROOT / "benchmarks/quality.md").read_text(encoding="utf-8").splitlines()
        if f"| {run} |" in r
    ]
    assert len(rows) == 1, f"{run}: {len(rows)} rows in benchmarks/quality.md"
    cell = rows[0].split(" | ")[3]
    pairs = [item.strip("`").split(": ", 1) for item in cell.split("<br>")]
    return {key: yaml.safe_load(value) for key, value in pairs}


def test_every_recipe_is_listed():
    assert {p.name for p in RECIPES} == set(ROWS)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_a_recipe_is_valid_params(path):
    parse_params(merge(project(), yaml.safe_load(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_a_recipe_gives_the_params_of_its_row(path):
    run, model, later = ROWS[path.name]
    params = merge(project(), yaml.safe_load(path.read_text(encoding="utf-8")))
    if model:
        params["model"]["name_or_path"] = model
    assert differences(project(), params) == recorded(run) | later


def test_a_misspelt_key_is_not_valid_params():
    with pytest.raises(ParamsError, match="round_trp"):
        parse_params(merge(project(), {"curate": {"round_trp": {"enabled": True}}}))


def test_a_stage_killed_by_sigkill_is_reported_as_a_likely_out_of_memory(tmp_path, monkeypatch):
    stages = tmp_path / "root" / "stages"
    stages.mkdir(parents=True)
    (stages / "train.py").write_text(
        "import os, signal\nprint('training')\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    (stages / "split.py").write_text("import sys\nsys.exit(2)\n")
    monkeypatch.setattr(quality, "ROOT", tmp_path / "root")
    (tmp_path / "work").mkdir()
    with pytest.raises(SystemExit) as killed:
        quality.run_stage(tmp_path / "work", "train")
    assert str(killed.value).startswith("stage train failed (-9): killed by SIGKILL")
    assert "out-of-memory killer" in str(killed.value) and str(killed.value).endswith("training\n")
    with pytest.raises(SystemExit) as failed:
        quality.run_stage(tmp_path / "work", "split")
    assert str(failed.value).startswith("stage split failed (2), see ")
