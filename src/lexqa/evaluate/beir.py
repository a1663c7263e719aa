"""Read a BEIR-format retrieval set: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``.

The ``split`` stage writes one (``data/processed/dataset/beir``); external benchmarks come in the same format.
Passages are ``title + " " + text`` (BEIR's convention) sorted by id, so that ties in a ranking fall in
increasing-id order as in sentence-transformers' evaluator. A qrels score above 0 marks a relevant passage
(grades other than 1 add a graded nDCG); queries without a relevant passage are not evaluated, as in that
evaluator.
Malformed lines never stop the evaluation: they become rejects rows (``tables.REJECTS``) with a reason::

    >>> rejects = []
    >>> data = load_beir("data/processed/dataset/beir", "eval", rejects)     # doctest: +SKIP
    >>> len(data.query_ids), len(data.corpus_ids), data.graded               # doctest: +SKIP
    (120, 480, False)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexqa.tables import read_json_objects

log = logging.getLogger("lexqa.evaluate")

QRELS = Path("qrels") / "test.tsv"


@dataclass(frozen=True)
class BeirSet:
    """A loaded retrieval set, ready for ranking and :func:`lexqa.evaluate.metrics.ir_metrics`."""

    name: str
    corpus_ids: list[str]
    """Passage ids in increasing order (the tie order of rankings)."""
    corpus_texts: list[str]
    query_ids: list[str]
    """Queries with at least one relevant passage, in file order."""
    query_texts: list[str]
    judgements: list[dict[str, float]]
    """Per query: passage id → grade (> 0) of all its relevant passages, in the corpus or not."""
    relevance: list[dict[int, float]]
    """Per query: corpus index → grade of its relevant passages present in the corpus."""
    graded: bool
    """Whether any grade differs from 1 (graded nDCG is then reported too)."""
    missing_passages: int
    """Relevant (query, passage) pairs whose passage is not in the corpus: they count, as in the evaluator."""
    unjudged_queries: int
    """Queries without any relevant passage: not evaluated."""


def _reject(rejects: list[dict[str, Any]], name: str, origin: str, reason: str, detail: str) -> None:
    log.warning("%s: %s (%s): %s", name, origin, reason, detail)
    row = {"stage": None, "source": name, "origin": origin, "reason": reason, "detail": detail}
    rejects.append(row | {"duplicate_of": None})


def _read_jsonl(path: Path, name: str, rejects: list[dict[str, Any]], with_title: bool) -> dict[str, str]:
    """id → text of a BEIR JSON-lines file; malformed lines and repeated ids become rejects."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: a BEIR folder needs corpus.jsonl, queries.jsonl, {QRELS}")
    out: dict[str, str] = {}
    for origin, row in read_json_objects(path, lambda *reason: _reject(rejects, name, *reason)):
        if row.get("_id") in (None, "") or not isinstance(row.get("text"), str):
            _reject(rejects, name, origin, "missing_field", "a line needs '_id' and a string 'text'")
            continue
        key = str(row["_id"])
        if key in out:
            _reject(rejects, name, origin, "duplicate_id", f"id {key!r} already seen; first kept")
            continue
        title = row.get("title") if with_title else None
        out[key] = f"{title} {row['text']}" if isinstance(title, str) and title.strip() else row["text"]
    return out


def _read_qrels(path: Path, name: str, rejects: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """query id → {passage id: grade > 0}; a header line ``query-id corpus-id score`` is optional."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: a BEIR folder needs corpus.jsonl, queries.jsonl, {QRELS}")
    qrels: dict[str, dict[str, float]] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.rstrip("\r\n").split("\t")
            header = lineno == 1 and fields[0].strip().lower() in {"query-id", "query_id", "qid"}
            if header or not line.strip():
                continue
            try:
                qid, cid, score = fields[0].strip(), fields[1].strip(), float(fields[2])
            except (IndexError, ValueError):
                detail = f"expected query-id<TAB>corpus-id<TAB>score, got {line.strip()[:80]!r}"
                _reject(rejects, name, f"{path}:{lineno}", "malformed_qrel", detail)
                continue
            if score > 0:  # BEIR: 0 (or less) is a judged non-relevant passage
                qrels.setdefault(qid, {})[cid] = max(score, qrels.get(qid, {}).get(cid, 0.0))
    return qrels


def load_beir(
    folder: str | Path, name: str, rejects: list[dict[str, Any]], stage: str = "evaluate"
) -> BeirSet:
    """Load a BEIR folder; rejects rows (``tables.REJECTS`` columns, from ``stage``) go to ``rejects``."""
    folder = Path(folder)
    found: list[dict[str, Any]] = []
    data = _load(folder, name, found)
    rejects.extend(row | {"stage": stage} for row in found)
    return data


def _load(folder: Path, name: str, rejects: list[dict[str, Any]]) -> BeirSet:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found: the BEIR folder of {name!r} ({QRELS}, two jsonl)")
    corpus = _read_jsonl(folder / "corpus.jsonl", name, rejects, with_title=True)
    queries = _read_jsonl(folder / "queries.jsonl", name, rejects, with_title=False)
    qrels = _read_qrels(folder / QRELS, name, rejects)
    for qid in sorted(set(qrels) - set(queries)):
        _reject(rejects, name, qid, "unknown_query", f"{QRELS} judges a query absent from queries.jsonl")
    corpus_ids = sorted(corpus)
    index = {cid: i for i, cid in enumerate(corpus_ids)}
    judged = [qid for qid in queries if qrels.get(qid)]
    relevance = [{index[c]: g for c, g in qrels[q].items() if c in index} for q in judged]
    missing = sum(len(qrels[q]) for q in judged) - sum(len(r) for r in relevance)
    if missing:
        log.warning("%s: %d relevant passages are not in corpus.jsonl (still counted)", name, missing)
    return BeirSet(
        name=name,
        corpus_ids=corpus_ids,
        corpus_texts=[corpus[c] for c in corpus_ids],
        query_ids=judged,
        query_texts=[queries[q] for q in judged],
        judgements=[qrels[q] for q in judged],
        relevance=relevance,
        graded=any(g != 1.0 for q in judged for g in qrels[q].values()),
        missing_passages=missing,
        unjudged_queries=len(queries) - len(judged),
    )
