"""How much memory a training run will need on a CPU, said before it starts.

On a CPU a training that outgrows the machine's memory is killed by the kernel's OOM killer (SIGKILL): the
process cannot report it, and ``dvc repro`` shows only an exit code of -9. The train stage therefore
estimates the run's peak resident memory first and warns, with the settings that lower it, when the estimate
exceeds what the machine has available.

The estimate counts what dominates:

- the activations each encoder layer keeps for the backward pass, per sequence of ``s`` tokens in fp32 with
  attention computed in full (the CPU path when dropout is on): ``s * (34 h + 8 i)`` bytes for the linear
  parts (inputs of the projections, the feed-forward's two ``i``-wide tensors, layer-norm inputs, dropout
  masks) and ``9 a s²`` for attention (softmax output, its dropout mask and output), the count of Korthikanti
  et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models") in 32-bit;
- every text of a batch goes through the model with gradients at once (``mnrl``, ``gist``: question, positive
  and each negative column, each padded to its longest text), or one mini-batch of one column at a time
  (``cached_mnrl``, GradCache);
- 16 bytes per parameter (weights, gradients, AdamW's two moments), 4 per parameter of each other model held
  (the evaluation's base model, ``gist``'s guide), and the Python process with its libraries.

The two calibration factors (:data:`ACTIVATION_FACTOR`, :data:`PROCESS_BYTES`) are measured by
``benchmarks/train.py`` (peak RSS against this estimate; figures in benchmarks/README.md)::

    >>> shape = EncoderShape(layers=6, hidden=384, heads=12, intermediate=1536, parameters=22_700_000)
    >>> round(peak_bytes(shape, [32, 256, 256], batch_size=32) / 2**30, 1)  # MiniLM, one negative
    8.6
    >>> round(peak_bytes(shape, [32, 256, 256], 32, loss="cached_mnrl", mini_batch_size=16) / 2**30, 1)
    2.9
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lexqa.train.data import column_prompts

if TYPE_CHECKING:
    from lexqa.config import Params

log = logging.getLogger("lexqa.train")

ACTIVATION_FACTOR = 1.5
"""Measured peak activations over the counted ones: gradients of activations during the backward pass, the
allocator's fragmentation, the embedding layer and pooling (benchmarks/train.py)."""
PROCESS_BYTES = int(0.75 * 2**30)
"""The training process before the model: Python, torch, transformers, datasets, the stage's tables."""
MARGIN = 1.15
"""The estimate's error measured so far (within about 15 %, either way): the warning comes when the estimate
times this exceeds the available memory."""
OPTIMISER_BYTES = 16
"""Per trained parameter: fp32 weight, gradient and AdamW's two moments."""
HELD_MODEL_BYTES = 4
"""Per parameter of a model only used for inference (fp32 weights)."""
CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class EncoderShape:
    """What the estimate needs of a transformer encoder."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    parameters: int

    @classmethod
    def of(cls, model: Any) -> EncoderShape | None:
        """The shape of a SentenceTransformer's first module (a Hugging Face encoder); None when its config
        does not name the sizes (an architecture the estimate does not know)."""
        try:
            config = model[0].auto_model.config
            sizes = [config.num_hidden_layers, config.hidden_size, config.num_attention_heads]
            intermediate = getattr(config, "intermediate_size", 4 * config.hidden_size)
        except (AttributeError, IndexError, TypeError):
            return None
        parameters = sum(p.numel() for p in model.parameters())
        return cls(*(int(v) for v in sizes), intermediate=int(intermediate), parameters=parameters)

    def activation_bytes(self, tokens: int) -> int:
        """Bytes all layers keep for the backward pass of one sequence of ``tokens`` tokens (fp32)."""
        per_layer = tokens * (34 * self.hidden + 8 * self.intermediate) + 9 * self.heads * tokens**2
        return self.layers * per_layer


def peak_bytes(
    shape: EncoderShape,
    lengths: list[int],
    batch_size: int,
    loss: str = "mnrl",
    mini_batch_size: int = 16,
    held_models: int = 0,
    processes: int = 1,
) -> int:
    """Estimated peak resident memory of training, all ``processes`` together.

    ``lengths``: the padded length of each column of a batch (question, positive, negatives), at most the
    longest text of that column; ``held_models``: models of the same size held besides the trained one.
    """
    if loss == "cached_mnrl":
        texts = min(mini_batch_size, batch_size)
        activations = max(shape.activation_bytes(n) for n in lengths) * texts
    else:
        activations = sum(shape.activation_bytes(n) for n in lengths) * batch_size
    model = shape.parameters * (OPTIMISER_BYTES + HELD_MODEL_BYTES * held_models)
    return processes * (PROCESS_BYTES + model + int(ACTIVATION_FACTOR * activations))


def column_lengths(model: Any, rows: list[dict[str, str]], prompts: dict[str, str]) -> list[int]:
    """The longest text of each column of ``rows``, in tokens as the model reads it (prompt included,
    truncated at its ``max_seq_length``): the length a batch holding it is padded to."""
    tokenizer, limit = model.tokenizer, model.max_seq_length
    lengths = []
    for column in rows[0]:
        prompt = prompts.get(column, "")
        ids = tokenizer([prompt + r[column] for r in rows], truncation=True, max_length=limit)["input_ids"]
        lengths.append(max(len(i) for i in ids))
    return lengths


def _cgroup_room() -> int | None:
    """Bytes the process's cgroup (v2) may still take, None without a limit."""
    try:
        limit = (CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((CGROUP / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def available_bytes() -> int:
    """Memory the training can still take: the system's available memory, or its container's room when
    that is smaller."""
    import psutil

    room = _cgroup_room()
    available = psutil.virtual_memory().available
    return available if room is None else min(available, room)


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory (``VmHWM``; Linux only, None elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return None


def gib(n: int | None) -> float | None:
    """Bytes as GiB, one decimal: ``gib(3 * 2**30)`` → 3.0."""
    return None if n is None else round(n / 2**30, 1)


def warn_if_short(
    estimate: int, available: int, loss: str, batch_size: int, lengths: list[int]
) -> dict[str, float | None]:
    """Warn when the ``estimate`` (give or take :data:`MARGIN`) exceeds ``available`` memory, naming what
    lowers it; the figures for the stage summary."""
    if estimate * MARGIN > available:
        advice = ["train.batch_size", "chunk.max_tokens"]
        if loss != "cached_mnrl":
            advice.insert(0, "train.loss: cached_mnrl (GradCache, same loss, activations of one mini-batch)")
        else:
            advice.insert(0, "train.mini_batch_size")
        log.warning(
            "training needs about %.1f GiB (batch %d, columns of %s tokens, loss %s; the estimate is good to "
            "about %d %%) and %.1f GiB are available: the kernel may kill it (the stage then fails with -9). "
            "Lower: %s",
            gib(estimate),
            batch_size,
            "/".join(map(str, lengths)),
            loss,
            round((MARGIN - 1) * 100),
            gib(available),
            "; ".join(advice),
        )
    return {"estimate_gib": gib(estimate), "available_gib": gib(available)}


def before_training(model: Any, rows: list[dict[str, str]], params: Params, processes: int) -> dict[str, Any]:
    """The estimate of a CPU training of ``model`` on ``rows`` under ``params``, checked against the available
    memory (a warning when short); an empty dict for an architecture the estimate does not know."""
    shape = EncoderShape.of(model)
    if shape is None:
        log.info("no memory estimate: the model's config does not give its layer sizes")
        return {}
    t = params.train
    prompts = column_prompts(params.model.query_prompt, params.model.passage_prompt, list(rows[0]))
    lengths = column_lengths(model, rows, prompts)
    held = 1 + (t.loss == "gist")  # the evaluation's base model; gist's guide
    estimate = peak_bytes(shape, lengths, t.batch_size, t.loss, t.mini_batch_size, held, processes)
    return warn_if_short(estimate, available_bytes(), t.loss, t.batch_size, lengths)
