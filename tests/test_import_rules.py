"""The seams of docs/architecture.md, checked from the source: no stage imports another stage.

The stages are the packages ``lexqa.<stage>`` of :data:`STAGES`. A module of stage X may import shared modules
(anything in ``src/lexqa`` that is not a stage package) and its own package; ``train`` may also import
``lexqa.evaluate`` (a trainer uses evaluators), never the other way round. Shared modules import no stage, so
that a stage cannot reach another one through them; the entry points of :data:`ENTRY_POINTS` sit above the
stages (nothing below imports them) and may import a stage's public names.
No module imports another module's private (``_``-prefixed) name (modules of one package may share theirs).
Imports are read with :mod:`ast`, function-level ones included.

There is no allow-list: issue 13 removed the last imports that broke a rule (the curate judge borrowing
generate's LLM machinery, now ``lexqa.llm``; ``new_domain`` reading private names of config, chunk and generate,
now ``lexqa.languages``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_dvc_deps import SRC, module_file

STAGES = ("ingest", "chunk", "generate", "curate", "split", "train", "evaluate")
MAY_ALSO_IMPORT = {"train": {"evaluate"}}
"""Stages another stage may import: a trainer uses evaluators."""
ENTRY_POINTS = {
    "lexqa.cli": "the lexqa command",
    "lexqa.new_domain": "lexqa new-domain: scaffolds params, prompts and sources for a domain from what the "
    "stages accept",
}


@dataclass(frozen=True)
class Import:
    """One imported name: ``target`` is ``lexqa.x.y`` (a module) or ``lexqa.x.y.name`` (a name of module
    ``lexqa.x.y``); ``module`` is the module it comes from."""

    importer: str
    target: str
    module: str
    line: int

    @property
    def name(self) -> str:
        return self.target.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.target}"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, src: Path = SRC) -> list[Import]:
    """Every ``lexqa`` name ``path`` imports, at any depth of the file (relative imports resolved)."""
    importer = module_name(path, src)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(importer, a.name, a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for a in node.names:
                target = f"{base}.{a.name}"
                is_module = module_file(target) is not None or (src / Path(*target.split("."))).is_dir()
                found.append(Import(importer, target, target if is_module else base, node.lineno))
    return [i for i in found if i.target.split(".")[0] == "lexqa"]


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def unit(module: str) -> str:
    """``lexqa.<x>``: the package or top-level module within which private names may be shared."""
    return ".".join(module.split(".")[:2])


def violations(src: Path = SRC) -> list[tuple[Import, str]]:
    """(import, the rule it breaks) for every import of ``src/lexqa`` that breaks a rule."""
    out = []
    for path in sorted((src / "lexqa").rglob("*.py")):
        for imp in imports(path, src):
            own, theirs = stage_of(imp.importer), stage_of(imp.module)
            if own and theirs and theirs != own and theirs not in MAY_ALSO_IMPORT.get(own, set()):
                out.append((imp, f"stage {own} imports stage {theirs}"))
            elif not own and theirs and imp.importer not in ENTRY_POINTS:
                out.append((imp, f"shared module imports stage {theirs}"))
            elif imp.module in ENTRY_POINTS and imp.importer not in ENTRY_POINTS:
                out.append((imp, "imports an entry point"))
            elif (
                imp.name.startswith("_")
                and not imp.name.startswith("__")
                and unit(imp.module) != unit(imp.importer)
            ):
                out.append((imp, "imports a private name"))
    return out


def test_no_stage_imports_another_stage():
    found = [f"{imp}: {rule}" for imp, rule in violations()]
    assert not found, "imports across the seams (docs/architecture.md, Seams):\n" + "\n".join(found)


def test_train_may_use_evaluate_but_not_the_other_way_round():
    found = {(stage_of(imp.importer), stage_of(imp.module)) for p in SRC.rglob("*.py") for imp in imports(p)}
    assert ("train", "evaluate") in found  # the allowance is used, so this test means something
    assert ("evaluate", "train") not in found


def write_module(root: Path, rel: str, text: str) -> None:
    path = root / "lexqa" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("rel", "text", "rule"),
    [
        (
            "evaluate/report.py",
            "def f():\n    from lexqa.train.data import x\n",
            "stage evaluate imports stage train",
        ),
        ("split/card.py", "from lexqa import curate\n", "stage split imports stage curate"),
        ("split/card.py", "from ..curate import steps\n", "stage split imports stage curate"),
        ("split/card.py", "import lexqa.curate.steps\n", "stage split imports stage curate"),
        ("tables.py", "from lexqa.chunk import tokens\n", "shared module imports stage chunk"),
        ("curate/judge.py", "from lexqa.generate.parsing import x\n", "stage curate imports stage generate"),
        ("llm/chat.py", "from lexqa.generate.prompts import x\n", "shared module imports stage generate"),
        ("chunk/tokens.py", "from lexqa.cli import main\n", "imports an entry point"),
        ("chunk/tokens.py", "from lexqa.models import _private\n", "imports a private name"),
        ("new_domain.py", "from lexqa.chunk.context import _words\n", "imports a private name"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path, rel, text, rule):
    # a tree of its own beside the real package names, so that module_file resolves the real modules
    write_module(tmp_path, "__init__.py", "")
    write_module(tmp_path, rel, text)
    assert [r for _, r in violations(tmp_path)] == [rule]


@pytest.mark.parametrize(
    ("rel", "text"),
    [
        ("train/evaluator.py", "from lexqa.evaluate.metrics import ndcg\n"),
        ("split/card.py", "from lexqa.split.groups import merge\nfrom lexqa.tables import write_text\n"),
        ("new_domain.py", "from lexqa.generate.prompts import PROMPTS\n"),
        ("cli.py", "from lexqa.new_domain import main\n"),
        ("curate/__init__.py", "from lexqa.curate.steps import _RETRIEVER\n"),
    ],
)
def test_allowed_imports_pass(tmp_path, rel, text):
    write_module(tmp_path, "__init__.py", "")
    write_module(tmp_path, rel, text)
    assert violations(tmp_path) == []
