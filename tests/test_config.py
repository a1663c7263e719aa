"""params.yaml validation: the repository's file is valid, and every kind of mistake names its key."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError, create_model

from lexqa.config import Params, ParamsError, Section, load_params, parse_params


@pytest.fixture(scope="module")
def raw(root) -> dict:
    return yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))


def error_of(raw: dict, mutate) -> str:
    bad = copy.deepcopy(raw)
    mutate(bad)
    with pytest.raises(ParamsError) as info:
        parse_params(bad)
    return str(info.value)


def source_named(raw: dict, name: str) -> dict:
    return next(s for s in raw["sources"] if s["name"] == name)


def test_repository_params_validate(root):
    params = load_params(root / "params.yaml")
    assert isinstance(params, Params)
    names = [s.name for s in params.sources]
    assert len(names) == len(set(names))
    assert {s.kind for s in params.sources} >= {"markdown", "tabular"}


def test_every_source_in_params_has_its_bundled_sample(root):
    for source in load_params(root / "params.yaml").sources:
        assert (root / source.path).exists(), f"{source.name}: {source.path} is missing"


def test_params_are_frozen(root):
    params = load_params(root / "params.yaml")
    with pytest.raises(ValueError, match="frozen"):
        params.chunk.max_tokens = 1


def _sections() -> list[type[Section]]:
    found, todo = [], [Section]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_path_setting_takes_a_yaml_string():
    """Sections are strict (no str -> int); a path must still come from YAML's string: a field typed ``Path``
    instead of ``config.PathParam`` would refuse every value a params.yaml can hold."""
    strict_paths = []
    for cls in _sections():
        for name, field in cls.model_fields.items():
            if "Path" not in str(field.annotation):
                continue
            probe = create_model("Probe", __base__=Section, value=(field.annotation, field))
            given = {"k": "some/path"} if "dict" in str(field.annotation) else "some/path"
            try:
                probe(value=given)
            except ValidationError:
                strict_paths.append(f"{cls.__name__}.{name}")
    assert strict_paths == []


@pytest.mark.parametrize(
    ("mutate", "key", "allowed"),
    [
        (lambda r: r.update(sed=1), "sed:", "unknown key"),
        (lambda r: r["chunk"].update(max_tokenz=10), "chunk.max_tokenz:", "unknown key"),
        (
            lambda r: source_named(r, "sample_tabular").update(id_colum="x"),
            "sources[sample_tabular].id_colum:",
            "unknown key",
        ),
        (
            lambda r: r["chunk"].update(max_tokens="big"),
            "chunk.max_tokens:",
            "must be a whole number, not a string (got 'big')",
        ),
        (
            lambda r: r["ingest"].update(detect_language="maybe"),
            "ingest.detect_language:",
            "must be true or false, not a string (got 'maybe')",
        ),
        (lambda r: r["ingest"].update(min_confidence=2), "ingest.min_confidence:", "less than or equal to 1"),
        (lambda r: r["chunk"].update(max_tokens=4), "chunk.max_tokens:", "greater than or equal to 16"),
        (
            lambda r: r["chunk"].update(max_tokens=64, overlap_tokens=32),
            "chunk:",
            "overlap_tokens (32) must be below max_tokens/2",
        ),
        (
            lambda r: r["chunk"].update(max_tokens=64, overlap_tokens=0, min_tokens=64),
            "chunk:",
            "min_tokens (64) must be below max_tokens (64)",
        ),
        (
            lambda r: source_named(r, "sample_markdown").update(kind="docx"),
            "sources[sample_markdown].kind:",
            "unknown source kind 'docx'; allowed: legi_xml, legifrance_json, markdown, sudrf_html, arbitr",
        ),
        (
            lambda r: source_named(r, "sample_markdown").pop("kind"),
            "sources[sample_markdown].kind:",
            "missing; every source needs one of: legi_xml",
        ),
        (
            lambda r: source_named(r, "sample_markdown").update(lang="xx"),
            "sources[sample_markdown].lang:",
            "not allowed: 'xx'; input should be 'fr', 'ru'",
        ),
        (
            lambda r: source_named(r, "sample_legi").update(codes=["LEGITEXT123"]),
            "sources[sample_legi].codes[0]:",
            r"not allowed: 'LEGITEXT123'; must match ^LEGITEXT\d{12}$",
        ),
        (
            lambda r: source_named(r, "sample_legi").update(as_of="yesterday"),
            "sources[sample_legi].as_of:",
            "must be a date written YYYY-MM-DD (got 'yesterday')",
        ),
        (
            lambda r: r["sources"].append(dict(source_named(r, "sample_tabular"))),
            "sources:",
            "source names must be unique; repeated: sample_tabular",
        ),
        (
            lambda r: source_named(r, "sample_text").update(name="two words"),
            "sources[two words].name:",
            "must match ^[A-Za-z0-9_.-]+$",
        ),
        (lambda r: r.update(sources=[]), "sources:", "at least 1 item"),
        (lambda r: r.pop("model"), "model:", "Field required"),
    ],
)
def test_mistakes_name_the_key_and_what_is_allowed(raw, mutate, key, allowed):
    message = error_of(raw, mutate)
    assert message.startswith("invalid params.yaml:\n")
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(key)), None)
    assert line is not None, f"{key!r} not named in:\n{message}"
    assert allowed in line, f"{allowed!r} not in {line!r}"


def test_every_bad_key_is_reported_at_once(raw):
    def mutate(r):
        r["chunk"]["max_tokens"] = "big"
        r["ingest"]["min_chars"] = 0
        r["typo"] = True

    lines = error_of(raw, mutate).splitlines()[1:]
    assert sorted(ln.split(":")[0].strip() for ln in lines) == [
        "chunk.max_tokens",
        "ingest.min_chars",
        "typo",
    ]


def test_load_params_file_errors(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("chunk: [unclosed\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="top level must be a mapping"):
        load_params(tmp_path / "params.yaml")


def run_ingest_stage(root: Path, workdir: Path) -> subprocess.CompletedProcess:
    (workdir / "stages").mkdir()
    shutil.copy(root / "stages" / "ingest.py", workdir / "stages" / "ingest.py")
    return subprocess.run(
        [sys.executable, "stages/ingest.py"], cwd=workdir, capture_output=True, text=True, timeout=120
    )


def test_stage_with_bad_params_exits_2_with_the_message(root, raw, tmp_path):
    bad = copy.deepcopy(raw)
    bad["chunk"]["overlap_tokens"] = 500
    source_named(bad, "sample_markdown")["lang"] = "xx"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    result = run_ingest_stage(root, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "error: invalid params.yaml:" in result.stderr
    assert "chunk: overlap_tokens (500) must be below max_tokens/2" in result.stderr
    assert "sources[sample_markdown].lang: not allowed: 'xx'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing written


def test_stage_without_params_exits_2(root, tmp_path):
    result = run_ingest_stage(root, tmp_path)
    assert result.returncode == 2
    assert "params.yaml not found: run stages from the project root" in result.stderr
