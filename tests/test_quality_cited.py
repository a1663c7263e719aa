"""``benchmarks/quality.py --cited RUN``: how often a run's corpus cites the articles its benchmark judges
relevant, against all of its articles; ``--prior RUN``: its models with the citations as a ranking prior."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from test_generate_offline import corpus
from tiny_model import build_tiny_model

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


def _run(folder: Path, judged: list[str], model: Path | None = None, query: str | None = None) -> Path:
    """A kept run's folder: params naming a benchmark, its tables, and the benchmark judging ``judged`` for two
    queries (each ``query`` if given); with ``model``, that model as both its base and its fine-tuned model."""
    bench = folder / "bench"
    (bench / "qrels").mkdir(parents=True)
    (bench / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": n, "text": t}) + "\n" for n, (_, t) in CITING.items()), encoding="utf-8"
    )
    queries = {"q": query or "congés", "r": query or "préavis"}  # two requests: intervals resample requests
    (bench / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()), encoding="utf-8"
    )
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{n}\t1\n" for q in queries for n in judged)
    (bench / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["evaluate"]["benchmarks"] = [{"name": "bench", "path": str(bench)}]
    if model is not None:
        params["model"] = {"name_or_path": str(model), "query_prompt": "", "passage_prompt": ""}
        shutil.copytree(model, folder / "models/lexqa")
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


def test_prior_ranks_the_most_cited_articles_first_at_a_large_weight(tmp_path, capsys, monkeypatch):
    """The queries are L4's own text, so any model ranks L4 (never cited) first alone; at a weight of 100 the
    cited L2 (twice) and L1 (once) pass it, whatever the random model's other cosines."""
    model = build_tiny_model(tmp_path / "tiny")
    monkeypatch.setattr(quality, "PRIOR_WEIGHTS", (0.0, 100.0))
    for judged, alone, prior in ((["L4"], "1.000", "0.500"), (["L2"], None, "1.000")):
        folder = _run(tmp_path / judged[0], judged, model, query=CITING["L4"][1])
        quality.print_prior(folder)
        lines = [line.split() for line in capsys.readouterr().out.splitlines()]
        assert lines[1][:2] == ["0", "100"]
        for label, row in zip(("base", "fine-tuned"), lines[2:4], strict=True):
            assert row[0] == label and row[2] == prior and row[4:6] == ["at", "100"]
            assert alone is None or row[1] == alone


def test_prior_needs_the_runs_tables_and_model(tmp_path):
    with pytest.raises(SystemExit, match="runs keep their tables with --keep"):
        quality.print_prior(tmp_path)
    _run(tmp_path, ["L2"])
    with pytest.raises(SystemExit, match="holds no model: runs keep theirs with --keep"):
        quality.print_prior(tmp_path)
