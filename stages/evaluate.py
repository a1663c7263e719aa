"""DVC stage ``evaluate``: base vs fine-tuned vs BM25 → metrics/eval.json, plots/, reports/eval.md."""

from lexqa import evaluate
from lexqa.stage import run_stage

if __name__ == "__main__":
    run_stage(evaluate.run)
