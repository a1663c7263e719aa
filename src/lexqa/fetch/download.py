"""Resumable, verified downloads of big files (the LEGI dump: about a gigabyte).

Bytes go to ``<dest>.part``; a dropped connection (or a killed run) resumes from the bytes already there
with an HTTP ``Range`` request, guarded by ``If-Range`` so a file changed on the server restarts from zero
instead of splicing two versions. When the transfer is complete its size is checked against the server's,
its checksum against the known one (if any), and only then is it renamed to ``dest``: a file at ``dest`` is
always whole. A checksum mismatch deletes the partial file and raises
:class:`~lexqa.fetch.client.FetchError`::

    >>> from lexqa.fetch.download import download
    >>> result = download(client, "https://example.org/dump.tar.gz", Path("data/cache/dump.tar.gz"),
    ...                   checksum="sha256:9f86d0...")                             # doctest: +SKIP
    >>> result.resumed, result.verified                                           # doctest: +SKIP
    (True, True)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx2
from tqdm.auto import tqdm

from lexqa.fetch.client import RETRY_ERRORS, FetchError, PoliteClient, error_reason

log = logging.getLogger("lexqa.fetch")

ALGORITHMS = {"sha256": 64, "md5": 32}
"""Checksum algorithms understood, with their hex digest length."""


@dataclass
class Download:
    """A completed download: where it is, what it cost, and whether its checksum was checked."""

    path: Path
    size: int
    bytes_fetched: int = 0
    resumed: bool = False
    already_there: bool = False
    checksum: str | None = None
    verified: bool = False


def parse_checksum(spec: str) -> tuple[str, str]:
    """``'sha256:<hex>'``, ``'md5:<hex>'`` or a bare hex digest (algorithm told by its length) → (algo, hex).

    >>> parse_checksum("md5:D41D8CD98F00B204E9800998ECF8427E")
    ('md5', 'd41d8cd98f00b204e9800998ecf8427e')
    >>> parse_checksum("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")[0]
    'sha256'
    """
    algo, _, digest = spec.strip().rpartition(":")
    digest = digest.lower()
    algo = algo.lower() or next((a for a, n in ALGORITHMS.items() if n == len(digest)), "")
    if algo not in ALGORITHMS or not re.fullmatch(rf"[0-9a-f]{{{ALGORITHMS.get(algo, 0)}}}", digest):
        raise ValueError(f"not a checksum: {spec!r} (expected 'sha256:<64 hex>', 'md5:<32 hex>' or bare hex)")
    return algo, digest


def checksum_from_sidecar(text: str, algo: str) -> str | None:
    """The digest in a checksum file (``sha256sum`` output or a bare digest), as ``'algo:hex'``.

    >>> checksum_from_sidecar("D41D8CD98F00B204E9800998ECF8427E  dump.tar.gz", "md5")
    'md5:d41d8cd98f00b204e9800998ecf8427e'
    """
    words = text.split()
    if not words:
        return None
    try:
        return ":".join(parse_checksum(f"{algo}:{words[0]}"))
    except ValueError:
        return None


def file_digest(path: Path, algo: str) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, algo).hexdigest()


def _total_from_content_range(value: str | None) -> int | None:
    """Total size from ``Content-Range: bytes 100-199/1000`` or ``bytes */1000``."""
    match = re.search(r"/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _start_from_content_range(value: str | None) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", value or "")
    return int(match.group(1)) if match else None


class _Part:
    """The ``.part`` file and its sidecar remembering the server's validator (ETag or Last-Modified)."""

    def __init__(self, dest: Path) -> None:
        self.path = dest.with_name(dest.name + ".part")
        self.meta = dest.with_name(dest.name + ".part.json")

    @property
    def size(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    @property
    def validator(self) -> str | None:
        try:
            return json.loads(self.meta.read_text(encoding="utf-8")).get("validator")
        except (OSError, ValueError):
            return None

    def start(self, validator: str | None) -> None:
        """Begin afresh: empty part file, new validator."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")
        self.meta.write_text(json.dumps({"validator": validator}), encoding="utf-8")

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


def _validator(headers: httpx2.Headers) -> str | None:
    """A strong ETag, else Last-Modified: what ``If-Range`` may carry."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def download(client: PoliteClient, url: str, dest: Path, checksum: str | None = None) -> Download:
    """Download ``url`` to ``dest`` (resuming a ``.part`` left by an earlier try), verify, rename into place.

    A ``dest`` already there is trusted when its checksum matches (or none is known); one that does not match
    is downloaded again. Raises :class:`FetchError` when the transfer cannot complete within
    ``fetch.http.max_attempts`` tries, or its size or checksum is wrong.
    """
    expected = parse_checksum(checksum) if checksum else None
    if dest.exists():
        if expected is None or file_digest(dest, expected[0]) == expected[1]:
            return Download(
                dest, dest.stat().st_size, already_there=True, checksum=checksum, verified=bool(expected)
            )
        log.warning("%s: checksum differs from %s; downloading it again", dest, checksum)
        dest.unlink()

    part = _Part(dest)
    result = Download(dest, 0, checksum=checksum)
    total = _transfer(client, url, part, result)
    size = part.size
    if total is not None and size != total:
        part.discard()
        raise FetchError(
            f"{url}: got {size:,} bytes, the server announced {total:,}; run again", "size_mismatch"
        )
    if expected is not None:
        actual = file_digest(part.path, expected[0])
        if actual != expected[1]:
            part.discard()
            raise FetchError(
                f"{url}: {expected[0]} mismatch: expected {expected[1]}, got {actual}. The download was "
                "deleted; check fetch.legi.checksums (or the server's checksum file) and run again",
                "checksum_mismatch",
            )
        result.verified = True
    with part.path.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(part.path, dest)
    part.meta.unlink(missing_ok=True)
    result.size = size
    return result


def _transfer(client: PoliteClient, url: str, part: _Part, result: Download) -> int | None:
    """Fill the part file; returns the total size announced by the server (None when it did not say)."""
    attempts = client.params.max_attempts
    for attempt in range(1, attempts + 1):
        offset = part.size if part.meta.exists() else 0
        headers = {"Accept-Encoding": "identity"}  # the bytes as stored on the server, so offsets match
        validator = part.validator
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        try:
            with client.stream("GET", url, headers=headers) as resp:
                if resp.status_code == 416 and offset:
                    total = _total_from_content_range(resp.headers.get("Content-Range"))
                    if total == offset:  # the part file already holds everything
                        return total
                    log.warning("%s: range %d- refused (size now %s); starting again", url, offset, total)
                    part.discard()
                    continue
                if resp.status_code == 206 and offset:
                    if _start_from_content_range(resp.headers.get("Content-Range")) != offset:
                        raise FetchError(
                            f"{url}: the server answered a different range than asked", "bad_range"
                        )
                    result.resumed = True
                    total = _total_from_content_range(resp.headers.get("Content-Range"))
                elif resp.status_code == 200:
                    if offset:
                        log.warning(
                            "%s: the server sent the whole file (changed, or no ranges); restarting", url
                        )
                    part.start(_validator(resp.headers))
                    offset = 0
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                else:
                    raise FetchError(f"{url}: HTTP {resp.status_code}", f"http_{resp.status_code}")
                _write_body(resp, part, offset, total, url, result)
                return total
        except RETRY_ERRORS as exc:  # the body stopped part way: resume from what we have
            if attempt == attempts:
                raise FetchError(
                    f"{url}: transfer interrupted ({type(exc).__name__}: {exc}) after {attempt} attempts; "
                    f"{part.size:,} bytes kept in {part.path}, run again to resume",
                    error_reason(exc),
                ) from None
            delay = client.backoff_s(attempt)
            log.warning(
                "%s: transfer interrupted at %s bytes; resuming in %.1f s", url, f"{part.size:,}", delay
            )
            client.stats.retries += 1
            client.pause(delay)
    raise FetchError(f"{url}: could not download after {attempts} attempts", "download_failed")


def _byte_bar(desc: str, total: int | None, initial: int) -> tqdm:
    """A bytes progress bar, quiet under the same rule as :func:`lexqa.summary.progress`."""
    in_ci = bool(os.environ.get("CI")) and not sys.stderr.isatty()
    quiet = os.environ.get("LEXQA_NO_PROGRESS") == "1" or in_ci
    return tqdm(
        desc=desc, total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, disable=quiet
    )


def _write_body(
    resp: httpx2.Response, part: _Part, offset: int, total: int | None, url: str, result: Download
) -> None:
    """Append the body to the part file as it arrives (nothing buffered: a drop loses no received byte)."""
    with part.path.open("ab") as fh, _byte_bar(Path(url).name or url, total, offset) as bar:
        for chunk in resp.iter_raw():
            fh.write(chunk)
            result.bytes_fetched += len(chunk)
            bar.update(len(chunk))
