"""A tiny legal world for fast train / evaluate tests: a random 2-layer BERT sentence-transformer, a dataset.

The model's WordPiece vocabulary is trained with ``tokenizers`` on a few hundred French and Russian sentences
(lowercased, accents kept so й and ё survive); the transformer is randomly initialised. Building it takes well
under a second and training it for a few epochs takes seconds. (The tokenizer trainer breaks ties between
merges in hash order, so two builds may differ slightly; tests compare models, never fixed numbers.)::

    >>> from tiny_model import build_tiny_model, write_tiny_dataset
    >>> model_dir = build_tiny_model(tmp_path / "tiny")               # doctest: +SKIP
    >>> write_tiny_dataset(tmp_path / "data/processed/dataset")        # doctest: +SKIP

The dataset follows the contract of the ``split`` stage: ``train.json`` / ``eval.json`` (JSON lines,
``anchor`` then ``positive``), ``beir/corpus.jsonl``, ``beir/queries.jsonl``, ``beir/qrels/test.tsv`` and a
``README.md`` dataset card. Passages are split by subject, as the real split stage splits by document: eval
passages are never seen in training, but their words are.
"""

from __future__ import annotations

import json
import random
from itertools import product
from pathlib import Path

HIDDEN = 64
"""Embedding dimension of the tiny model (Matryoshka dims for it: 64, 32, 16)."""

FR_SUBJECTS = [
    ("bail", "le bail d'habitation"),
    ("salarié", "le contrat du salarié"),
    ("succession", "la succession ab intestat"),
    ("mariage", "le mariage civil"),
    ("divorce", "le divorce par consentement mutuel"),
    ("servitude", "la servitude de passage"),
    ("donation", "la donation entre époux"),
    ("hypothèque", "l'hypothèque conventionnelle"),
    ("usufruit", "l'usufruit légal"),
    ("créance", "la cession de créance"),
    ("société", "la société civile immobilière"),
    ("tutelle", "la tutelle des mineurs"),
]
FR_ASPECTS = [
    ("durée", "La durée de {s} est fixée à {n} ans renouvelables."),
    ("forme", "{S} doit être constaté par écrit, à peine de nullité, devant le notaire."),
    ("résiliation", "La résiliation de {s} intervient après un préavis de {n} mois."),
    ("preuve", "La preuve de {s} se fait par tout moyen, y compris par témoins."),
    ("délai", "Le délai de prescription applicable à {s} est de {n} ans."),
    ("nullité", "La nullité de {s} est encourue en cas de dol ou de violence."),
    ("publicité", "{S} est soumis à la publicité foncière au service compétent."),
    ("capacité", "La capacité requise pour {s} est celle du majeur non protégé."),
]
FR_QUESTIONS = ["Quelle est la règle de {a} pour {s} ?", "Que prévoit la loi sur la {a} et {s} ?"]

RU_SUBJECTS = [
    ("заём", "договор займа"),
    ("аренда", "договор аренды жилья"),
    ("наследство", "наследство по закону"),
    ("ребёнок", "содержание ребёнка"),
    ("ипотека", "ипотека жилого дома"),
    ("поставка", "договор поставки товаров"),
    ("подряд", "договор строительного подряда"),
    ("залог", "залог движимого имущества"),
    ("дарение", "договор дарения"),
    ("объём", "объём работ по договору"),
    ("район", "границы судебного района"),
    ("неустойка", "неустойка за просрочку"),
]
RU_ASPECTS = [
    ("срок", "Срок, установленный для {s}, составляет {n} лет."),
    ("форма", "{S} заключается в письменной форме и подлежит нотариальному удостоверению."),
    ("расторжение", "Расторжение, касающееся {s}, возможно после уведомления за {n} месяцев."),
    ("доказательство", "Доказательством по делу, касающемуся {s}, служат иные письменные документы."),
    ("давность", "Срок исковой давности по требованиям, связанным с {s}, равен {n} годам."),
    ("недействительность", "Недействительность, касающаяся {s}, наступает при обмане или насилии."),
    ("регистрация", "{S} подлежит государственной регистрации в реестре."),
    ("ответственность", "Ответственность за нарушение, связанное с {s}, несёт должник."),
]
RU_QUESTIONS = ["Каков {a} для {s}?", "Что закон говорит про {a}, если речь о {s}?"]


def _passages(seed: int = 0) -> list[dict[str, str]]:
    """One passage per (subject, aspect) in each language, with its two questions and its subject key."""
    rng = random.Random(seed)
    rows = []
    for lang, subjects, aspects, questions in (
        ("fr", FR_SUBJECTS, FR_ASPECTS, FR_QUESTIONS),
        ("ru", RU_SUBJECTS, RU_ASPECTS, RU_QUESTIONS),
    ):
        for (key, subject), (aspect, template) in product(subjects, aspects):
            text = template.format(s=subject, S=subject[0].upper() + subject[1:], n=rng.randint(2, 12))
            number = rng.randint(1, 2000)
            passage = f"Article {number}. {text}" if lang == "fr" else f"Статья {number}. {text}"
            rows.append(
                {
                    "lang": lang,
                    "subject": key,
                    "aspect": aspect,
                    "id": f"{lang}-{key}-{aspect}",
                    "passage": passage,
                    "questions": [q.format(a=aspect, s=subject) for q in questions],
                }
            )
    return rows


def sentences() -> list[str]:
    """The few hundred French and Russian sentences the tiny tokenizer is trained on."""
    out = []
    for row in _passages():
        out.append(row["passage"])
        out.extend(row["questions"])
    return out


def build_tiny_model(path: str | Path, hidden: int = HIDDEN, seed: int = 0) -> Path:
    """Build and save a randomly initialised 2-layer BERT sentence-transformer (mean pooling) at ``path``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizer

    path = Path(path)
    wordpiece = BertWordPieceTokenizer(lowercase=True, strip_accents=False, clean_text=True)
    wordpiece.train_from_iterator(sentences(), vocab_size=700, min_frequency=1, show_progress=False)
    tokenizer = BertTokenizer(vocab=wordpiece.get_vocab(), do_lower_case=True, strip_accents=False)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
    )
    bert_dir = path / "bert"
    BertModel(config).save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    transformer = Transformer(str(bert_dir), max_seq_length=64)
    pooling = Pooling(embedding_dimension=hidden, pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling])
    model.save(str(path))
    return path


def write_tiny_dataset(folder: str | Path, eval_fraction: float = 0.25, seed: int = 0) -> Path:
    """Write train.json, eval.json, beir/ and README.md of the tiny world into ``folder``."""
    folder = Path(folder)
    rows = _passages(seed)
    subjects = sorted({(r["lang"], r["subject"]) for r in rows})
    rng = random.Random(seed)
    rng.shuffle(subjects)
    n_eval = max(2, round(len(subjects) * eval_fraction))
    eval_subjects = set(subjects[:n_eval])
    train, evals = [], []
    for row in rows:
        target = evals if (row["lang"], row["subject"]) in eval_subjects else train
        target.extend({"anchor": q, "positive": row["passage"]} for q in row["questions"])
    rng.shuffle(train)
    (folder / "beir" / "qrels").mkdir(parents=True, exist_ok=True)
    for name, pairs in (("train.json", train), ("eval.json", evals)):
        with (folder / name).open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)
    eval_rows = [r for r in rows if (r["lang"], r["subject"]) in eval_subjects]
    with (folder / "beir" / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for r in eval_rows:
            row = {"_id": r["id"], "title": "", "text": r["passage"]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    with (
        (folder / "beir" / "queries.jsonl").open("w", encoding="utf-8") as fq,
        (folder / "beir" / "qrels" / "test.tsv").open("w", encoding="utf-8") as fr,
    ):
        fr.write("query-id\tcorpus-id\tscore\n")
        for r in eval_rows:
            for k, q in enumerate(r["questions"]):
                qid = f"{r['id']}:q{k}"
                fq.write(json.dumps({"_id": qid, "text": q}, ensure_ascii=False) + "\n")
                fr.write(f"{qid}\t{r['id']}\t1\n")
    (folder / "README.md").write_text(
        "---\nlanguage: [fr, ru]\n---\n# Tiny legal dataset\n\n"
        f"{len(train)} training pairs, {len(evals)} eval pairs, {len(eval_rows)} eval passages.\n",
        encoding="utf-8",
    )
    return folder
