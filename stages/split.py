"""DVC stage ``split``: pairs.parquet → dataset/ (train.json, eval.json, beir/, the README.md card); see
lexqa.split and docs/curate.md."""

from lexqa import split
from lexqa.stage import run_stage

if __name__ == "__main__":
    run_stage(split.run)
