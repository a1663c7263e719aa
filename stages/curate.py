"""DVC stage ``curate``: questions.parquet + chunks.parquet → pairs.parquet, curate_rejects.parquet (see
lexqa.curate and docs/curate.md)."""

from lexqa import curate
from lexqa.stage import run_stage

if __name__ == "__main__":
    run_stage(curate.run)
