"""``benchmarks/quality.py --cited RUN``: how often a run's corpus cites the articles its benchmark judges
relevant, against all of its articles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from test_generate_offline import corpus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality  # noqa: E402

from lexqa.tables import CHUNKS, DOCUMENTS, write_table  # noqa: E402

CITING = {
    "L1": (["Code"], "Le préavis de démission est fixé par la convention collective."),
    "L2": (["Code"], "Le congé payé est de deux jours et demi ouvrables par mois."),
    "L3": (["Code"], "L'indemnité de l'article L. 2 est due ; celle de l'article L. 1 aussi."),
    "L4": (["Code"], "Le salarié mentionné à l'article L. 2 du présent code est informé."),
}


def _run(folder: Path, judged: list[str]) -> Path:
    """A kept run's folder: params naming a benchmark, its tables, and the benchmark judging ``judged``."""
    bench = folder / "bench"
    (bench / "qrels").mkdir(parents=True)
    (bench / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": n, "text": t}) + "\n" for n, (_, t) in CITING.items()), encoding="utf-8"
    )
    (bench / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "congés"}) + "\n", encoding="utf-8")
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"q\t{n}\t1\n" for n in judged)
    (bench / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["evaluate"]["benchmarks"] = [{"name": "bench", "path": str(bench)}]
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    chunks, documents = corpus(CITING)
    write_table(chunks, folder / "data/processed/chunks.parquet", CHUNKS)
    write_table(documents, folder / "data/processed/documents.parquet", DOCUMENTS)
    return folder


def test_cited_prints_the_judged_articles_share_beside_all_articles(tmp_path, capsys):
    quality.print_cited(_run(tmp_path, ["L2", "L3"]))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "how often the corpus cites bench's 2 judged articles and all its 4"
    # L2 is cited by L3 and L4, L1 by L3: judged L2 and L3 are half cited once, half twice; of all 4, 2 and 1
    assert lines[2].split()[-2:] == ["50.0%", "50.0%"]
    assert lines[3].split()[-2:] == ["50.0%", "25.0%"]
    assert lines[4].split()[-2:] == ["0.0%", "0.0%"]


def test_cited_needs_the_runs_tables(tmp_path):
    with pytest.raises(SystemExit, match="runs keep their tables with --keep"):
        quality.print_cited(tmp_path)
