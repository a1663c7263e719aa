"""Légifrance API JSON reader: in-force articles of the real CRPA code, as_of, bundled sample, bad input."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from lexqa.config import LegifranceJsonSource
from lexqa.ingest.legifrance_json import Doc, Reject, read

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/raw/sample/legifrance_json"
CRPA = "fr_legifrance_api_json/LEGITEXT000031366350.json"
CRPA_TITLE = "Code des relations entre le public et l'administration"


def run(path: Path, **kw) -> tuple[list[Doc], list[Reject]]:
    src = LegifranceJsonSource(
        name="t", kind="legifrance_json", path=path, lang="fr", domain="fr_codes", **kw
    )
    items = list(read(src))
    docs = [i for i in items if isinstance(i, Doc)]
    return docs, [i for i in items if isinstance(i, Reject)]


def by_number(docs: list[Doc]) -> dict[str, Doc]:
    out = {d.number: d for d in docs}
    assert len(out) == len(docs), "one version per article"
    return out


def raw_articles(path: Path) -> list[dict]:
    """Every article of the raw JSON, found independently of the reader: objects with texteHtml and etat."""
    found: list[dict] = []

    def hook(obj: dict) -> dict:
        if "texteHtml" in obj and "etat" in obj:
            found.append(obj)
        return obj

    json.loads(path.read_text("utf-8"), object_hook=hook)
    return found


def write_code(path: Path, articles: list[dict], title: str = "Code d'essai") -> Path:
    children = [{"type": "article", "data": a} for a in articles]
    tree = {"type": "code", "data": {"id": "LEGITEXT000011111111", "title": title}, "children": children}
    path.write_text(json.dumps(tree), encoding="utf-8")
    return path


def article(num: str | None = "L1", etat: str = "VIGUEUR", **extra) -> dict:
    return {
        "id": f"LEGIARTI0000000000{num or 'xx'}"[-20:],
        "num": num,
        "etat": etat,
        "texteHtml": "<p>Texte d'essai de l'article.</p>",
        "dateDebut": 978307200000,  # 2001-01-01
        "dateFin": 32472144000000,  # 2999-01-01
        **extra,
    }


# --------------------------------------------------------------------------------------------- real CRPA code
@pytest.fixture(scope="module")
def crpa(shared_data) -> Path:
    return shared_data / CRPA


def test_crpa_yields_exactly_its_in_force_articles(crpa):
    raw = raw_articles(crpa)
    assert len(raw) == 474
    in_force = {a["id"] for a in raw if a["etat"] in ("VIGUEUR", "ABROGE_DIFF")}
    docs, rejects = run(crpa)
    assert {d.native_id for d in docs} == in_force
    assert len(docs) == 474 and rejects == []
    # 473 VIGUEUR + L115-2, ABROGE_DIFF: in force until its deferred abrogation on 2029-01-01.
    assert Counter(d.meta["state"] for d in docs) == {"VIGUEUR": 473, "ABROGE_DIFF": 1}
    assert sorted(d.number for d in docs) == sorted(a["num"] for a in raw)
    assert {d.title for d in docs} == {CRPA_TITLE}
    assert all(d.text and d.path for d in docs)


def test_crpa_numbers_and_section_paths_checked_by_hand(crpa):
    docs = by_number(run(crpa)[0])
    assert docs["L100-1"].path == ["Dispositions préliminaires"]
    assert docs["L100-1"].native_id == "LEGIARTI000031367304"
    assert docs["L100-1"].text == (
        "Le présent code régit les relations entre le public et l'administration en l'absence de "
        "dispositions spéciales applicables.\n\nSauf dispositions contraires du présent code, celui-ci est "
        "applicable aux relations entre l'administration et ses agents."
    )
    assert docs["L211-2"].path == [
        "Livre II : LES ACTES UNILATÉRAUX PRIS PAR L'ADMINISTRATION",
        "Titre Ier : LA MOTIVATION ET LA SIGNATURE DES ACTES ADMINISTRATIFS",
        "Chapitre Ier : Motivation",
        "Section 1 : Champ d'application matériel",
    ]
    assert "2° Infligent une sanction ;" in docs["L211-2"].text.split("\n\n")
    assert docs["L115-2"].path == [
        "Livre Ier : LES ÉCHANGES AVEC L'ADMINISTRATION",
        "Titre Ier : LES DEMANDES DU PUBLIC ET LEUR TRAITEMENT",
        "Chapitre V : Lutte contre la fraude",
    ]
    doc = docs["L100-1"]
    assert doc.date == "2016-01-01"
    assert doc.url == "https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000031367304"
    assert doc.origin == str(Path(doc.origin)) and doc.origin.endswith(CRPA)
    assert doc.meta == {
        "code_id": "LEGITEXT000031366350",
        "state": "VIGUEUR",
        "date_debut": "2016-01-01",
        "date_fin": "2999-01-01",
        "nota": "",
        "versions": 1,
    }
    assert docs["L115-2"].meta["date_fin"] == "2029-01-01" and docs["L115-2"].meta["versions"] == 2


@pytest.mark.parametrize(
    ("as_of", "kept"),
    [("2015-12-31", 0), ("2016-01-01", None), ("2028-12-31", 474), ("2029-01-01", 473)],
)
def test_crpa_as_of_uses_the_validity_dates(crpa, as_of, kept):
    day = dt.date.fromisoformat(as_of)
    ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    expected = {a["id"] for a in raw_articles(crpa) if a["dateDebut"] <= ms < a["dateFin"]}
    docs, rejects = run(crpa, as_of=day)
    assert {d.native_id for d in docs} == expected
    if kept is not None:
        assert len(docs) == kept
    assert {r.reason for r in rejects} <= {"not_valid_at_date"} and len(docs) + len(rejects) == 474
    assert not any(r.warn for r in rejects)


# --------------------------------------------------------------------------------------------- bundled sample
def test_sample_code():
    docs, rejects = run(SAMPLE)
    numbers = by_number(docs)
    assert sorted(numbers) == ["L110-1", "L110-2", "L120-1", "L120-2", "L200-1"]
    assert [(r.reason, r.warn) for r in rejects] == [("not_in_force", False)]
    assert "L110-3" in rejects[0].detail and rejects[0].origin.endswith("LEGITEXT000099999998.json")
    assert numbers["L120-2"].path == ["Livre Ier : Principes", "Titre II : Réutilisation"]
    assert "Données géographiques | Licence ouverte" in numbers["L120-2"].text.split("\n\n")
    assert numbers["L120-1"].meta["nota"].startswith("Les dispositions du présent article entrent en vigueur")
    assert (
        numbers["L110-2"].text.split("\n\n")[0]
        == "La demande de communication est adressée au service qui détient les données."
    )
    assert {d.title for d in docs} == {"Code de l'exemple numérique"}


def test_sample_as_of_keeps_the_abrogated_article_before_its_end():
    docs, rejects = run(SAMPLE, as_of=dt.date(2020, 1, 1))
    assert sorted(by_number(docs)) == ["L110-1", "L110-2", "L110-3", "L120-1", "L200-1"]
    assert [r.reason for r in rejects] == ["not_valid_at_date"] and "L120-2" in rejects[0].detail


# --------------------------------------------------------------------------------------------- bad input
def test_malformed_json_is_rejected_and_other_files_still_read(tmp_path):
    (tmp_path / "a_broken.json").write_text('{"type": "code", "data": {', encoding="utf-8")
    (tmp_path / "b_latin1.json").write_bytes('{"type": "code", "title": "Code pénal"}'.encode("latin-1"))
    write_code(tmp_path / "c_ok.json", [article("L1")])
    docs, rejects = run(tmp_path)
    assert [d.number for d in docs] == ["L1"]
    assert [(Path(r.origin).name, r.reason, r.warn) for r in rejects] == [
        ("a_broken.json", "malformed_json", True),
        ("b_latin1.json", "malformed_json", True),
    ]


def test_json_that_is_not_a_code_is_rejected(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "other.json").write_text('{"type": "section", "data": {}}', encoding="utf-8")
    docs, rejects = run(tmp_path)
    assert docs == [] and [r.reason for r in rejects] == ["not_a_code", "not_a_code"]


def test_article_without_number_or_id(tmp_path):
    no_id = article("L3")
    del no_id["id"]
    write_code(tmp_path / "code.json", [article(None), article("  "), article("L2"), no_id])
    docs, rejects = run(tmp_path)
    assert [d.number for d in docs] == ["L2"]
    assert [(r.reason, r.warn) for r in rejects] == [
        ("no_article_number", True),
        ("no_article_number", True),
        ("malformed_article", True),
    ]


def test_plain_texte_is_used_when_there_is_no_html(tmp_path):
    plain = article("L1", texteHtml=None, texte="Premier alinéa.\n\n  Second   alinéa < troisième.\n")
    write_code(tmp_path / "code.json", [plain, article("L2", texteHtml="", texte="")])
    docs, _ = run(tmp_path)
    assert by_number(docs)["L1"].text == "Premier alinéa.\n\nSecond alinéa < troisième."
    assert by_number(docs)["L2"].text == ""  # left to the ingest stage's "empty" rule


def test_as_of_with_missing_dates(tmp_path):
    write_code(tmp_path / "code.json", [article("L1", dateFin=None), article("L2", dateDebut=None)])
    docs, rejects = run(tmp_path, as_of=dt.date(2020, 1, 1))
    assert [d.number for d in docs] == ["L1"] and docs[0].meta["date_fin"] is None  # open end
    assert [r.reason for r in rejects] == ["not_valid_at_date"]


def test_plain_nota_and_out_of_range_dates_do_not_break_reading(tmp_path):
    odd = article("L1", nota="Note : a < b.\nSeconde ligne.", notaHtml="", dateFin=10**20)
    write_code(tmp_path / "code.json", [odd])
    (doc,), rejects = run(tmp_path)
    assert rejects == []
    assert doc.meta["nota"] == "Note : a < b.\n\nSeconde ligne."
    assert doc.meta["date_fin"] is None and doc.date == "2001-01-01"
