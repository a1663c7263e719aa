"""The offline ICT backend: sentence splitting, seeded sampling, passage removal, the stage run with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from llm_server import write_chunks

from lexqa import generate
from lexqa.boundaries import split_sentences
from lexqa.config import OFFLINE_STYLES, IctParams, load_params
from lexqa.generate.ict import ict_pairs
from lexqa.tables import CHUNKS, QUESTIONS, frame, read_table

ROOT = Path(__file__).resolve().parents[1]
P = IctParams(min_sentence_chars=20)
ALWAYS = P.model_copy(update={"remove_probability": 1.0})
NEVER = P.model_copy(update={"remove_probability": 0.0})


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_sentences_respect_legal_abbreviations_initials_and_lines() -> None:
    fr = (
        "Vu l'art. L. 121-1 du code, M. Dupont a signé le 1er janv. 2020. Le juge statue.\n1° Premier point ;"
    )
    assert sentences(fr) == [
        "Vu l'art. L. 121-1 du code, M. Dupont a signé le 1er janv. 2020.",
        "Le juge statue.",
        "1° Premier point ;",
    ]
    ru = "Согласно ст. 15 ГК РФ и п. 2 ч. 1 ст. 3, Иванов И.И. обратился в суд. Иск удовлетворён! Что дальше?"
    assert sentences(ru) == [
        "Согласно ст. 15 ГК РФ и п. 2 ч. 1 ст. 3, Иванов И.И. обратился в суд.",
        "Иск удовлетворён!",
        "Что дальше?",
    ]


def test_ict_is_seeded_per_chunk_and_removes_the_sentence_with_probability_p() -> None:
    text = " ".join(f"Phrase numéro {i} du texte, assez longue pour compter." for i in range(8))
    first = ict_pairs("d#0", text, 3, P, seed=7)
    assert first == ict_pairs("d#0", text, 3, P, seed=7)
    assert len({q for q, _ in first}) == 3
    assert any(ict_pairs("d#0", text, 3, P, seed=s) != first for s in range(8, 12))
    for question, passage in ict_pairs("d#0", text, 3, ALWAYS, seed=7):
        assert question in text and question not in passage and len(passage) == len(text) - len(question) - 1
    kept = ict_pairs("d#0", text, 3, NEVER, seed=7)
    assert all(passage is None for _, passage in kept)
    removed = sum(p is not None for i in range(200) for _, p in ict_pairs(f"d#{i}", text, 1, P, seed=1))
    assert 160 <= removed <= 195  # p = 0.9


def test_ict_edge_cases() -> None:
    single = "Chacun a droit au respect de sa vie privée et familiale."
    assert ict_pairs("d#0", single, 3, ALWAYS, seed=1) == [(single, None)]
    short = "Oui. Non. Peut-être."
    assert ict_pairs("d#0", short, 1, P, seed=1) == []
    paragraphs = (
        "Premier alinéa qui est assez long.\n\nSecond alinéa qui est assez long.\n\nTroisième alinéa, long."
    )
    question, passage = ict_pairs("d#0", paragraphs, 1, ALWAYS, seed=3)[0]
    assert "\n\n\n" not in passage and passage.count("\n\n") == 1 and question not in passage


def test_stage_with_ict_writes_questions_with_passages(tmp_path: Path) -> None:
    write_chunks(tmp_path / "chunks.parquet", 10)
    chunks = pl.read_parquet(tmp_path / "chunks.parquet")
    extra = frame([{**chunks.row(0, named=True), "chunk_id": "src:tiny#0", "text": "Oui."}], CHUNKS)
    pl.concat([chunks, extra]).write_parquet(tmp_path / "chunks.parquet")
    params = load_params(ROOT / "params.yaml")
    only_ict = params.generate.offline.model_copy(update={**dict.fromkeys(OFFLINE_STYLES, 0), "ict": 1})
    params = params.model_copy(update={"generate": params.generate.model_copy(update={"offline": only_ict})})
    generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path)
    questions = read_table(tmp_path / "questions.parquet", QUESTIONS)
    ok = questions.filter(pl.col("status") == "ok")
    assert (
        ok["chunk_id"].n_unique() == 10
        and (ok["backend"] == "offline").all()
        and (ok["style"] == "ict").all()
    )
    assert ok["question_id"].str.contains(r":ict:\d$").all() and (ok["prompt_tokens"] == 0).all()
    assert ok["passage"].null_count() < ok.height  # most sentences were removed from their passage
    failed = questions.filter(pl.col("status") == "failed")
    assert failed["question_id"].to_list() == ["src:tiny#0:ict:failed"]
    assert failed["error"][0].startswith("no_sentence")
    metrics = json.loads((tmp_path / "generate.json").read_text())
    assert metrics["chunks_failed"] == 1 and metrics["cost_usd"] == 0.0 and metrics["questions"] == ok.height


@pytest.mark.shared_data
def test_ict_on_real_legal_texts(shared_data: Path) -> None:
    """Real French code articles and Russian rulings: nearly every paragraph-sized chunk yields a question."""
    code = next((shared_data / "fr_codes_markdown").glob("*.md")).read_text(encoding="utf-8")
    rulings = [p.read_text(encoding="utf-8") for p in sorted((shared_data / "ru_rulings").rglob("*.txt"))[:5]]
    chunks = [c for c in re.split(r"\n#+ .*\n", code) if len(c) > 200][:300]
    chunks += [" ".join(r.split())[i : i + 1200] for r in rulings for i in range(0, len(r), 1200)]
    chunks = [c for c in chunks if len(c) > 200]
    assert len(chunks) > 50
    pairs = [ict_pairs(f"c#{i}", text, 1, IctParams(), seed=42) for i, text in enumerate(chunks)]
    assert sum(bool(p) for p in pairs) >= 0.9 * len(chunks)
    questions = [q for p in pairs for q, _ in p]
    assert all(40 <= len(q) <= 400 for q in questions)
    assert sum(bool(re.search(r"[а-яё]", q)) for q in questions) >= 5
