"""A PEP 503 "simple" package index on 127.0.0.1: a loopback stand-in for download.pytorch.org and pypi.org.

It lists wheels under the paths the real indexes use (``/whl/cpu/torch/``, ``/whl/cu128/torch/``,
``/simple/torch/``) and serves each wheel's ``METADATA`` file as ``<wheel>.metadata`` (PEP 658), announced
with its sha256 in the ``data-dist-info-metadata`` and ``data-core-metadata`` attributes (PEP 714). pip then
resolves from the metadata alone: ``pip install --dry-run`` never downloads the wheel, which this server does
not even have (a request for it gets 404). Every request is recorded, so a test can check that pip asked
this server::

    with PyPIIndex() as index:
        index.add_torch("/whl/cu128", "cu128")      # torch-2.13.0+cu128, metadata from the local +cpu wheel
        index.add_torch("/simple", None)            # torch-2.13.0 as PyPI names it
        ...  # pip install --dry-run --index-url {index.url('/whl/cu128')} torch==2.13.0+cu128
        assert index.asked("/whl/cu128/torch/")

The metadata comes from the real torch wheel on this machine's disk (``TORCH_WHEEL``), read with zipfile
(only the central directory and one member: fast), and its ``Version`` is rewritten to the served file name's
version, since pip checks that the two agree: the ``+cu128`` wheel pip is offered is the CPU wheel's metadata
under the CUDA build's name and version, which is all a dry run looks at (its ``Requires-Dist`` lacks the
CUDA build's ``nvidia-*`` packages, which the tests leave out with ``--no-deps`` anyway).
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import re
import zipfile
from functools import cache
from pathlib import Path
from urllib.parse import quote

from fixture_servers import FixtureServer, Reply

TORCH_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
"""The CPU wheel that ``torch==2.13.0`` resolves to on the project's machines."""
TORCH_VERSION = "2.13.0"
_WHEEL_TAGS = "cp311-cp311-manylinux_2_28_x86_64"


@cache
def torch_metadata(wheel: Path = TORCH_WHEEL) -> bytes:
    """The ``METADATA`` file of ``wheel`` (``torch-2.13.0+cpu.dist-info/METADATA``).

    Where the wheel is not on disk (a machine other than the project's), the installed torch's copy of the
    same file is used: pip copies it unchanged from the wheel.
    """
    if not wheel.is_file():
        return importlib.metadata.distribution("torch").read_text("METADATA").encode()
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
        return zf.read(name)


def with_version(metadata: bytes, version: str) -> bytes:
    """``metadata`` with its ``Version:`` header set to ``version``.

    >>> with_version(b"Name: torch\\nVersion: 2.13.0+cpu\\n", "2.13.0+cu128")
    b'Name: torch\\nVersion: 2.13.0+cu128\\n'
    """
    new, n = re.subn(rb"^Version: .*$", b"Version: " + version.encode(), metadata, count=1, flags=re.M)
    if n != 1:
        raise ValueError("no Version header in the metadata")
    return new


class PyPIIndex(FixtureServer):
    """The index, on a free port of 127.0.0.1; use as a context manager. ``requests`` lists what pip asked."""

    def add_wheel(self, index: str, project: str, filename: str, metadata: bytes) -> str:
        """List ``filename`` on ``{index}/{project}/`` with ``metadata`` (PEP 658); returns the wheel's path.

        The wheel link is absolute, as on download.pytorch.org (``/whl/cpu/torch-2.13.0%2Bcpu-....whl``).
        """
        wheel_path = f"{index}/{quote(filename)}"
        digest = hashlib.sha256(metadata).hexdigest()
        href = html.escape(wheel_path)
        page = (
            "<!DOCTYPE html>\n<html><body>\n"
            f'<a href="{href}" data-dist-info-metadata="sha256={digest}" '
            f'data-core-metadata="sha256={digest}">{html.escape(filename)}</a>\n'
            "</body></html>\n"
        ).encode()
        self.add(
            f"{index}/{project}/", Reply(body=page, headers={"Content-Type": "text/html; charset=utf-8"})
        )
        self.add(
            f"{wheel_path}.metadata", Reply(body=metadata, headers={"Content-Type": "binary/octet-stream"})
        )
        return wheel_path

    def add_torch(self, index: str, local: str | None) -> str:
        """List torch 2.13.0 on ``{index}/torch/``: ``2.13.0+{local}`` (PyTorch's indexes) or plain ``2.13.0``
        (PyPI) when ``local`` is None. Returns the version listed."""
        version = TORCH_VERSION + (f"+{local}" if local else "")
        self.add_wheel(
            index,
            "torch",
            f"torch-{version}-{_WHEEL_TAGS}.whl",
            with_version(torch_metadata(), version),
        )
        return version

    def asked(self, path: str) -> bool:
        """Whether a request for ``path`` arrived."""
        return bool(self.seen(path))

    @property
    def paths(self) -> list[str]:
        """The paths requested, in order."""
        with self._lock:
            return [r.path for r in self.requests]
