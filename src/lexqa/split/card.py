"""The dataset card (``dataset/README.md``) and its length histogram (``dataset/lengths.png``).

The card opens with Hugging Face front matter (languages, the train/eval files as splits), then says what
is in the dataset and how it was made: counts per side, languages, domains, sources and question styles, the
curate rejects by reason, the group-aware split and its leakage check, and the parameters that shaped it::

    >>> print(markdown_table(["side", "pairs"], [["train", 80], ["eval", 20]]))
    | side | pairs |
    | --- | --- |
    | train | 80 |
    | eval | 20 |
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from lexqa.config import Params
from lexqa.tables import atomic_path, write_text

PLOT = "lengths.png"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += [
        "| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def _by(pairs: pl.DataFrame, column: str) -> str:
    counts = pairs.group_by(column, "side").len().pivot(on="side", index=column, values="len").fill_null(0)
    rows = [
        [key, int(row.get("train", 0) or 0), int(row.get("eval", 0) or 0)]
        for key, row in ((r[column], r) for r in counts.sort(column).iter_rows(named=True))
    ]
    return markdown_table([column, "train", "eval"], rows)


def length_plot(pairs: pl.DataFrame, path: Path) -> None:
    """Histograms of question and positive lengths (model tokens), train and eval overlaid, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, column, title in zip(
        axes, ("anchor_tokens", "positive_tokens"), ("questions", "positives"), strict=True
    ):
        values = pairs[column].to_numpy()
        bins = min(40, max(5, len(set(values.tolist()))))
        for side, color in (("train", "tab:blue"), ("eval", "tab:orange")):
            data = pairs.filter(pl.col("side") == side)[column].to_numpy()
            ax.hist(data, bins=bins, range=(values.min(), values.max()), alpha=0.6, color=color, label=side)
        ax.set_title(f"{title} (tokens)")
        ax.set_xlabel("tokens of the model's tokenizer")
        ax.set_ylabel("pairs")
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def filters_line(filters: dict[str, str] | None) -> str:
    """The card's line on curate's filters, from ``curate_summary.json``'s ``filters`` (name → description).

    >>> filters_line({"language": "language", "length": "length 4–96 tokens"})
    '- Curate filters: language, length 4–96 tokens.'
    >>> filters_line(None)
    '- Curate filters: not recorded (no `filters` in curate_summary.json).'
    """
    if filters is None:
        return "- Curate filters: not recorded (no `filters` in curate_summary.json)."
    return f"- Curate filters: {', '.join(filters.values()) or 'none'}."


def card(
    pairs: pl.DataFrame,
    summary: dict[str, Any],
    rejects: dict[str, int],
    filters: dict[str, str] | None,
    params: Params,
) -> str:
    """The card's Markdown. ``pairs`` has a ``side`` column; ``rejects`` counts curate's rejects by reason;
    ``filters`` describes the filters curate applied, in order (see :func:`filters_line`)."""
    langs = sorted(pairs["lang"].unique().to_list())
    c, s = params.curate, params.split
    leakage = summary["leakage"]
    negatives = summary.get("negatives")
    front = "\n".join(
        [
            "---",
            "language:",
            *[f"- {lang}" for lang in langs],
            "task_categories:",
            "- sentence-similarity",
            "- text-retrieval",
            "configs:",
            "- config_name: default",
            "  data_files:",
            "  - split: train",
            "    path: train.json",
            "  - split: eval",
            "    path: eval.json",
            "---",
        ]
    )
    how = [
        f"- Base model (tokenizer, model-based filters): `{params.model.name_or_path}`.",
        f"- Positives: the chunk text{', after its context line' if c.positive_context else ''}; the "
        "evaluation corpus holds the same text, and `title` is left empty so that readers joining title and "
        "text embed exactly what training saw.",
        filters_line(filters),
        f"- Split: groups by `{s.group_by}`"
        + (f" (first {s.section_depth} section levels)" if s.group_by == "section" else "")
        + f", merged when they share a positive at word 5-gram Jaccard ≥ {s.near_dup_threshold} or an "
        f"identical question; seed {params.seed}; eval fraction {s.eval_fraction:g}"
        + (" in every domain" if s.stratify else "")
        + f" (actual {summary['eval_fraction_actual']:.3f}).",
        f"- Leakage check: {leakage['exact_positive']} exact and {leakage['near_positive']} near-duplicate "
        f"positives, {leakage['exact_anchor']} identical questions on both sides.",
    ]
    if negatives:
        how.append(
            "- Hard negatives: sentence-transformers' `mine_hard_negatives` candidate search, run by "
            "`lexqa.split.negatives.mine` on "
            + ("BM25 scores" if s.hard_negatives.retriever == "bm25" else "the base model's cached vectors")
            + f", over the training positives (relative margin {s.hard_negatives.relative_margin:g}): "
            f"{negatives['mined']:,} mined, "
            f"{negatives['random']:,} random (no candidate passed the margin)."
        )
    reject_rows = sorted(rejects.items(), key=lambda kv: (-kv[1], kv[0]))
    sections = [
        front,
        "# lexqa legal retrieval pairs",
        "Questions paired with the legal passage that answers them, made by the lexqa pipeline (ingest → "
        "chunk → generate → curate → split) for fine-tuning and evaluating an embedding retriever.",
        "## Files",
        markdown_table(
            ["file", "content"],
            [
                [
                    "train.json",
                    "JSON lines: `anchor` (question), `positive` (passage)"
                    + (", hard negative(s)" if negatives else ""),
                ],
                ["eval.json", "JSON lines: `anchor`, `positive` of the evaluation side"],
                [
                    "beir/",
                    "evaluation corpus, queries and qrels in BEIR format (`corpus.jsonl`, `queries.jsonl`, "
                    "`qrels/test.tsv`)",
                ],
                ["split.parquet", "every pair's group and side"],
                ["split_summary.json", "the figures below, as JSON"],
            ],
        ),
        'Load with `datasets.load_dataset("json", data_files={"train": "train.json", "eval": "eval.json"})`.',
        "## Counts",
        markdown_table(
            ["", "train", "eval"],
            [
                ["pairs", summary["train_pairs"], summary["eval_pairs"]],
                ["groups", summary["train_groups"], summary["eval_groups"]],
            ],
        ),
        f"Evaluation corpus: {summary['corpus_size']:,} passages ({s.corpus} chunks), "
        f"{summary['eval_queries']:,} queries, {summary['qrels']:,} relevance judgements.",
        "### Languages",
        _by(pairs, "lang"),
        "### Domains",
        _by(pairs, "domain"),
        "### Sources",
        _by(pairs, "source"),
        "### Question styles",
        _by(pairs, "style"),
        "### Lengths",
        f"![question and passage lengths]({PLOT})",
        "## How it was made",
        "\n".join(how),
        "## Rejected by curate",
        markdown_table(["reason", "rows"], reject_rows) if reject_rows else "Nothing was rejected.",
        "Every rejected question is in `curate_rejects.parquet` with its reason, score and, for a duplicate, "
        "the id of the row kept.",
    ]
    return "\n\n".join(sections) + "\n"


def write_card(
    out: Path,
    pairs: pl.DataFrame,
    summary: dict[str, Any],
    rejects: dict[str, int],
    filters: dict[str, str] | None,
    params: Params,
) -> None:
    """Write ``README.md`` and the length histogram into ``out``."""
    length_plot(pairs, out / PLOT)
    write_text(card(pairs, summary, rejects, filters, params), out / "README.md")
