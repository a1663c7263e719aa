"""What went wrong with a request that got no HTTP answer: the error class recorded with its failure.

The ``openai`` client's aiohttp transport reports every connection failure as ``APITimeoutError`` (its
exception map turns any ``aiohttp.ClientConnectionError`` into ``httpx.ConnectTimeout``), so a refused
connection read "timeout: no answer within 120 s". The class is therefore taken from the deepest cause in the
exception chain, the operating system's or the TLS library's own error, and the client's exception class only
decides when nothing below it does. The classes (docs/generate.md, "Error classes"):

============================  =======================================================================
``connection_refused``        nothing listens at the host and port (server down, wrong port)
``connection_reset``          the server reset or closed the connection before answering
``connection_dns``            the host name does not resolve (a typo in ``generate.base_url``, no DNS)
``connection_tls``            the TLS handshake failed (``https://`` to a plain-HTTP server, bad certificate)
``timeout``                   no answer within ``generate.timeout_s``
``connection``                any other transport failure (network unreachable, ...), with its message
============================  =======================================================================

>>> classify(ConnectionRefusedError(111, "Connect call failed"), "127.0.0.1:9", 120)
('connection_refused', 'connection refused by 127.0.0.1:9 (is the server running, on that port?)')
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2

try:  # the aiohttp transport's own classes, when it is installed (its timeouts are TimeoutErrors)
    from aiohttp import ClientConnectorDNSError, ClientSSLError, ServerDisconnectedError
except ImportError:  # pragma: no cover - aiohttp ships with the openai[aiohttp] extra
    ClientConnectorDNSError = ClientSSLError = ServerDisconnectedError = ()  # type: ignore[misc,assignment]

DNS = (socket.gaierror, ClientConnectorDNSError)
TLS = (ssl.SSLError, ssl.CertificateError, ClientSSLError)
REFUSED = (ConnectionRefusedError,)
RESET = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ServerDisconnectedError)
TIMEOUT = (TimeoutError, httpx2.TimeoutException)


def where(base_url: str) -> str:
    """``host:port`` of a server URL, as error details name it.

    >>> where("https://api.openai.com/v1"), where("http://127.0.0.1:8000/v1")
    ('api.openai.com:443', '127.0.0.1:8000')
    """
    url = urlsplit(base_url)
    return f"{url.hostname}:{url.port or (443 if url.scheme == 'https' else 80)}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes, outermost first (``__cause__``, else ``__context__``), each once."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        yield node
        node = node.__cause__ or node.__context__


def classify(exc: BaseException, where: str, timeout_s: float) -> tuple[str, str]:
    """``(code, detail)`` for a request to ``where`` (host:port) that failed with ``exc`` and no HTTP status.

    The deepest exception that belongs to a class decides: a refused connection stays ``connection_refused``
    even when a transport wrapped it in a timeout on its way up.
    """
    for cause in reversed(list(_chain(exc))):
        if isinstance(cause, DNS):
            return "connection_dns", f"cannot resolve the host of {where} (check generate.base_url)"
        if isinstance(cause, TLS):
            reason = getattr(cause, "reason", None) or type(cause).__name__
            return "connection_tls", (
                f"TLS handshake with {where} failed ({reason}): an https:// URL for a plain-HTTP server, or a "
                "certificate the client does not trust"
            )
        if isinstance(cause, REFUSED):
            return (
                "connection_refused",
                f"connection refused by {where} (is the server running, on that port?)",
            )
        if isinstance(cause, RESET) or _closed_early(cause):
            return "connection_reset", f"{where} reset or closed the connection before answering"
        if isinstance(cause, TIMEOUT):
            return "timeout", f"no answer within {timeout_s:g} s"
    return "connection", f"{type(exc.__cause__ or exc).__name__}: {exc.__cause__ or exc}"


def _closed_early(exc: BaseException) -> bool:
    """httpx's way of saying the server hung up without an answer."""
    return isinstance(exc, httpx2.RemoteProtocolError) and "disconnected" in str(exc).lower()
