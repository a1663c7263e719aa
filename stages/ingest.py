"""DVC stage ``ingest``: sources in params.yaml → data/processed/documents.parquet (see lexqa.ingest)."""

from lexqa import ingest
from lexqa.stage import run_stage

if __name__ == "__main__":
    run_stage(ingest.run)
