"""Write ``corpus.jsonl`` of the sample benchmark: the bundled sample's documents as the ingest stage reads them.

One passage per article of the French codes and per answer of the FAQ; one passage per part of each Russian ruling
(вводная, описательная, мотивировочная, резолютивная часть: ``intro``, ``claims``, ``reasoning``, ``operative``),
cut at the paragraphs listed in :data:`RULING_PARTS`. The text is the documents' text, unchanged; ``doc_id`` is the
document's id in ``documents.parquet``. The queries and qrels beside it are written by hand (README.md). Run from the
project root after changing the sample (it ingests in memory with ``params.yaml``'s sources and ``ingest``
settings, writing nothing else)::

    .venv/bin/python data/raw/sample/questions/make_corpus.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.jsonl"

CODES = {  # document id prefix → passage id prefix (the code's short name)
    "sample_legi:": "exemple",
    "sample_legifrance:": "numerique",
    "sample_markdown:EXEMPLE-CODE-FONTAINES:": "fontaines",
    "sample_markdown:EXEMPLE-CODE-JARDINS:": "jardins",
    "sample_tabular:faq-": "faq",
}

PART_NAMES = {
    "intro": "вводная часть",
    "claims": "описательная часть",
    "reasoning": "мотивировочная часть",
    "operative": "резолютивная часть",
}

RULING_PARTS = {  # case number → the paragraphs that open its claims, reasoning and operative parts
    "2-1187/2024": ("УСТАНОВИЛ:", "Выслушав стороны", "РЕШИЛ:"),
    "33-2041/2024": ("У С Т А Н О В И Л А :", "Проверив материалы дела", "О П Р Е Д Е Л И Л А:"),
    "А00-1234/2023": ("УСТАНОВИЛ:", "Как следует из материалов дела", "РЕШИЛ:"),
    "А00-5678/2023": ("Суд установил:", "В силу части 2 статьи 49", "определил:"),
    "2-845/2024": ("У С Т А Н О В И Л :", "Согласно пункту 1 статьи 18", "Р Е Ш И Л :"),
    "5-312/2024": ("УСТАНОВИЛ:", "Статья 19.7 Кодекса", "ПОСТАНОВИЛ:"),
}


def _code_passage(doc: dict[str, Any]) -> dict[str, Any]:
    prefix = next((p for p in CODES if doc["doc_id"].startswith(p)), None)
    if prefix is None:
        raise ValueError(f"{doc['doc_id']}: a new document of the sample; give its code a name in CODES")
    number = doc["number"] or doc["doc_id"].removeprefix(prefix)
    title = doc["title"] if CODES[prefix] == "faq" else f"{doc['title']}, article {number}"
    return {"_id": f"{CODES[prefix]}:{number}", "title": title, "text": doc["text"], "doc_id": doc["doc_id"]}


def _ruling_passages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    number = doc["number"]
    if number not in RULING_PARTS:
        raise ValueError(f"{doc['doc_id']}: a new ruling of the sample; list its parts in RULING_PARTS")
    paragraphs = doc["text"].split("\n\n")
    starts = [0]
    for opening in RULING_PARTS[number]:
        found = [i for i, p in enumerate(paragraphs) if p.startswith(opening)]
        if len(found) != 1 or found[0] <= starts[-1]:
            raise ValueError(
                f"{doc['doc_id']}: {opening!r} opens {len(found)} paragraphs, expected one, in order"
            )
        starts.append(found[0])
    bounds = zip(starts, [*starts[1:], len(paragraphs)], strict=True)
    key = number.replace("А", "A")  # the arbitration courts' Cyrillic А, typed as a Latin A in passage ids
    return [
        {
            "_id": f"{key}:{part}",
            "title": f"{doc['title']}, дело № {number}, {PART_NAMES[part]}",
            "text": "\n\n".join(paragraphs[start:end]),
            "doc_id": doc["doc_id"],
        }
        for part, (start, end) in zip(PART_NAMES, bounds, strict=True)
    ]


def passages(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The benchmark's passages (``_id``, ``title``, ``text``, ``doc_id``) of documents.parquet rows, in order."""
    out: list[dict[str, Any]] = []
    for doc in documents:
        out += _ruling_passages(doc) if doc["domain"] == "ru_rulings" else [_code_passage(doc)]
    return out


def corpus_lines(documents: list[dict[str, Any]]) -> str:
    """``corpus.jsonl``'s content."""
    return "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in passages(documents))


def sample_documents(params_file: str | Path = "params.yaml") -> list[dict[str, Any]]:
    """The documents of ``params_file``'s sources and ingest settings, read in memory (nothing is written)."""
    import yaml

    from lexqa.config import parse_params
    from lexqa.ingest import ingest

    raw = yaml.safe_load(Path(params_file).read_text(encoding="utf-8"))
    wanted = {key: raw[key] for key in ("model", "sources", "ingest")}  # what ingest reads, nothing else
    documents, _, _ = ingest(parse_params(wanted))
    return documents.to_dicts()


def main() -> int:
    documents = sample_documents()
    CORPUS.write_text(corpus_lines(documents), encoding="utf-8")
    print(f"{CORPUS}: {len(passages(documents))} passages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
