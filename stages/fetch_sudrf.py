"""DVC stage ``fetch_sudrf`` of data/raw/dvc.yaml (see lexqa.fetch.sudrf and docs/fetch.md)."""

from lexqa.fetch import run_fetch_stage, sudrf

if __name__ == "__main__":
    run_fetch_stage(sudrf.run)
