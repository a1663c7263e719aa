"""Ingest throughput: LEGI XML streamed from a .tar.gz on one core, Légifrance JSON, peak memory vs size.

Run::

    .venv/bin/python benchmarks/ingest.py           # archives of ~6, 25 and 100 MB of XML: under a minute
    .venv/bin/python benchmarks/ingest.py --gb 1    # up to 1 GB of XML (a few minutes)
    .venv/bin/python benchmarks/ingest.py --quick   # smoke run for CI: 2 MB of XML, figures meaningless

The LEGI archive is built in a temporary directory from many copies of the real ARTICLE files of
``../shared/data/fr_legi_xml`` (falling back to ``data/raw/sample/legi``), each copy with a fresh LEGIARTI id
and laid out like the DILA dump (``legi/global/…/LEGITEXT…/article/LEGI/ARTI/…/LEGIARTI….xml``, GNU tar, gzip
level 6). Every copy is made in force (``ETAT`` VIGUEUR) so that each file takes the full path: parse, fields,
HTML to text. Files over 50 KB (the 150 KB "cas extrême" of tables) are one copy in 1,000, as in the real dump
where articles average a few KB. ``--gb`` is the size of the XML in the largest archive (uncompressed): copies
compress far better than the real dump, so the compressed size would say little about the work done.

Each archive is read ``--repeat`` times, each time in a fresh subprocess pinned to one CPU, which consumes
``legi_xml.read`` and reports files/s (CPU time of the process, and wall time; the fastest run counts, as
other load only slows) and its peak RSS (``VmHWM``) after imports and at the end: a flat peak across sizes
shows the reader holds nothing across files. The same for the whole ``ingest`` stage (reader, checks,
language detection, ``documents.parquet`` written in parts of ``BATCH_DOCS``), and, as the baseline, for
``ingest.ingest()``, which collects every document in memory: the stage's peak should stay flat while the
baseline's grows with the archive. Légifrance JSON: the CRPA code (474 articles; or the bundled sample) read
repeatedly, articles/s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from lxml import etree
from support.quick import parse_args

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
BIG_FILE = 50_000
BIG_EVERY = 1000
DUMP = "legi/global/code_et_TNC_en_vigueur/code_en_vigueur/LEGI/TEXT"

CHILD = r"""
import json, os, sys, time
cpus = sorted(os.sched_getaffinity(0))
os.sched_setaffinity(0, {cpus[-1]})

def peak_mb():
    # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's peak across fork+exec)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024

from lexqa.config import LegiXmlSource
from lexqa.ingest import legi_xml
import tarfile, gzip
path, mode = sys.argv[1], sys.argv[2]
rss_import = peak_mb()
wall, cpu = time.perf_counter(), time.process_time()
docs = rejects = 0
if mode in ("stage", "in memory"):  # the ingest stage writing documents.parquet, or ingest() collecting it
    import contextlib, io, tempfile
    from lexqa import ingest
    from lexqa.config import parse_params
    source = {"name": "bench", "kind": "legi_xml", "path": path, "lang": "fr", "domain": "fr_codes"}
    params = parse_params({"model": {"name_or_path": "unused-by-ingest"}, "sources": [source]})
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        if mode == "stage":
            summary = ingest.run(params, out_dir=out)
        else:
            summary = ingest.ingest(params)[2]
    docs, rejects = summary.rows_out, summary.rows_in - summary.rows_out
elif mode == "read":
    src = LegiXmlSource(name="bench", kind="legi_xml", path=path, lang="fr", domain="fr_codes")
    for item in legi_xml.read(src):
        if isinstance(item, legi_xml.Doc):
            docs += 1
        else:
            rejects += 1
else:  # the archive alone: decompress and read every member, parse nothing
    with gzip.open(path) as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
        while (m := tar.next()) is not None:
            tar.members.clear()
            tar.extractfile(m).read()
            docs += 1
print(json.dumps({
    "docs": docs, "rejects": rejects,
    "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
    "rss_import_mb": rss_import,
    "rss_peak_mb": peak_mb(),
}))
"""


def shard(ident: str) -> str:
    """The dump's folder shards of an id: LEGIARTI000006398122 → 00/00/06/39/81."""
    digits = ident[-12:]
    return "/".join(digits[i : i + 2] for i in range(0, 10, 2))


def templates() -> tuple[list[tuple[bytes, str, str]], str]:
    """(bytes made in force, LEGIARTI id, LEGITEXT id) of every real ARTICLE file, and their folder."""
    folder = SHARED / "fr_legi_xml"
    if not folder.is_dir():
        folder = ROOT / "data/raw/sample/legi"
    found = []
    for path in sorted(folder.rglob("*.xml")):
        data = path.read_bytes()
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        if root.tag != "ARTICLE":
            continue
        data = re.sub(rb"<ETAT>[^<]*</ETAT>", b"<ETAT>VIGUEUR</ETAT>", data)
        found.append((data, root.findtext("META/META_COMMUN/ID"), root.find("CONTEXTE/TEXTE").get("cid")))
    return found, str(folder)


def build_archive(path: Path, xml_bytes: int, files: list[tuple[bytes, str, str]]) -> dict[str, float]:
    """Write a dump-like .tar.gz holding about ``xml_bytes`` of article XML; return its figures."""
    small = [f for f in files if len(f[0]) <= BIG_FILE] or files
    big = [f for f in files if len(f[0]) > BIG_FILE]
    total = n = 0
    with tarfile.open(path, "w:gz", compresslevel=6, format=tarfile.GNU_FORMAT) as tar:
        while total < xml_bytes:
            pool = big if big and n % BIG_EVERY == BIG_EVERY - 1 else small
            data, old_id, code = pool[n % len(pool)]
            new_id = f"LEGIARTI{800_000_000_000 + n:012d}"
            data = data.replace(old_id.encode(), new_id.encode())
            info = tarfile.TarInfo(
                f"{DUMP}/{shard(code)}/{code}/article/LEGI/ARTI/{shard(new_id)}/{new_id}.xml"
            )
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
            tar.members.clear()  # the writer too remembers every header
            total += len(data)
            n += 1
    return {"files": n, "xml_mb": total / 1e6, "gz_mb": path.stat().st_size / 1e6}


def measure(path: Path, mode: str, repeat: int) -> dict[str, float]:
    """Best (least disturbed) times and highest peak memory of ``repeat`` fresh processes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), mode],
            capture_output=True,
            text=True,
            env=env,
        )
        if out.returncode:
            raise SystemExit(f"the {mode} run failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout))
    best = min(runs, key=lambda r: r["cpu_s"])
    return best | {"rss_peak_mb": max(r["rss_peak_mb"] for r in runs)}


def bench_json(min_seconds: float) -> tuple[str, float, int]:
    from lexqa.config import LegifranceJsonSource
    from lexqa.ingest import legifrance_json

    path = SHARED / "fr_legifrance_api_json/LEGITEXT000031366350.json"
    if not path.is_file():
        path = ROOT / "data/raw/sample/legifrance_json"
    src = LegifranceJsonSource(name="bench", kind="legifrance_json", path=path, lang="fr", domain="fr_codes")
    articles, start = 0, time.process_time()
    while time.process_time() - start < min_seconds:
        articles += sum(1 for _ in legifrance_json.read(src))
    return str(path), articles / (time.process_time() - start), articles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--gb", type=float, default=0.1, help="GB of XML in the largest archive (default 0.1)"
    )
    parser.add_argument(
        "--json-seconds", type=float, default=2.0, help="CPU seconds spent on the JSON reader"
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="reads of each archive; the fastest counts (noise only slows)"
    )
    args = parse_args(parser, "2 MB of XML, one read, 0.2 s of JSON", gb=0.002, repeat=1, json_seconds=0.2)

    files, origin = templates()
    sizes = [args.gb / 16, args.gb / 4, args.gb]
    print(f"LEGI XML: {len(files)} real article files from {origin}, copied; one CPU per reading process")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    header = (
        f"{'archive':<22}{'files':>10}{'XML MB':>9}{'gz MB':>8}{'files/s cpu':>13}{'files/s wall':>14}"
        f"{'MB/s cpu':>10}{'RSS import':>12}{'RSS peak':>10}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="lexqa-bench-") as tmp:
        for i, gb in enumerate(sizes):
            archive = Path(tmp) / f"legi-{i}.tar.gz"
            built = build_archive(archive, int(gb * 1e9), files)
            modes = ["read", "archive", "stage", "in memory"] if i == 0 else ["read", "stage", "in memory"]
            for mode in modes:
                m = measure(archive, mode, args.repeat)
                label = {
                    "read": f"legi_xml.read {gb:g} GB",
                    "archive": "  tar+gzip only",
                    "stage": "  ingest stage",
                    "in memory": "  ingest() in memory",
                }[mode]
                print(
                    f"{label:<22}{built['files']:>10,}{built['xml_mb']:>9.1f}{built['gz_mb']:>8.1f}"
                    f"{built['files'] / m['cpu_s']:>13,.0f}"
                    f"{built['files'] / m['wall_s']:>14,.0f}{built['xml_mb'] / m['cpu_s']:>10.1f}"
                    f"{m['rss_import_mb']:>10.0f}MB{m['rss_peak_mb']:>8.0f}MB"
                )
                if mode != "archive":
                    assert m["docs"] == built["files"] and m["rejects"] == 0, m
            archive.unlink()

    path, rate, articles = bench_json(args.json_seconds)
    print(f"\nLégifrance JSON ({path}): {rate:,.0f} articles/s on one core ({articles:,} articles read)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
