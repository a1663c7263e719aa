"""The LLM layer (lexqa.llm) on its own: jobs and cache keys, the response cache, reply parsing into entries,
rate limits, costs, the response-format step-down carried by the job, and answers from a cache written before
the layer existed.

``fixtures/llm_cache/responses.sqlite`` was written by the code of commit 9f90e5e (before ``lexqa.llm``): the
generate stage on :func:`llm_server.write_chunks` (6 chunks, the template ``fixtures/llm_cache/question.md``,
:func:`fixture_params`; chunk 4 got a reply with one question too few) and the curate judge on
:data:`JUDGED` (q2 judged "no"); ``questions.parquet`` is the table that run wrote. A run of today's code must
find every one of those answers: same keys, same format.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
from llm_server import LLMServer, write_chunks

from lexqa import generate, llm
from lexqa.config import GenerateParams, JudgeParams, load_params
from lexqa.curate.judge import Judge
from lexqa.llm.accounting import RunStats, cost_usd, dataset_usage, run_cost
from lexqa.llm.cache import Entry, ResponseCache
from lexqa.llm.jobs import Job, RequestShape, cache_key, chat_body
from lexqa.llm.limits import RateLimiter, backoff_delay, retry_after_s
from lexqa.llm.replies import ReplyError, entry_from_completion, extract_json
from lexqa.tables import QUESTIONS, read_table

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "llm_cache"
CLOSED = "http://127.0.0.1:9/v1"  # nothing listens there: a request would fail, not be answered
JUDGED = pl.DataFrame(
    {
        "question_id": [f"q{i}" for i in range(4)],
        "question": [f"Question {i} ?" for i in range(4)],
        "passage": [f"Passage {i}." for i in range(4)],
    }
)


def parse_words(content: str | None, labels: Sequence[str]) -> list[tuple[str, str]]:
    """A parser that is neither generate's nor the judge's: one word of the reply per label."""
    words = (content or "").split()
    if len(words) != len(labels):
        raise ReplyError("wrong_count", f"{len(words)} words for {len(labels)} labels")
    return list(zip(labels, words, strict=True))


# ----------------------------------------------------------------------------- jobs and keys
def test_a_request_shape_gives_the_key_and_body_of_the_whole_request() -> None:
    fixed = chat_body("m", None, 0.2, 50, {"type": "json_object"})
    shape = RequestShape(fixed)
    key, body = shape.body("Bonjour")
    assert body == chat_body("m", "Bonjour", 0.2, 50, {"type": "json_object"})
    assert list(body) == ["model", "messages", "temperature", "max_tokens", "response_format"]
    assert key == cache_key(body) and len(key) == 64
    assert shape.body("Bonsoir")[0] != key
    assert RequestShape(chat_body("m", None, 0.3, 50, {"type": "json_object"})).body("Bonjour")[0] != key
    assert body["response_format"] is shape.body("Bonsoir")[1]["response_format"]  # shared, not copied


def test_estimated_tokens_count_the_prompt_and_the_completion_budget() -> None:
    key, body = RequestShape(chat_body("m", None, 0.0, 100, None)).body("x" * 300)
    assert Job(key, "id", body).estimated_tokens() == 100 + 100


# ----------------------------------------------------------------------------- replies
def test_entry_from_completion_uses_the_callers_parser_and_keeps_usage_of_a_failed_reply() -> None:
    completion = {
        "choices": [{"message": {"content": "oui"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 7},
    }
    entry = entry_from_completion("k", ["a", "b"], completion, "m", "openai", parse_words)
    assert not entry.ok and entry.error == "wrong_count: 1 words for 2 labels (finish_reason length)"
    assert (entry.prompt_tokens, entry.completion_tokens, entry.content) == (120, 7, "oui")
    completion["choices"][0]["message"]["content"] = "oui non"
    ok = entry_from_completion("k", ["a", "b"], completion, "m", "openai", parse_words)
    assert ok.ok and ok.answer == [("a", "oui"), ("b", "non")] and ok.prompt_tokens == 120
    bad = entry_from_completion("k", ["a"], {"nope": 1}, "m", "openai", parse_words)
    assert bad.error.startswith("bad_response: not a chat completion")


def test_extract_json_prefers_what_the_caller_wants_among_values_in_prose() -> None:
    reply = 'First [1, 2], then {"answerable": "yes"}.'
    assert extract_json(reply) == [1, 2]
    assert extract_json(reply, lambda v: isinstance(v, dict)) == {"answerable": "yes"}
    assert extract_json('{"a": "line\nbreak"}') == {"a": "line\nbreak"}  # raw newline in a string
    with pytest.raises(ReplyError, match=r"^bad_json: no JSON"):
        extract_json("nothing here")


# ----------------------------------------------------------------------------- cache
def test_cache_serves_ok_entries_and_never_overwrites_them(tmp_path: Path) -> None:
    with ResponseCache(tmp_path) as cache:
        cache.put(Entry("k1", "failed", error="http_500: boom"))
        cache.put(Entry("k1", "ok", [("query", "Délai ?")], None, 3, 4, "m", "openai"))
        cache.put(Entry("k1", "failed", error="late failure"))
        with cache.writer() as writer:
            for i in range(50):
                writer.put(Entry(f"w{i}", "ok", [("query", f"q{i}")]))
    with ResponseCache(tmp_path) as cache:
        got = cache.get_many(["k1", "absent"] + [f"w{i}" for i in range(50)])
        assert "absent" not in got and len(got) == 51
        assert got["k1"].ok and got["k1"].answer == [("query", "Délai ?")] and got["k1"].prompt_tokens == 3
        assert cache.count("ok") == 51


def test_writer_reports_a_failed_write(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    writer = cache.writer()
    writer.put(Entry("k", "not-a-status"))  # violates the CHECK constraint
    with pytest.raises(RuntimeError, match="cannot be written"):
        writer.close()
    cache.close()


# ----------------------------------------------------------------------------- limits
def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_after_s({"retry-after": "9999"}) == 600.0
    assert retry_after_s({}) is None
    assert backoff_delay(0, 1.0, 60.0, retry_after=3.5) == 3.5
    assert all(4.0 <= backoff_delay(3, 1.0, 60.0, None) <= 8.0 for _ in range(20))
    assert backoff_delay(20, 1.0, 60.0, None) <= 60.0


def test_rate_limiter_paces_requests_and_tokens() -> None:
    async def timed(limiter: RateLimiter, n: int, tokens: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await limiter.acquire(tokens)
        return time.perf_counter() - start

    # 3000 requests/min = 50/s with a one-second bucket: 50 go at once, 25 more need half a second.
    assert 0.4 <= asyncio.run(timed(RateLimiter(3000, 0), 75, 1)) < 1.5
    # 6000 tokens/min = 100/s: two requests of 50 tokens at once, two more after about a second.
    assert 0.8 <= asyncio.run(timed(RateLimiter(0, 6000), 4, 50)) < 2.0
    assert asyncio.run(timed(RateLimiter(0, 0), 1000, 10_000)) < 0.2


def test_rate_limiter_pause_holds_everyone() -> None:
    async def go() -> float:
        limiter = RateLimiter(0, 0)
        limiter.pause(0.3)
        start = time.perf_counter()
        await asyncio.gather(*(limiter.acquire(1) for _ in range(5)))
        return time.perf_counter() - start

    assert 0.28 <= asyncio.run(go()) < 1.0


# ----------------------------------------------------------------------------- accounting
def test_costs_from_the_price_table_with_the_batch_discount() -> None:
    params = GenerateParams(model="gpt-4o-mini")
    assert cost_usd(params, 2_000_000, 1_000_000) == pytest.approx(0.30 + 0.60)
    assert cost_usd(params, 2_000_000, 1_000_000, batch=True) == pytest.approx(0.45)
    assert cost_usd(params.model_copy(update={"model": "local-llama"}), 10, 10) is None
    stats = RunStats()
    stats.record(Entry("a", "ok", [("q", "x")], None, 1_000_000, 0, "m", "openai"))
    stats.record(Entry("b", "failed", None, "bad_json: x", 1_000_000, 0, "m", "openai-batch"))
    assert (stats.answered, stats.failed) == (1, 1)
    assert run_cost(params, stats) == pytest.approx(0.15 + 0.075)
    usage = dataset_usage(params, [Entry("a", "ok", None, None, 1_000_000, 1_000_000, "m", "openai")])
    assert usage == {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000, "cost_usd": 0.75}


# ----------------------------------------------------------------------------- answer()
def settings(url: str, cache_dir: Path, **overrides: object) -> GenerateParams:
    return GenerateParams(
        backend="openai",
        base_url=url,
        model="test-model",
        api_key_env="LEXQA_TEST_API_KEY",
        cache_dir=cache_dir,
        requests_per_minute=0,
        tokens_per_minute=0,
        timeout_s=5.0,
        max_retries=1,
        backoff_s=0.01,
        backoff_max_s=0.05,
        **overrides,
    )


class WordServer(LLMServer):
    """Answers every prompt with two words."""

    def completion(self, body, fault):  # type: ignore[no-untyped-def]
        reply = super().completion(body, fault)
        reply["choices"][0]["message"]["content"] = "alpha beta"
        return reply


def word_jobs(n: int, fmt: dict | None, formats: tuple = ()) -> list[Job]:
    shape = RequestShape(chat_body("test-model", None, 0.0, 32, fmt))
    bodies = [shape.body(f"Say two words, {i}.") for i in range(n)]
    return [Job(key, f"id{i}", body, ("first", "second"), formats) for i, (key, body) in enumerate(bodies)]


def test_answer_sends_what_the_cache_lacks_with_the_callers_parser(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LEXQA_TEST_API_KEY", raising=False)  # a local server: no key needed
    jobs = word_jobs(5, None)
    with WordServer() as server:
        first = llm.answer(jobs, parse_words, settings(server.url, tmp_path), label="words")
        assert server.chat_requests == 5 and first.from_cache == 0 and first.stats.sent == 5
        assert all(e.answer == [("first", "alpha"), ("second", "beta")] for e in first.entries.values())
        again = llm.answer(jobs, parse_words, settings(server.url, tmp_path))
        assert server.chat_requests == 5 and again.from_cache == 5 and again.processes == 0
        assert again.entries == first.entries


def test_the_step_down_travels_with_the_job(tmp_path: Path, monkeypatch) -> None:
    """A server refusing JSON mode gets the job's next format (here: none), for the rest of the run."""
    monkeypatch.delenv("LEXQA_TEST_API_KEY", raising=False)
    json_mode = {"type": "json_object"}
    jobs = word_jobs(3, json_mode, (("json_object", json_mode), ("text", None)))
    with WordServer(reject_formats=("json_object",)) as server:
        answers = llm.answer(jobs, parse_words, settings(server.url, tmp_path, concurrency=1))
        sent = [body.get("response_format") for body in server.request_log]
    assert all(e.ok for e in answers.entries.values()) and len(answers.entries) == 3
    assert sent == [json_mode, None, None, None]
    without = word_jobs(2, json_mode)  # no step-down: the refusal is the answer
    with WordServer(reject_formats=("json_object",)) as server:
        failed = llm.answer(without, parse_words, settings(server.url, tmp_path / "b", concurrency=1))
    assert [e.error.split(":")[0] for e in failed.entries.values()] == ["http_400", "http_400"]


# ----------------------------------------------------------------------------- the cache of earlier runs
def fixture_params(cache_dir: Path) -> GenerateParams:
    """The generate settings the fixture cache was written with (the server's URL aside)."""
    return GenerateParams(
        backend="openai",
        base_url=CLOSED,
        model="gpt-4o-mini",
        api_key_env="LEXQA_TEST_API_KEY",
        styles=["layperson", "practitioner", "query"],
        questions_per_chunk=3,
        temperature=0.7,
        max_tokens=1024,
        response_format="json_schema",
        prompts={"default": FIXTURE / "question.md"},
        cache_dir=cache_dir,
        concurrency=4,
        requests_per_minute=0,
        tokens_per_minute=0,
        timeout_s=5.0,
        max_retries=0,
        backoff_s=0.01,
        max_failed_fraction=1.0,
    )


@pytest.fixture
def earlier_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEXQA_TEST_API_KEY", "k")
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(FIXTURE / "responses.sqlite", cache / "responses.sqlite")
    return cache


def test_generate_finds_every_answer_of_a_cache_written_before_the_llm_layer(
    tmp_path: Path, earlier_cache: Path
) -> None:
    write_chunks(tmp_path / "chunks.parquet", 6)
    params = load_params(ROOT / "params.yaml").model_copy(update={"generate": fixture_params(earlier_cache)})
    generate.run(params, in_dir=tmp_path, out_dir=tmp_path, metrics_dir=tmp_path / "metrics")
    questions = read_table(tmp_path / "questions.parquet", QUESTIONS)
    earlier = read_table(FIXTURE / "questions.parquet", QUESTIONS)
    # only the one failure of the earlier run was sent again (to a closed port: it fails again, differently)
    assert questions.filter(pl.col("status") == "ok").equals(earlier.filter(pl.col("status") == "ok"))
    assert questions.height == earlier.height == 18
    failed = questions.filter(pl.col("status") == "failed")
    assert set(failed["chunk_id"]) == {"src:doc4#0"} and failed["error"][0].startswith("connection_refused")


def test_the_judge_finds_every_verdict_of_a_cache_written_before_the_llm_layer(earlier_cache: Path) -> None:
    judge = Judge(JudgeParams(enabled=True, temperature=0.0, max_tokens=200), fixture_params(earlier_cache))
    rejected = judge(JUDGED)
    assert judge.stats["from_cache"] == 4 and judge.stats["sent"] == 0
    assert rejected.select("question_id", "reason", "detail").rows() == [
        ("q2", "judge_rejected", "judged no: answerable")
    ]
