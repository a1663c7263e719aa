"""The ``lexqa`` command: user tools around the pipeline.

    lexqa inspect data/processed/chunks.parquet --n 3 --where "lang = 'ru'"
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _inspect(args: argparse.Namespace) -> int:
    from lexqa.inspect import InspectError, render

    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    try:
        print(render(args.path, n=args.n, columns=columns, where=args.where))
    except InspectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lexqa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("inspect", help="print rows, schema and text-length statistics of a parquet/JSONL table")
    p.add_argument("path", help="a .parquet or .jsonl file, e.g. data/processed/chunks.parquet")
    p.add_argument("--n", type=int, default=5, help="rows to print (default 5)")
    p.add_argument("--columns", help="comma-separated columns to show")
    p.add_argument("--where", help="SQL filter, e.g. \"lang = 'fr' AND n_tokens > 100\"")
    p.set_defaults(func=_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
