"""fetch_legi against a loopback server: resumable download, checksums, index listing, code selection."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import polars as pl
import pytest
from fixture_servers import FAST_HTTP, FixtureServer, Reply, fetch_params

from lexqa.config import HttpParams, LegiXmlSource
from lexqa.fetch import legi
from lexqa.fetch.client import FetchError, PoliteClient
from lexqa.fetch.download import download
from lexqa.summary import StageSummary

CIVIL, PENAL = "LEGITEXT000006070721", "LEGITEXT000006070719"
SHARD = "legi/global/code_et_TNC_en_vigueur/code_en_vigueur/LEGI/TEXT/00/00/06/07/07"


def member(code: str, art: str) -> str:
    return f"{SHARD}/{code}/article/LEGI/ARTI/00/00/06/41/92/{art}.xml"


def make_dump(entries: list[tuple[str, bytes | None, bytes]]) -> bytes:
    """A .tar.gz: (name, content or None for a directory, tar type) per entry."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def members_of(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    with FixtureServer() as srv:
        yield srv


def http(**over) -> HttpParams:
    return HttpParams(**{**FAST_HTTP, **over})


BLOB = bytes(range(256)) * 4000  # 1 MB of incompressible-enough bytes


# ------------------------------------------------------------------------------------------------ download
def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    server.add_file("/dump.tar.gz", BLOB, cut_first=1)
    dest = tmp_path / "dump.tar.gz"
    with PoliteClient(http(max_attempts=1)) as c, pytest.raises(FetchError) as err:
        download(c, server.url("/dump.tar.gz"), dest)
    part = tmp_path / "dump.tar.gz.part"
    assert "run again to resume" in str(err.value)
    assert not dest.exists() and part.stat().st_size == len(BLOB) // 2

    with PoliteClient(http(max_attempts=1)) as c:  # the second run
        result = download(c, server.url("/dump.tar.gz"), dest, checksum=f"sha256:{sha256(BLOB)}")
    second = server.seen("/dump.tar.gz")[-1]
    assert second.headers["range"] == f"bytes={len(BLOB) // 2}-"
    assert second.headers["if-range"] == '"v1"'
    assert result.resumed and result.verified and result.bytes_fetched == len(BLOB) - len(BLOB) // 2
    assert sha256(dest.read_bytes()) == sha256(BLOB)
    assert not part.exists()


def test_dropped_connection_resumes_within_one_run(server, tmp_path):
    server.add_file("/dump.tar.gz", BLOB, cut_first=2)
    with PoliteClient(http(max_attempts=3)) as c:
        result = download(c, server.url("/dump.tar.gz"), tmp_path / "d.tar.gz")
    assert result.resumed and (tmp_path / "d.tar.gz").read_bytes() == BLOB
    assert [r.headers.get("range") for r in server.seen("/dump.tar.gz")] == [
        None,
        f"bytes={len(BLOB) // 2}-",
        f"bytes={len(BLOB) // 2 + (len(BLOB) - len(BLOB) // 2) // 2}-",
    ]


def test_file_changed_on_the_server_restarts_instead_of_splicing(server, tmp_path):
    server.add_file("/dump.tar.gz", BLOB, cut_first=1, etag='"old"')
    dest = tmp_path / "d.tar.gz"
    with PoliteClient(http(max_attempts=1)) as c, pytest.raises(FetchError):
        download(c, server.url("/dump.tar.gz"), dest)
    new = BLOB[::-1]
    server.add_file("/dump.tar.gz", new, etag='"new"')  # If-Range "old" no longer matches: full body
    with PoliteClient(http()) as c:
        result = download(c, server.url("/dump.tar.gz"), dest)
    assert dest.read_bytes() == new and not result.resumed


def test_server_without_range_support_restarts_from_zero(server, tmp_path):
    server.add_file("/dump.tar.gz", BLOB, cut_first=1, ranges=False, etag=None)
    with PoliteClient(http(max_attempts=3)) as c:
        download(c, server.url("/dump.tar.gz"), tmp_path / "d.tar.gz")
    assert (tmp_path / "d.tar.gz").read_bytes() == BLOB


def test_checksum_mismatch_is_a_clear_error_and_leaves_no_file(server, tmp_path):
    server.add_file("/dump.tar.gz", BLOB)
    dest = tmp_path / "d.tar.gz"
    wrong = "0" * 64
    with PoliteClient(http()) as c, pytest.raises(FetchError) as err:
        download(c, server.url("/dump.tar.gz"), dest, checksum=wrong)
    assert err.value.reason == "checksum_mismatch"
    assert wrong in str(err.value) and sha256(BLOB) in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no final file, no partial file


def test_existing_download_is_not_fetched_again(server, tmp_path):
    server.add_file("/dump.tar.gz", BLOB)
    dest = tmp_path / "d.tar.gz"
    with PoliteClient(http()) as c:
        download(c, server.url("/dump.tar.gz"), dest)
        again = download(c, server.url("/dump.tar.gz"), dest, checksum=f"md5:{hashlib.md5(BLOB).hexdigest()}")
    assert again.already_there and again.verified and len(server.seen("/dump.tar.gz")) == 1


# ------------------------------------------------------------------------------------------------ selection
def dump_entries() -> list:
    return [
        (f"{SHARD}/{CIVIL}", None, tarfile.DIRTYPE),
        (member(CIVIL, "LEGIARTI000000000001"), b"<ARTICLE>civil 1</ARTICLE>", tarfile.REGTYPE),
        (member(CIVIL, "LEGIARTI000000000002"), b"<ARTICLE>civil 2</ARTICLE>", tarfile.REGTYPE),
        (f"{SHARD}/{CIVIL}/texte/struct/{CIVIL}.xml", b"<TEXTELR/>", tarfile.REGTYPE),
        (member(PENAL, "LEGIARTI000000000003"), b"<ARTICLE>penal</ARTICLE>", tarfile.REGTYPE),
        (f"{SHARD}/{CIVIL}/article/evil-link.xml", None, tarfile.SYMTYPE),
        (f"{SHARD}/{CIVIL}/../../../../etc/cron.xml", b"evil", tarfile.REGTYPE),
        ("legi/global/README.txt", b"readme", tarfile.REGTYPE),
    ]


def test_run_lists_the_index_verifies_a_sidecar_and_keeps_only_selected_codes(server, tmp_path):
    dump = make_dump(dump_entries())
    old, new = "Freemium_legi_global_20250101-100000.tar.gz", "Freemium_legi_global_20250713-140000.tar.gz"
    links = "".join(f'<a href="{n}">{n}</a>' for n in (old, new, "LEGI_20250714-211234.tar.gz", "../"))
    server.add("/LEGI/", Reply(body=f"<html><body>{links}</body></html>".encode()))
    server.add_file(f"/LEGI/{new}", dump)
    server.add(f"/LEGI/{new}.sha256", Reply(body=f"{sha256(dump)}  {new}\n".encode()))
    out = tmp_path / "raw/legi/codes.tar.gz"
    params = fetch_params(
        legi={
            "base_url": server.url("/LEGI/"),
            "codes": [CIVIL],
            "download_dir": str(tmp_path / "cache"),
            "out": str(out),
        }
    )
    summary = legi.run(params, out_dir=tmp_path / "processed")

    assert not server.seen(f"/LEGI/{old}")  # the newest matching archive only
    assert (tmp_path / "cache" / new).read_bytes() == dump
    assert set(members_of(out)) == {
        member(CIVIL, "LEGIARTI000000000001"),
        member(CIVIL, "LEGIARTI000000000002"),
        f"{SHARD}/{CIVIL}/texte/struct/{CIVIL}.xml",
    }
    assert members_of(out)[member(CIVIL, "LEGIARTI000000000002")] == b"<ARTICLE>civil 2</ARTICLE>"
    rejects = pl.read_parquet(tmp_path / "processed/fetch_legi_rejects.parquet")
    assert sorted(rejects["reason"]) == ["not_a_regular_file", "unsafe_member"]
    saved = json.loads((tmp_path / "processed/fetch_legi_summary.json").read_text())
    assert saved["archives"] == {new: "checksum verified"}
    assert saved["members_by_code"] == {CIVIL: 3} and saved["rows_out"] == 3 == summary.rows_out
    assert saved["rows_in"] == len(dump_entries())


def test_newest_archive_wins_when_increments_follow_the_dump(server, tmp_path):
    art = member(CIVIL, "LEGIARTI000000000001")
    base = make_dump(
        [(art, b"old text", tarfile.REGTYPE), (member(CIVIL, "LEGIARTI9"), b"kept", tarfile.REGTYPE)]
    )
    incr = make_dump([(art, b"new text", tarfile.REGTYPE)])
    server.add_file("/d/global.tar.gz", base)
    server.add_file("/d/incr.tar.gz", incr)
    params = fetch_params(
        legi={
            "base_url": server.url("/d/"),
            "files": ["global.tar.gz", "incr.tar.gz"],
            "checksums": {"global.tar.gz": sha256(base), "incr.tar.gz": f"sha256:{sha256(incr)}"},
            "codes": [CIVIL],
            "download_dir": str(tmp_path / "cache"),
            "out": str(tmp_path / "codes.tar.gz"),
        }
    )
    summary = legi.run(params, out_dir=tmp_path / "processed")
    assert members_of(tmp_path / "codes.tar.gz") == {art: b"new text", member(CIVIL, "LEGIARTI9"): b"kept"}
    assert summary.extra["superseded"] == 1
    assert not server.seen("/d/global.tar.gz.sha256")  # a known checksum needs no sidecar


def test_unknown_code_is_an_error_and_writes_nothing(tmp_path):
    archive = tmp_path / "dump.tar.gz"
    archive.write_bytes(make_dump(dump_entries()))
    out = tmp_path / "codes.tar.gz"
    with pytest.raises(FetchError, match=r"check fetch\.legi\.codes"):
        legi.select_codes([archive], ["LEGITEXT000000000000"], out, StageSummary("fetch_legi"))
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dump.tar.gz"]


def test_damaged_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "dump.tar.gz"
    archive.write_bytes(make_dump(dump_entries() * 20)[:-400])
    with pytest.raises(FetchError) as err:
        legi.select_codes([archive], [CIVIL], tmp_path / "codes.tar.gz", StageSummary("fetch_legi"))
    assert err.value.reason == "bad_archive" and "delete it" in str(err.value)
    assert not (tmp_path / "codes.tar.gz").exists()


def test_no_matching_archive_on_the_index_page(server, tmp_path):
    server.add("/LEGI/", Reply(body=b"<html><a href='other.zip'>x</a></html>"))
    params = fetch_params(legi={"base_url": server.url("/LEGI/"), "download_dir": str(tmp_path)})
    with pytest.raises(FetchError, match=r"matches fetch\.legi\.pattern"):
        legi.run(params, out_dir=tmp_path)


@pytest.mark.shared_data
def test_selected_archive_is_read_by_the_legi_xml_reader(shared_data, tmp_path):
    """Real LEGI articles in a dump-shaped archive: after selection the ingest reader finds the kept one."""
    legi_xml = pytest.importorskip("lexqa.ingest.legi_xml")
    files = shared_data / "fr_legi_xml/legi-php/files_exemples"
    kept, other = "LEGITEXT000006070666", "LEGITEXT000006074069"
    archive = tmp_path / "dump.tar.gz"
    entries = [
        (member(kept, "LEGIARTI000006398122"), files / "LEGIARTI000006398122.xml"),
        (member(other, "LEGIARTI000019325262"), files / "cas extremes/LEGIARTI000019325262.xml"),
    ]
    archive.write_bytes(make_dump([(name, path.read_bytes(), tarfile.REGTYPE) for name, path in entries]))
    out = tmp_path / "codes.tar.gz"
    legi.select_codes([archive], [kept], out, StageSummary("fetch_legi"))
    source = LegiXmlSource(
        name="legi", kind="legi_xml", path=out, lang="fr", domain="fr_codes", as_of="1990-01-01"
    )
    docs = [d for d in legi_xml.read(source) if isinstance(d, legi_xml.Doc)]
    assert [d.number for d in docs] == ["1"]
    assert kept in docs[0].origin
