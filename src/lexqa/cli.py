"""The ``lexqa`` command: user tools around the pipeline.

lexqa inspect data/processed/chunks.parquet --n 3 --where "lang = 'ru'"
lexqa new-domain de_bgb --lang de --kind markdown --path data/raw/de_bgb
lexqa cache                      # the embedding cache: vectors and size per model
lexqa cache prune --model models/lexqa --older-than 30
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


def _cache_dir(args: argparse.Namespace) -> str:
    """``--dir``, else ``embed.cache_dir`` of the project's params.yaml, else the default folder."""
    if args.dir:
        return args.dir
    from lexqa.config import EmbedParams, ParamsError, load_params

    try:
        return str(load_params("params.yaml").embed.cache_dir)
    except ParamsError:
        return str(EmbedParams().cache_dir)


def _cache(args: argparse.Namespace) -> int:
    from lexqa.embed.cache import EmbeddingCache, describe

    cache = EmbeddingCache(_cache_dir(args))
    if args.action == "prune":
        if args.model is None and args.older_than is None:
            print("error: lexqa cache prune needs --model and/or --older-than", file=sys.stderr)
            return 2
        deleted = cache.prune(model=args.model, older_than_days=args.older_than)
        freed = sum(e.bytes for e in deleted)
        print(
            f"deleted {len(deleted)} model(s), {freed / 2**20:,.1f} MB: {', '.join(_deleted_names(deleted))}"
        )
        return 0
    print(f"embedding cache {cache.root}")
    print(describe(cache.entries()))
    return 0


def _deleted_names(entries) -> list[str]:
    return [f"{', '.join(e.names)} ({e.fingerprint[:12]})" for e in entries] or ["nothing matched"]


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

    p = sub.add_parser(
        "cache",
        help="list or prune the embedding cache (vectors per model)",
        description="The embedding cache (embed.cache_dir, data/cache/embeddings by default) holds one file per "
        "model fingerprint. Without an action: vectors, size and last use per model. Deleting the folder is "
        "always safe: vectors are encoded again when needed.",
    )
    p.add_argument("action", nargs="?", choices=["list", "prune"], default="list")
    p.add_argument(
        "--model",
        help="prune: a name the model was used under (models/lexqa, a hub id) or a fingerprint prefix (8+ hex)",
    )
    p.add_argument("--older-than", type=float, metavar="DAYS", help="prune: models not used for DAYS days")
    p.add_argument("--dir", help="the cache folder (default: embed.cache_dir of ./params.yaml)")
    p.set_defaults(func=_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
