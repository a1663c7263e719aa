"""DVC stage ``fetch_legi`` of data/raw/dvc.yaml (see lexqa.fetch.legi and docs/fetch.md)."""

from lexqa.fetch import legi, run_fetch_stage

if __name__ == "__main__":
    run_fetch_stage(legi.run)
