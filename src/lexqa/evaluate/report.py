"""What the ``evaluate`` stage writes: DVC metrics (JSON), nDCG-by-dimension plot data (CSV), the report.

>>> result = DatasetResult("eval", 2, 5, False, {32: {"ndcg@10": 0.5}}, {32: {"ndcg@10": 0.75}})
>>> print(dim_table(result))
| dim | base | fine-tuned | gain |
| ---: | ---: | ---: | ---: |
| 32 | 0.5000 | 0.7500 | +0.2500 (+50.0%) |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lexqa.evaluate.metrics import GRADED_NDCG, METRICS

HEADLINE = "ndcg@10"


@dataclass
class DatasetResult:
    """Metrics of one retrieval set: per dimension for the dense models, once for BM25."""

    name: str
    n_queries: int
    n_corpus: int
    graded: bool
    base: dict[int, dict[str, float]] = field(default_factory=dict)
    finetuned: dict[int, dict[str, float]] = field(default_factory=dict)
    bm25: dict[str, float] | None = None

    @property
    def dims(self) -> list[int]:
        return sorted(self.finetuned or self.base, reverse=True)


def _gain(new: float, old: float) -> str:
    rel = f" ({(new - old) / old:+.1%})" if old > 0 else ""
    return f"{new - old:+.4f}{rel}"


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in metrics.items()}


def metrics_json(results: list[DatasetResult]) -> dict[str, Any]:
    """``metrics/eval.json``: dataset → model → dim → metric (``dvc metrics diff`` compares them by key)."""
    out: dict[str, Any] = {}
    for r in results:
        entry: dict[str, Any] = {"queries": r.n_queries, "corpus": r.n_corpus}
        for model, by_dim in (("finetuned", r.finetuned), ("base", r.base)):
            entry[model] = {f"dim_{d}": _rounded(m) for d, m in sorted(by_dim.items())}
        if r.bm25 is not None:
            entry["bm25"] = _rounded(r.bm25)
        out[r.name] = entry
    return out


PLOT_SCHEMA = {"dim": pl.Int64, "base": pl.Float64, "finetuned": pl.Float64, "bm25": pl.Float64}


def ndcg_rows(result: DatasetResult) -> list[dict[str, Any]]:
    """``plots/ndcg_by_dim.csv`` rows: nDCG@10 per dimension, base vs fine-tuned (BM25 as a flat line)."""
    rows = []
    for d in sorted(result.dims):
        row: dict[str, Any] = {"dim": d}
        row["base"] = round(result.base[d][HEADLINE], 6) if d in result.base else None
        row["finetuned"] = round(result.finetuned[d][HEADLINE], 6) if d in result.finetuned else None
        row["bm25"] = round(result.bm25[HEADLINE], 6) if result.bm25 is not None else None
        rows.append(row)
    return rows


def dim_table(result: DatasetResult, metric: str = HEADLINE) -> str:
    """Markdown table of ``metric`` per dimension: BM25, base, fine-tuned and the gain of fine-tuning."""
    bm25 = result.bm25 is not None
    head = ["dim", *(["BM25"] if bm25 else []), "base", "fine-tuned", "gain"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---:" for _ in head) + " |"]
    for d in result.dims:
        base, tuned = result.base.get(d, {}).get(metric), result.finetuned.get(d, {}).get(metric)
        cells = [str(d)]
        if bm25:
            cells.append(f"{result.bm25[metric]:.4f}")  # type: ignore[index]
        cells += [f"{base:.4f}" if base is not None else "–", f"{tuned:.4f}" if tuned is not None else "–"]
        cells.append(_gain(tuned, base) if base is not None and tuned is not None else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metric_table(result: DatasetResult, dim: int) -> str:
    """Markdown table of every metric at one dimension: BM25, base, fine-tuned, gain."""
    names = [*METRICS, *([GRADED_NDCG] if result.graded else [])]
    bm25 = result.bm25 is not None
    head = ["metric", *(["BM25"] if bm25 else []), "base", "fine-tuned", "gain"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    base, tuned = result.base.get(dim, {}), result.finetuned.get(dim, {})
    for name in names:
        cells = [name]
        if bm25:
            cells.append(f"{result.bm25[name]:.4f}")  # type: ignore[index]
        cells += [
            f"{base[name]:.4f}" if name in base else "–",
            f"{tuned[name]:.4f}" if name in tuned else "–",
        ]
        cells.append(_gain(tuned[name], base[name]) if name in base and name in tuned else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


READING = [
    "- **eval split**: questions the pipeline's own generator wrote for documents kept out of training: how well "
    "the model learned that kind of question. The offline pseudo-queries are made of the corpus's own words (a "
    "sentence of the passage, section titles, keywords), so BM25 (word overlap) does very well on them.",
    "- **benchmarks** (`evaluate.benchmarks`): questions written apart from the pipeline, the way people ask: "
    "what a user's question gets. The demo's `sample_questions` are written by the project, not by real users.",
]
"""How to read the sets, printed above their tables."""


def _label(result: DatasetResult) -> str:
    return "eval split (synthetic questions)" if result.name == "eval" else f"benchmark `{result.name}`"


def overview(results: list[DatasetResult]) -> list[str]:
    """What ``make run`` prints: how to read each set, then nDCG@10 by dimension for every set."""
    parts = ["nDCG@10 by embedding dimension, for each set (every metric is further down):", "", *READING]
    for r in results:
        parts += ["", f"**{_label(r)}**: {r.n_queries} queries, {r.n_corpus} passages.", "", dim_table(r)]
        if r.graded:
            parts += ["", "Graded nDCG@10 (the grades as gains):", "", dim_table(r, GRADED_NDCG)]
    return parts


def markdown(
    results: list[DatasetResult], base_model: str, finetuned_model: str, bm25_note: str | None
) -> str:
    """``reports/eval.md``: how to read each set and nDCG@10 by dimension for every set (the :func:`overview`,
    which ``make run`` prints: from its first line to the "All metrics" line), then every metric of each set at
    the full dimension."""
    parts = [
        "# Retrieval evaluation",
        "",
        f"- base model: `{base_model}`",
        f"- fine-tuned model: `{finetuned_model}`",
        f"- BM25: {bm25_note}" if bm25_note else "- BM25: not evaluated",
        "- dense scores: cosine similarity of the first *dim* components (embeddings encoded once, sliced "
        "and renormalised per dimension)",
        "- metrics: defined as sentence-transformers' `InformationRetrievalEvaluator` (binary relevance: a "
        "qrels score above 0); `ndcg_graded@10` uses the grades as gains when the qrels are graded",
        "",
        *overview(results),
    ]
    parts += ["", "All metrics at the full dimension, for each set:"]
    for r in results:
        parts += ["", f"## {_label(r)}", "", f"{r.n_queries} queries, {r.n_corpus} passages."]
        if r.dims:
            parts += ["", f"Dimension {r.dims[0]}:", "", metric_table(r, r.dims[0])]
    return "\n".join(parts) + "\n"
