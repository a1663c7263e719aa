"""dvc.yaml's deps cover what each stage runs: the import closure of ``stages/<name>.py`` inside ``src/lexqa``.

Without this, an edit to a module a stage imports but does not list (a shared module such as ``tables.py``)
leaves ``dvc repro`` saying "up to date" and keeps outputs made by the old code. The closure is computed from
the source (every ``import`` / ``from … import`` of ``lexqa``, at any depth, function-level imports included;
a package's ``__init__`` comes with each of its modules), so a new import shows up here at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    """The file of module ``lexqa.x.y`` (a module or a package's ``__init__``), or None if it is no module."""
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path) -> set[str]:
    """The ``lexqa`` modules ``path`` imports (``from lexqa.x import y`` counts ``lexqa.x.y`` when it is a
    module), with their parent packages."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "lexqa"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lexqa":
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}")}
    parents = {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1)}
    return {n for n in names | parents if module_file(n)}


def import_closure(script: Path) -> set[Path]:
    """Every ``src/lexqa`` file that running ``script`` may import."""
    seen: set[str] = set()
    todo = imported_modules(script)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo |= imported_modules(module_file(name)) - seen
    return {module_file(n) for n in seen}


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_deps_cover_its_import_closure(name):
    stage = stages()[name]
    script = ROOT / "stages" / f"{name}.py"
    assert f"stages/{name}.py" in stage["deps"]
    missing = sorted(
        str(p.relative_to(ROOT)) for p in import_closure(script) if not covered(p, stage["deps"])
    )
    assert not missing, f"dvc.yaml stage {name!r} runs code it does not list in deps: {missing}"


def test_closure_follows_function_level_imports():
    # curate imports its judge inside a method (the openai client only loads when the judge is on)
    closure = import_closure(ROOT / "stages" / "curate.py")
    assert SRC / "lexqa" / "curate" / "judge.py" in closure
    assert SRC / "lexqa" / "tables.py" in closure and SRC / "lexqa" / "__init__.py" in closure


def test_a_missing_dep_is_named(tmp_path):
    closure = import_closure(ROOT / "stages" / "split.py")
    deps = ["stages/split.py", "src/lexqa/split"]
    assert not all(covered(p, deps) for p in closure)  # tables.py, config.py... are not under split/
