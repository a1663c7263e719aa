"""The two install commands of README.md that need the internet, run against a loopback stand-in for it.

tests/pypi_index.py serves torch 2.13.0 under download.pytorch.org's paths (``/whl/cpu/torch/``,
``/whl/cu128/torch/``) and pypi.org's (``/simple/torch/``) on 127.0.0.1. The commands are read from README.md,
so a test fails when the README's command changes and no longer does what the test proves. pip runs with
``--dry-run --no-deps``: it resolves torch from the served metadata (PEP 658) without downloading a wheel or
torch's dependencies, and it can reach no other host: every index it knows is the loopback one, the self
version check is off, and any other host is behind a proxy that refuses connections, so a stray request fails
at once (no retry) instead of going out or hanging. Each pip run takes about 1.5 s.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pypi_index import PyPIIndex, torch_metadata, with_version

ROOT = Path(__file__).resolve().parents[1]
PYTORCH = "https://download.pytorch.org"


def readme_command(marker: str) -> list[str]:
    """The words of the one inline command of README.md containing ``marker`` (it may wrap over lines)."""
    prose = re.sub(r"```.*?```", "", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)
    spans = [span for span in re.findall(r"`([^`]+)`", prose) if marker in span]
    assert len(spans) == 1, f"expected one inline command with {marker!r} in README.md, found {spans}"
    return shlex.split(spans[0])


def split_env(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """``NAME=value`` words before a command, as a dict, and the command."""
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, value = words[0].split("=", 1)
        env[name] = value
        words = words[1:]
    return env, words


def on_loopback(url: str, index: PyPIIndex) -> str:
    """``url`` with download.pytorch.org's scheme and host replaced by the loopback index's."""
    assert url.startswith(f"{PYTORCH}/"), f"{url} is not on {PYTORCH}: the stand-in serves its paths"
    return index.url("") + url.removeprefix(PYTORCH)


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pip_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without pip settings and proxies, made offline-safe, plus ``extra``.

    PIP_CONFIG_FILE=/dev/null: this machine's pip config adds local indexes (file:///opt/pypi/simple) and a
    find-links folder (/opt/wheels, also in PIP_FIND_LINKS), where pip finds torch 2.13.0 without asking any
    index: the commands would pass without ever asking ours. PIP_NO_INDEX goes with the other PIP_ variables.
    Every host but 127.0.0.1 goes through a proxy that refuses connections, so a request pip sends elsewhere
    fails at once (this machine can reach pypi.org: without it, a stray request would download from it).
    """
    env = {
        k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_") and "PROXY" not in k.upper()
    }
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = dead_proxy
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1"
    return env | {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DEFAULT_TIMEOUT": "3",
        "PIP_RETRIES": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        "PIP_LOG": str(tmp_path / "pip.log"),  # pip's debug log, whatever the verbosity
        **extra,
    }


def run_pip(argv: list[str], env: dict[str, str], returncode: int = 0) -> str:
    """Run a pip command line from the project root; returns its output, failing the test on another exit
    status than ``returncode``."""
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == returncode, f"{shlex.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fresh_venv(path: Path, torch: str | None = None) -> Path:
    """A new venv without pip, as ``make venv`` starts from; ``torch`` fakes an installed torch of that
    version (its metadata only). Returns its python, for pip's ``--python`` (PIP_PYTHON)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)
    if torch:
        site = path / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        dist_info = site / f"torch-{torch}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_bytes(with_version(torch_metadata(), torch))
    return path / "bin" / "python"


@pytest.fixture
def project_venv() -> None:
    """The README's commands run ``.venv/bin/...``: the venv ``make venv`` made in the project."""
    if not (ROOT / ".venv" / "bin" / "pip").is_file():
        pytest.skip(f"no {ROOT / '.venv'}: the README's install commands run after `make venv`")


def would_install(output: str) -> list[str]:
    """The distributions a ``pip install --dry-run`` output says it would install."""
    match = re.search(r"^Would install (.*)$", output, flags=re.M)
    return match.group(1).split() if match else []


@pytest.mark.parametrize("installed", ["2.13.0+cpu", "2.13.0"], ids=["venv-here", "venv-from-pypi"])
def test_readme_gpu_command_installs_the_cu128_build(installed, project_venv, tmp_path):
    """After `make venv` (torch 2.13.0+cpu on the project's machines, PyPI's 2.13.0 elsewhere), the README's
    GPU command asks PyTorch's cu128 index and would replace torch with the 2.13.0+cu128 build."""
    words = readme_command(f"{PYTORCH}/whl/cu128")
    assert words[:2] == [".venv/bin/pip", "install"]
    with PyPIIndex() as index:
        index.add_torch("/whl/cu128", "cu128")
        argv = [on_loopback(w, index) if w.startswith(PYTORCH) else w for w in words]
        # --no-deps: torch's dependencies (filelock, sympy...) are not on the stand-in. PIP_PYTHON points
        # pip at a venv holding only the torch `make venv` installs, not at whatever .venv holds today.
        env = pip_env(tmp_path, PIP_PYTHON=str(fresh_venv(tmp_path / "venv", installed)))
        output = run_pip([*argv, "--dry-run", "--no-deps"], env)
        paths = index.paths
    assert would_install(output) == ["torch-2.13.0+cu128"], output
    assert "/whl/cu128/torch/" in paths
    assert [p for p in paths if p.endswith(".metadata")] == [
        "/whl/cu128/torch-2.13.0%2Bcu128-cp311-cp311-manylinux_2_28_x86_64.whl.metadata"
    ]
    assert not [p for p in paths if p.endswith(".whl")], "pip downloaded a wheel instead of its metadata"


@pytest.fixture
def make() -> None:
    """Skips where GNU make is absent."""
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed: the README's command is `make venv`")


@pytest.fixture
def makefile_torch_step(make) -> list[str]:
    """The Makefile's `pip install -r requirements.lock` step (from `make -n -B venv`) reduced to torch:
    the lock's torch pin in place of the lock, without --quiet (whose output would be empty)."""
    dry = subprocess.run(
        ["make", "-n", "-B", "venv"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    (line,) = [x for x in dry.stdout.splitlines() if " pip install " in x and "-r requirements.lock" in x]
    (pin,) = re.findall(r"^torch==\S+$", (ROOT / "requirements.lock").read_text(), flags=re.M)
    words = shlex.split(line.replace("-r requirements.lock", pin))
    return [w for w in words if w not in ("--quiet", "-q")]


def test_readme_cpu_command_exports_the_index_to_every_pip_step(make, tmp_path):
    """`PIP_EXTRA_INDEX_URL=... make venv` runs the Makefile's recipe with the variable in the environment of
    every pip it starts. The recipe runs for real, in a venv whose python is a script logging its arguments
    and that variable: make passes its environment on, nothing is installed and nothing is fetched."""
    env_vars, argv = split_env(readme_command("PIP_EXTRA_INDEX_URL="))
    assert argv == ["make", "venv"]
    assert env_vars == {"PIP_EXTRA_INDEX_URL": f"{PYTORCH}/whl/cpu"}
    venv, log = tmp_path / "venv", tmp_path / "calls.log"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        f'#!/bin/sh\nprintf "%s\\t%s\\n" "$PIP_EXTRA_INDEX_URL" "$*" >> {shlex.quote(str(log))}\n'
    )
    python.chmod(0o755)
    subprocess.run(
        [*argv, "-B", f"VENV={venv}"],
        cwd=ROOT,
        env=os.environ | env_vars,
        check=True,
        capture_output=True,
        timeout=60,
    )
    calls = [line.split("\t") for line in log.read_text().splitlines()]
    pip_calls = [(url, args) for url, args in calls if args.startswith("-m pip install")]
    assert len(pip_calls) >= 2, calls
    assert {url for url, _ in pip_calls} == {f"{PYTORCH}/whl/cpu"}
    assert any("-r requirements.lock" in args for _, args in pip_calls)
    assert (venv / ".installed").is_file()


@pytest.mark.parametrize("cpu_index", [True, False], ids=["with-cpu-index", "pypi-only"])
def test_readme_cpu_command_makes_pip_pick_the_cpu_wheel(
    cpu_index, makefile_torch_step, project_venv, tmp_path
):
    """The Makefile's pip step for torch, in a fresh venv, with the README's PIP_EXTRA_INDEX_URL on the
    loopback stand-in: pip asks PyPI and PyTorch's CPU index and takes 2.13.0+cpu (the higher version; the
    pin `torch==2.13.0` ignores local labels). Without the variable it takes PyPI's 2.13.0 (a CUDA build on
    Linux): the README's variable is what makes the difference."""
    env_vars, _ = split_env(readme_command("PIP_EXTRA_INDEX_URL="))
    with PyPIIndex() as index:
        index.add_torch("/whl/cpu", "cpu")
        index.add_torch("/simple", None)  # pypi.org's torch, named without a local label
        env = pip_env(
            tmp_path,
            PIP_INDEX_URL=index.url("/simple"),  # stands in for pypi.org, pip's default index
            PIP_CONSTRAINT=str(ROOT / "constraints.txt"),  # exported by the Makefile
            PIP_PYTHON=str(fresh_venv(tmp_path / "venv")),  # the new venv `make venv` installs into
        )
        if cpu_index:
            env["PIP_EXTRA_INDEX_URL"] = on_loopback(env_vars["PIP_EXTRA_INDEX_URL"], index)
        output = run_pip([*makefile_torch_step, "--dry-run", "--no-deps"], env)
        paths = index.paths
    assert would_install(output) == (["torch-2.13.0+cpu"] if cpu_index else ["torch-2.13.0"]), output
    assert "/simple/torch/" in paths
    assert ("/whl/cpu/torch/" in paths) == cpu_index
    assert not [p for p in paths if p.endswith(".whl")], "pip downloaded a wheel instead of its metadata"


def test_pip_cannot_reach_another_host(project_venv, tmp_path):
    """The guard of these tests: the README's GPU command left pointing at download.pytorch.org fails at once
    on the refusing proxy (pip's log says so) instead of fetching from the internet or hanging."""
    words = readme_command(f"{PYTORCH}/whl/cu128")
    env = pip_env(tmp_path, PIP_PYTHON=str(fresh_venv(tmp_path / "venv")))
    run_pip([*words, "--dry-run", "--no-deps"], env, returncode=1)
    log = (tmp_path / "pip.log").read_text()
    assert f"Could not fetch URL {PYTORCH}/whl/cu128/torch/: proxy connection error" in log
