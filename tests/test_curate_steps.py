"""curate's filters are one ordered list (lexqa.curate.steps.FILTERS): Curation applies it, curate_summary.json
records it, and the split stage's dataset card reads it from there; adding a filter is one step and one entry."""

from __future__ import annotations

import json
from dataclasses import replace

import polars as pl
from test_curate import CHUNKS_FR, make_params, question, reasons, run_curate
from test_split import build
from test_split import make_params as split_params

from lexqa import curate, split
from lexqa.config import parse_params
from lexqa.curate import filters, steps
from lexqa.curate.steps import FILTERS, Filter
from lexqa.tables import CHUNKS, QUESTIONS, frame, write_table

TEXT_FILTERS = ["chunk_dedup", "language", "length", "self_reference", "overlap", "question_dedup"]


def test_the_summary_lists_the_enabled_filters_in_order():
    _, _, summary = run_curate(CHUNKS_FR, [])
    listed = summary.extra["filters"]
    assert list(listed) == [*TEXT_FILTERS, "question_near_dup"]  # the model filters are off in make_params
    assert listed["length"] == "length 2–96 tokens"
    assert listed["question_near_dup"] == "near-dup questions (Jaccard ≥ 0.85)"
    off = make_params(self_reference={"enabled": False}, question_near_dup={"enabled": False})
    _, _, summary = run_curate(CHUNKS_FR, [], off)
    assert list(summary.extra["filters"]) == [f for f in TEXT_FILTERS if f != "self_reference"]


def test_descriptions_name_thresholds_and_retrievers():
    params = make_params(
        exact_dedup=False,
        round_trip={"enabled": True, "top_k": 3, "retriever": "both"},
        easiness={"enabled": True, "drop_percent": 2.5, "retriever": "bm25"},
        judge={"enabled": True, "criteria": ["answerable"]},
    )
    described = steps.descriptions(params)
    assert described["chunk_dedup"] == "near-dup chunks (Jaccard ≥ 0.8)"
    assert "question_dedup" not in described
    assert described["round_trip"] == "round trip (top 3, by the base model and BM25)"
    assert described["easiness"] == "easiness (easiest 2.5 % dropped, by BM25 term coverage)"
    assert list(described)[-1] == "judge" and described["judge"] == "LLM judge (answerable)"
    exact_only = make_params(chunk_near_dup={"enabled": False})
    assert steps.descriptions(exact_only)["chunk_dedup"] == "exact dedup of chunks"
    assert [f.name for f in FILTERS].index("chunk_dedup") < [f.name for f in FILTERS].index("language")


def mentions_the_lessor(run: curate.Curation) -> None:
    hit = run.live.filter(pl.col("question").str.contains("bailleur"))
    run.drop(filters.rejected(hit["question_id"], "mentions_the_lessor", ["says bailleur"] * hit.height))


EXTRA = Filter("lessor", lambda p: True, lambda p: "no lessor", mentions_the_lessor)


def test_a_new_filter_is_one_function_and_one_entry(monkeypatch, tmp_path):
    at = [f.name for f in FILTERS].index("self_reference")
    monkeypatch.setattr(steps, "FILTERS", (*FILTERS[:at], EXTRA, *FILTERS[at:]))
    questions = [
        question("s:bail#0", "Que dit cet article sur les obligations du bailleur ?"),  # both: first wins
        question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?", k=1),
        question("s:vente#0", "Que dit cet article sur la vente ?"),
        question("s:vente#0", "À quel moment la propriété d'un bien vendu passe-t-elle à l'acheteur ?", k=1),
    ]
    _pairs, rejects, summary = run_curate(CHUNKS_FR, questions)
    assert reasons(rejects) == {
        "s:bail#0:layperson:0": "mentions_the_lessor",
        "s:bail#0:layperson:1": "mentions_the_lessor",
        "s:vente#0:layperson:0": "self_reference",
    }
    assert list(summary.extra["filters"])[: at + 2] == [*TEXT_FILTERS[:at], "lessor", "self_reference"]
    # the card of the split stage lists it too, through curate_summary.json
    card = card_after_curate_and_split(tmp_path)
    assert (
        "- Curate filters: exact and near-dup chunks (Jaccard ≥ 0.8), length 2–96 tokens, no lessor, " in card
    )


def card_after_curate_and_split(folder) -> str:
    """Run the curate then the split stage on random pairs (language check off: the text is not French)."""
    chunks, pairs = build(n_docs=10)
    questions = [question(c, q, k=i) for i, (c, q) in enumerate(pairs.select("chunk_id", "anchor").rows())]
    write_table(chunks, folder / "chunks.parquet", CHUNKS)
    write_table(frame(questions, QUESTIONS), folder / "questions.parquet", QUESTIONS)
    params = split_params().model_dump(mode="json")
    params["curate"]["language"] = {"enabled": False}
    curate.run(parse_params(params), folder, folder)
    split.run(parse_params(params), folder, folder)
    return (folder / "dataset" / "README.md").read_text(encoding="utf-8")


def test_the_card_lists_what_curate_recorded(tmp_path):
    card = card_after_curate_and_split(tmp_path)
    recorded = json.loads((tmp_path / "curate_summary.json").read_text(encoding="utf-8"))["filters"]
    assert list(recorded) == [f for f in TEXT_FILTERS if f != "language"] + ["question_near_dup"]
    assert f"- Curate filters: {', '.join(recorded.values())}.\n" in card
    # the split stage reads the record, not the params: a record naming another filter shows in the card
    recorded["judge"] = "LLM judge (answerable)"
    (tmp_path / "curate_summary.json").write_text(json.dumps({"filters": recorded}), encoding="utf-8")
    split.run(split_params(), tmp_path, tmp_path)
    assert ", LLM judge (answerable).\n" in (tmp_path / "dataset" / "README.md").read_text(encoding="utf-8")


def test_a_card_without_curate_summary_says_the_filters_are_not_recorded(tmp_path, caplog):
    card_after_curate_and_split(tmp_path)
    (tmp_path / "curate_summary.json").unlink()
    split.run(split_params(), tmp_path, tmp_path)
    card = (tmp_path / "dataset" / "README.md").read_text(encoding="utf-8")
    assert "- Curate filters: not recorded (no `filters` in curate_summary.json).\n" in card
    assert "curate_summary.json is missing" in caplog.text


def test_a_disabled_entry_is_not_applied(monkeypatch):
    monkeypatch.setattr(steps, "FILTERS", (*FILTERS, replace(EXTRA, enabled=lambda p: False)))
    questions = [question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?")]
    pairs, _rejects, summary = run_curate(CHUNKS_FR, questions)
    assert pairs.height == 1 and "lessor" not in summary.extra["filters"]
