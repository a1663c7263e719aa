"""DVC stage ``train``: dataset/train.json → models/lexqa (Matryoshka fine-tuning, see lexqa.train).

Multi-GPU (DDP): ``torchrun --nproc_per_node 4 stages/train.py`` or ``accelerate launch stages/train.py``.
"""

from lexqa import train
from lexqa.stage import run_stage

if __name__ == "__main__":
    run_stage(train.run)
