"""Fetchers of real sources into ``data/raw/``: the DILA LEGI dump, sudrf court pages, the Légifrance API.

Each is a DVC stage of ``data/raw/dvc.yaml`` (a pipeline of its own, so the default ``dvc repro`` never
touches the network), with a thin script in ``stages/`` and its module here:

- :mod:`lexqa.fetch.legi` (``fetch_legi``): download the dump (resumable, checksummed), keep selected codes;
- :mod:`lexqa.fetch.sudrf` (``fetch_sudrf``): court pages, robots.txt honoured, rate-limited, cached by URL;
- :mod:`lexqa.fetch.legifrance` (``fetch_legifrance``): codes as JSON trees through the PISTE API (OAuth2).

They share :mod:`lexqa.fetch.client` (one polite HTTP client: User-Agent, rate limit, retries with backoff and
``Retry-After``), :mod:`lexqa.fetch.download` and :mod:`lexqa.fetch.robots`. See docs/fetch.md::

    dvc repro data/raw/dvc.yaml:fetch_legi       # or: python stages/fetch_legi.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from lexqa.config import Params
from lexqa.fetch.client import FetchError
from lexqa.stage import run_stage


def run_fetch_stage(fn: Callable[[Params], Any]) -> None:
    """:func:`lexqa.stage.run_stage` for a fetcher: a request failed for good exits 1 with its message."""
    try:
        run_stage(fn)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
