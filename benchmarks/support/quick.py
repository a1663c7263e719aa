"""``--quick``: every benchmark's smoke run on tiny sizes, for ``make bench BENCH_FLAGS=--quick`` and CI.

parser = argparse.ArgumentParser()
parser.add_argument("--rounds", type=int, default=20)
args = parse_args(parser, "2 rounds", rounds=2)   # with --quick: rounds 2 unless given
"""

from __future__ import annotations

import argparse
from typing import Any

QUICK_LINE = "quick smoke run (--quick): tiny sizes, the figures below mean nothing"


def parse_args(parser: argparse.ArgumentParser, what: str, **quick_defaults: Any) -> argparse.Namespace:
    """Add ``--quick`` (``what`` says what it runs) and parse; with it, print :data:`QUICK_LINE` first and use
    ``quick_defaults`` for the options not given on the command line."""
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run for CI: {what}; the figures mean nothing"
    )
    args = parser.parse_args()
    if args.quick:
        print(QUICK_LINE, flush=True)
        parser.set_defaults(**quick_defaults)
        args = parser.parse_args()
    return args
