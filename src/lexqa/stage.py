"""Shared wiring for the thin scripts in ``stages/``: offline environment, logging, params, clean errors.

# stages/chunk.py
from lexqa import chunk
from lexqa.stage import run_stage

if __name__ == "__main__":
    run_stage(chunk.run)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from lexqa import secrets
from lexqa.config import Params, ParamsError, load_params
from lexqa.errors import CacheFullError, InputError
from lexqa.summary import setup_logging

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def set_offline_env() -> None:
    """Keep Hugging Face libraries off the network unless the user set these variables otherwise."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def run_stage(fn: Callable[[Params], Any], params_path: str = "params.yaml") -> None:
    """Load and validate params, run ``fn(params)``; a bad parameter, a missing or unusable input exits 2 with
    its message.

    Secrets never echo (:mod:`lexqa.secrets`): the values of the environment variables that secret-named
    settings name are remembered once params are read, and every log record, warning, uncaught exception's
    traceback (a crash still exits 1 with its traceback) and error message of the process is redacted.
    """
    set_offline_env()
    secrets.install()
    setup_logging()
    try:
        params = load_params(params_path)
        secrets.remember_env_secrets(params)
        fn(params)
    except (ParamsError, InputError, CacheFullError, FileNotFoundError) as exc:
        print(f"error: {secrets.redact(str(exc))}", file=sys.stderr)
        sys.exit(2)
