"""DVC stage ``fetch_legifrance`` of data/raw/dvc.yaml (see lexqa.fetch.legifrance and docs/fetch.md)."""

from lexqa.fetch import legifrance, run_fetch_stage

if __name__ == "__main__":
    run_fetch_stage(legifrance.run)
