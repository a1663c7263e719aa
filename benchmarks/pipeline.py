"""The whole pipeline on the Code du travail, three times: what encoding once through the embedding cache saves.

1. **cached**: every stage from an empty embedding cache;
2. **train-only**: ``train.learning_rate`` changed, then train and evaluate again (what ``dvc repro`` re-runs);
3. **no cache** (the baseline, in the same run): run 1 again with ``embed.cache: false`` (each stage still
   encodes a text once within itself, as before the cache); ingest, chunk and generate encode nothing, so
   run 1's outputs and times stand for theirs.

Each run goes through the real stage scripts (``stages/<name>.py``) in a work folder holding a params.yaml
derived from the project's (one ``legifrance_json`` source: the Code du travail of ``../shared/data``, the
offline ``ict`` questions on ``--limit`` chunks). The script prints per stage: wall time, peak RSS, and texts
encoded and read from the cache per model; per run the totals, and the ratio encodings / distinct (model,
prompt, text), the distinct texts being the rows of the model's cache file after run 1. Targets: ratio <= 1.05
on run 1 (about 3 for the base model without the cache), 0 base-model encodings on run 2, run 1's wall time
<= 0.5x run 3's::

    .venv/bin/python benchmarks/pipeline.py                     # the whole code (11,454 articles in force)
    .venv/bin/python benchmarks/pipeline.py --articles 3000     # its first 3,000 articles, faster
    .venv/bin/python benchmarks/pipeline.py --quick             # the bundled Markdown sample, tiny sizes

The base model's encoding of every chunk (curate's round trip) and the evaluations of the whole eval corpus
dominate on a CPU: the full code takes hours on 2 cores; ``--articles`` keeps the code's first articles only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from support.quick import parse_args

ROOT = Path(__file__).resolve().parents[1]
CODE = ROOT.parent / "shared/data/fr_code_travail/LEGITEXT000006072050.json"
SAMPLE = ROOT / "data/raw/sample/markdown"
STAGES = ["ingest", "chunk", "generate", "curate", "split", "train", "evaluate"]
MODELS = ("base", "finetuned")


def cut_code(source: Path, target: Path, articles: int | None) -> None:
    """The code with its first ``articles`` article nodes (all when None), sections kept around them."""
    tree = json.loads(source.read_text(encoding="utf-8"))
    left = [articles if articles is not None else 10**9]

    def keep(node: dict) -> bool:
        if node.get("type") == "article":
            left[0] -= 1
            return left[0] >= 0
        node["children"] = [c for c in node.get("children", []) if keep(c)]
        return bool(node["children"])

    keep(tree)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(tree, ensure_ascii=False), encoding="utf-8")


def project(work: Path, args: argparse.Namespace) -> dict:
    """Params of the benchmark project (written by :func:`write_params`)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    if args.quick:
        source = {
            "name": "sample",
            "kind": "markdown",
            "path": str(SAMPLE),
            "lang": "fr",
            "domain": "fr_codes",
        }
    else:
        cut_code(CODE, work / "raw/code_travail.json", args.articles)
        source = {
            "name": "code_travail",
            "kind": "legifrance_json",
            "path": "raw/code_travail.json",
            "lang": "fr",
            "domain": "fr_codes",
        }
    params["sources"] = [source]
    params["generate"]["limit"] = args.limit
    params["train"]["epochs"] = 1
    params["evaluate"]["benchmarks"] = []
    params["embed"] = {"cache": True, "cache_dir": "cache/embeddings"}
    shutil.copytree(ROOT / "prompts", work / "prompts", dirs_exist_ok=True)
    return params


def write_params(work: Path, params: dict) -> None:
    (work / "params.yaml").write_text(
        yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


def run_stage(work: Path, stage: str) -> dict:
    """Run ``stages/<stage>.py`` in ``work``; wall seconds, peak RSS and the summary's embedding counts."""
    env = os.environ | {"LEXQA_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "stages" / f"{stage}.py")],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"stage {stage} failed ({proc.returncode}):\n{output[-3000:]}")
    summary_path = {
        "split": work / "data/processed/dataset/split_summary.json",
    }.get(stage, work / f"data/processed/{stage}_summary.json")
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    counts = summary.get("embeddings", {})
    row = {"stage": stage, "seconds": seconds, "rss_mb": usage.ru_maxrss / 1024}
    for model in MODELS:
        row[f"{model} encoded"] = int(counts.get(f"{model} encoded", 0))
        row[f"{model} from cache"] = int(counts.get(f"{model} from cache", 0))
    # train's last evaluation encoded the eval split with the model it then saved: the fine-tuned model's
    # vectors, cached under its fingerprint (with the cache off, computed all the same)
    row["finetuned encoded"] += int(counts.get("finetuned eval vectors cached", 0))
    return row


def show(name: str, rows: list[dict]) -> None:
    print(f"\n{name}")
    print(
        f"  {'stage':<9} {'seconds':>8} {'peak RSS':>9} {'base enc.':>10} {'base cached':>12} "
        f"{'tuned enc.':>11} {'tuned cached':>13}"
    )
    for r in rows:
        print(
            f"  {r['stage']:<9} {r['seconds']:>8.1f} {r['rss_mb']:>6.0f} MB {r['base encoded']:>10,} "
            f"{r['base from cache']:>12,} {r['finetuned encoded']:>11,} {r['finetuned from cache']:>13,}"
        )
    total = sum(r["seconds"] for r in rows)
    print(
        f"  {'total':<9} {total:>8.1f} {'':>9} {sum(r['base encoded'] for r in rows):>10,} "
        f"{sum(r['base from cache'] for r in rows):>12,} {sum(r['finetuned encoded'] for r in rows):>11,} "
        f"{sum(r['finetuned from cache'] for r in rows):>13,}",
        flush=True,
    )


def distinct_texts(work: Path) -> dict[str, int]:
    """Rows of the base and the fine-tuned model's cache files: each a distinct (prompt, text) of that model."""
    sys.path.insert(0, str(ROOT / "src"))
    from lexqa.embed import EmbeddingCache

    entries = EmbeddingCache(work / "cache/embeddings").entries()
    tuned = [e for e in entries if any(n.endswith("models/lexqa") for n in e.names)]
    base = [e for e in entries if e not in tuned]
    return {"base": sum(e.vectors for e in base), "finetuned": sum(e.vectors for e in tuned)}


def ratios(name: str, rows: list[dict], distinct: dict[str, int]) -> None:
    for model in MODELS:
        encoded = sum(r[f"{model} encoded"] for r in rows)
        ratio = encoded / distinct[model] if distinct[model] else float("nan")
        print(
            f"ratio encodings / distinct ({name}, {model}): {encoded:,} / {distinct[model]:,} = {ratio:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, help="the code's first N articles only (default: all)")
    parser.add_argument("--limit", type=int, default=300, help="generate.limit: chunks given questions")
    parser.add_argument("--work", help="work folder (default: a temporary one, deleted at the end)")
    args = parse_args(parser, "the bundled Markdown sample, 8 chunks with questions, runs 1 and 2", limit=8)
    if not args.quick and not CODE.exists():
        sys.exit(f"{CODE} not found: the Code du travail lives in ../shared/data (or run with --quick)")
    work = Path(args.work or tempfile.mkdtemp(prefix="lexqa-pipeline-"))
    shutil.rmtree(work / "data", ignore_errors=True)
    shutil.rmtree(work / "cache", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    params = project(work, args)
    write_params(work, params)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    what = "bundled sample" if args.quick else f"Code du travail, {args.articles or 'all'} articles"
    print(f"pipeline on the {what}, generate.limit {args.limit}, {os.cpu_count()} CPUs (load {load})")

    cached = [run_stage(work, s) for s in STAGES]
    show("1. cached, from an empty cache", cached)
    distinct = distinct_texts(work)
    lr = params["train"]["learning_rate"]
    params["train"]["learning_rate"] = lr * 2
    write_params(work, params)
    retrain = [run_stage(work, s) for s in ("train", "evaluate")]
    show(f"2. train.learning_rate {lr:g} -> {lr * 2:g}: train and evaluate again", retrain)
    params["train"]["learning_rate"] = lr
    params["embed"]["cache"] = False
    write_params(work, params)
    # ingest, chunk and generate encode nothing: run 1's outputs and times stand for them
    baseline = cached[:3] + ([] if args.quick else [run_stage(work, s) for s in STAGES[3:]])
    if args.quick:
        print("\n3. baseline: not run with --quick (run 1's figures stand in)")
        baseline += cached[3:]
    else:
        show("3. baseline: run 1 with embed.cache: false (ingest, chunk, generate: run 1's)", baseline)

    print()
    ratios("run 1", cached, distinct)
    ratios("run 3, no cache", baseline, distinct)
    base_rerun = sum(r["base encoded"] for r in retrain)
    print(f"base-model encodings on the train-only re-run: {base_rerun:,} (target 0)")
    wall_cached, wall_baseline = (sum(r["seconds"] for r in rows) for rows in (cached, baseline))
    print(
        f"wall time run 1 / run 3: {wall_cached:,.0f} s / {wall_baseline:,.0f} s = "
        f"{wall_cached / wall_baseline:.2f}x (target <= 0.5x)"
    )
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
