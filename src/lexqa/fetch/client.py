"""One polite HTTP client for the fetchers: rate limit per site, retries with backoff and ``Retry-After``.

Built on httpx2 (the HTTP client the ``openai`` package ships with). Every request carries the configured
User-Agent; 408/425/429/5xx answers, timeouts and dropped connections are retried with exponential
backoff (or after the server's ``Retry-After``), up to ``fetch.http.max_attempts`` tries; then
:class:`FetchError` says which URL failed and why. Other statuses (200, 206, 404, ...) are returned for
the caller to judge::

    >>> from lexqa.config import HttpParams
    >>> from lexqa.fetch.client import PoliteClient
    >>> with PoliteClient(HttpParams(), requests_per_second=1) as client:      # doctest: +SKIP
    ...     page = client.request("GET", "https://example.org/")
    ...     with client.stream("GET", "https://example.org/big.tar.gz") as resp:
    ...         for chunk in resp.iter_raw(1 << 20):
    ...             ...
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx2

from lexqa.config import HttpParams
from lexqa.secrets import redact

log = logging.getLogger("lexqa.fetch")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Statuses worth another try: timeouts, throttling and transient server errors."""
RETRY_ERRORS = (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)
"""Transport failures worth another try: timeouts, refused or reset connections, bodies cut short."""


class FetchError(RuntimeError):
    """A request that failed for good, with a message naming the URL and why, and a short ``reason`` code.

    The message is redacted (:func:`lexqa.secrets.redact`): it becomes rejects rows and log lines."""

    def __init__(self, message: str, reason: str = "http_error") -> None:
        super().__init__(redact(message))
        self.reason = reason


def error_reason(exc: BaseException) -> str:
    """A short code for a transport failure: ``timeout`` or ``connection_error``."""
    return "timeout" if isinstance(exc, httpx2.TimeoutException) else "connection_error"


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds, or an HTTP date); None if absent or bad.

    >>> retry_after_s("3")
    3.0
    >>> retry_after_s("Wed, 21 Oct 2015 07:28:10 GMT", now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC))
    10.0
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RateLimiter:
    """At most one request per ``interval_s`` to each host (the gap between starts of consecutive requests).

    >>> limiter = RateLimiter(0.0)
    >>> limiter.wait("example.org")
    0.0
    """

    def __init__(
        self,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval_s = interval_s
        self._intervals: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep

    def slow_down(self, host: str, interval_s: float) -> None:
        """Space requests to ``host`` by at least ``interval_s`` (e.g. a robots.txt Crawl-delay)."""
        self._intervals[host] = max(self.interval_for(host), interval_s)

    def interval_for(self, host: str) -> float:
        return self._intervals.get(host, self.interval_s)

    def wait(self, host: str) -> float:
        """Sleep until the next request to ``host`` may start; returns the seconds slept."""
        last = self._last.get(host)
        delay = 0.0 if last is None else max(0.0, last + self.interval_for(host) - self._clock())
        if delay > 0:
            self._sleep(delay)
        self._last[host] = self._clock()
        return delay


@dataclass
class HttpStats:
    """What the client did, for the stage summary."""

    requests: int = 0
    retries: int = 0
    waited_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "retries": self.retries, "waited_s": round(self.waited_s, 3)}


class PoliteClient:
    """An httpx2 client with a per-host rate limit and retries; use it as a context manager."""

    def __init__(
        self,
        params: HttpParams,
        requests_per_second: float | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.params = params
        self.stats = HttpStats()
        self._sleep = sleep
        interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self.limiter = RateLimiter(interval, sleep=self.pause)
        self._client = httpx2.Client(
            headers={"User-Agent": params.user_agent},
            timeout=httpx2.Timeout(params.timeout_s),
            follow_redirects=True,
        )
        # httpx2 logs every request at INFO: thousands of lines for a crawl. Its warnings still show.
        logging.getLogger("httpx2").setLevel(logging.WARNING)

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def pause(self, seconds: float) -> None:
        """Sleep (rate limit, backoff), counted in ``stats.waited_s``."""
        self.stats.waited_s += seconds
        self._sleep(seconds)

    def backoff_s(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based): backoff_s, doubled each time, capped."""
        return min(self.params.max_backoff_s, self.params.backoff_s * 2 ** (attempt - 1))

    def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        """Send a request with retries and read the body; the response of the last try is returned."""
        return self._send(method, url, stream=False, **kwargs)

    @contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx2.Response]:
        """Like :meth:`request` but the body is left to read (``iter_raw``); closed on exit."""
        response = self._send(method, url, stream=True, **kwargs)
        try:
            yield response
        finally:
            response.close()

    def _send(self, method: str, url: str, *, stream: bool, **kwargs: Any) -> httpx2.Response:
        host = urlsplit(url).netloc
        attempts = self.params.max_attempts
        for attempt in range(1, attempts + 1):
            self.limiter.wait(host)
            self.stats.requests += 1
            try:
                request = self._client.build_request(method, url, **kwargs)
                response = self._client.send(request, stream=stream)
            except RETRY_ERRORS as exc:
                why, reason = f"{type(exc).__name__}: {exc}", error_reason(exc)
                if attempt == attempts:
                    raise FetchError(f"{url}: {why} (after {attempt} attempts)", reason) from None
                delay = self.backoff_s(attempt)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                status = response.status_code
                asked = retry_after_s(response.headers.get("Retry-After"))
                response.close()
                why = f"HTTP {status}"
                if attempt == attempts:
                    raise FetchError(f"{url}: {why} (after {attempt} attempts)", f"http_{status}")
                if asked is not None and asked > self.params.max_retry_after_s:
                    raise FetchError(
                        f"{url}: {why} asking to retry after {asked:.0f} s, more than "
                        f"fetch.http.max_retry_after_s ({self.params.max_retry_after_s:.0f} s)",
                        "retry_after_too_long",
                    )
                delay = asked if asked is not None else self.backoff_s(attempt)
            self.stats.retries += 1
            log.warning(
                "%s: %s; retry %d of %d in %.1f s", redact(url), redact(why), attempt, attempts - 1, delay
            )
            self.pause(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")
