"""Secrets never echo: one redaction for every error, log line, summary, rejects row and cache entry.

What is hidden (replaced by ``***``):

- the values of the environment variables named by secret-named settings (every setting whose name ends in
  ``_env``: ``generate.api_key_env``, ``fetch.legifrance.client_id_env``, ``client_secret_env``), remembered
  by :func:`remember_env_secrets` when a stage starts, and any value given to :func:`remember` (the key a
  backend was handed, an OAuth token a fetcher received). Values shorter than :data:`MIN_SECRET_CHARS` are
  not remembered: local servers take ``none`` or ``EMPTY`` as a key, and hiding such words everywhere would
  garble every message while protecting nothing;
- what a secret-named setting holds when it is not a variable name (a key pasted by mistake into
  ``api_key_env``): :func:`setting_secrets` finds those values in raw params so that their error hides them;
- anything shaped like a credential, remembered or not: ``sk-…`` keys, ``Bearer …`` tokens, JSON Web Tokens,
  and the value after ``Authorization``, ``x-api-key``, ``api_key``, ``access_token``, ``client_secret``,
  ``password``… followed by ``:`` or ``=`` (headers echoed in an error body, query strings, form fields).

:func:`install` (called by :func:`lexqa.stage.run_stage`) applies it to every log record, warning and
uncaught exception's traceback of the process::

    >>> redact("HTTP 401: Incorrect API key provided: sk-proj-abc123def456")
    'HTTP 401: Incorrect API key provided: sk-***'
    >>> redact('{"headers": {"Authorization": "Bearer 0a1b2c3d4e5f"}}')
    '{"headers": {"Authorization": "Bearer ***"}}'
    >>> redact("GET /v1/models?api_key=0a1b2c3d&limit=2")
    'GET /v1/models?api_key=***&limit=2'
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

MIN_SECRET_CHARS = 8
"""Remembered values shorter than this are not secrets (``none``, ``EMPTY``: what local servers accept)."""

MASK = "***"

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
"""What a ``*_env`` setting must hold: the NAME of an environment variable (upper case, digits, ``_``)."""

_KEY_SHAPED = [
    # provider keys: sk-… (OpenAI, sk-proj-…, sk-ant-…), rk-/pk-… (restricted, publishable)
    (re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9][A-Za-z0-9_\-]{5,}"), rf"\1-{MASK}"),
    # JSON Web Tokens (OAuth access tokens, id tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"), MASK),
    # a value after a credential-like name and ':' or '=' (headers, JSON fields, form fields); an auth
    # scheme (Bearer, Basic, Token) before the value is kept, so the message still says what it was
    (
        re.compile(
            r"""(?ix)
            \b((?:proxy-)?authorization|x-api-key|api[-_ ]?key|access[-_]?token|refresh[-_]?token
               |id[-_]?token|client[-_]?secret|secret|password|passwd|token)\b
            (["']?\s*[:=]\s*["']?)
            ((?:bearer|basic|token)\s+)?
            (?!\*\*\*)(?!(?:bearer|basic|token)\s)[^\s"',;&}\]]+"""
        ),
        rf"\1\2\3{MASK}",
    ),
    # a bearer token anywhere else
    (re.compile(r"(?i)\b(bearer)\s+(?!\*\*\*)[A-Za-z0-9._~+/\-]+=*"), rf"\1 {MASK}"),
    # credentials in a query string: ?key=…, &token=…, &sig=…
    (
        re.compile(
            r"(?i)([?&](?:key|api[-_]?key|token|access[-_]?token|client[-_]?secret|sig|signature)=)"
            r"[^&\s#\"']+"
        ),
        rf"\1{MASK}",
    ),
]

_lock = threading.Lock()
_remembered: tuple[str, ...] = ()


def remember(*values: str | None) -> None:
    """Hide these values from now on in everything :func:`redact` sees (too short ones are ignored)."""
    global _remembered
    new = {v for v in values if v and len(v) >= MIN_SECRET_CHARS}
    for value in list(new):
        new.add(quote(value, safe=""))  # as it appears in a URL or a form body
    with _lock:
        _remembered = tuple(sorted(set(_remembered) | new, key=len, reverse=True))


def redact(text: str, *secrets: str | None) -> str:
    """``text`` without the remembered secrets, the given ones (any length), and anything key-shaped."""
    for pattern, replacement in _KEY_SHAPED:
        text = pattern.sub(replacement, text)
    for secret in (*sorted((s for s in secrets if s), key=len, reverse=True), *_remembered):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_obj(obj: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted; other values as they are."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------- settings
def secret_setting(name: str) -> bool:
    """Whether a params key names a credential's environment variable (``api_key_env``, ``client_secret_env``)."""
    return name.endswith("_env")


def is_env_name(value: str) -> bool:
    """Whether a ``*_env`` setting holds a variable NAME, rather than a key pasted in its place.

    A long run of letters and digits without ``_`` is refused too: it is how keys look, not how variables are
    named.

    >>> is_env_name("OPENAI_API_KEY"), is_env_name("sk-abc123"), is_env_name("A1B2C3D4E5F6G7H8I9J0K1")
    (True, False, False)
    """
    if not ENV_NAME.fullmatch(value):
        return False
    return "_" in value or len(value) < 20 or not any(c.isdigit() for c in value)


def _settings(node: Any) -> Iterator[tuple[str, Any]]:
    """``(key, value)`` of every setting in raw params or a params model, at any depth."""
    if isinstance(node, BaseModel):
        node = {name: getattr(node, name) for name in type(node).model_fields}
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key), value
            yield from _settings(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _settings(value)


def setting_secrets(raw: Any) -> list[str]:
    """Values of secret-named settings that are not variable names (keys pasted by mistake), to hide."""
    return [
        value
        for key, value in _settings(raw)
        if secret_setting(key) and isinstance(value, str) and value and not is_env_name(value)
    ]


def remember_env_secrets(params: Any) -> None:
    """Remember the values of the environment variables that secret-named settings name (and any such
    setting's own value that is not a variable name)."""
    names = [v for k, v in _settings(params) if secret_setting(k) and isinstance(v, str)]
    remember(*(os.environ.get(name) for name in names if is_env_name(name)), *setting_secrets(params))


# --------------------------------------------------------------------------------------------- process
class _RedactingRecord(logging.LogRecord):
    """A log record whose message, exception text and stack are redacted once, when it is made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            message = super().getMessage()
        except Exception:  # arguments that do not fit the format: logging would report it; keep both
            message = f"{self.msg!s} {self.args!r}"
        self.msg, self.args = redact(message), None
        if self.exc_info and self.exc_info[0] is not None:  # formatters use exc_text when it is set
            self.exc_text = redact("".join(traceback.format_exception(*self.exc_info)).rstrip("\n"))
        if self.stack_info:
            self.stack_info = redact(self.stack_info)


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))
    sys.stderr.flush()


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread else "a thread"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(redact(f"Exception in thread {name}:\n{text}"))
    sys.stderr.flush()


_formatwarning = warnings.formatwarning


def _redacted_warning(*args: Any, **kwargs: Any) -> str:
    return redact(_formatwarning(*args, **kwargs))


def install() -> None:
    """Redact every log record, warning and uncaught exception's traceback of this process (idempotent)."""
    logging.setLogRecordFactory(_RedactingRecord)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    warnings.formatwarning = _redacted_warning
