"""The ``ingest`` stage: raw legal sources → ``documents.parquet`` (+ ``ingest_rejects.parquet``).

Each source in params.yaml names a ``kind``; the module of the same name in this package reads it
(``lexqa.ingest.legi_xml``, ``.legifrance_json``, ``.markdown``, ``.sudrf_html``, ``.arbitr_pdf``, ``.text``,
``.tabular``). This module runs the readers, rejects empty documents, duplicates and documents not in their
source's language, and writes both tables atomically. The documents are read, checked and written in parts of
:data:`BATCH_DOCS` documents and :data:`BATCH_CHARS` characters, so the documents' text is never held whole (the
reject rows and the set of document ids are)::

    >>> from lexqa.config import load_params
    >>> from lexqa.ingest import ingest
    >>> docs, rejects, summary = ingest(load_params())    # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from lexqa.config import Params, SourceBase
from lexqa.ingest.records import Doc, Reject
from lexqa.lang import LanguageDetector, identify
from lexqa.summary import StageSummary, progress
from lexqa.tables import DOCUMENTS, REJECTS, TableWriter, frame, write_table

log = logging.getLogger("lexqa.ingest")

Reader = Callable[[SourceBase], Iterator[Doc | Reject]]


def reader_for(kind: str) -> Reader:
    """The ``read`` function of the module named after ``kind``."""
    return importlib.import_module(f"lexqa.ingest.{kind}").read


def _reject_row(source: SourceBase, rej: Reject) -> dict[str, str | None]:
    return {
        "stage": "ingest",
        "source": source.name,
        "origin": rej.origin,
        "reason": rej.reason,
        "detail": rej.detail,
        "duplicate_of": None,
    }


def _doc_row(source: SourceBase, doc: Doc) -> dict[str, object]:
    text = doc.text.strip()
    return {
        "doc_id": f"{source.name}:{doc.native_id}",
        "source": source.name,
        "kind": source.kind,
        "domain": source.domain,
        "lang": None,
        "title": doc.title,
        "path": list(doc.path),
        "number": doc.number,
        "date": doc.date,
        "url": doc.url,
        "origin": doc.origin,
        "text": text,
        "meta": json.dumps(doc.meta, ensure_ascii=False, sort_keys=True, default=str),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    }


BATCH_DOCS = 2_000
"""Documents per part: language detection runs on a part, which becomes a row group of documents.parquet."""
BATCH_CHARS = 8_000_000
"""Characters of text per part, at most (a longer document makes a part of its own): with :data:`BATCH_DOCS`
this bounds what a part holds whatever the documents' sizes, so the stage's peak memory is a fixed amount plus
a small multiple of the largest document (``benchmarks/hostile_inputs.py``)."""


def documents(
    params: Params, summary: StageSummary, rejects: list[dict[str, str | None]]
) -> Iterator[pl.DataFrame]:
    """Read every source; yield the kept documents in parts of at most :data:`BATCH_DOCS`, so that no more than
    one part is held in memory. Reject rows are appended to ``rejects``; ``summary`` counts everything."""
    seen: set[str] = set()  # ids only, not origins: memory per document read stays small
    kept_by_source: Counter[str] = Counter()
    detector = LanguageDetector(s.lang for s in params.sources) if params.ingest.detect_language else None
    sources = {s.name: s for s in params.sources}

    def reject(source: SourceBase, rej: Reject) -> None:
        rejects.append(_reject_row(source, rej))
        summary.reject(rej.reason)
        if rej.warn:
            log.warning("%s: %s — %s", rej.origin, rej.reason, rej.detail)

    def part(docs: list[dict[str, object]], wheres: list[str]) -> pl.DataFrame:
        _detect_languages(params, detector, sources, docs, wheres, reject)
        kept = [d for d in docs if d["lang"] is not None]
        summary.rows_out += len(kept)
        kept_by_source.update(str(d["source"]) for d in kept)
        return frame(kept, DOCUMENTS)

    batch: list[dict[str, object]] = []
    wheres: list[str] = []  # how the rejects name each document of the batch
    batch_chars = 0
    for source in params.sources:
        read = reader_for(source.kind)
        for item in progress(read(source), desc=f"ingest {source.name}", unit="doc"):
            summary.rows_in += 1
            if isinstance(item, Reject):
                reject(source, item)
                continue
            row = _doc_row(source, item)
            doc_id, chars = str(row["doc_id"]), len(str(row["text"]))
            where = named(doc_id, item)
            if chars < params.ingest.min_chars:
                reject(source, Reject(item.origin, "empty", f"{where}: {chars} characters of text"))
                continue
            if doc_id in seen:
                detail = (
                    f"{where}: this id was read earlier in this run (the first copy's row gives its origin)"
                )
                rej = Reject(item.origin, "duplicate_doc_id", detail)
                reject(source, rej)
                rejects[-1]["duplicate_of"] = doc_id
                continue
            seen.add(doc_id)
            if batch and batch_chars + chars > BATCH_CHARS:
                yield part(batch, wheres)
                batch, wheres, batch_chars = [], [], 0
            batch.append(row)
            wheres.append(where)
            batch_chars += chars
            if len(batch) >= BATCH_DOCS:
                yield part(batch, wheres)
                batch, wheres, batch_chars = [], [], 0
    if batch:
        yield part(batch, wheres)
    summary.extra["documents_by_source"] = {s.name: kept_by_source[s.name] for s in params.sources}


def ingest(params: Params) -> tuple[pl.DataFrame, pl.DataFrame, StageSummary]:
    """Read every source; return (documents, rejects, summary) in memory, without writing anything."""
    summary = StageSummary("ingest")
    rejects: list[dict[str, str | None]] = []
    parts = list(documents(params, summary, rejects))
    docs = pl.concat(parts) if parts else frame([], DOCUMENTS)
    return docs, frame(rejects, REJECTS), summary


def named(doc_id: str, doc: Doc) -> str:
    """How a reject names a document: its id, and where it lies in a file that holds many (``row 3``,
    ``Article 12, line 40``), so a reject from a JSONL file or a Markdown code points at the row or article."""
    return f"{doc_id} ({doc.where})" if doc.where else doc_id


def _detect_languages(
    params: Params,
    detector: LanguageDetector | None,
    sources: dict[str, SourceBase],
    docs: list[dict[str, object]],
    wheres: list[str],
    reject: Callable,
) -> None:
    """Set ``lang`` on each document, or leave it None after rejecting a document not in its source's language."""
    if detector is None:
        for d in docs:
            d["lang"] = sources[str(d["source"])].lang
        return
    results = detector.detect_many([str(d["text"]) for d in docs])
    for d, where, (lang, conf) in zip(docs, wheres, results, strict=True):
        source = sources[str(d["source"])]
        if lang == source.lang and conf >= params.ingest.min_confidence:
            d["lang"] = lang
            continue
        found = _language_found(str(d["text"]), (lang, conf), source.lang, detector, params)
        detail = f"{found}, source {source.name} declares {source.lang}"
        reject(source, Reject(str(d["origin"]), "wrong_language", f"{where}: {detail}"))


def _language_found(
    text: str, found: tuple[str | None, float], declared: str, detector: LanguageDetector, params: Params
) -> str:
    """What a ``wrong_language`` reject says was found. The run's detector chooses only among the languages in
    play (German among French and English reads as English), so another language is named among all of
    lingua's (:func:`lexqa.lang.identify`); when that names the declared language, the run's verdict is given."""
    lang, conf = found
    if lang == declared:
        minimum = params.ingest.min_confidence
        return f"detected {lang} with confidence {conf:.2f}, below ingest.min_confidence {minimum}"
    named, named_conf = identify(text)
    if named is not None and named != declared:
        return f"detected {named} ({named_conf:.2f})"
    codes = ", ".join(detector.codes)
    return f"detected {lang} ({conf:.2f}) among {codes}" if lang else f"in none of {codes}"


def run(params: Params, out_dir: str | Path = "data/processed") -> StageSummary:
    """Run the stage: write documents.parquet, ingest_rejects.parquet and ingest_summary.json in ``out_dir``."""
    out = Path(out_dir)
    summary = StageSummary("ingest")
    rejects: list[dict[str, str | None]] = []
    with TableWriter(out / "documents.parquet", DOCUMENTS) as writer:
        for part in documents(params, summary, rejects):
            writer.write(part)
    write_table(frame(rejects, REJECTS), out / "ingest_rejects.parquet", REJECTS)
    summary.finish(out / "ingest_summary.json")
    return summary
