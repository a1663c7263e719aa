"""Client-side rate limits (requests and tokens per minute), retry delays and ``retry-after`` parsing.

:class:`RateLimiter` keeps two token buckets that refill continuously at the per-minute rates from params
(a bucket holds one second of budget, so requests go out evenly instead of in bursts that trip the server's
own limiter) and a shared pause: when the server answers 429 with ``retry-after``, every request waits, not
only the one that was refused::

    >>> import asyncio
    >>> limiter = RateLimiter(requests_per_minute=600, tokens_per_minute=0)   # 10 requests/s, any tokens
    >>> asyncio.run(limiter.acquire(tokens=500))
    >>> backoff_delay(attempt=3, base_s=1.0, max_s=60.0, retry_after=None) <= 8.0
    True
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable, Mapping

MAX_RETRY_AFTER_S = 600.0


class _Bucket:
    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.clock = clock
        self.stamp = clock()

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` can be taken (0 = taken now). A request larger than the bucket waits for a
        full bucket and then drives it negative, so it is throttled rather than refused."""
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(amount, self.capacity)
        if self.level >= need:
            self.level -= amount
            return 0.0
        return (need - self.level) / self.rate

    def refund(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests/min and tokens/min buckets (0 = unlimited) plus a pause shared by every request."""

    def __init__(
        self, requests_per_minute: int, tokens_per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.requests = _Bucket(requests_per_minute, clock) if requests_per_minute else None
        self.tokens = _Bucket(tokens_per_minute, clock) if tokens_per_minute else None
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        """Wait until one more request of about ``tokens`` tokens may go (callers queue in order)."""
        if self.requests is None and self.tokens is None and self.paused_until <= self.clock():
            return
        async with self._lock:
            while (pause := self.paused_until - self.clock()) > 0:
                await asyncio.sleep(pause)
            for bucket, amount in ((self.requests, 1.0), (self.tokens, float(tokens))):
                while bucket is not None and (delay := bucket.wait_for(amount)) > 0:
                    await asyncio.sleep(delay)

    def settle(self, estimated: int, actual: int) -> None:
        """Give back what a request was charged beyond the tokens it really used."""
        if self.tokens is not None and actual < estimated:
            self.tokens.refund(estimated - actual)

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a 429's ``retry-after``)."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds asked by ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date); None when absent."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    return None


def backoff_delay(attempt: int, base_s: float, max_s: float, retry_after: float | None) -> float:
    """Delay before retry number ``attempt`` (0-based): the server's ``retry-after`` when given, otherwise
    exponential backoff ``base_s * 2**attempt`` capped at ``max_s``, with jitter (50-100 %)."""
    if retry_after is not None:
        return retry_after
    return min(max_s, base_s * 2**attempt) * random.uniform(0.5, 1.0)
