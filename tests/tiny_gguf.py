"""A tiny llama-architecture GGUF model, written with the ``gguf`` package, for tests that need a real llama.cpp
server but not a real model: it loads in milliseconds and generates hundreds of tokens/s on one core.

Its weights are random (seeded), so what it writes is gibberish; but a grammar (``response_format`` with a
JSON schema) still forces that gibberish into the schema's shape, and its vocabulary (every byte, as
SentencePiece byte-fallback tokens, plus the printable ASCII characters) can spell any text::

    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    # python -m llama_cpp.server --model <path> --port 8000
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

EMBED = 32
LAYERS = 1
HEADS = 4
FEED_FORWARD = 64
CONTEXT = 2048


def _vocabulary() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style tokens: unk, bos, eos, the 256 byte tokens, then printable ASCII (``▁`` for the
    space); scores and types as llama.cpp expects them (2 unknown, 3 control, 6 byte, 1 normal)."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    tokens += ["▁" if c == " " else c for c in map(chr, range(32, 127))]
    types += [1] * 95
    scores = [0.0] * 259 + [-float(i) for i in range(95)]
    return tokens, scores, types


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """Write the model to ``path`` (about 100 KB) and return the path."""
    import gguf

    tokens, scores, types = _vocabulary()
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("lexqa tiny test model")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(EMBED // HEADS)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    vocab = len(tokens)
    writer.add_tensor("token_embd.weight", weight(vocab, EMBED))
    writer.add_tensor("output_norm.weight", np.ones(EMBED, dtype=np.float32))
    writer.add_tensor("output.weight", weight(vocab, EMBED))
    for i in range(LAYERS):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(EMBED, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(EMBED, EMBED))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(EMBED, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(FEED_FORWARD, EMBED))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(FEED_FORWARD, EMBED))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(EMBED, FEED_FORWARD))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
