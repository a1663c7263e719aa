"""DVC stage ``generate``: chunks.parquet → questions.parquet (see lexqa.generate and docs/generate.md).

Exits 1 (outputs written) when more chunks failed than generate.max_failed_fraction allows, so that DVC does
not record the run and the next ``dvc repro`` retries the failures (answers already received come from the
cache).
"""

import sys

from lexqa import generate
from lexqa.config import Params
from lexqa.stage import run_stage


def main(params: Params) -> None:
    try:
        generate.run(params)
    except generate.TooManyFailures as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run_stage(main)
