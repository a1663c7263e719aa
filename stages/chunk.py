"""DVC stage ``chunk``: documents.parquet → chunks.parquet + chunk_rejects.parquet (see lexqa.chunk)."""

from lexqa import chunk
from lexqa.stage import run_stage

if __name__ == "__main__":
    run_stage(chunk.run)
