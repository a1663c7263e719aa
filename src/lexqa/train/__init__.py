"""The ``train`` stage: Matryoshka fine-tuning of the base model on the split's training pairs.

sentence-transformers does the work as it is meant to be used: ``SentenceTransformerTrainer`` with
``MatryoshkaLoss`` around the loss of ``train.loss`` (see :mod:`lexqa.train.losses`), the no-duplicates
batch sampler (several questions per chunk would otherwise be false in-batch negatives; with
``train.batch_sampler: topics`` it fills each batch from one topic, :mod:`lexqa.train.topics`), the question /
passage prompts of ``model`` (applied in training, saved with the model), a retrieval evaluation of every
Matryoshka dimension from one encoding of the eval split (:mod:`lexqa.train.evaluator`; before training and
after each epoch, or every ``train.eval_steps``), and the best checkpoint by mean nDCG@10 over the dimensions
kept at the end. bf16 / TF32 only when a CUDA GPU has them.

Reads ``data/processed/dataset/{train.json, beir/, README.md}``; writes ``models/lexqa/`` (the
model and its card), ``data/processed/train_rejects.parquet`` and ``train_summary.json``. Checkpoints go to
``data/cache/train/<fingerprint>/``: a killed run started again with the same inputs resumes from the last
complete one; they are deleted once the model is saved. The same code runs on several GPUs (DDP) under
``torchrun --nproc_per_node N stages/train.py`` or ``accelerate launch stages/train.py``, and without a CUDA
GPU as several CPU processes (gloo); only the main process writes checkpoints and outputs::

    >>> from lexqa.config import load_params
    >>> from lexqa import train
    >>> summary = train.run(load_params())                   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lexqa.config import Params, ParamsError
from lexqa.embed import Embedder, MemoryStore, ModelSpec, encoding_stats, open_embedder
from lexqa.evaluate.beir import load_beir
from lexqa.lexical import Bm25, bm25_languages
from lexqa.models import resolve_model_path
from lexqa.paths import DATASET, MODEL_DIR
from lexqa.summary import StageSummary
from lexqa.tables import REJECTS, frame, write_table
from lexqa.train import memory
from lexqa.train.card import complete_card, hub_id
from lexqa.train.checkpoints import last_checkpoint, run_dir
from lexqa.train.data import column_prompts, read_pairs
from lexqa.train.distill import FusedTeacher, candidate_ids
from lexqa.train.evaluator import NAME as EVAL_NAME
from lexqa.train.evaluator import PRIMARY as EVAL_PRIMARY
from lexqa.train.evaluator import MatryoshkaRetrievalEvaluator, remember_best
from lexqa.train.freeze import freeze_token_embeddings
from lexqa.train.losses import build_loss, world_size
from lexqa.train.merge import average_with_base
from lexqa.train.rotation import fit_rotation, rotation_layer
from lexqa.train.topics import pair_topics, topic_sampler

__all__ = ["run"]

log = logging.getLogger("lexqa.train")

CACHE = Path("data/cache/train")
REJECTS_PATH = Path("data/processed/train_rejects.parquet")
SUMMARY = Path("data/processed/train_summary.json")
EVAL_VECTORS = "eval-vectors"
"""Folder of the run directory where each evaluation keeps its vectors (the best one's go to the cache)."""
BEST_METRIC = f"eval_{EVAL_NAME}_{EVAL_PRIMARY}"
"""Mean nDCG@10 over the Matryoshka dimensions: the best checkpoint is chosen by it."""


def _by_dim(metrics: dict[str, float], dims: list[int], prefix: str = "") -> dict[int, dict[str, float]]:
    """``{prefix}dim_<d>_cosine_<metric>`` keys → {d: {metric: value}}."""
    out: dict[int, dict[str, float]] = {}
    for d in dims:
        head = f"{prefix}dim_{d}_"
        for key, value in metrics.items():
            if key.startswith(head):
                out.setdefault(d, {})[key[len(head) :].split("_", 1)[-1]] = float(value)
    return out


def _logged_eval(trainer, step: int) -> dict[str, float]:
    """The evaluation the trainer logged at ``step`` (the last one when a resumed run evaluated it again)."""
    logged = [h for h in trainer.state.log_history if h.get("step") == step and BEST_METRIC in h]
    return logged[-1] if logged else {}


def _best_metrics(trainer, evaluator, step: int) -> dict[int, dict[str, float]]:
    """Metrics per dimension of the best checkpoint (the model now loaded, saved at ``step``), also put in
    the model card.

    They were logged when that checkpoint was evaluated, so the evaluators do not run again; only a run
    without any logged evaluation evaluates the model now.
    """
    logged = {k.removeprefix("eval_"): v for k, v in _logged_eval(trainer, step).items()}
    if not logged:
        logged = evaluator(trainer.model)
    # The card shows what the evaluator stored last: make that the best checkpoint's metrics.
    own = {k: v for k, v in logged.items() if k.startswith(f"{EVAL_NAME}_")}
    evaluator.store_metrics_in_model_card_data(trainer.model, own, trainer.state.epoch or 0, step)
    return _by_dim(logged, evaluator.dims, prefix=f"{EVAL_NAME}_")


def _merge_with_base(model, trainer, evaluator, base_path: str, share: float) -> tuple[int, dict]:
    """Average ``model`` (the best checkpoint, loaded) with the base model in place (``train.merge_base``)
    and evaluate the average.

    Returns the step under which the evaluation kept the average's vectors and its metrics per dimension
    (also put in the model card in place of the checkpoint's).
    """
    from sentence_transformers import SentenceTransformer

    base = SentenceTransformer(base_path, device=str(model.device))
    average_with_base(model, base.state_dict(), share)
    step = trainer.state.global_step + 1  # after every checkpoint's: its vectors are the average's own
    metrics = evaluator(model, epoch=trainer.state.epoch or 0, steps=step)
    return step, _by_dim(metrics, evaluator.dims, prefix=f"{EVAL_NAME}_")


def _ndcg_summary(metrics: dict[int, dict[str, float]]) -> dict[str, float]:
    """nDCG@10 per dimension as the summary shows it: ``{"dim_384": 0.5712, ...}``."""
    return {f"dim_{d}": round(m["ndcg@10"], 4) for d, m in metrics.items()}


def _rotate(model, trainer, evaluator, rows: list[dict], params: Params, step: int) -> tuple[int, dict, dict]:
    """Learn ``train.rotation`` on the training pairs' vectors of ``model`` (as it will be saved), append it
    as the model's last layer and evaluate the result.

    Returns the step under which the evaluation kept the rotated model's vectors (after ``step``, the last
    one used), its metrics per dimension (also put in the model card) and the summary's account of it.
    """
    t = params.train
    # Vectors of a model not saved yet: kept in memory, under the prompts and length it trains with.
    embedder = Embedder(ModelSpec.from_params(params.model), MemoryStore(), t.batch_size, "rotation", model)
    passages = list(dict.fromkeys(r["positive"] for r in rows))
    row_of = {p: i for i, p in enumerate(passages)}
    anchors = embedder.queries([r["anchor"] for r in rows])
    dims = [d for d in evaluator.dims if d < anchors.shape[1]]
    rotation = fit_rotation(
        anchors,
        embedder.passages(passages),
        np.array([row_of[r["positive"]] for r in rows]),
        dims,
        scale=t.scale,
        epochs=t.rotation.epochs,
        lr=t.rotation.learning_rate,
        seed=params.seed if t.seed is None else t.seed,
    )
    model.append(rotation_layer(rotation).to(model.device))
    step += 1
    metrics = _by_dim(
        evaluator(model, epoch=trainer.state.epoch or 0, steps=step), evaluator.dims, prefix=f"{EVAL_NAME}_"
    )
    account = {"dims": dims, "pairs": len(rows), "passages": len(passages), "encoded": embedder.encoded}
    return step, metrics, account


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _cuda_features(params: Params) -> tuple[bool, bool]:
    """(bf16, tf32) to use: only on a CUDA GPU that supports them."""
    import torch

    if not _cuda_available():
        return False, False
    bf16 = params.train.bf16 and torch.cuda.is_bf16_supported()
    tf32 = params.train.tf32 and torch.cuda.get_device_capability()[0] >= 8
    return bf16, tf32


def _cpu_ddp() -> bool:
    """Several processes (torchrun / accelerate launch) and no CUDA GPU: DDP on the CPU with gloo.

    Without ``use_cpu`` accelerate finds no device backend, starts a process group all the same and reports
    no distribution: each process would train on the whole dataset with unsynchronised gradients.
    """
    return world_size() > 1 and not _cuda_available()


def _training_args(
    params: Params, output_dir: Path, seed: int, columns: list[str], sampler: Callable | None = None
):
    """The trainer's arguments; ``sampler`` builds the batch sampler (default: sentence-transformers'
    no-duplicates one)."""
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    t = params.train
    bf16, tf32 = _cuda_features(params)
    prompts = column_prompts(params.model.query_prompt, params.model.passage_prompt, columns)
    strategy = "steps" if t.eval_steps else "epoch"
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=t.epochs,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        learning_rate=t.learning_rate,
        warmup_steps=t.warmup_ratio,  # a float below 1 is a ratio of the total steps
        batch_sampler=sampler or BatchSamplers.NO_DUPLICATES,
        prompts=prompts or None,
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=t.eval_steps,
        save_steps=t.eval_steps,
        eval_on_start=True,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=BEST_METRIC,
        greater_is_better=True,
        logging_steps=0.05,
        logging_first_step=True,
        seed=seed,
        data_seed=seed,
        bf16=bf16,
        tf32=tf32 or None,
        dataloader_pin_memory=_cuda_available(),
        dataloader_drop_last=world_size() > 1,  # what sentence-transformers sets under DDP, with a warning
        use_cpu=_cpu_ddp(),
        ddp_backend="gloo" if _cpu_ddp() else None,
        report_to="none",
        disable_tqdm=os.environ.get("LEXQA_NO_PROGRESS") == "1",
    )


def _trainer_class():
    """``SentenceTransformerTrainer`` whose checkpoints only the main process writes.

    transformers 5 calls ``_save`` on every process and its own ``_save`` returns at once on the others;
    sentence-transformers' override writes from every process: under DDP all of them wrote the same files.
    """
    from sentence_transformers import SentenceTransformerTrainer

    class Trainer(SentenceTransformerTrainer):
        def _save(self, output_dir: str | None = None, state_dict=None) -> None:
            if self.args.should_save:
                super()._save(output_dir, state_dict)

    return Trainer


def _step_counter():
    """A trainer callback counting the steps this process runs (a resumed run skips those already done) and
    the seconds they take, evaluations and checkpoints excluded."""
    from transformers import TrainerCallback

    class StepCounter(TrainerCallback):
        steps = 0
        seconds = 0.0
        _started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.steps += 1
            self.seconds += time.perf_counter() - self._started

    return StepCounter()


def _quiet_metric_logs(trainer) -> None:
    """Keep the progress bar but not the trainer's printed dict of ~80 metrics per evaluation: the stage
    summary and ``train_summary.json`` report what matters."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class QuietProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            pass

    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(QuietProgress)


def _topics(rows: list[dict], base: Embedder, batch_size: int, seed: int) -> dict[str, Any]:
    """``train.batch_sampler: topics``: the topic of each pair from the base model's vectors of the distinct
    positives (:mod:`lexqa.train.topics`), and the summary's account of them."""
    passages = list(dict.fromkeys(r["positive"] for r in rows))
    of_pair = pair_topics(rows, base.passages(passages), batch_size, seed)
    sizes = np.bincount(of_pair)
    log.info("topic batches: %d topics over %d passages", len(sizes), len(passages))
    return {"of_pair": of_pair, "topics": len(sizes), "passages": len(passages), "largest": int(sizes.max())}


def _teacher(
    params: Params, rows: list[dict], base: Embedder, root: Path
) -> tuple[FusedTeacher, list[list[int]], dict[str, Any]]:
    """``train.distill``: the teacher's vectors of the distinct training questions and passages (the base
    model's come from the embedding cache split filled), the BM25 index of the passages, each row's label for
    the loss, and the summary's account of them."""
    d, t = params.train.distill, params.train
    questions, passages, labels = candidate_ids(rows)
    embedder, spec = base, None
    if d.teacher is not None:
        folder = root / d.teacher  # an absolute teacher path replaces root
        if not (folder / "modules.json").is_file():
            raise ParamsError(
                f"train.distill.teacher: {folder} is not a saved sentence-transformers model (no modules.json); "
                "copy an earlier run's models/lexqa elsewhere and name that folder"
            )
        spec = ModelSpec.from_folder(folder)
        embedder = open_embedder(spec, params, t.batch_size, label="teacher", root=root)
    lexical = Bm25(passages, bm25_languages(params)) if d.bm25_weight else None
    teacher = FusedTeacher(
        embedder.queries(questions), embedder.passages(passages), lexical, questions, d.bm25_weight, t.scale
    )
    account = {
        "teacher": d.teacher or params.model.name_or_path,
        "teacher_fingerprint": spec.fingerprint if spec else None,
        "bm25_weight": d.bm25_weight,
        "weight": d.weight,
        "questions": len(questions),
        "passages": len(passages),
        "encoded": embedder.encoded,
    }
    return teacher, labels, account


def _save_model(
    model, target: Path, base, tuned, dataset_card: Path, merge_base: float, rotated: bool
) -> None:
    """Save the model and its completed card into a temporary folder, then swap it in place of ``target``."""
    tmp, old = target.with_name(f".{target.name}.tmp"), target.with_name(f".{target.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    model.save_pretrained(str(tmp))
    complete_card(tmp, base, tuned, dataset_card, merge_base, rotated)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def run(params: Params, root: str | Path = ".") -> dict[str, Any]:
    """Fine-tune, save ``models/lexqa`` with its card, write rejects and summary; returns the summary dict."""
    import transformers
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerModelCardData

    root = Path(root)
    t = params.train
    summary = StageSummary("train")
    # The trainer logs every evaluation's metrics; the evaluators' own per-metric lines would repeat them.
    logging.getLogger("sentence_transformers.sentence_transformer.evaluation").setLevel(logging.WARNING)
    rejects: list[dict[str, Any]] = []
    train_rows = read_pairs(root / DATASET / "train.json", rejects)
    beir = load_beir(root / DATASET / "beir", "eval", rejects, stage="train")
    if not train_rows:
        raise FileNotFoundError(f"{root / DATASET / 'train.json'} holds no valid (anchor, positive) pair")
    if not beir.query_ids:
        raise FileNotFoundError(f"{root / DATASET / 'beir'} has no query with a relevant passage to evaluate")

    seed = params.seed if t.seed is None else t.seed
    transformers.set_seed(seed)
    base_path = resolve_model_path(params.model.name_or_path)
    prompts = {"query": params.model.query_prompt, "document": params.model.passage_prompt}
    card_data = SentenceTransformerModelCardData(
        language=sorted({s.lang for s in params.sources}),
        model_name=f"lexqa legal retriever (Matryoshka, from {params.model.name_or_path})",
        train_datasets=[{"name": "lexqa synthetic legal questions"}],
        local_files_only=True,
    )
    base_spec = ModelSpec.from_params(params.model)
    model = SentenceTransformer(base_path, prompts=prompts, model_card_data=card_data)
    model.max_seq_length = base_spec.max_seq_length
    model.model_card_data.base_model = hub_id(params.model.name_or_path)
    frozen = freeze_token_embeddings(model) if t.freeze_embeddings else 0
    guide = SentenceTransformer(base_path, prompts=prompts) if t.loss == "gist" else None
    base = open_embedder(base_spec, params, t.batch_size, label="base", root=root)
    teacher, labels, distill = (
        _teacher(params, train_rows, base, root) if t.distill.enabled else (None, None, None)
    )
    loss = build_loss(t, model, guide, teacher)
    dims = list(t.matryoshka_dims)
    files = [root / DATASET / "train.json", *((root / DATASET / "beir").rglob("*"))]
    config = {
        "model": params.model.model_dump(),
        "train": t.model_dump(),
        "teacher": distill["teacher_fingerprint"] if distill else None,
        "seed": seed,
        "world": world_size(),
    }
    output_dir = run_dir(root / CACHE, config, sorted(p for p in files if p.is_file()))
    evaluator = MatryoshkaRetrievalEvaluator(beir, dims, base, keep_dir=output_dir / EVAL_VECTORS)
    counter = _step_counter()
    topics = _topics(train_rows, base, t.batch_size, seed) if t.batch_sampler == "topics" else None
    sampler = topic_sampler(topics["of_pair"]) if topics else None
    trainer = _trainer_class()(
        model=model,
        args=_training_args(params, output_dir, seed, list(train_rows[0]), sampler),
        train_dataset=Dataset.from_list(
            train_rows
            if labels is None
            else [r | {"label": ids} for r, ids in zip(train_rows, labels, strict=True)]
        ),
        loss=loss,
        evaluator=evaluator,
        callbacks=[counter],
    )
    _quiet_metric_logs(trainer)
    # On a CPU a run out of memory is killed by the kernel without a word: warn before (CUDA raises its own).
    on_cpu = not _cuda_available()
    local_main = os.environ.get("LOCAL_RANK", "0") == "0"
    ram = memory.before_training(model, train_rows, params, world_size()) if on_cpu and local_main else {}
    resume_from = last_checkpoint(output_dir) if t.resume else None
    if resume_from is not None:
        log.info("resuming from %s", resume_from)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    # Under DDP every process has loaded the best checkpoint before the main one deletes the checkpoints;
    # the others stop here: only the main process writes the model, card, rejects and summary.
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return {}

    best = trainer.state.best_model_checkpoint
    base_metrics = _by_dim(_logged_eval(trainer, 0), dims, prefix=f"eval_{EVAL_NAME}_")
    best_step = int(best.rsplit("-", 1)[1]) if best else trainer.state.global_step
    tuned = _best_metrics(trainer, evaluator, best_step)
    if t.merge_base:
        best_step, tuned = _merge_with_base(model, trainer, evaluator, base_path, t.merge_base)
    rotation = None
    if t.rotation.enabled:
        unrotated = tuned
        last = max(best_step, trainer.state.global_step)
        best_step, tuned, rotation = _rotate(model, trainer, evaluator, train_rows, params, last)
        rotation["ndcg@10 before"] = _ndcg_summary(unrotated)
    _save_model(
        model,
        root / MODEL_DIR,
        base_metrics,
        tuned,
        root / DATASET / "README.md",
        t.merge_base,
        bool(rotation),
    )
    tuned_spec = ModelSpec.from_folder(root / MODEL_DIR)
    finetuned = open_embedder(tuned_spec, params, t.batch_size, label="finetuned", root=root)
    cached_best = remember_best(output_dir / EVAL_VECTORS, best_step, beir, finetuned)
    write_table(frame(rejects, REJECTS), root / REJECTS_PATH, REJECTS)
    shutil.rmtree(output_dir, ignore_errors=True)

    for row in rejects:
        summary.reject(row["reason"])
    summary.rows_out = len(train_rows)  # pairs used; rejects: lines of any input file
    summary.rows_in = summary.rows_out + len(rejects)
    bf16, tf32 = _cuda_features(params)
    best_metric = trainer.state.best_metric
    processes = trainer.args.world_size  # the trainer's, not WORLD_SIZE: DDP really took place
    samples = counter.steps * t.batch_size * processes  # training steps only: the throughput
    summary.extra.update(
        {
            "base_model": params.model.name_or_path,
            "loss": f"MatryoshkaLoss({t.loss}{' + distill' if distill else ''}) dims {dims}",
            "train_pairs": len(train_rows),
            "eval_queries": len(beir.query_ids),
            "epochs": t.epochs,
            "steps": trainer.state.global_step,
            "resumed_from": resume_from.name if resume_from else None,
            "steps_run": counter.steps,
            "best_checkpoint": Path(best).name if best else None,
            "best_mean_ndcg@10": None if best_metric is None else round(best_metric, 4),
            "frozen_parameters": frozen,
            "batch_sampler": t.batch_sampler,
            "topics": {k: v for k, v in topics.items() if k != "of_pair"} if topics else None,
            "merged_with_base": t.merge_base or None,
            "rotation": rotation,
            "distill": distill,
            "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 2),  # evaluations included
            "samples_per_s": round(samples / counter.seconds, 2) if counter.seconds else None,
            "train_loss": round(result.metrics.get("train_loss", float("nan")), 4),
            "device": str(model.device),
            "precision": ("bf16" if bf16 else "fp32") + (" + tf32" if tf32 else ""),
            "world_size": processes,
            "memory": ram | {"peak_rss_gib": memory.gib(memory.peak_rss_bytes())},
            "ndcg@10 base": _ndcg_summary(base_metrics),
            "ndcg@10 fine-tuned": _ndcg_summary(tuned),
            "embeddings": encoding_stats([base])
            | {
                "finetuned eval vectors cached": len(beir.query_texts) + len(beir.corpus_texts)
                if cached_best
                else 0
            },
        }
    )
    return summary.finish(root / SUMMARY)
