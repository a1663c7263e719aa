"""The API key: read from the environment variable that ``generate.api_key_env`` names, never from a file.

A server on this machine (``localhost``, ``127.0.0.0/8``, ``::1``) was started by the user and needs no key
unless it was started with one; the client still needs a value, so :data:`NO_KEY` (a placeholder, not a
secret) stands in::

    >>> is_local("http://127.0.0.1:8000/v1"), is_local("https://api.openai.com/v1")
    (True, False)
"""

from __future__ import annotations

import ipaddress
import logging
import os
from urllib.parse import urlsplit

from lexqa.config import GenerateParams, ParamsError

log = logging.getLogger("lexqa.llm")
NO_KEY = "no-key"  # the bearer token sent to a local server when the key variable is unset


def is_local(base_url: str) -> bool:
    """Whether ``base_url`` names this machine: a server the user started."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(params: GenerateParams) -> str:
    """The key from ``$generate.api_key_env``; for a server on this machine it may be unset, and then
    :data:`NO_KEY` stands in."""
    key = os.environ.get(params.api_key_env)
    if key:
        return key
    if is_local(params.base_url):
        log.info("%s is not set: no API key sent to the local server %s", params.api_key_env, params.base_url)
        return NO_KEY
    raise ParamsError(
        f"{params.base_url} needs an API key and the environment variable {params.api_key_env} "
        f"(generate.api_key_env) is not set; export it (any value for a server without authentication; "
        f"a server on this machine, such as http://127.0.0.1:8000/v1, needs none)"
    )
