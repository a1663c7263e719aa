"""Retrieval quality on real questions: the real stages on the Code du travail, evaluated on ``cdtn_dev``.

One command runs every stage (``stages/<name>.py``, as ``dvc repro`` does) in a work folder whose params.yaml
is the project's with: one source, the whole Code du travail of ``../shared/data/fr_code_travail``; the
development benchmark ``../shared/data/benchmarks/cdtn_dev`` (real searches of the public, graded by the
Ministry of Labour's lawyers) in ``evaluate.benchmarks``; then the changes of ``--override FILE`` (a YAML
mapping merged into params) and of each ``--set key=value`` (YAML values, like ``dvc exp run -S``). The
evaluate stage measures the base model, the fine-tuned model and BM25 on ``cdtn_dev`` at every Matryoshka
dimension; the script prints them and appends a row to ``benchmarks/quality.md``: the params that differ from
the project's, nDCG@10 per dimension, the pairs trained on, the time. The embedding cache is shared between
runs (``--cache``), so a run pays for training and for the fine-tuned model's encoding, not for the base
model's again::

    .venv/bin/python benchmarks/quality.py --name baseline --set generate.limit=4000
    .venv/bin/python benchmarks/quality.py --name whole_code --override benchmarks/quality/whole_code.yaml
    .venv/bin/python benchmarks/quality.py --name e5 --model /tmp/e5-small-local \\
        --override benchmarks/quality/e5.yaml --set train.scale=100
    .venv/bin/python benchmarks/quality.py --quick      # the bundled sample and a tiny benchmark; no row kept
    .venv/bin/python benchmarks/quality.py --compare baseline titles    # is one run better than another?
    .venv/bin/python benchmarks/quality.py --against-base titles        # do its 64 dims match the base's full?
    .venv/bin/python benchmarks/quality.py --styles titles      # which styles do the real queries resemble?
    .venv/bin/python benchmarks/quality.py --styles .           # the same for the project's own last run
    .venv/bin/python benchmarks/quality.py --hybrid titles      # what would BM25 add to its models?
    .venv/bin/python benchmarks/quality.py --cited titles       # are the judged articles the most cited?
    .venv/bin/python benchmarks/quality.py --prior titles       # would ranking them up help?

Each run keeps its per-query results (``data/cache/quality/<name>/queries.parquet``, from the evaluate stage's
``evaluate_queries.parquet``). The row's gain carries a 95 % interval that resamples ``cdtn_dev``'s requests
(:mod:`support.bootstrap`: a request's query variants move together), and ``--compare A B`` prints, at each
dimension, the fine-tuned models' difference with its interval: a difference whose interval holds 0 is not
one this benchmark can see. Every run also prints, and ``--against-base RUN`` prints again, the fine-tuned
model at each dimension minus the base model at its full dimension, with the same interval, and the styles of
the real queries' nearest pseudo-queries beside each style's share of the pairs (:mod:`support.styles`; again
with ``--styles RUN``): the style a mix under-weights. ``--hybrid RUN`` prints the base and the fine-tuned model
of a kept run fused with BM25 (:mod:`lexqa.fusion`) at several BM25 weights: the word matching a model has not
learnt. ``--prior RUN`` adds to each article's cosine a weight times the log of how often the rest of the
code cites it: whether the judges' articles are the code's most cited ones, a prior no single article's text
carries.

``--model`` is a second base model, e.g. the offline multilingual-e5-small that ``../shared/tools/e5local`` makes
(its README says how; users download the real ``intfloat/multilingual-e5-small`` from the hub). Never train on
``cdtn_dev``: it is only read by the evaluate stage, as an external benchmark.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import yaml
from support.bootstrap import difference_interval, ratio_interval
from support.quick import parse_args
from support.styles import nearest_styles

from lexqa.fusion import fused

if TYPE_CHECKING:
    from collections.abc import Callable

    from lexqa.config import Params
    from lexqa.evaluate.beir import BeirSet

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared/data"
CODE = SHARED / "fr_code_travail"
BENCH = SHARED / "benchmarks/cdtn_dev"
REPORT = ROOT / "benchmarks/quality.md"
STAGES = ["ingest", "chunk", "generate", "curate", "split", "train", "evaluate"]
PER_QUERY = Path("data/processed/evaluate_queries.parquet")
KEPT_QUERIES = "queries.parquet"
"""The benchmark's rows of the per-query table, kept in the run's folder after ``data/`` is removed."""
HYBRID_WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
"""BM25's weights in ``--hybrid``'s fusions (0: the model alone, 1: BM25 alone)."""
PRIOR_WEIGHTS = (0.0, 0.002, 0.005, 0.01, 0.02)
"""The citation prior's weights in ``--prior`` (cosine + weight × ln(1 + citations); 0: the model alone)."""
NOT_COMPARED = {"sources", "evaluate", "embed"}
"""Sections set by the script itself, never reported as a difference."""


def merge(base: dict, change: dict) -> dict:
    """``change`` merged into a copy of ``base``, mapping by mapping."""
    out = copy.deepcopy(base)
    for key, value in change.items():
        out[key] = (
            merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def set_key(params: dict, assignment: str) -> None:
    """``a.b.c=value`` (value in YAML) into ``params``."""
    key, _, raw = assignment.partition("=")
    *parents, last = key.strip().split(".")
    node = params
    for part in parents:
        node = node.setdefault(part, {})
    value = yaml.safe_load(raw)
    node[last] = (
        merge(node[last], value) if isinstance(value, dict) and isinstance(node.get(last), dict) else value
    )


def differences(base: Any, params: Any, prefix: str = "") -> dict[str, Any]:
    """Flattened ``key: value`` of what ``params`` changes in ``base``."""
    if isinstance(base, dict) and isinstance(params, dict):
        out: dict[str, Any] = {}
        for key in sorted(set(base) | set(params)):
            if not prefix and key in NOT_COMPARED:
                continue
            out |= differences(base.get(key), params.get(key), f"{prefix}{key}.")
        return out
    return {} if base == params else {prefix.rstrip("."): params}


def quick_benchmark(folder: Path) -> Path:
    """A tiny BEIR folder over the bundled sample code, for ``--quick``."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from evaluate import SAMPLE_CODE, beir_from_code

    return beir_from_code(SAMPLE_CODE, folder, n_queries=4, n_corpus=20)


def project_params(args: argparse.Namespace, work: Path) -> tuple[dict, dict]:
    """(the project's params, the run's params)."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = copy.deepcopy(base)
    if args.quick:
        source = {"name": "sample", "kind": "markdown", "path": str(ROOT / "data/raw/sample/markdown")}
        bench = quick_benchmark(work / "bench")
    else:
        source = {"name": "code_travail", "kind": "legifrance_json", "path": str(CODE)}
        bench = BENCH
    params["sources"] = [source | {"lang": "fr", "domain": "fr_codes"}]
    params["evaluate"]["benchmarks"] = [{"name": "cdtn_dev", "path": str(bench)}]
    params["embed"] = {"cache": True, "cache_dir": str(Path(args.cache).resolve())}
    if args.override:
        params = merge(params, yaml.safe_load(Path(args.override).read_text(encoding="utf-8")) or {})
    if args.model:
        params["model"]["name_or_path"] = args.model
    for assignment in args.set:
        set_key(params, assignment)
    return base, params


def run_stage(work: Path, stage: str) -> float:
    env = os.environ | {"LEXQA_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    log = work / "logs" / f"{stage}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=work, env=env, stdout=out, stderr=out
        )
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        sys.exit(
            f"stage {stage} failed ({done.returncode}){killed_hint(done.returncode)}, see {log}:\n{tail}"
        )
    return time.perf_counter() - started


def killed_hint(returncode: int) -> str:
    """What an exit by SIGKILL most often means (nothing for another exit): ``killed_hint(-9)``."""
    if returncode != -signal.SIGKILL:
        return ""
    return (
        ": killed by SIGKILL, on Linux most often the kernel's out-of-memory killer (`dmesg` says); "
        "the train stage logs its memory estimate before training (docs/train-evaluate.md, Known limits)"
    )


def dense_scores(queries: pl.DataFrame, system: str, dim: int) -> pl.DataFrame:
    """``query_id``, ``ndcg_at_10`` of one model at one dimension, by query id."""
    rows = queries.filter(pl.col("system") == system, pl.col("dim") == dim)
    return rows.select("query_id", "ndcg_at_10").sort("query_id")


def gain_interval(queries: pl.DataFrame, dim: int) -> tuple[float, float]:
    """95 % interval of fine-tuned / base nDCG@10 at ``dim``, resampling requests."""
    base, tuned = dense_scores(queries, "base", dim), dense_scores(queries, "finetuned", dim)
    return ratio_interval(tuned["query_id"].to_list(), tuned["ndcg_at_10"], base["ndcg_at_10"])


def run_folder(name: str) -> Path:
    """A run's folder: a path, or a name under data/cache/quality/."""
    return Path(name) if Path(name).is_dir() else ROOT / "data/cache/quality" / name


def compare(first: str, second: str) -> None:
    """Print, at each dimension, the fine-tuned nDCG@10 of two runs and their difference with its interval."""
    runs = [kept_queries(name) for name in (first, second)]
    dims = sorted(set(runs[0].drop_nulls("dim")["dim"]) & set(runs[1].drop_nulls("dim")["dim"]), reverse=True)
    first, second = (run_folder(name).name for name in (first, second))
    print(f"fine-tuned nDCG@10 on cdtn_dev, {first} vs {second} (95 % interval resampling requests)")
    print(f"  {'dim':>4}  {first[:14]:>14}  {second[:14]:>14}  difference  interval")
    for dim in dims:
        a, b = (dense_scores(r, "finetuned", dim) for r in runs)
        if a["query_id"].to_list() != b["query_id"].to_list():
            sys.exit("the two runs were evaluated on different queries")
        low, high = difference_interval(a["query_id"].to_list(), a["ndcg_at_10"], b["ndcg_at_10"])
        mean_a, mean_b = a["ndcg_at_10"].mean(), b["ndcg_at_10"].mean()
        print(
            f"  {dim:>4}  {mean_a:14.3f}  {mean_b:14.3f}  {mean_a - mean_b:+10.3f}  {low:+.3f} to {high:+.3f}"
        )


def against_base(queries: pl.DataFrame) -> list[tuple[int, float, float, float, float]]:
    """Each dimension's fine-tuned nDCG@10 against the base's at its full dimension, by query.

    Rows of ``(dim, fine-tuned, base at full, low, high)``, ``low``-``high`` the 95 % interval of the
    difference: what the targets "its 64 (128) dims ≥ the base at full size" read off.
    """
    base_full = max(queries.filter(pl.col("system") == "base").drop_nulls("dim")["dim"])
    base = dense_scores(queries, "base", base_full)
    out = []
    for dim in sorted(set(queries.filter(pl.col("system") == "finetuned")["dim"]), reverse=True):
        tuned = dense_scores(queries, "finetuned", dim)
        if tuned["query_id"].to_list() != base["query_id"].to_list():
            sys.exit("the base and the fine-tuned model were evaluated on different queries")
        low, high = difference_interval(tuned["query_id"].to_list(), tuned["ndcg_at_10"], base["ndcg_at_10"])
        out.append((dim, tuned["ndcg_at_10"].mean(), base["ndcg_at_10"].mean(), low, high))
    return out


def print_against_base(rows: list[tuple[int, float, float, float, float]]) -> None:
    """Print :func:`against_base`'s rows."""
    print("fine-tuned at each dim minus the base at its full dim (95 % interval resampling requests)")
    print(f"  {'dim':>4}  {'fine-tuned':>10}  {'base full':>9}  difference  interval")
    for dim, tuned, base, low, high in rows:
        print(f"  {dim:>4}  {tuned:10.3f}  {base:9.3f}  {tuned - base:+10.3f}  {low:+.3f} to {high:+.3f}")


def print_styles(folder: Path) -> None:
    """Print how the benchmark's queries' nearest pseudo-queries of a run (base model's vectors, through the
    run's embedding cache) split by style, beside each style's share of its curated pairs."""
    from lexqa.embed import ModelSpec, open_embedder

    pairs_path = folder / "data/processed/pairs.parquet"
    if not pairs_path.exists():
        sys.exit(f"{pairs_path} not found: runs keep their tables with --keep")
    params, bench = run_benchmark(folder)
    queries = bench.query_texts
    pairs = pl.read_parquet(pairs_path, columns=["anchor", "style"])
    spec = ModelSpec.from_params(params.model)
    embedder = open_embedder(spec, params, params.evaluate.batch_size, "base", root=folder)
    rows = nearest_styles(
        embedder.queries(queries), embedder.queries(pairs["anchor"].to_list()), pairs["style"].to_list()
    )
    print(
        f"{bench.name}'s {len(queries):,} queries: the style of each one's nearest pseudo-query among the "
        f"run's {len(pairs):,} pairs (base model's vectors; {embedder.encoded:,} encoded)"
    )
    print(f"  {'style':<10} {'pairs':>6}  {'of pairs':>8}  {'nearest':>7}  {'cosine':>6}")
    for r in rows:
        print(f"  {r.style:<10} {r.pairs:6,}  {r.pair_share:8.1%}  {r.nearest_share:7.1%}  {r.cosine:6.3f}")


def run_benchmark(folder: Path) -> tuple[Params, BeirSet]:
    """A run's params and its first benchmark of real queries (``evaluate.benchmarks``), loaded."""
    from lexqa.config import load_params
    from lexqa.evaluate.beir import load_beir

    params = load_params(folder / "params.yaml")
    if not params.evaluate.benchmarks:
        sys.exit(f"{folder / 'params.yaml'} lists no benchmark of real queries in evaluate.benchmarks")
    bench = params.evaluate.benchmarks[0]
    return params, load_beir(bench.path, bench.name, [])


def print_hybrid(folder: Path) -> None:
    """Print nDCG@10 on the run's benchmark of its base and fine-tuned models (full dimension, vectors through
    the run's embedding cache) fused with BM25 at each of :data:`HYBRID_WEIGHTS`, and the best fusion's gain
    over the model alone with its interval."""
    from lexqa.lexical import Bm25, bm25_languages

    _require_model(folder)
    params, data = run_benchmark(folder)
    bm25 = Bm25(data.corpus_texts, bm25_languages(params)).scores(data.query_texts)
    print(f"{data.name} nDCG@10 of each model fused with BM25 (min-max per query; BM25's weight on top)")
    print_fusions(
        folder,
        params,
        data,
        HYBRID_WEIGHTS,
        lambda dense, weight: fused(dense, bm25, weight),
        best_of=HYBRID_WEIGHTS[1:-1],  # a fusion: neither the model alone nor BM25 alone
    )


def print_prior(folder: Path) -> None:
    """Print nDCG@10 on the run's benchmark of its base and fine-tuned models when each article's cosine gets
    ``weight × ln(1 + the times the rest of the corpus cites it)`` added, at each of :data:`PRIOR_WEIGHTS`:
    whether the articles the code cites most are those the benchmark's judges pick (a query-independent prior,
    as PageRank is to web search)."""
    counts = citations_by_number(folder)
    _require_model(folder)
    params, data = run_benchmark(folder)
    prior = np.log1p(np.array([counts.get(n, 0) for n in data.corpus_ids], dtype=np.float32))
    print(f"{data.name} nDCG@10 of each model with a citation prior (cosine + weight × ln(1 + citations))")
    print_fusions(folder, params, data, PRIOR_WEIGHTS, lambda dense, weight: dense + weight * prior)


def _require_model(folder: Path) -> None:
    if not (folder / "models/lexqa/modules.json").exists():
        sys.exit(f"{folder / 'models/lexqa'} holds no model: runs keep theirs with --keep")


def print_fusions(
    folder: Path,
    params: Params,
    data: BeirSet,
    weights: tuple[float, ...],
    fuse: Callable[[np.ndarray, float], np.ndarray],
    best_of: tuple[float, ...] | None = None,
) -> None:
    """One line per model (base, fine-tuned) of nDCG@10 at full dimension with its query × passage cosines
    passed through ``fuse(cosines, weight)`` at each weight (the first: the model alone), and the gain of
    the best weight among ``best_of`` (default: all but the first) with its interval over requests."""
    import torch

    from lexqa.embed import ModelSpec, open_embedder
    from lexqa.evaluate.metrics import top_k
    from lexqa.evaluate.per_query import query_frame

    specs = {
        "base": ModelSpec.from_params(params.model),
        "fine-tuned": ModelSpec.from_folder(folder / "models/lexqa"),
    }
    print(f"  {'':<10}  " + "  ".join(f"{w:>5g}" for w in weights) + "  best − model alone")
    for label, spec in specs.items():
        embedder = open_embedder(spec, params, params.evaluate.batch_size, label, root=folder)
        dense = embedder.queries(data.query_texts) @ embedder.passages(data.corpus_texts).T
        per_query = {}
        for weight in weights:
            ranked = top_k(torch.from_numpy(fuse(dense, weight))).numpy()
            per_query[weight] = query_frame(data, label, None, ranked)["ndcg_at_10"]
        means = {w: float(v.mean()) for w, v in per_query.items()}
        best = max(best_of or weights[1:], key=means.__getitem__)
        low, high = difference_interval(data.query_ids, per_query[best], per_query[weights[0]])
        print(
            f"  {label:<10}  "
            + "  ".join(f"{means[w]:5.3f}" for w in weights)
            + f"  {means[best] - means[weights[0]]:+.3f} at {best:g} ({low:+.3f} to {high:+.3f})"
        )


def citations_by_number(folder: Path) -> dict[str, int]:
    """How often the rest of a kept run's corpus cites each of its articles (``lexqa.generate.citation_counts``),
    by article number."""
    from lexqa.generate import citation_counts

    tables = folder / "data/processed"
    if not (tables / "chunks.parquet").exists():
        sys.exit(f"{tables / 'chunks.parquet'} not found: runs keep their tables with --keep")
    documents = pl.read_parquet(tables / "documents.parquet", columns=["doc_id", "source", "number"])
    cited = citation_counts(pl.read_parquet(tables / "chunks.parquet"), documents)
    return {n: cited.get(d, 0) for d, n in documents.select("doc_id", "number").iter_rows() if n}


def print_cited(folder: Path) -> None:
    """Print the share of the benchmark's judged articles, and of all the run's documents, that the rest of the
    corpus cites at least 1, 2, 5 and 10 times (:func:`citations_by_number`)."""
    count = citations_by_number(folder)
    _, data = run_benchmark(folder)
    judged = {p for j in data.judgements for p in j} & set(count)
    print(
        f"how often the corpus cites {data.name}'s {len(judged)} judged articles and all its {len(count):,}"
    )
    print(f"  {'cited at least':<15} {'judged':>7} {'all':>7}")
    for times in (1, 2, 5, 10):
        share = [sum(count[n] >= times for n in group) / max(len(group), 1) for group in (judged, count)]
        print(f"  {times:>3} time{'s' if times > 1 else ' '}       {share[0]:7.1%} {share[1]:7.1%}")


def kept_queries(name: str) -> pl.DataFrame:
    path = run_folder(name) / KEPT_QUERIES
    if not path.exists():
        sys.exit(f"{path} not found: runs keep their per-query results since this option exists")
    return pl.read_parquet(path)


def figures(work: Path) -> dict[str, Any]:
    metrics = json.loads((work / "metrics/eval.json").read_text(encoding="utf-8"))["cdtn_dev"]
    out = {
        which: {int(d.removeprefix("dim_")): v["ndcg@10"] for d, v in metrics[which].items()}
        for which in ("base", "finetuned")
    }
    out["bm25"] = metrics.get("bm25", {}).get("ndcg@10")
    train = json.loads((work / "data/processed/train_summary.json").read_text(encoding="utf-8"))
    out["pairs"] = train["train_pairs"]
    pairs = pl.read_parquet(work / "data/processed/pairs.parquet", columns=["style"])
    out["styles"] = dict(pairs.group_by("style").len().sort("style").iter_rows())
    queries = pl.read_parquet(work / PER_QUERY).filter(pl.col("dataset") == "cdtn_dev")
    queries.write_parquet(work / KEPT_QUERIES)
    out["interval"] = gain_interval(queries, max(out["finetuned"]))
    out["against_base"] = against_base(queries)
    return out


def commit() -> str:
    """The code's commit (short), with ``+`` when the working tree differs from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True)
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "") if head.returncode == 0 else "?"


def row(name: str, model: str, diff: dict[str, Any], fig: dict[str, Any], seconds: dict[str, float]) -> str:
    dims = sorted(fig["finetuned"], reverse=True)
    full = dims[0]
    tuned = " / ".join(f"{fig['finetuned'][d]:.3f}" for d in dims)
    changes = (
        "<br>".join(f"`{k}: {json.dumps(v, ensure_ascii=False)}`" for k, v in diff.items()) or "(defaults)"
    )
    styles = ", ".join(f"{k} {v:,}" for k, v in fig["styles"].items())
    total = sum(seconds.values()) / 60
    low, high = fig["interval"]
    return (
        f"| {dt.date.today().isoformat()} {commit()} | {name} | {Path(model).name} | {changes} "
        f"| {fig['pairs']:,} ({styles}) "
        f"| {fig['base'][full]:.3f} / {fig['base'][min(dims)]:.3f} | {tuned} "
        f"| {fig['finetuned'][full] / fig['base'][full]:.2f}x ({low:.2f}–{high:.2f}) | {fig['bm25']:.3f} "
        f"| {seconds['train'] / 60:.0f} / {total:.0f} |"
    )


HEADER = (
    "| date, commit | run | base model | params that differ from params.yaml "
    "| training pairs (curated pairs by style: train + eval) "
    "| base nDCG@10 full / smallest dim | fine-tuned nDCG@10 by dim (full → smallest) "
    "| gain at full dim (95 % interval) "
    "| BM25 | train / total min |\n"
    "| --- | --- | --- | --- | --- | ---: | --- | ---: | ---: | ---: |\n"
)


def append_row(line: str, report: Path) -> None:
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    marker = "<!-- rows: benchmarks/quality.py appends below -->\n"
    if marker not in text:
        text += f"\n## Runs\n\n{marker}{HEADER}"
    report.write_text(text.rstrip("\n") + "\n" + line + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="run", help="the row's label")
    parser.add_argument("--override", help="a YAML file of params to merge into the project's")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="one param (repeatable)"
    )
    parser.add_argument("--model", help="base model (name or folder) instead of model.name_or_path")
    parser.add_argument("--cache", default=str(ROOT / "data/cache/embeddings"), help="embedding cache folder")
    parser.add_argument("--work", help="work folder (default: data/cache/quality/<name>)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (the model, the tables)")
    parser.add_argument("--report", default=str(REPORT), help="the Markdown file the row is appended to")
    parser.add_argument(
        "--compare", nargs=2, metavar=("RUN", "RUN"), help="compare two kept runs (names or folders) and exit"
    )
    parser.add_argument(
        "--against-base",
        metavar="RUN",
        help="print a kept run's fine-tuned nDCG@10 at each dim minus the base's at full dim, and exit",
    )
    parser.add_argument(
        "--styles",
        metavar="RUN",
        help="print which pseudo-query styles of a kept run (or a project folder: .) the benchmark's queries "
        "are nearest to, and exit",
    )
    parser.add_argument(
        "--hybrid",
        metavar="RUN",
        help="print a kept run's base and fine-tuned models fused with BM25 at several weights, and exit",
    )
    parser.add_argument(
        "--prior",
        metavar="RUN",
        help="print a kept run's base and fine-tuned models with a citation prior at several weights, and exit",
    )
    parser.add_argument(
        "--cited",
        metavar="RUN",
        help="print how often the corpus of a kept run cites the benchmark's judged articles, and exit",
    )
    args = parse_args(parser, "the bundled sample, 6 chunks, a 4-query benchmark; no row kept")
    if args.compare:
        compare(*args.compare)
        return
    if args.against_base:
        print_against_base(against_base(kept_queries(args.against_base)))
        return
    if args.styles:
        print_styles(run_folder(args.styles))
        return
    if args.hybrid:
        print_hybrid(run_folder(args.hybrid))
        return
    if args.cited:
        print_cited(run_folder(args.cited))
        return
    if args.prior:
        print_prior(run_folder(args.prior))
        return
    if not args.quick and not (CODE.is_dir() and BENCH.is_dir()):
        sys.exit(f"{CODE} or {BENCH} not found: they live in ../shared/data (or run with --quick)")
    if args.quick:
        args.set = ["generate.limit=6", "train.epochs=1", *args.set]
        args.cache = tempfile.mkdtemp(prefix="lexqa-quality-cache-")
    work = Path(
        args.work
        or (
            tempfile.mkdtemp(prefix="lexqa-quality-")
            if args.quick
            else ROOT / "data/cache/quality" / args.name
        )
    )
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "prompts", work / "prompts")
    base, params = project_params(args, work)
    (work / "params.yaml").write_text(
        yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    diff = differences(base, params)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"quality run {args.name!r} on {os.cpu_count()} CPUs (load {load}); changes: {diff or 'none'}",
        flush=True,
    )
    seconds = {}
    for stage in STAGES:
        seconds[stage] = run_stage(work, stage)
        print(f"  {stage:<9} {seconds[stage]:8.1f} s", flush=True)
    fig = figures(work)
    line = row(args.name, params["model"]["name_or_path"], diff, fig, seconds)
    dims = sorted(fig["finetuned"], reverse=True)
    print(f"\ncdtn_dev nDCG@10     {'  '.join(f'{d:>6}' for d in dims)}")
    for which in ("base", "finetuned"):
        print(f"  {which:<18} {'  '.join(f'{fig[which][d]:6.3f}' for d in dims)}")
    print(f"  {'bm25':<18} {fig['bm25']:6.3f}")
    print(f"gain at {dims[0]}: {fig['finetuned'][dims[0]] / fig['base'][dims[0]]:.2f}x")
    print("  95 % interval, resampling requests: {:.2f}x to {:.2f}x".format(*fig["interval"]))
    print_against_base(fig["against_base"])
    print_styles(work)
    if args.quick:
        print(f"row (not kept, --quick):\n{line}")
        shutil.rmtree(args.cache, ignore_errors=True)
    else:
        append_row(line, Path(args.report))
        print(f"row appended to {args.report}")
    if not args.keep:
        shutil.rmtree(work / "data", ignore_errors=True)
        shutil.rmtree(work / "models", ignore_errors=True)


if __name__ == "__main__":
    main()
