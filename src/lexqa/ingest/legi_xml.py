"""Reader for DILA LEGI XML: one ``ARTICLE`` file per article version → one document per article.

``source.path`` is a directory tree (every ``*.xml`` below it, or ``source.glob``), a single ``.xml`` file,
or a ``.tar``/``.tar.gz``/``.tgz`` (also ``.tar.bz2``/``.tar.xz``) dump streamed member by member: nothing is
extracted and member names (``../x``, ``/etc/passwd``) are only ever labels, never filesystem paths. Only
regular members are read. Memory stays flat whatever the archive size: each file is decided on its own and
nothing is kept across files.

One version per article is kept: the in-force one (:data:`IN_FORCE`) by default, or with ``as_of`` the one
with ``DATE_DEBUT <= as_of < DATE_FIN`` (open end ``2999-01-01``). DILA's versions of one article have
disjoint date ranges and a single in-force state, so the per-file rule yields one version per article::

    >>> from lexqa.config import LegiXmlSource
    >>> from lexqa.ingest import legi_xml
    >>> src = LegiXmlSource(
    ...     name="legi", kind="legi_xml", path="data/raw/sample/legi", lang="fr", domain="fr_codes"
    ... )
    >>> docs = [d for d in legi_xml.read(src) if isinstance(d, legi_xml.Doc)]      # doctest: +SKIP
    >>> docs[0].title, docs[0].path, docs[0].number                                  # doctest: +SKIP
    ("Code de l'exemple", ['Livre Ier : Dispositions générales', ...], 'L111-1')

Rejects (reason codes), the run going on after each:

- by design, not logged one by one: ``not_an_article`` (SECTION_TA, TEXTELR, TEXTE_VERSION files),
  ``code_not_selected`` (``codes`` filter; decided from the dump's ``.../LEGITEXT…/`` folder before parsing
  when the path tells, else from ``CONTEXTE/TEXTE/@cid``), ``not_in_force``, ``not_valid_at_date``;
- bad input, logged: ``malformed_xml``; ``malformed_article`` (an ARTICLE without its id);
  ``unsafe_xml`` (a DOCTYPE that names an external DTD (``SYSTEM``/``PUBLIC``) or declares entities, general
  or parameter, e.g. an external entity or a billion-laughs bomb: LEGI files never do, so the file is
  rejected; nothing is expanded, opened or fetched either way: the parser never resolves entities or touches
  the network, and its resolver refuses every external resource, a path, a device or a FIFO, before
  libxml2 opens it; the detail never repeats what the file names); ``no_article_number``; ``not_a_regular_file``
  (a link or device in an archive); ``unreadable`` (an I/O error); ``bad_archive`` (not a tar archive);
  ``truncated_archive`` (cut or damaged part way: the documents read before the damage are kept, and the
  archive gets one reject).

An article with an empty text is yielded as is: the ingest stage rejects it as ``empty``, as for any source.
"""

from __future__ import annotations

import bz2
import contextlib
import fnmatch
import gzip
import lzma
import re
import tarfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lxml import etree

from lexqa.config import LegiXmlSource
from lexqa.ingest.html_text import html_to_text
from lexqa.ingest.records import Doc, Reject, iter_files

__all__ = ["IN_FORCE", "Doc", "Reject", "parse_article", "read"]

IN_FORCE = frozenset(("VIGUEUR", "ABROGE_DIFF"))
"""States of an in-force version: ``ABROGE_DIFF`` is in force until its (future) abrogation date."""
OPEN_END = "2999-01-01"
URL = "https://www.legifrance.gouv.fr/codes/article_lc/{}"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_CODE_IN_PATH = re.compile(r"(?:^|/)(LEGITEXT\d{12})/")


_local = threading.local()


class _ExternalRefused(Exception):
    """Raised by :class:`_RefuseAll` when a document asks for an external DTD or entity."""


class _RefuseAll(etree.Resolver):
    """A resolver that refuses every external resource. ``load_dtd=False`` does not stop libxml2 from opening
    the external subset named by ``<!DOCTYPE x SYSTEM "...">`` or an external parameter entity (``%p;``): a
    FIFO or ``/dev/stdin`` there would block the stage, and a local file's name would reach the error message.
    lxml asks its resolvers before libxml2 opens anything, so raising here means nothing is ever opened."""

    def resolve(self, system_url, public_id, context):  # lxml's signature; nothing is looked at
        raise _ExternalRefused


def _parser() -> etree.XMLParser:
    """This thread's XML parser, safe for untrusted input: no entity resolution, no DTD, no network access,
    a resolver that refuses every external resource (:class:`_RefuseAll`), libxml2's size and depth limits
    (``huge_tree=False``) and its entity-amplification guard. No table of ``xml:id`` values is built
    (``collect_ids=False``): nothing looks elements up by id."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            collect_ids=False,
        )
        parser.resolvers.add(_RefuseAll())
    return parser


_UNSAFE_EXTERNAL = "the DOCTYPE names an external DTD or entity (never in LEGI); nothing was opened"
_UNSAFE_ENTITIES = "the DOCTYPE declares entities (never in LEGI); nothing was expanded"


def _unsafe_doctype(root: etree._Element) -> str | None:
    """Why the document's DOCTYPE is refused, if it is: an external identifier, or any entity declaration."""
    docinfo = root.getroottree().docinfo
    if docinfo.system_url or docinfo.public_id:
        return _UNSAFE_EXTERNAL
    dtd = docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        return _UNSAFE_ENTITIES
    return None


def _pick(titles: list[etree._Element], as_of: str | None) -> str:
    """The title valid at ``as_of``, else the latest one (titles of codes and sections change over time)."""
    if len(titles) > 1:
        if as_of is not None:
            for t in titles:
                if t.get("debut", "") <= as_of < t.get("fin", OPEN_END):
                    return (t.text or "").strip()
        titles = sorted(titles, key=lambda t: (t.get("fin", OPEN_END), t.get("debut", "")))
    return (titles[-1].text or "").strip() if titles else ""


def _section_path(texte: etree._Element, as_of: str | None) -> list[str]:
    """Titles of the nested ``TM`` levels, outermost first; a level may hold several dated ``TITRE_TM``."""
    levels: list[list[etree._Element]] = []
    for title in texte.iter("TITRE_TM"):
        previous = title.getprevious()
        if levels and previous is not None and previous.tag == "TITRE_TM":
            levels[-1].append(title)
        else:
            levels.append([title])
    titles = (_pick(level, as_of) for level in levels)
    return [t for t in titles if t]


_FIELDS = ("ID", "NUM", "ETAT", "DATE_DEBUT", "DATE_FIN", "TEXTE", "VERSION", "CONTENU")


def _fields(root: etree._Element) -> tuple[dict[str, etree._Element], int]:
    """The elements the reader needs, in one C-level pass (``CONTENU`` keyed by its parent: NOTA,
    BLOC_TEXTUEL), and the number of versions listed."""
    found: dict[str, etree._Element] = {}
    versions = 0
    for el in root.iter(_FIELDS):
        tag = el.tag
        if tag == "VERSION":
            versions += 1
            continue
        if tag == "CONTENU":
            tag = el.getparent().tag
        found.setdefault(tag, el)
    return found, versions


def _text(found: dict[str, etree._Element], tag: str) -> str:
    el = found.get(tag)
    return (el.text or "").strip() if el is not None else ""


def parse_article(
    data: bytes, origin: str, as_of: str | None = None, codes: frozenset[str] = frozenset()
) -> Doc | Reject:
    """Parse one LEGI XML file; a :class:`Doc` for the version to keep, else a :class:`Reject` saying why.

    ``as_of`` is an ISO date (``None``: keep the in-force version); ``codes`` the LEGITEXT ids to keep
    (empty: all).
    """
    try:
        root = etree.fromstring(data, _parser())
    except _ExternalRefused:
        return Reject(origin, "unsafe_xml", _UNSAFE_EXTERNAL)
    except etree.XMLSyntaxError as exc:
        if b"<!ENTITY" in data:
            return Reject(origin, "unsafe_xml", f"{_UNSAFE_ENTITIES}, and it is not well-formed XML")
        return Reject(origin, "malformed_xml", str(exc))
    if unsafe := _unsafe_doctype(root):
        return Reject(origin, "unsafe_xml", unsafe)
    if root.tag != "ARTICLE":
        return Reject(origin, "not_an_article", f"root element {root.tag}", warn=False)

    found, versions = _fields(root)
    article_id = _text(found, "ID")
    if not article_id:
        return Reject(origin, "malformed_article", "ARTICLE without META/META_COMMUN/ID")
    state = _text(found, "ETAT")
    start = _text(found, "DATE_DEBUT")
    end = _text(found, "DATE_FIN") or OPEN_END
    texte = found.get("TEXTE")
    code_id = texte.get("cid", "") if texte is not None else ""

    if codes and code_id not in codes:
        detail = f"{article_id} belongs to {code_id or 'no code'}"
        return Reject(origin, "code_not_selected", detail, warn=False)
    if as_of is None and state not in IN_FORCE:
        return Reject(origin, "not_in_force", f"{article_id}: ETAT {state or '(none)'}", warn=False)
    if as_of is not None and not start <= as_of < end:
        detail = f"{article_id}: valid {start or '?'} to {end}, not on {as_of}"
        return Reject(origin, "not_valid_at_date", detail, warn=False)
    number = _text(found, "NUM")
    if not number:
        return Reject(origin, "no_article_number", f"{article_id} has no NUM")

    return Doc(
        native_id=article_id,
        text=html_to_text(found.get("BLOC_TEXTUEL")),
        origin=origin,
        title=_pick(list(texte.iterchildren("TITRE_TXT")), as_of) if texte is not None else "",
        path=_section_path(texte, as_of) if texte is not None else [],
        number=number,
        date=start or None,
        url=URL.format(article_id),
        meta={
            "code_id": code_id,
            "state": state,
            "date_debut": start or None,
            "date_fin": end,
            "nota": html_to_text(found.get("NOTA")),
            "versions": versions,
        },
    )


def _unselected(relpath: str, codes: frozenset[str]) -> str | None:
    """The LEGITEXT id the dump's folder layout gives, when it is one the filter drops (no parsing needed)."""
    if codes:
        m = _CODE_IN_PATH.search(relpath)
        if m and m.group(1) not in codes:
            return m.group(1)
    return None


def _open_decompressed(path: Path) -> IO[bytes]:
    """The archive's bytes, decompressed by the format its magic bytes show (truncation raises EOFError)."""
    with path.open("rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    return path.open("rb")


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """A regular member's bytes, read straight from the tar stream: ``extractfile`` would build two file
    objects per member. A sparse member (never in LEGI dumps) goes through ``extractfile``, which maps its holes.
    """
    if member.issparse():
        return tar.extractfile(member).read()  # type: ignore[union-attr]
    stream = tar.fileobj  # a forward-only stream ("r|"): seeking ahead reads and drops the bytes skipped
    stream.seek(member.offset_data)  # type: ignore[union-attr]
    data = stream.read(member.size)  # type: ignore[union-attr]
    if len(data) != member.size:
        raise tarfile.ReadError("unexpected end of data")  # as extractfile's reader says it
    return data


_DAMAGE = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


def _read_archive(source: LegiXmlSource, as_of: str | None, codes: frozenset[str]) -> Iterator[Doc | Reject]:
    """Stream a tar archive member by member (no extraction, member names are labels only)."""
    archive = str(source.path)
    wanted = re.compile(fnmatch.translate(source.glob or "*.xml")).match
    n_members = 0
    try:
        with contextlib.ExitStack() as stack:
            stream = stack.enter_context(_open_decompressed(Path(source.path)))
            # "r|" over our own decompressor: it raises on a truncated or corrupt stream, where tarfile's
            # built-in "r|gz" silently reports the end of the archive and the rest would vanish unnoticed.
            tar = stack.enter_context(tarfile.open(fileobj=stream, mode="r|"))
            while (member := tar.next()) is not None:
                tar.members.clear()  # tarfile keeps every header it has seen; we need none: memory stays flat
                n_members += 1
                name = member.name
                if member.isdir() or not wanted(name.rsplit("/", 1)[-1]):
                    continue
                origin = f"{archive}!{name}"
                if not member.isreg():
                    yield Reject(origin, "not_a_regular_file", f"tar member of type {member.type!r} skipped")
                elif code := _unselected(name, codes):
                    yield Reject(origin, "code_not_selected", f"in the folder of {code}", warn=False)
                else:
                    yield parse_article(_member_bytes(tar, member), origin, as_of, codes)
            # A complete tar ends with a zero block; a plain .tar cut on a member boundary just stops.
            if tar.fileobj.tell() - tar.offset < tarfile.BLOCKSIZE:  # type: ignore[union-attr]
                raise EOFError("the archive ends without its end-of-archive block")
            while stream.read(1 << 16):  # the rest is padding; reading it checks the compressed stream's end
                pass
    except _DAMAGE as exc:
        detail = f"after {n_members} members: {type(exc).__name__}: {exc}"
        if n_members or isinstance(exc, EOFError):
            yield Reject(archive, "truncated_archive", f"damaged or truncated {detail}")
        else:
            yield Reject(archive, "bad_archive", f"not a readable tar archive {detail}")


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def read(source: LegiXmlSource) -> Iterator[Doc | Reject]:
    """Yield one :class:`Doc` per kept article version and one :class:`Reject` per other file, in order."""
    as_of = source.as_of.isoformat() if source.as_of else None
    codes = frozenset(source.codes)
    root = Path(source.path)
    if _is_archive(root):
        yield from _read_archive(source, as_of, codes)
        return
    for path in iter_files(source, "*.xml"):
        if isinstance(path, Reject):
            yield path
            continue
        origin = str(path)
        relpath = path.relative_to(root).as_posix() if root.is_dir() else path.name
        if code := _unselected(relpath, codes):
            yield Reject(origin, "code_not_selected", f"in the folder of {code}", warn=False)
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield Reject(origin, "unreadable", str(exc))
            continue
        yield parse_article(data, origin, as_of, codes)
