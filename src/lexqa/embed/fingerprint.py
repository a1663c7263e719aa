"""A model's fingerprint: a hash of the files that decide its vectors, never of its path.

Every regular file of the model folder counts (weights, tokenizer, pooling and normalisation modules, configs),
by relative path and content, except the model card (``README.md``, rewritten with metrics on every save),
training checkpoints and hidden files. A fine-tuned model saved to ``models/lexqa`` therefore gets its own
fingerprint, a retrained one a new one, and a folder changed in place a new one::

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "model.safetensors").write_bytes(b"weights")
    >>> _ = (folder / "README.md").write_text("a card")
    >>> before = fingerprint(folder)
    >>> _ = (folder / "README.md").write_text("another card")        # the card does not count
    >>> fingerprint(folder) == before
    True
    >>> _ = (folder / "model.safetensors").write_bytes(b"retrained")
    >>> fingerprint(folder) == before
    False
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lexqa.config import ParamsError
from lexqa.models import PACKAGED_MODELS, resolve_model_path

SKIPPED_FILES = {"README.md"}
"""Files that never change a vector: the model card."""

_BLOCK = 1 << 20
_memo: dict[tuple, str] = {}


def model_files(folder: str | Path) -> list[Path]:
    """The files that decide the model's vectors, sorted by relative path (symlinks followed: a Hugging Face
    snapshot links to its blobs)."""
    folder = Path(folder)
    files = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") or p.startswith("checkpoint-") for p in parts):
            continue
        if path.name in SKIPPED_FILES or not path.is_file():
            continue
        files.append(path)
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def fingerprint(folder: str | Path) -> str:
    """SHA-256 (hex) over the relative path, size and bytes of each of :func:`model_files`.

    Computed once per process for an unchanged folder (the memo key holds every file's size, mtime and inode,
    so a file rewritten in place is hashed again)."""
    folder = Path(folder).resolve()
    files = model_files(folder)
    if not files:
        raise ParamsError(f"{folder} holds no model files to fingerprint")
    stats = tuple((p.relative_to(folder).as_posix(), *_stat(p)) for p in files)
    memo_key = (str(folder), stats)
    if memo_key not in _memo:
        digest = hashlib.sha256()
        for path, (rel, size, *_) in zip(files, stats, strict=True):
            digest.update(f"{rel}\0{size}\0".encode())
            with path.open("rb") as fh:
                while block := fh.read(_BLOCK):
                    digest.update(block)
        _memo[memo_key] = digest.hexdigest()
    return _memo[memo_key]


def _stat(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def model_folder(name_or_path: str) -> Path:
    """The local folder of a model named in params: the packaged model's, a local path, or the Hugging Face
    cache snapshot of a hub id (offline; :func:`lexqa.models.resolve_model_path` says how to download it)."""
    resolved = resolve_model_path(name_or_path)
    if name_or_path in PACKAGED_MODELS or Path(resolved).is_dir():
        return Path(resolved)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(resolved, local_files_only=True))
