"""The ``fetch_sudrf`` stage: court case pages from sudrf.ru sites → ``data/raw/sudrf_html/``.

Polite by construction: each site's robots.txt is read first and obeyed (a disallowed URL becomes a
``robots_disallowed`` reject and is never requested), requests to a site are spaced by
``fetch.sudrf.requests_per_second`` (slower if robots.txt asks), and 429/5xx/timeouts are retried with backoff
honouring ``Retry-After`` (:mod:`lexqa.fetch.client`).

Each page is kept byte for byte (sudrf pages are windows-1251: the ``sudrf_html`` reader detects the encoding)
in ``cache_dir`` under a hash of its URL, outside the DVC outputs: a rerun, or a run after a kill, requests
only what is not cached. ``out_dir`` then receives the pages of the current URL list plus ``index.jsonl``
(url, file, bytes, sha256 per page). A page that cannot be fetched (404, retries exhausted) becomes a reject
and is tried again on the next run. Use the result as a source::

    sources:
      - {name: sudrf, kind: sudrf_html, path: data/raw/sudrf_html, lang: ru, domain: ru_rulings}
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from lexqa.config import Params, ParamsError, SudrfFetchParams
from lexqa.fetch.client import FetchError, PoliteClient
from lexqa.fetch.robots import Robots
from lexqa.summary import StageSummary, progress
from lexqa.tables import REJECTS, atomic_path, frame, write_jsonl, write_table

log = logging.getLogger("lexqa.fetch")

STAGE = "fetch_sudrf"
_PAGE = re.compile(r"[0-9a-f]{32}\.html")


def page_name(url: str) -> str:
    """The file name of a page: a hash of its URL (stable, filesystem-safe, no collisions in practice).

    >>> page_name("https://example.sudrf.ru/modules.php?name=sud_delo&case_id=1")
    '34fc2f22f60a660ed30b93a5d5989941.html'
    """
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32] + ".html"


def read_urls(p: SudrfFetchParams) -> tuple[list[str], list[dict]]:
    """``urls`` then the lines of ``urls_file`` (blank and ``#`` lines skipped), each URL once.

    Returns (urls, rejects): a line that is not an http(s) URL is a ``bad_url`` reject.
    """
    lines = list(p.urls)
    origin = "fetch.sudrf.urls"
    if p.urls_file is not None:
        if not p.urls_file.is_file():
            raise FileNotFoundError(f"fetch.sudrf.urls_file: {p.urls_file} not found")
        lines += p.urls_file.read_text(encoding="utf-8").splitlines()
        origin = str(p.urls_file)
    urls, rejects, seen = [], [], set()
    for line in lines:
        url = line.strip()
        if not url or url.startswith("#") or url in seen:
            continue
        seen.add(url)
        if not url.startswith(("http://", "https://")):
            rejects.append(_reject(url, "bad_url", f"not an http(s) URL, in {origin}"))
            continue
        urls.append(url)
    return urls, rejects


def _reject(url: str, reason: str, detail: str) -> dict:
    return {"stage": STAGE, "source": "sudrf", "origin": url, "reason": reason, "detail": detail}


def fetch_page(client: PoliteClient, robots: Robots, url: str, cache: Path) -> dict | None:
    """Fetch ``url`` into ``cache`` unless it is there; returns a reject row when it cannot be had."""
    if cache.exists():
        return None
    if not robots.allowed(url):
        return _reject(url, "robots_disallowed", "robots.txt disallows it for our User-Agent")
    try:
        resp = client.request("GET", url)
    except FetchError as exc:
        return _reject(url, exc.reason, str(exc))
    if resp.status_code != 200:
        return _reject(url, f"http_{resp.status_code}", f"HTTP {resp.status_code} {resp.reason_phrase}")
    with atomic_path(cache) as tmp:
        tmp.write_bytes(resp.content)  # bytes as served (after transfer decoding): no charset conversion
    return None


def _prune(out_dir: Path, keep: set[str]) -> None:
    """Remove pages of URLs no longer listed (they stay in the cache): the output mirrors the URL list."""
    for path in out_dir.glob("*.html") if out_dir.is_dir() else []:
        if _PAGE.fullmatch(path.name) and path.name not in keep:
            path.unlink()


def run(params: Params, out_dir: str | Path = "data/processed") -> StageSummary:
    """Run the stage: pages + ``index.jsonl`` in ``fetch.sudrf.out_dir``, rejects + summary in ``out_dir``."""
    p = params.fetch.sudrf
    out = Path(out_dir)
    summary = StageSummary(STAGE)
    urls, rejects = read_urls(p)
    if not urls and not rejects:
        raise ParamsError("fetch.sudrf: no URL to fetch: set fetch.sudrf.urls or fetch.sudrf.urls_file")
    for row in rejects:
        summary.reject(row["reason"])
    summary.rows_in = len(urls) + len(rejects)
    cached = 0
    index = []
    _prune(p.out_dir, keep={page_name(u) for u in urls})
    with PoliteClient(params.fetch.http, p.requests_per_second) as client:
        robots = Robots(client)
        for url in progress(urls, desc="fetch sudrf", unit="page"):
            name = page_name(url)
            cache = p.cache_dir / name
            cached += cache.exists()
            if (rejected := fetch_page(client, robots, url, cache)) is not None:
                rejects.append(rejected)
                summary.reject(rejected["reason"])
                log.warning("%s: %s (%s)", url, rejected["reason"], rejected["detail"])
                continue
            data = cache.read_bytes()
            with atomic_path(p.out_dir / name) as tmp:
                tmp.write_bytes(data)
            index.append(
                {"url": url, "file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            )
        summary.extra["http"] = client.stats.as_dict()
    write_jsonl(index, p.out_dir / "index.jsonl")
    summary.rows_out = len(index)
    summary.extra["pages"] = {"from_cache": cached, "fetched": len(index) - cached}
    write_table(frame(rejects, REJECTS), out / f"{STAGE}_rejects.parquet", REJECTS)
    summary.finish(out / f"{STAGE}_summary.json")
    return summary
