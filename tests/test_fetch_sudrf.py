"""fetch_sudrf against a loopback court site: robots.txt, rate limit, retries, cache, windows-1251 bytes."""

from __future__ import annotations

import json

import polars as pl
import pytest
from fixture_servers import FixtureServer, Reply, fetch_params

from lexqa.config import ParamsError, SudrfHtmlSource
from lexqa.fetch import sudrf

CASE = "/modules.php?name=sud_delo&srv_num=1&case_id={}"
PAGE = "<html><head><meta charset='windows-1251'></head><body><p>РЕШЕНИЕ Именем Российской Федерации {}</p>"
ROBOTS = b"User-agent: *\nDisallow: /private/\n\nUser-agent: OtherBot\nDisallow: /\n"


def page(n: int) -> bytes:
    return PAGE.format(n).encode("cp1251")


@pytest.fixture
def site():
    with FixtureServer() as srv:
        srv.add("/robots.txt", Reply(body=ROBOTS))
        for n in range(1, 4):
            srv.add(
                CASE.format(n),
                Reply(body=page(n), headers={"Content-Type": "text/html; charset=windows-1251"}),
            )
        yield srv


def params_for(site: FixtureServer, tmp_path, urls: list[str], **over):
    return fetch_params(
        sudrf={
            "urls": urls,
            "requests_per_second": 10,
            "cache_dir": str(tmp_path / "cache"),
            "out_dir": str(tmp_path / "raw"),
            **over,
        }
    )


def test_pages_are_stored_byte_for_byte_with_an_index(site, tmp_path):
    urls = [site.url(CASE.format(n)) for n in (1, 2)]
    summary = sudrf.run(params_for(site, tmp_path, urls), out_dir=tmp_path / "processed")
    index = [json.loads(line) for line in (tmp_path / "raw/index.jsonl").read_text().splitlines()]
    assert [row["url"] for row in index] == urls
    for n, row in enumerate(index, start=1):
        data = (tmp_path / "raw" / row["file"]).read_bytes()
        assert data == page(n)  # windows-1251 bytes, not re-encoded
        assert (tmp_path / "cache" / row["file"]).read_bytes() == data
        assert row["bytes"] == len(data)
    assert summary.rows_out == 2 and summary.extra["pages"] == {"from_cache": 0, "fetched": 2}
    assert json.loads((tmp_path / "processed/fetch_sudrf_summary.json").read_text())["rows_out"] == 2


def test_robots_txt_disallow_is_honoured(site, tmp_path):
    site.add("/private/case", Reply(body=b"secret"))
    urls = [site.url("/private/case"), site.url(CASE.format(1))]
    summary = sudrf.run(params_for(site, tmp_path, urls), out_dir=tmp_path / "processed")
    assert site.seen("/private/case") == []  # never requested
    assert len(site.seen("/robots.txt")) == 1  # read once per site
    rejects = pl.read_parquet(tmp_path / "processed/fetch_sudrf_rejects.parquet")
    assert rejects.select("origin", "reason").rows() == [(urls[0], "robots_disallowed")]
    assert summary.rows_out == 1


def test_robots_txt_server_error_means_nothing_is_fetched(tmp_path):
    with FixtureServer() as site:
        site.add("/robots.txt", Reply(500))
        site.add("/a", Reply(body=b"a"))
        sudrf.run(params_for(site, tmp_path, [site.url("/a")]), out_dir=tmp_path / "processed")
        assert site.seen("/a") == []
    assert pl.read_parquet(tmp_path / "processed/fetch_sudrf_rejects.parquet")["reason"].to_list() == [
        "robots_disallowed"
    ]


def test_missing_robots_txt_allows_everything(tmp_path):
    with FixtureServer() as site:  # /robots.txt answers 404
        site.add("/a", Reply(body=b"a"))
        summary = sudrf.run(params_for(site, tmp_path, [site.url("/a")]), out_dir=tmp_path / "processed")
    assert summary.rows_out == 1


def test_rate_limit_and_crawl_delay(tmp_path):
    with FixtureServer() as site:
        site.add("/robots.txt", Reply(body=b"User-agent: *\nCrawl-delay: 1\n"))
        for n in (1, 2):
            site.add(f"/{n}", Reply(body=b"x"))
        sudrf.run(params_for(site, tmp_path, [site.url("/1"), site.url("/2")]), out_dir=tmp_path / "p")
        first, second = site.seen("/1")[0].t, site.seen("/2")[0].t
    assert second - first >= 0.95  # robots.txt asked for 1 s, slower than the configured 10 requests/s


def test_rerun_fetches_nothing_already_cached(site, tmp_path):
    urls = [site.url(CASE.format(n)) for n in (1, 2)]
    sudrf.run(params_for(site, tmp_path, urls), out_dir=tmp_path / "processed")
    before = len(site.requests)
    more = [*urls, site.url(CASE.format(3))]
    summary = sudrf.run(params_for(site, tmp_path, more), out_dir=tmp_path / "processed")
    new = site.requests[before:]
    assert [r.path for r in new] == ["/robots.txt", CASE.format(3)]
    assert summary.extra["pages"] == {"from_cache": 2, "fetched": 1}
    before = len(site.requests)
    sudrf.run(params_for(site, tmp_path, more), out_dir=tmp_path / "processed")
    assert len(site.requests) == before  # everything cached: not even robots.txt is read


def test_output_mirrors_the_current_url_list(site, tmp_path):
    urls = [site.url(CASE.format(n)) for n in (1, 2)]
    sudrf.run(params_for(site, tmp_path, urls), out_dir=tmp_path / "processed")
    sudrf.run(params_for(site, tmp_path, urls[:1]), out_dir=tmp_path / "processed")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(
        ["index.jsonl", sudrf.page_name(urls[0])]
    )
    assert (tmp_path / "cache" / sudrf.page_name(urls[1])).exists()  # still cached


def test_throttling_and_failures_become_retries_or_rejects(tmp_path):
    with FixtureServer() as site:
        site.add("/throttled", Reply(429, headers={"Retry-After": "1"}), Reply(body=b"finally"))
        site.add("/flaky", Reply(503), Reply(reset=True), Reply(body=b"ok"))
        site.add("/down", Reply(500))
        site.add("/slow", Reply(delay_s=1.0))
        urls = [site.url(p) for p in ("/throttled", "/flaky", "/down", "/gone", "/slow")]
        fetch = {"http": {"timeout_s": 0.3, "max_attempts": 3, "backoff_s": 0.01, "max_backoff_s": 0.05}}
        params = fetch_params(
            **fetch,
            sudrf={
                "urls": urls,
                "requests_per_second": 10,
                "cache_dir": str(tmp_path / "c"),
                "out_dir": str(tmp_path / "o"),
            },
        )
        summary = sudrf.run(params, out_dir=tmp_path / "processed")
        assert site.seen("/throttled")[1].t - site.seen("/throttled")[0].t >= 0.95
        assert len(site.seen("/down")) == 3 and len(site.seen("/gone")) == 1  # 404 is not retried
    rejects = pl.read_parquet(tmp_path / "processed/fetch_sudrf_rejects.parquet")
    assert dict(rejects.select("origin", "reason").rows()) == {
        urls[2]: "http_500",
        urls[3]: "http_404",
        urls[4]: "timeout",
    }
    assert summary.rows_out == 2 and summary.extra["http"]["retries"] == 1 + 2 + 2 + 2


def test_urls_file_comments_duplicates_and_bad_lines(site, tmp_path):
    listing = tmp_path / "urls.txt"
    one = site.url(CASE.format(1))
    listing.write_text(f"# court pages\n{one}\n\n{one}\nftp://example.org/x\n", encoding="utf-8")
    params = params_for(site, tmp_path, [], urls_file=str(listing))
    summary = sudrf.run(params, out_dir=tmp_path / "processed")
    assert summary.rows_out == 1 and dict(summary.rejects) == {"bad_url": 1}


def test_no_urls_is_a_params_error(tmp_path):
    with pytest.raises(ParamsError, match=r"fetch\.sudrf\.urls"):
        sudrf.run(fetch_params(sudrf={"cache_dir": str(tmp_path)}), out_dir=tmp_path)


@pytest.mark.shared_data
def test_fetched_windows_1251_pages_are_read_by_the_sudrf_reader(shared_data, tmp_path):
    """Real case pages served as windows-1251 (as sudrf sites do): stored as served, decoded by the reader."""
    reader = pytest.importorskip("lexqa.ingest.sudrf_html")
    pages = sorted((shared_data / "ru_rulings/sudrf_html").glob("*.html"))[:2]
    with FixtureServer() as site:
        served = {}
        for n, path in enumerate(pages):
            served[f"/case/{n}"] = path.read_bytes().decode("utf-8").encode("cp1251", "xmlcharrefreplace")
            site.add(f"/case/{n}", Reply(body=served[f"/case/{n}"]))
        params = params_for(site, tmp_path, [site.url(p) for p in served])
        sudrf.run(params, out_dir=tmp_path / "processed")
    for path, data in served.items():
        assert (tmp_path / "raw" / sudrf.page_name(site.url(path))).read_bytes() == data
    source = SudrfHtmlSource(name="sudrf", kind="sudrf_html", path=tmp_path / "raw", lang="ru", domain="ru")
    docs = [d for d in reader.read(source) if type(d).__name__ == "Doc"]
    assert len(docs) == len(pages)
    assert all("Российской Федерации" in d.text or "РЕШЕНИЕ" in d.text.upper() for d in docs)
