"""html_to_text: the text convention (paragraphs, table rows, whitespace, entities) on fragments and data."""

from __future__ import annotations

import json
import re

import pytest
from lxml import etree

from lexqa.ingest.html_text import html_to_text

BIG_TABLE = "fr_legi_xml/legi-php/files_exemples/cas extremes/LEGIARTI000019325262.xml"


def assert_convention(text: str) -> None:
    """Paragraphs separated by exactly one blank line, none empty, no stray whitespace anywhere."""
    assert "\n\n\n" not in text
    paragraphs = text.split("\n\n")
    for p in paragraphs:
        assert p, "empty paragraph"
        assert "\n" not in p, f"lone line break in {p!r}"
        assert p == " ".join(p.split()), f"whitespace not collapsed in {p!r}"


def test_block_elements_become_paragraphs_separated_by_one_blank_line():
    html = "<p>Un</p><div>deux</div><ul><li>trois</li><li>quatre</li></ul><p>cinq<br/>six<br>sept</p>"
    assert html_to_text(html) == "Un\n\ndeux\n\ntrois\n\nquatre\n\ncinq\n\nsix\n\nsept"


def test_leading_text_and_tails_are_paragraphs_of_their_own():
    assert html_to_text("avant<p>dedans</p>après<br/>fin") == "avant\n\ndedans\n\naprès\n\nfin"


def test_whitespace_is_collapsed_inside_a_paragraph_and_empty_paragraphs_dropped():
    html = "<p>  Le\n\t juge&nbsp;&nbsp;statue\u202f:  </p><p> </p><p>&nbsp;</p><br/><br/><p></p><p>fin</p>"
    text = html_to_text(html)
    assert text == "Le juge statue :\n\nfin"
    assert_convention(text)


def test_inline_markup_does_not_split_words_or_paragraphs():
    html = "<p>l'<b>article</b>s <i>L. 121-1</i> et <span>suiv</span>ants<sup>1</sup></p>"
    assert html_to_text(html) == "l'articles L. 121-1 et suivants1"


def test_entities_are_decoded():
    assert html_to_text("<p>a &amp; b &lt; c &eacute;t&#233; &#x2014; d&nbsp;e</p>") == "a & b < c été — d e"


def test_comments_scripts_and_styles_are_dropped_but_their_tails_kept():
    html = "<p>avant<!-- note interne --> après</p><script>alert(1)</script><style>p{}</style><p>suite</p>"
    assert html_to_text(html) == "avant après\n\nsuite"


def test_table_rows_are_single_lines_with_cells_joined_by_pipes():
    html = (
        "<p>Barème :</p><table><caption>Tarifs</caption><thead><tr><th></th><th>Montant</th></tr></thead>"
        "<tbody><tr><td><p>Certificat</p><p>(original)</p></td><td> 15\n€ </td></tr>"
        "<tr><td> </td><td><br/></td></tr>"  # a row with no text is dropped
        "<tr><td>Duplicata</td><td>8</td></tr></tbody></table><p>Fin.</p>"
    )
    text = html_to_text(html)
    assert text == "Barème :\n\nTarifs\n\n| Montant\n\nCertificat (original) | 15 €\n\nDuplicata | 8\n\nFin."
    assert_convention(text)


def test_nested_table_is_flattened_into_its_cell_not_repeated():
    html = "<table><tr><td>A</td><td><table><tr><td>x</td><td>y</td></tr></table></td></tr></table>"
    assert html_to_text(html) == "A | x | y"


def test_parsed_element_and_string_give_the_same_text():
    fragment = "<p>Un<br/>deux &amp; trois</p><table><tr><td>a</td><td>b</td></tr></table>"
    element = etree.fromstring(f"<CONTENU>{fragment}</CONTENU>")
    assert html_to_text(element) == html_to_text(fragment) == "Un\n\ndeux & trois\n\na | b"


@pytest.mark.parametrize("empty", [None, "", "   \n ", "<p> </p><br/>", "<!-- rien -->"])
def test_no_text_gives_an_empty_string(empty):
    assert html_to_text(empty) == ""


def test_unresolved_entity_reference_is_dropped_not_expanded():
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    doc = b'<!DOCTYPE C [<!ENTITY e "EXPANDED">]><C><p>a &e; b</p></C>'
    assert html_to_text(etree.fromstring(doc, parser)) == "a b"


def test_big_table_article_has_readable_rows_and_loses_no_text(shared_data):
    root = etree.parse(str(shared_data / BIG_TABLE)).getroot()
    contenu = root.find("BLOC_TEXTUEL/CONTENU")
    text = html_to_text(contenu)
    assert_convention(text)
    rows = [p for p in text.split("\n\n") if " | " in p]
    assert len(rows) == 34  # 8 + 14 + 12 rows in the three tables; none dropped, none split
    assert "| 20 à 39 dB | 40 à 49 dB | 50 à 59 dB | 60 à 69 dB | 70 à 79 dB | 80 dB et au-dessus" in rows
    assert "Moins de 20 dB | 0 | 5 | 10 | 15 | 20 | 20" in rows
    assert "cécité totale | 25 | 26 | 28 | 30 | 35 | 50 | 60 | 70 | 82 | 84 | 88 | 92 | 95" in rows
    assert text.startswith("GUIDE-BARÈME POUR L'ÉVALUATION DES DÉFICIENCES ET INCAPACITÉS")
    assert text.endswith("-défiguration complète interdisant toute vie sociale et professionnelle.")
    # Nothing lost: the same non-space characters in the same order (the cell separators aside).
    source = "".join(contenu.itertext())
    assert re.sub(r"[\s|]", "", text) == re.sub(r"[\s|]", "", source)


def test_crpa_html_list_lines_become_paragraphs(shared_data):
    code = json.loads((shared_data / "fr_legifrance_api_json/LEGITEXT000031366350.json").read_text("utf-8"))
    found = {}

    def collect(node):
        if node["type"] == "article":
            found[node["data"]["num"]] = node["data"]["texteHtml"]
        for child in node.get("children", []):
            collect(child)

    collect(code)
    text = html_to_text(found["L211-2"])
    assert_convention(text)
    paragraphs = text.split("\n\n")
    assert paragraphs[0].startswith("Les personnes physiques ou morales ont le droit d'être informées")
    assert "2° Infligent une sanction ;" in paragraphs
    assert len(paragraphs) >= 9
    for html in found.values():
        assert_convention(html_to_text(html))
