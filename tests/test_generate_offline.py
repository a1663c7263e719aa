"""The offline backend's styles (titles, keywords, citations, ict) mixed by weights, and the stage with them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from lexqa import generate
from lexqa.config import OFFLINE_STYLES, GenerateParams, ParamsError, load_params, parse_params
from lexqa.generate.citations import masked, references
from lexqa.generate.keywords import KeywordIndex
from lexqa.generate.offline import OfflineGenerator
from lexqa.generate.titles import section_title, titles
from lexqa.tables import CHUNKS, DOCUMENTS, QUESTIONS, frame, read_table, write_table

ROOT = Path(__file__).resolve().parents[1]

ARTICLES = {
    "L1": (
        ["Partie législative", "Livre Ier : Contrat de travail", "Chapitre II : Démission"],
        "Le salarié qui démissionne respecte un préavis. La durée du préavis est fixée par la convention.",
    ),
    "L2": (
        ["Partie législative", "Livre Ier : Contrat de travail", "Chapitre III : Congés payés"],
        "Le salarié a droit à un congé payé de deux jours et demi ouvrables par mois de travail effectif.",
    ),
    "L3": (
        ["Partie législative", "Livre Ier : Contrat de travail", "Chapitre III : Congés payés"],
        "L'indemnité de congé est égale au dixième de la rémunération. Le salarié qui démissionne perçoit "
        "l'indemnité compensatrice prévue à l'article L. 2 du présent code, selon les règles habituelles.",
    ),
    "L4": (
        ["Partie législative", "Livre Ier"],
        "Les dispositions de l'article 6 de la loi n° 2016-1691 s'appliquent aux lanceurs d'alerte salariés.",
    ),
}


def corpus(articles: dict[str, tuple[list[str], str]] = ARTICLES) -> tuple[pl.DataFrame, pl.DataFrame]:
    docs, chunks = [], []
    for number, (path, text) in articles.items():
        doc_id = f"ct:{number}"
        docs.append(
            {"doc_id": doc_id, "source": "ct", "kind": "legifrance_json", "domain": "fr_codes", "lang": "fr"}
            | {"title": "Code du travail", "path": path, "number": number, "text": text, "sha256": "x"}
        )
        chunks.append(
            {"chunk_id": f"{doc_id}#0", "doc_id": doc_id, "ordinal": 0, "text": text, "n_tokens": 40}
            | {"char_start": 0, "char_end": len(text), "heading": "article", "context": f"Code > {number}"}
            | {"lang": "fr", "domain": "fr_codes", "source": "ct"}
        )
    return frame(chunks, CHUNKS), frame(docs, DOCUMENTS)


def offline(**weights: float | str) -> GenerateParams:
    return GenerateParams(
        offline={**dict.fromkeys(OFFLINE_STYLES, 0), **weights}, ict={"min_sentence_chars": 20}
    )


def test_section_titles_lose_their_numbering_and_go_deepest_first():
    assert section_title("Sous-section 2 : Rupture anticipée.") == "Rupture anticipée"
    assert section_title("Chapitre unique.") is None and section_title("Partie législative") is None
    assert section_title("Dispositions générales") == "Dispositions générales"  # a Markdown heading as it is
    path = ["Livre Ier : Contrat de travail", "Chapitre III : Congés payés", "Section 1 : Durée du congé"]
    assert titles(path, 2) == ["Durée du congé", "Congés payés"]
    assert titles(["Titre Ier : Congés", "Chapitre Ier : Congés"], 5) == ["Congés"]


def test_generic_titles_give_way_to_the_title_above_them():
    leave = "Le salarié a droit à un congé."
    articles = {
        "L1": (["Titre Ier : Congés payés", "Chapitre Ier : Ordre public"], leave),
        "L2": (["Titre II : Congé parental", "Chapitre Ier : Ordre public."], leave),
        "L3": (["Titre II : Congé parental", "Chapitre II : Durée"], leave),
        "L4": (["Titre III : Ordre public"], leave),  # nothing above it: no title query
    }
    chunks, docs = corpus(articles)

    def title_queries(**title: int) -> dict[str, str | None]:
        params = GenerateParams(offline={**dict.fromkeys(OFFLINE_STYLES, 0), "title": 1}, title=title)
        rows = OfflineGenerator(chunks, docs, params, seed=0).rows(chunks)
        return {r["chunk_id"].split("#")[0]: r["question"] for r in rows}

    assert title_queries() == {"ct:L1": "Ordre public", "ct:L2": "Ordre public", "ct:L3": "Durée"} | {
        "ct:L4": "Ordre public"
    }
    # "Ordre public" heads sections under three parents (Congés payés, Congé parental, the code's root)
    assert title_queries(generic_parents=3) == {
        "ct:L1": "Congés payés",
        "ct:L2": "Congé parental",
        "ct:L3": "Durée",
        "ct:L4": None,
    }
    assert title_queries(generic_parents=4) == title_queries()
    with pytest.raises(ParamsError, match="generic_parents"):
        parse_params({"model": {"name_or_path": "m"}, "generate": {"title": {"generic_parents": -1}}})


def test_references_skip_other_texts_and_are_masked():
    sentence = "Il perçoit l'indemnité prévue aux articles L. 1234-9 et L. 1234-10 du présent code."
    assert [n for n, _ in references(sentence)] == ["L1234-9", "L1234-10"]
    assert masked(sentence) == "Il perçoit l'indemnité prévue aux articles du présent code."
    assert references("selon l'article L. 311-1 du code de la sécurité sociale") == []
    assert references("les articles 6 et 8 de la même loi") == []


def test_keyword_queries_are_short_distinct_and_seeded():
    chunks, _ = corpus()
    index = KeywordIndex(chunks["text"].to_list(), chunks["lang"].to_list())
    first = index.queries(2, "fr", n=3, min_words=2, max_words=3, rng=random.Random(1))
    assert first == index.queries(2, "fr", n=3, min_words=2, max_words=3, rng=random.Random(1))
    assert len(first) == len(set(first)) == 3
    assert all(2 <= len(q.split()) <= 3 for q in first)
    assert not {w for q in first for w in q.split()} & {"les", "des", "article", "code"}


def test_aspect_queries_set_a_chunk_apart_from_its_siblings():
    chunks, docs = corpus()
    rows = list(OfflineGenerator(chunks, docs, offline(aspect=2), seed=0).rows(chunks))
    queries = {}
    for r in rows:
        queries.setdefault(r["chunk_id"], []).append(r)
    texts = dict(chunks.select("chunk_id", "text").iter_rows())
    for own, other in (("ct:L2#0", "ct:L3#0"), ("ct:L3#0", "ct:L2#0")):  # both under "Congés payés"
        asked = [r["question"] for r in queries[own]]
        assert len(asked) == len(set(asked)) == 2 and all(r["style"] == "aspect" for r in queries[own])
        for question in asked:
            assert question.startswith("Congés payés ")
            aspect = question.removeprefix("Congés payés ").lower()
            assert aspect in texts[own].lower() and aspect not in texts[other].lower()
    # L1 is alone under "Démission", L4 has no title: a failure row each, saying why
    for alone in ("ct:L1#0", "ct:L4#0"):
        (failed,) = queries[alone]
        assert failed["status"] == "failed" and failed["error"].startswith("no_sibling")


def test_styles_mix_by_weight_with_stable_ids():
    chunks, docs = corpus()
    gen = OfflineGenerator(chunks, docs, offline(title=1, keywords=1, citation=1), seed=0)
    rows = list(gen.rows(chunks))
    by_style = {}
    for r in rows:
        by_style.setdefault(r["style"], []).append(r)
    assert {r["question"] for r in by_style["title"]} == {"Démission", "Congés payés"}
    # L4 has no title but keywords; no row fails since every chunk got at least one query
    assert not [r for r in rows if r["status"] == "failed"]
    (citation,) = by_style["citation"]
    assert citation["chunk_id"] == "ct:L2#0"  # the cited article, not the citing one
    assert "L. 2" not in citation["question"] and "indemnité compensatrice" in citation["question"]
    assert all(r["backend"] == "offline" and r["question_id"].startswith(r["chunk_id"]) for r in rows)
    again = list(
        OfflineGenerator(chunks, docs, offline(title=1, keywords=1, citation=1), seed=0).rows(chunks)
    )
    assert [r["question_id"] for r in again] == [r["question_id"] for r in rows]


def test_fractional_weights_are_chances_and_failures_say_why():
    chunks, docs = corpus()
    gen = OfflineGenerator(chunks, docs, offline(title=0.5), seed=3)
    drawn = [gen.count(f"c{i}", "title") for i in range(400)]
    assert set(drawn) == {0, 1} and 150 < sum(drawn) < 250
    only_l4 = chunks.filter(pl.col("doc_id") == "ct:L4")
    rows = list(OfflineGenerator(chunks, docs, offline(title=1, citation=1), seed=0).rows(only_l4))
    assert {(r["question_id"], r["error"].split(":")[0]) for r in rows} == {
        ("ct:L4#0:title:failed", "no_title"),
        ("ct:L4#0:citation:failed", "no_citation"),
    }


def test_draw_one_gives_each_chunk_one_query_by_weight_falling_back_to_a_style_that_has_one():
    chunks, docs = corpus()
    gen = OfflineGenerator(chunks, docs, offline(title=3, keywords=1, draw="one"), seed=0)
    firsts = [gen.order(f"c{i}")[0] for i in range(400)]
    assert 250 < firsts.count("title") < 350  # a chance of 3 in 4
    assert sorted(gen.order("c0")) == ["keywords", "title"] and gen.order("c0") == gen.order("c0")
    rows = list(gen.rows(chunks))
    assert sorted(r["chunk_id"] for r in rows) == sorted(chunks["chunk_id"])  # one each, none failed
    assert {r["style"] for r in rows if r["chunk_id"] == "ct:L4#0"} == {"keywords"}  # L4 has no title
    assert gen.not_drawn == 0
    only_l4 = chunks.filter(pl.col("doc_id") == "ct:L4")
    failed = list(
        OfflineGenerator(chunks, docs, offline(title=1, citation=1, draw="one"), seed=0).rows(only_l4)
    )
    assert {r["question_id"] for r in failed} == {"ct:L4#0:title:failed", "ct:L4#0:citation:failed"}


def test_backend_ict_is_renamed_with_a_clear_message():
    raw = {
        "model": {"name_or_path": "m"},
        "sources": [{"name": "s", "kind": "text", "path": "x", "lang": "fr", "domain": "d"}],
        "generate": {"backend": "ict"},
    }
    with pytest.raises(ParamsError, match="'ict' is now the backend 'offline'"):
        parse_params(raw)
    raw["generate"] = {"backend": "offline", "offline": dict.fromkeys(OFFLINE_STYLES, 0)}
    with pytest.raises(ParamsError, match="needs at least one style"):
        parse_params(raw)


def test_stage_mixes_styles_and_counts_them(tmp_path):
    chunks, docs = corpus()
    write_table(chunks, tmp_path / "chunks.parquet", CHUNKS)
    write_table(docs, tmp_path / "documents.parquet", DOCUMENTS)
    params = load_params(ROOT / "params.yaml")
    generate_params = params.generate.model_copy(
        update={
            "offline": params.generate.offline.model_copy(
                update={"ict": 1, "title": 1, "keywords": 0, "citation": 1}
            )
        }
    )
    params = params.model_copy(update={"generate": generate_params})
    summary = generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path)
    questions = read_table(tmp_path / "questions.parquet", QUESTIONS)
    styles = summary.extra["questions_by_style"]
    assert set(styles) == {"ict", "title", "citation"} and sum(styles.values()) == summary.rows_out
    assert summary.extra["offline"]["styles per chunk"] == {"ict": 1, "title": 1, "citation": 1}
    assert summary.extra["offline"]["draw"] == "each"
    assert questions["question_id"].is_unique().all()
    saved = json.loads((tmp_path / "generate_summary.json").read_text(encoding="utf-8"))
    assert saved["questions_by_style"] == styles


@pytest.mark.parametrize("limit_by", ["spread", "cited"])
def test_a_limit_by_citations_writes_questions_for_the_most_cited_articles_first(tmp_path, limit_by):
    cites_l1 = "Les salariés mentionnés à l'article L. 1 du présent code sont informés de leurs droits."
    chunks, docs = corpus({**ARTICLES, "L4": (["Partie législative"], cites_l1)})
    write_table(chunks, tmp_path / "chunks.parquet", CHUNKS)
    write_table(docs, tmp_path / "documents.parquet", DOCUMENTS)
    params = load_params(ROOT / "params.yaml")
    only_ict = params.generate.offline.model_copy(update={"ict": 1, "title": 0, "keywords": 0, "citation": 0})
    update = {"offline": only_ict, "limit": 2, "limit_by": limit_by}
    params = params.model_copy(update={"generate": params.generate.model_copy(update=update)})
    summary = generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path)
    chosen = set(read_table(tmp_path / "questions.parquet", QUESTIONS)["chunk_id"])
    # L3 cites L2 and L4 cites L1; by hash alone the limit keeps L2 and L4
    assert chosen == ({"ct:L1#0", "ct:L2#0"} if limit_by == "cited" else {"ct:L2#0", "ct:L4#0"})
    if limit_by == "cited":
        assert summary.extra["limit_by_cited"] == {"cited_documents": 2, "chunks_of_cited_documents": 2}
    else:
        assert "limit_by_cited" not in summary.extra
