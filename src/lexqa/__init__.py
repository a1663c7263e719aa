"""lexqa: turn legal texts into a better legal retriever.

Stages (each in dvc.yaml, ``stages/<name>.py`` and ``lexqa.<name>``): ingest → chunk → generate → curate →
split → train → evaluate.
"""

__version__ = "0.1.0"
