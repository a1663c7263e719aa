"""A throwaway copy of the lexqa project for end-to-end runs of the DVC pipeline in tests.

The copy holds what `dvc repro` reads (dvc.yaml, params.yaml, stages/, prompts/, .dvc/config, and the code and
sample the stages depend on) and a git repository of its own; the stages run the package installed in the
venv. Commands run with the venv's ``bin`` first on
PATH, as `make run` does, so the stages' ``python stages/<name>.py`` is the venv's::

    >>> project = PipelineProject.create(tmp_path / "proj")          # doctest: +SKIP
    >>> project.set_params(lambda p: p["generate"].update(questions_per_chunk=1))  # doctest: +SKIP
    >>> project.dvc("repro")                                         # doctest: +SKIP

:func:`german_corpus` writes a small Markdown code in German (a language the bundled sample does not use), and
:func:`tiny_params` points params.yaml at a tiny model and settings that run the whole pipeline in seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPIED = (
    "dvc.yaml",
    "params.yaml",
    ".dvcignore",
    ".gitignore",
    ".dvc/config",
    ".dvc/.gitignore",
    "stages",
    "prompts",
    "src/lexqa",  # code deps of the stages (they run the venv's installed package)
    "data/raw/sample",
)


@dataclass
class PipelineProject:
    """A project copy at ``root`` with its own git repository."""

    root: Path
    log: dict[str, Any] = field(default_factory=dict)
    """What building it printed and measured (see :func:`german_pipeline`)."""

    @classmethod
    def create(cls, root: Path) -> PipelineProject:
        root.mkdir(parents=True, exist_ok=True)
        for rel in COPIED:
            src, dst = ROOT / rel, root / rel
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dst)
        (root / "data/processed").mkdir(parents=True, exist_ok=True)
        project = cls(root)
        project.git("init", "-q")
        return project

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        env |= {
            "DVC_NO_ANALYTICS": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "LEXQA_NO_PROGRESS": "1",
            "GIT_AUTHOR_NAME": "lexqa tests",
            "GIT_AUTHOR_EMAIL": "tests@lexqa.invalid",
            "GIT_COMMITTER_NAME": "lexqa tests",
            "GIT_COMMITTER_EMAIL": "tests@lexqa.invalid",
        }
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a command in the project; a failure shows its output."""
        done = subprocess.run(
            list(args), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}\n{output}")
        return done

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "dvc"), *args, check=check)

    def lexqa(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "lexqa"), *args, check=check)

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args)

    def commit(self, message: str = "baseline") -> None:
        """Commit everything (what `dvc exp run` needs: a baseline commit)."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def params(self) -> dict[str, Any]:
        return yaml.safe_load((self.root / "params.yaml").read_text(encoding="utf-8"))

    def copy(self, root: Path) -> PipelineProject:
        """A copy of the whole project (git repository, DVC cache and outputs included) at ``root``."""
        shutil.copytree(self.root, root, symlinks=True)
        return PipelineProject(root, dict(self.log))

    def set_params(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Load params.yaml, let ``change`` edit the mapping, write it back (comments are not kept)."""
        params = self.params()
        change(params)
        text = yaml.safe_dump(params, sort_keys=False, allow_unicode=True)
        (self.root / "params.yaml").write_text(text, encoding="utf-8")


GERMAN_ARTICLES = {
    "1": "Dieses Gesetz regelt die Nutzung gemeinschaftlicher Gärten auf Grundstücken der Gemeinde. "
    "Es gilt nicht für private Gärten und landwirtschaftliche Betriebe.",
    "2": "Ein Gemeinschaftsgarten wird von den Bewohnern eines Stadtviertels gemeinsam bewirtschaftet. "
    "Die Parzelle ist der Teil des Gartens, der einem Gärtner für eine Saison zugewiesen wird.",
    "3": "Die Gemeinde schließt mit dem Verein einen schriftlichen Nutzungsvertrag über das Grundstück. "
    "Der Vertrag wird für höchstens sechs Jahre geschlossen und kann einmal verlängert werden.",
    "4": "Jede Person mit Wohnsitz in der Gemeinde kann die Zuweisung einer Parzelle beantragen. "
    "Der Antrag wird schriftlich beim Verein gestellt und in der Reihenfolge des Eingangs bearbeitet.",
    "5": "Der Gärtner zahlt dem Verein einen jährlichen Beitrag, dessen Höhe die Mitgliederversammlung "
    "festlegt. Personen mit geringem Einkommen zahlen nur die Hälfte des Beitrags.",
    "6": "Chemische Pflanzenschutzmittel und künstliche Düngemittel sind im gesamten Garten verboten. "
    "Wer gegen dieses Verbot verstößt, verliert nach einer Abmahnung seine Parzelle.",
    "7": "Das Regenwasser wird in Tonnen gesammelt und vorrangig zum Gießen der Beete verwendet. "
    "Der Anschluss an die öffentliche Wasserleitung ist nur in trockenen Sommermonaten erlaubt.",
    "8": "Lärmende Arbeiten sind an Sonntagen und Feiertagen den ganzen Tag untersagt. "
    "An Werktagen dürfen Motorgeräte nur zwischen acht und neunzehn Uhr benutzt werden.",
    "9": "Kinder unter zwölf Jahren dürfen den Garten nur in Begleitung eines Erwachsenen betreten. "
    "Für Schulklassen kann der Verein besondere Besuchszeiten am Vormittag festlegen.",
    "10": "Die Ernte einer Parzelle gehört dem Gärtner, der sie bewirtschaftet. Der Verkauf der Ernte "
    "ist verboten, das Verschenken an Nachbarn und gemeinnützige Einrichtungen dagegen erlaubt.",
    "11": "Streitigkeiten zwischen Gärtnern werden zuerst dem Vorstand des Vereins vorgelegt. Kommt "
    "innerhalb eines Monats keine Einigung zustande, entscheidet der Bürgermeister nach einer Anhörung.",
    "12": "Der Verein haftet für Schäden, die durch den Zustand der gemeinsamen Anlagen entstehen. Er "
    "schließt zu diesem Zweck eine Haftpflichtversicherung ab und legt sie der Gemeinde jedes Jahr vor.",
}


def german_corpus(folder: Path) -> Path:
    """A Markdown code in German, in the shape the ``markdown`` reader accepts (see lexqa.ingest.markdown):
    sections as headings, one ``§ NUM`` heading per article (a word of the ``article_words`` that
    ``lexqa new-domain`` writes for German)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "---",
        'title: "Gesetz über Gemeinschaftsgärten (Beispiel)"',
        'identifier: "BEISPIEL-GARTENGESETZ"',
        'last_updated: "2025-03-01"',
        "---",
        "# Gesetz über Gemeinschaftsgärten (Beispiel)",
        "",
    ]
    for number, text in GERMAN_ARTICLES.items():
        if number in {"1", "6"}:
            part = "Allgemeine Vorschriften" if number == "1" else "Pflichten der Gärtner"
            lines += [f"## Abschnitt {1 if number == '1' else 2}: {part}", ""]
        lines += [f"### § {number}", "", text, ""]  # a unit heading, with article_words [Artikel, §]
    path = folder / "gartengesetz.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def tiny_params(model_dir: Path, dims: list[int]) -> Callable[[dict[str, Any]], None]:
    """A ``set_params`` change: the tiny model, the offline backend (ict only), small and fast settings."""

    def change(p: dict[str, Any]) -> None:
        p["model"] = {"name_or_path": str(model_dir), "query_prompt": "", "passage_prompt": ""}
        p["chunk"] = {"max_tokens": 60, "overlap_tokens": 8, "min_tokens": 8}
        p["generate"] |= {"backend": "offline", "offline": {"ict": 1}}
        p["generate"]["ict"] |= {"min_sentence_chars": 20}  # chunks of 60 tokens hold short sentences
        # A random model's embeddings are all alike: the filters that trust them would drop nearly every pair.
        p["curate"] |= {"semantic_dedup": {"enabled": False}, "round_trip": {"enabled": False}}
        p["train"] |= {
            "matryoshka_dims": dims,
            "epochs": 1,
            "learning_rate": 5e-4,  # a random model learns something in a few steps
            "batch_size": 4,
            "mini_batch_size": 4,
            "bf16": False,
            "tf32": False,
        }
        p["evaluate"] |= {"batch_size": 32}

    return change


GERMAN_SOURCE = "de_gaerten"


def german_pipeline(base: Path) -> PipelineProject:
    """A project copy pointed at :func:`german_corpus` with `lexqa new-domain`, restricted to that source,
    with :func:`tiny_params`, and run to the evaluation report by `dvc repro` (not committed).

    ``log`` holds the new-domain output (``new_domain``) and the repro's output and seconds (``repro``,
    ``repro_s``).
    """
    from tiny_model import HIDDEN, build_tiny_model

    project = PipelineProject.create(base / "project")
    german_corpus(project.root / "data/raw" / GERMAN_SOURCE)
    model_dir = build_tiny_model(base / "tiny_model")
    path = f"data/raw/{GERMAN_SOURCE}"
    scaffold = project.lexqa(
        "new-domain", GERMAN_SOURCE, "--lang", "de", "--kind", "markdown", "--path", path
    )
    project.log["new_domain"] = scaffold.stdout

    def only_german(p: dict[str, Any]) -> None:
        p["sources"] = [s for s in p["sources"] if s["name"] == GERMAN_SOURCE]

    project.set_params(only_german)
    project.set_params(tiny_params(model_dir, [HIDDEN, HIDDEN // 2, HIDDEN // 4]))
    start = time.perf_counter()
    project.log["repro"] = project.dvc("repro").stdout
    project.log["repro_s"] = time.perf_counter() - start
    return project
