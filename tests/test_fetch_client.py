"""The polite HTTP client against a loopback server: User-Agent, rate limit, retries, Retry-After, give-up."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest
from fixture_servers import FAST_HTTP, FixtureServer, Reply

from lexqa.config import HttpParams
from lexqa.fetch.client import FetchError, PoliteClient, RateLimiter, retry_after_s


@pytest.fixture
def server():
    with FixtureServer() as srv:
        yield srv


def gaps(seen) -> list[float]:
    return [b.t - a.t for a, b in itertools.pairwise(seen)]


def client(rps: float | None = None, **http) -> PoliteClient:
    return PoliteClient(HttpParams(**{**FAST_HTTP, **http}), requests_per_second=rps)


def test_user_agent_names_lexqa(server):
    server.add("/p", Reply(body=b"ok"))
    with client() as c:
        assert c.request("GET", server.url("/p")).content == b"ok"
    assert server.seen("/p")[0].headers["user-agent"].startswith("lexqa/")


def test_rate_limit_spaces_requests_to_a_host(server):
    server.add("/p", Reply(body=b"ok"))
    with client(rps=10) as c:  # one request per 100 ms
        for _ in range(4):
            c.request("GET", server.url("/p"))
    seen = server.seen("/p")
    spacing = gaps(seen)
    assert len(spacing) == 3
    # Arrival times on the server carry some ms of thread jitter around the client's 100 ms spacing.
    assert seen[-1].t - seen[0].t >= 3 * 0.1 - 0.02, spacing
    assert min(spacing) >= 0.07, spacing


def test_retry_after_is_honoured_on_429(server):
    server.add("/p", Reply(429, headers={"Retry-After": "1"}), Reply(body=b"ok"))
    with client() as c:
        resp = c.request("GET", server.url("/p"))
        assert resp.status_code == 200
        assert c.stats.retries == 1
    (gap,) = gaps(server.seen("/p"))
    assert gap >= 0.95  # the server asked for one second; the backoff alone would be 10 ms


def test_500_then_success_with_exponential_backoff(server):
    server.add("/p", Reply(500), Reply(502), Reply(body=b"ok"))
    with client(backoff_s=0.1, max_backoff_s=1.0) as c:
        assert c.request("GET", server.url("/p")).content == b"ok"
    first, second = gaps(server.seen("/p"))
    assert first >= 0.095 and second >= 0.195  # 0.1 s then doubled


def test_timeout_then_success(server):
    server.add("/p", Reply(body=b"late", delay_s=1.0), Reply(body=b"ok"))
    with client(timeout_s=0.3) as c:
        start = time.monotonic()
        assert c.request("GET", server.url("/p")).content == b"ok"
        assert time.monotonic() - start < 0.9  # gave up on the slow answer instead of waiting for it
        assert c.stats.retries == 1


def test_connection_reset_then_success(server):
    server.add("/p", Reply(reset=True), Reply(body=b"ok"))
    with client() as c:
        assert c.request("GET", server.url("/p")).content == b"ok"
    assert len(server.seen("/p")) == 2


def test_body_cut_short_is_retried(server):
    server.add("/p", Reply(body=b"0123456789", cut_at=4), Reply(body=b"0123456789"))
    with client() as c:
        assert c.request("GET", server.url("/p")).content == b"0123456789"


def test_gives_up_after_max_attempts_with_a_clear_error(server):
    server.add("/p", Reply(503))
    with client(max_attempts=3) as c, pytest.raises(FetchError) as err:
        c.request("GET", server.url("/p"))
    assert err.value.reason == "http_503"
    assert server.url("/p") in str(err.value) and "after 3 attempts" in str(err.value)
    assert len(server.seen("/p")) == 3


def test_all_timeouts_give_a_timeout_reason(server):
    server.add("/p", Reply(delay_s=0.5))
    with client(timeout_s=0.1, max_attempts=2) as c, pytest.raises(FetchError) as err:
        c.request("GET", server.url("/p"))
    assert err.value.reason == "timeout"


def test_retry_after_longer_than_allowed_fails_at_once(server):
    server.add("/p", Reply(429, headers={"Retry-After": "3600"}))
    with client(max_retry_after_s=60) as c, pytest.raises(FetchError) as err:
        c.request("GET", server.url("/p"))
    assert err.value.reason == "retry_after_too_long"
    assert "max_retry_after_s" in str(err.value)
    assert len(server.seen("/p")) == 1


def test_client_errors_are_returned_not_retried(server):
    with client() as c:
        assert c.request("GET", server.url("/missing")).status_code == 404
    assert len(server.seen("/missing")) == 1


def test_retry_after_parsing():
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_s("120") == 120.0
    assert retry_after_s("Wed, 21 Oct 2015 07:29:00 GMT", now=now) == 60.0
    assert retry_after_s("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0  # in the past: no wait
    assert retry_after_s("soon") is None and retry_after_s(None) is None and retry_after_s(" ") is None


def test_rate_limiter_is_per_host_and_slows_down_only():
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    limiter.wait("a")
    limiter.wait("b")  # another host: no wait
    assert slept == []
    limiter.wait("a")
    assert slept == [1.0]
    limiter.slow_down("a", 0.5)  # never faster than the configured rate
    assert limiter.interval_for("a") == 1.0
    limiter.slow_down("a", 3.0)
    limiter.wait("a")
    assert slept == [1.0, 3.0]
