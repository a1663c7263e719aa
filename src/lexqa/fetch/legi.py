"""The ``fetch_legi`` stage: the DILA LEGI dump → ``data/raw/legi/codes.tar.gz`` with only the selected codes.

1. Which archives: ``fetch.legi.files`` (oldest first), or the newest name on the index page at ``base_url``
   matching ``pattern`` (the latest ``Freemium_legi_global_*.tar.gz``).
2. Download each to ``download_dir`` (kept there, outside DVC outputs, so a rerun downloads nothing),
   resumable and verified (:mod:`lexqa.fetch.download`) against ``checksums`` or a sidecar file
   (``<archive>.sha256`` / ``.md5``) when the server has one; with neither, the size is still checked.
3. Stream each archive once, member by member, and copy into ``out`` only the regular files below a
   ``.../LEGITEXT<id>/...`` folder of a selected code. Nothing is extracted: member names are only matched and
   re-written into the new archive, and an unsafe one (absolute, ``..``, a link or device) becomes a reject.
   Archives are read newest first, so when increments follow a global dump the newest copy of a file wins.

The ``legi_xml`` reader reads the result directly::

    sources:
      - {name: legi, kind: legi_xml, path: data/raw/legi/codes.tar.gz, lang: fr, domain: fr_codes}

Run it with ``dvc repro data/raw/dvc.yaml:fetch_legi`` or ``python stages/fetch_legi.py`` (docs/fetch.md).
"""

from __future__ import annotations

import logging
import re
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html

from lexqa.config import LegiFetchParams, Params
from lexqa.fetch.client import FetchError, PoliteClient
from lexqa.fetch.download import ALGORITHMS, Download, checksum_from_sidecar, download
from lexqa.summary import StageSummary, progress
from lexqa.tables import REJECTS, atomic_path, frame, write_table

log = logging.getLogger("lexqa.fetch")

STAGE = "fetch_legi"
_CODE_DIR = re.compile(r"(?:^|/)(LEGITEXT\d{12})/")
_DAMAGE = (tarfile.TarError, EOFError, OSError, zlib.error)


def list_index(client: PoliteClient, base_url: str, pattern: str) -> list[str]:
    """File names linked from the index page at ``base_url`` that match ``pattern``, sorted."""
    resp = client.request("GET", base_url)
    if resp.status_code != 200:
        raise FetchError(
            f"{base_url}: HTTP {resp.status_code} for the index page", f"http_{resp.status_code}"
        )
    page = lxml.html.fromstring(resp.content, base_url=base_url)
    wanted = re.compile(pattern)
    names = set()
    for href in page.xpath("//a/@href"):
        name = unquote(PurePosixPath(urlsplit(str(href)).path).name)
        if wanted.search(name):
            names.add(name)
    return sorted(names)


def archive_names(client: PoliteClient, p: LegiFetchParams) -> list[str]:
    """``files`` as given, or the newest archive on the index page (DILA names sort by their timestamp)."""
    if p.files:
        return list(p.files)
    names = list_index(client, p.base_url, p.pattern)
    if not names:
        raise FetchError(f"{p.base_url}: no file on the index page matches fetch.legi.pattern {p.pattern!r}")
    log.info("newest archive on %s: %s (of %d matching)", p.base_url, names[-1], len(names))
    return [names[-1]]


def known_checksum(client: PoliteClient, p: LegiFetchParams, name: str, url: str) -> str | None:
    """The checksum from params, else from the first sidecar file the server has; None when there is none."""
    if name in p.checksums:
        return p.checksums[name]
    for suffix in p.sidecars:
        algo = suffix.lstrip(".").lower()
        if algo not in ALGORITHMS:
            continue
        resp = client.request("GET", url + suffix)
        if resp.status_code == 200 and (found := checksum_from_sidecar(resp.text, algo)):
            return found
    return None


def code_of(member_name: str) -> str | None:
    """The LEGITEXT id of the dump folder a member lies in.

    >>> code_of("legi/global/code_et_TNC_en_vigueur/code_en_vigueur/LEGI/TEXT/00/00/06/07/07/"
    ...         "LEGITEXT000006070721/article/LEGI/ARTI/00/00/06/41/92/LEGIARTI000006419292.xml")
    'LEGITEXT000006070721'
    """
    match = _CODE_DIR.search(member_name)
    return match.group(1) if match else None


def unsafe_name(name: str) -> str | None:
    """Why a member name must not be copied (absolute, ``..``, backslashes, control characters), or None.

    >>> unsafe_name("a/LEGITEXT000006070721/../../etc/passwd")
    "'..' component"
    """
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' component"
    if "\\" in name or any(ord(c) < 32 for c in name):
        return "backslash or control character"
    return None


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Members of a streamed archive; tarfile keeps every header it has read, which we drop to stay flat."""
    while (member := tar.next()) is not None:
        tar.members.clear()
        yield member


def select_codes(archives: list[Path], codes: list[str], out: Path, summary: StageSummary) -> list[dict]:
    """Write ``out`` with the members of ``codes`` from ``archives`` (oldest first; the newest copy wins).

    Returns the rejects rows. ``summary`` gets members read/kept, per-code counts and superseded copies.
    """
    wanted = set(codes)
    kept_by_code: Counter[str] = Counter({c: 0 for c in codes})
    written: set[str] = set()
    superseded = 0
    rejects: list[dict] = []
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as dst:
        for archive in reversed(archives):
            try:
                with tarfile.open(archive, "r|*") as src:
                    for member in progress(_members(src), desc=f"select {archive.name}", unit="member"):
                        summary.rows_in += 1
                        code = code_of(member.name)
                        if code not in wanted or member.isdir():
                            continue
                        origin = f"{archive.name}!{member.name}"
                        if why := unsafe_name(member.name):
                            reason = "unsafe_member"
                        elif not member.isfile():
                            reason, why = "not_a_regular_file", f"tar member of type {member.type!r}"
                        if why:
                            rejects.append(_reject(archive.name, origin, reason, why))
                            summary.reject(reason)
                            log.warning("%s: %s (%s), skipped", origin, reason, why)
                            continue
                        name = str(PurePosixPath(member.name))
                        if name in written:
                            superseded += 1
                            continue
                        info = tarfile.TarInfo(name)
                        info.size, info.mtime, info.mode = member.size, member.mtime, 0o644
                        dst.addfile(info, src.extractfile(member))
                        written.add(name)
                        kept_by_code[code] += 1
            except _DAMAGE as exc:
                raise FetchError(
                    f"{archive}: damaged archive ({type(exc).__name__}: {exc}); delete it and run again to "
                    "download it afresh",
                    "bad_archive",
                ) from None
        missing = [c for c, n in kept_by_code.items() if n == 0]
        if len(missing) == len(codes):  # raised inside the block: nothing is written
            raise FetchError(
                f"none of the codes {', '.join(codes)} is in the archive(s): check fetch.legi.codes"
            )
    for code in missing:
        log.warning("%s: no member in %s: is the id right?", code, ", ".join(a.name for a in archives))
    summary.rows_out = len(written)
    summary.extra["members_by_code"] = dict(kept_by_code)
    summary.extra["superseded"] = superseded
    return rejects


def _reject(source: str, origin: str, reason: str, detail: str) -> dict:
    return {"stage": STAGE, "source": source, "origin": origin, "reason": reason, "detail": detail}


def fetch(params: Params, summary: StageSummary) -> list[Download]:
    """Download the archives (or find them already downloaded); returns them oldest first."""
    p = params.fetch.legi
    done = []
    with PoliteClient(params.fetch.http) as client:
        for name in archive_names(client, p):
            url = urljoin(p.base_url, name)
            dest = p.download_dir / PurePosixPath(urlsplit(url).path).name
            # A file already downloaded was verified, when it could be, by an earlier run.
            verified_before = dest.exists() and name not in p.checksums
            checksum = None if verified_before else known_checksum(client, p, name, url)
            if checksum is None and not dest.exists():
                log.warning(
                    "%s: no checksum known (fetch.legi.checksums, sidecar file): size check only", name
                )
            result = download(client, url, dest, checksum)
            log.info(
                "%s: %s (%s bytes%s%s)",
                name,
                "already downloaded" if result.already_there else "downloaded",
                f"{result.size:,}",
                ", resumed" if result.resumed else "",
                ", checksum verified" if result.verified else "",
            )
            done.append(result)
        summary.extra["http"] = client.stats.as_dict()
    return done


def _checked(d: Download) -> str:
    if d.verified:
        return "checksum verified"
    return "downloaded by an earlier run" if d.already_there else "unverified (no checksum known)"


def run(params: Params, out_dir: str | Path = "data/processed") -> StageSummary:
    """Run the stage: ``fetch.legi.out``, ``fetch_legi_rejects.parquet`` and ``fetch_legi_summary.json``."""
    out = Path(out_dir)
    p = params.fetch.legi
    summary = StageSummary(STAGE)
    downloads = fetch(params, summary)
    rejects = select_codes([d.path for d in downloads], p.codes, p.out, summary)
    summary.extra["archives"] = {d.path.name: _checked(d) for d in downloads}
    summary.extra["bytes_downloaded"] = sum(d.bytes_fetched for d in downloads)
    summary.extra["output"] = f"{p.out} ({p.out.stat().st_size:,} bytes)"
    write_table(frame(rejects, REJECTS), out / f"{STAGE}_rejects.parquet", REJECTS)
    summary.finish(out / f"{STAGE}_summary.json")
    return summary
