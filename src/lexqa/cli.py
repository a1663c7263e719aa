"""The ``lexqa`` command: user tools around the pipeline.

lexqa inspect data/processed/chunks.parquet --n 3 --where "lang = 'ru'"
lexqa new-domain de_bgb --lang de --kind markdown --path data/raw/de_bgb
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


def _new_domain(args: argparse.Namespace) -> int:
    from lexqa.new_domain import main as new_domain

    return new_domain(
        args.name,
        kind=args.kind,
        lang=args.lang,
        path=args.path,
        domain=args.domain,
        options=args.set,
        project=args.project,
        dry_run=args.dry_run,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lexqa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "inspect", help="print rows, schema and text-length statistics of a parquet/JSONL table"
    )
    p.add_argument("path", help="a .parquet or .jsonl file, e.g. data/processed/chunks.parquet")
    p.add_argument("--n", type=int, default=5, help="rows to print (default 5)")
    p.add_argument("--columns", help="comma-separated columns to show")
    p.add_argument("--where", help="SQL filter, e.g. \"lang = 'fr' AND n_tokens > 100\"")
    p.set_defaults(func=_inspect)

    p = sub.add_parser(
        "new-domain",
        help="add a source, its prompt template and its DVC dependency for a new legal corpus",
        description="Add a source to params.yaml (comments kept), a prompt template to edit "
        "(prompts/question_<domain>.md, registered under generate.prompts), and the corpus path to the "
        "ingest stage's deps in dvc.yaml. See docs/new-domain.md.",
    )
    p.add_argument("name", help="source name, unique in params.yaml (part of every doc id)")
    p.add_argument("--lang", required=True, help="ISO 639-1 code of the corpus language, e.g. de")
    p.add_argument("--kind", required=True, help="reader: markdown, tabular, text, legi_xml, … (params.yaml)")
    p.add_argument("--path", required=True, help="file or folder of the corpus, relative to the project root")
    p.add_argument("--domain", help="domain label and prompt name (default: the source name)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a kind-specific source key, e.g. --set text_column=body (repeatable; the value is YAML)",
    )
    p.add_argument("--project", default=".", help="project root holding params.yaml (default: .)")
    p.add_argument("--dry-run", action="store_true", help="print the changes as a diff, write nothing")
    p.set_defaults(func=_new_domain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
