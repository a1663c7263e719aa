"""robots.txt rules per site, fetched once per run through the polite client (same User-Agent, retries).

What a missing or failing robots.txt means follows RFC 9309: 401/403 → everything disallowed, other 4xx → all
allowed, 5xx or unreachable after retries → everything disallowed. ``Crawl-delay`` and ``Request-rate`` slow
the client's rate limit for that site (never speed it up)::

    >>> robots = Robots(client)                                   # doctest: +SKIP
    >>> robots.allowed("https://court.sudrf.ru/modules.php?name=sud_delo")   # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from lexqa.fetch.client import FetchError, PoliteClient

log = logging.getLogger("lexqa.fetch")


class Robots:
    """Whether the client's User-Agent may fetch a URL; each site's robots.txt is read on first use."""

    def __init__(self, client: PoliteClient) -> None:
        self.client = client
        self.agent = client.params.user_agent
        self._sites: dict[str, RobotFileParser] = {}

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        if site not in self._sites:
            self._sites[site] = self._read(site, parts.netloc)
        return self._sites[site].can_fetch(self.agent, url)

    def _read(self, site: str, host: str) -> RobotFileParser:
        parser = RobotFileParser(f"{site}/robots.txt")
        try:
            resp = self.client.request("GET", parser.url)
        except FetchError as exc:
            log.warning("%s: unreachable (%s): nothing on %s will be fetched", parser.url, exc, site)
            parser.disallow_all = True
            return parser
        if resp.status_code in (401, 403) or resp.status_code >= 500:
            log.warning("%s: HTTP %d: nothing on %s will be fetched", parser.url, resp.status_code, site)
            parser.disallow_all = True
        elif resp.status_code >= 400:
            parser.allow_all = True
        else:
            parser.parse(resp.text.splitlines())
            self._slow_down(parser, host)
        return parser

    def _slow_down(self, parser: RobotFileParser, host: str) -> None:
        delay = parser.crawl_delay(self.agent)
        rate = parser.request_rate(self.agent)
        interval = max(float(delay or 0), rate.seconds / rate.requests if rate and rate.requests else 0.0)
        if interval > self.client.limiter.interval_for(host):
            log.info("%s asks for %.1f s between requests: slowing down", host, interval)
            self.client.limiter.slow_down(host, interval)
