"""The Markdown reader: heading and plain-line codes, ids, text rules, rejects, real legalize-fr files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lexqa.config import MarkdownSource
from lexqa.ingest.markdown import read, read_file
from lexqa.ingest.records import Doc, Reject

FRONT = """---
title: "Code d'essai"
identifier: "ESSAI-1"
last_updated: "2025-02-03"
source: "https://example.org/essai"
status: "in_force"
---
"""


def parse(tmp_path: Path, text: str, name: str = "code.md") -> list[Doc | Reject]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return list(read_file(path))


def docs_of(items: list[Doc | Reject]) -> dict[str, Doc]:
    return {d.native_id: d for d in items if isinstance(d, Doc)}


def rejects_of(items: list[Doc | Reject]) -> list[Reject]:
    return [r for r in items if isinstance(r, Reject)]


def test_heading_style_fields_and_path(tmp_path):
    text = FRONT + (
        "# Code d'essai\n\n## Partie législative\n\n### Livre Ier : Généralités\n\n"
        "#### Titre Ier : Objet\n\n#### Chapitre Ier : Champ\n\n##### Article L1\n\n"
        "Premier alinéa.\n\n\n   Second alinéa.\n\n#### Chapitre II : Suite\n\n"
        "##### Article L2\n\nTexte deux.\n"
        "\n### Livre II : Autre\n\n##### Article L3\n\nTexte trois.\n"
    )
    docs = docs_of(parse(tmp_path, text))
    assert list(docs) == ["ESSAI-1:L1", "ESSAI-1:L2", "ESSAI-1:L3"]
    l1 = docs["ESSAI-1:L1"]
    assert l1.title == "Code d'essai"
    assert l1.number == "L1"
    assert l1.date == "2025-02-03"
    assert l1.url == "https://example.org/essai"
    assert l1.path == [
        "Partie législative",
        "Livre Ier : Généralités",
        "Titre Ier : Objet",
        "Chapitre Ier : Champ",
    ]
    assert l1.text == "Premier alinéa.\n\nSecond alinéa."
    assert l1.meta["status"] == "in_force" and l1.meta["file_id"] == "ESSAI-1"
    assert l1.meta["line"] == 18  # line of "##### Article L1" in the file, front matter included
    # Chapitre II replaces Chapitre Ier under the same Titre; Livre II drops everything below Livre Ier.
    assert docs["ESSAI-1:L2"].path[-2:] == ["Titre Ier : Objet", "Chapitre II : Suite"]
    assert docs["ESSAI-1:L3"].path == ["Partie législative", "Livre II : Autre"]


def test_same_level_headings_nest_by_rank_and_unnamed_headings(tmp_path):
    text = (
        "# Code\n\n#### Chapitre II : Régime\n\n#### Première partie : Légale\n\n#### Section 1 : Actif\n\n"
        "##### Article 1\n\nUn.\n\n#### Deuxième partie : Conventionnelle\n\n##### Article 2\n\nDeux.\n\n"
        "#### Dispositions communes\n\n##### Article 3\n\nTrois.\n\n#### Chapitre III : Séparation\n\n"
        "##### Article 4\n\nQuatre.\n\n### Annexes\n\n##### Article 5\n\nCinq.\n"
    )
    docs = docs_of(parse(tmp_path, text))
    assert docs["code:1"].path == ["Chapitre II : Régime", "Première partie : Légale", "Section 1 : Actif"]
    assert docs["code:2"].path == ["Chapitre II : Régime", "Deuxième partie : Conventionnelle"]
    assert docs["code:3"].path == ["Chapitre II : Régime", "Dispositions communes"]
    assert docs["code:4"].path == ["Chapitre III : Séparation"]
    assert docs["code:5"].path == ["Annexes"]


def test_without_front_matter_the_file_stem_and_heading_are_used(tmp_path):
    docs = docs_of(parse(tmp_path, "# Mon code\n\n##### Article 1er\n\nTexte.\n", name="MONCODE.md"))
    doc = docs["MONCODE:1er"]
    assert doc.title == "Mon code" and doc.date is None and doc.url is None and doc.path == []


def test_plain_line_variant(tmp_path):
    text = (
        "# Code plat\n\nChapitre I : Monnaies\n\nSection I : Fabrication\n\nArticle 7\n\nSept, alinéa un.\n\n"
        "Sept, alinéa deux.\n\nParagraphe II : Frappe.\n\nArticle 9\n\nNeuf.\n\nChapitre IV : Fin.\n\n"
        "Article 39\n\n"
        "La section I du chapitre II est abrogée.\n"
    )
    docs = docs_of(parse(tmp_path, text, name="PLAT.md"))
    assert list(docs) == ["PLAT:7", "PLAT:9", "PLAT:39"]
    assert docs["PLAT:7"].path == ["Chapitre I : Monnaies", "Section I : Fabrication"]
    assert docs["PLAT:7"].text == "Sept, alinéa un.\n\nSept, alinéa deux."
    assert docs["PLAT:9"].path == [
        "Chapitre I : Monnaies",
        "Section I : Fabrication",
        "Paragraphe II : Frappe.",
    ]
    assert docs["PLAT:39"].path == ["Chapitre IV : Fin."]
    # A sentence that merely starts like a heading stays text.
    assert docs["PLAT:39"].text == "La section I du chapitre II est abrogée."


def test_repeated_numbers_get_a_stable_suffix_and_a_note(tmp_path):
    text = "# C\n\n##### Article 5\n\nAncienne version.\n\n##### Article 6\n\nSix.\n\n"
    text += "##### Article 5\n\nNouvelle.\n"
    items = parse(tmp_path, text)
    docs = docs_of(items)
    assert list(docs) == ["code:5", "code:6", "code:5~2"]
    assert docs["code:5"].text == "Ancienne version." and docs["code:5~2"].text == "Nouvelle."
    assert docs["code:5"].meta["occurrence"] == 1 and docs["code:5~2"].meta["occurrence"] == 2
    assert docs["code:5~2"].meta["occurrences"] == 2
    assert "occurrence" not in docs["code:6"].meta
    assert [d.native_id for d in docs_of(parse(tmp_path, text)).values()] == list(docs)  # stable across runs


def test_inline_markup_is_reduced_and_footnote_marks_kept(tmp_path):
    text = (
        "# C\n\n##### **Article 2**\n\nUn *jardin* est **partagé** selon l'[article 5](https://ex.org/a5) et "
        "`le code` ; \\*littéral\\*.\n\nJe/nous (*) vous notifie/notifions (*) la rétractation.\n\n"
        "(**) Mention facultative.\n\nsnake_case_name reste tel quel.\n"
    )
    doc = docs_of(parse(tmp_path, text))["code:2"]
    paras = doc.text.split("\n\n")
    assert paras[0] == "Un jardin est partagé selon l'article 5 et le code ; *littéral*."
    assert paras[1] == "Je/nous (*) vous notifie/notifions (*) la rétractation."
    assert paras[2] == "(**) Mention facultative."
    assert paras[3] == "snake_case_name reste tel quel."


def test_lines_are_alineas_unless_soft_wrapped(tmp_path):
    text = (
        "# C\n\n##### Article 1\n\nLe contrat est exclu lorsque :  \n"
        "a) Il a consenti ; et\nb) Il a renoncé.\n1° Premier point ;\n2° Second point.\n"
        "Une phrase coupée sans\nponctuation continue.\nTexte   avec  espaces   multiples.\n"
    )
    doc = docs_of(parse(tmp_path, text))["code:1"]
    assert doc.text.split("\n\n") == [
        "Le contrat est exclu lorsque :",
        "a) Il a consenti ; et",
        "b) Il a renoncé.",
        "1° Premier point ;",
        "2° Second point.",
        "Une phrase coupée sans ponctuation continue.",
        "Texte avec espaces multiples.",
    ]
    assert not any(line != line.strip() for line in doc.text.split("\n"))


def test_pipe_tables_become_rows_of_cells(tmp_path):
    text = "# C\n\n##### Article 1\n\nBarème :\n\n| Surface | Prix |\n| --- | ---: |\n| petite | **15** € |\n"
    doc = docs_of(parse(tmp_path, text))["code:1"]
    assert doc.text == "Barème :\n\nSurface | Prix\npetite | 15 €"


def test_article_heading_with_a_title_after_the_number(tmp_path):
    doc = docs_of(parse(tmp_path, "# C\n\n## Article 12 - Durée du bail\n\nTrois ans.\n"))["code:12"]
    assert doc.number == "12" and doc.meta["heading"] == "Durée du bail"


def test_article_without_number_is_rejected_alone(tmp_path):
    items = parse(tmp_path, "# C\n\n##### Article\n\nOrphelin.\n\n##### Article 2\n\nDeux.\n")
    (rej,) = rejects_of(items)
    assert rej.reason == "no_article_number" and "line 3" in rej.detail and rej.origin.endswith("code.md")
    assert list(docs_of(items)) == ["code:2"]
    assert "Orphelin" not in docs_of(items)["code:2"].text


def test_file_without_articles_is_rejected(tmp_path):
    (rej,) = parse(tmp_path, FRONT + "# Rien\n\n## Titre\n\nDu texte mais aucun article.\n")
    assert isinstance(rej, Reject) and rej.reason == "no_articles"
    (rej,) = parse(tmp_path, "", name="empty.md")
    assert isinstance(rej, Reject) and rej.reason == "no_articles"


@pytest.mark.parametrize(
    "front",
    [
        '---\ntitle: "ouvert\nidentifier: [x\n---\n',  # not YAML
        "---\n- a\n- b\n---\n",  # not a mapping
        '---\ntitle: "jamais fermé"\n# Code\n',  # never closed
    ],
)
def test_bad_front_matter_rejects_the_file(tmp_path, front):
    items = parse(tmp_path, front + "\n##### Article 1\n\nTexte.\n")
    assert [(type(i), i.reason) for i in items] == [(Reject, "bad_front_matter")]


def test_binary_and_legacy_encodings(tmp_path):
    (tmp_path / "bin.md").write_bytes(b"# C\x00\x01\x02\n##### Article 1\n")
    (rej,) = read_file(tmp_path / "bin.md")
    assert isinstance(rej, Reject) and rej.reason == "binary_content"
    text = "# Code\n\n##### Article 1\n\nLe débiteur est tenu de régler l'échéance à la date prévue.\n" * 3
    (tmp_path / "latin.md").write_bytes(text.encode("cp1252"))
    docs = [d for d in read_file(tmp_path / "latin.md") if isinstance(d, Doc)]
    assert docs[0].text.startswith("Le débiteur est tenu")


def test_read_walks_a_directory_and_skips_readme(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "README.md").write_text("# Notes\n\nArticle 1\n", encoding="utf-8")
    (tmp_path / "sub" / "B.md").write_text("# B\n\n##### Article 1\n\nUn.\n", encoding="utf-8")
    (tmp_path / "A.md").write_text("# A\n\n##### Article 1\n\nUn.\n", encoding="utf-8")
    source = MarkdownSource(name="m", kind="markdown", path=tmp_path, lang="fr", domain="x")
    assert [i.native_id for i in read(source)] == ["A:1", "B:1"]


def test_bundled_sample(root):
    source = MarkdownSource(
        name="sample_markdown",
        kind="markdown",
        path=root / "data/raw/sample/markdown",
        lang="fr",
        domain="fr",
    )
    items = list(read(source))
    assert all(isinstance(i, Doc) for i in items)
    docs = docs_of(items)
    assert 6 <= sum(1 for k in docs if k.startswith("EXEMPLE-CODE-JARDINS:")) <= 10
    assert sum(1 for k in docs if k.startswith("EXEMPLE-CODE-FONTAINES:")) == 3
    assert max(len(d.text.split()) for d in docs.values()) >= 350
    assert all("NOT LAW" in d.meta["note"] for d in docs.values())


# --------------------------------------------------------------------------------------------- real files
@pytest.mark.shared_data
def test_real_code_civil(shared_data):
    path = shared_data / "fr_codes_markdown" / "LEGITEXT000006070721.md"
    read_file(path.with_name("LEGITEXT000006070666.md"))  # warm up (imports, regex compilation)
    start = time.perf_counter()
    items = list(read_file(path))
    elapsed = time.perf_counter() - start
    docs = docs_of(items)
    assert not rejects_of(items)
    assert len(docs) == 2917  # every '##### Article' heading, repeated numbers included
    assert elapsed < 1.0, f"{elapsed:.2f} s for the Code civil"
    art9 = docs["LEGITEXT000006070721:9"]
    assert art9.title == "Code civil" and art9.date == "2026-04-03"
    assert art9.path == ["Livre Ier : Des personnes", "Titre Ier : Des droits civils"]
    assert art9.text.startswith("Chacun a droit au respect de sa vie privée.")
    assert art9.url == "https://www.legifrance.gouv.fr/codes/texte_lc/LEGITEXT000006070721"
    repeated = [d for d in docs.values() if "occurrence" in d.meta]
    assert len(repeated) == 64  # 32 numbers appear twice in legalize-fr's Code civil
    for d in repeated:
        k = d.meta["occurrence"]
        assert d.native_id == f"LEGITEXT000006070721:{d.number}" + (f"~{k}" if k > 1 else "")
    assert "LEGITEXT000006070721:2303~2" in docs
    # Titre / Chapitre / Section share '####' in the file: they must still nest.
    art1401 = docs["LEGITEXT000006070721:1401"]
    assert art1401.path[-4:] == [
        "Chapitre II : Du régime en communauté",
        "Première partie : De la communauté légale",
        "Section 1 : De ce qui compose la communauté activement et passivement",
        "Paragraphe 1 : De l'actif de la communauté",
    ]
    assert all(d.text and "\n\n\n" not in d.text and not d.text.startswith(" ") for d in docs.values())


@pytest.mark.shared_data
def test_real_plain_line_code(shared_data):
    items = list(read_file(shared_data / "fr_codes_markdown" / "LEGITEXT000006070666.md"))
    docs = docs_of(items)
    assert [d.number for d in docs.values()] == ["7", "9", "10", "11", "12", "13", "39"]
    assert docs["LEGITEXT000006070666:9"].path == [
        "Chapitre I : Monnaies et médailles",
        "Section I : Fabrication des monnaies et médailles",
        "Paragraphe II : Frappe des médailles.",
    ]
    assert docs["LEGITEXT000006070666:39"].path == ["Chapitre IV : Dispositions communes."]
    assert docs["LEGITEXT000006070666:39"].text.count("\n\n") == 22  # one paragraph per repealed text
    assert docs["LEGITEXT000006070666:7"].title == "Code des instruments monétaires et des médailles"


@pytest.mark.shared_data
def test_real_codes_have_unique_ids_and_no_rejects(shared_data):
    expected = {"LEGITEXT000006069565": 2355, "LEGITEXT000006070719": 1325, "LEGITEXT000006071194": 115}
    for stem, count in expected.items():
        items = list(read_file(shared_data / "fr_codes_markdown" / f"{stem}.md"))
        ids = [d.native_id for d in items if isinstance(d, Doc)]
        assert len(ids) == count and len(set(ids)) == count and not rejects_of(items)
    conso = docs_of(list(read_file(shared_data / "fr_codes_markdown" / "LEGITEXT000006069565.md")))
    # legalize-fr keeps two versions of L111-4: both are kept, told apart by the suffix.
    assert conso["LEGITEXT000006069565:L111-4"].text != conso["LEGITEXT000006069565:L111-4~2"].text
    assert "(*)" in conso["LEGITEXT000006069565:Annexe à l'article R221-1"].text
