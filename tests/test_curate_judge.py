"""The answerability judge against a real OpenAI-compatible server on 127.0.0.1: verdicts, unparseable replies
and failed requests all reject, nothing passes unjudged, and a re-run is answered from the response cache."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llm_server import LLMServer, generate_params
from test_curate import CHUNKS_FR, make_params, question, run_curate

from lexqa.config import ParamsError
from lexqa.curate.judge import parse_verdict
from lexqa.llm.replies import ReplyError


class JudgeServer(LLMServer):
    """Answers judge prompts: "no" to answerability when the question mentions a spaceship, prose when it
    mentions a poem, a verdict with a criterion missing when it mentions a riddle."""

    def completion(self, body: dict[str, Any], fault: Any) -> dict[str, Any]:
        reply = super().completion(body, fault)
        prompt = body["messages"][0]["content"]
        question = prompt.split("Question: ", 1)[1].split("\n", 1)[0]
        verdict = {"self_contained": "yes", "answerable": "yes", "complete": "yes"}
        if "spaceship" in question:
            verdict["answerable"] = "no"
        content = json.dumps(verdict)
        if "poem" in question:
            content = "Well, it depends on how you read the passage."
        elif "riddle" in question:
            content = json.dumps({"self_contained": "yes"})
        if fault is None or fault.kind not in ("empty", "malformed"):
            reply["choices"][0]["message"]["content"] = content
        return reply


@pytest.fixture
def server():
    with JudgeServer() as s:
        yield s


def judge_params(server: LLMServer, tmp_path, monkeypatch, **judge: Any):
    """Judge on, aimed at ``server``; the language filter is off so that English questions reach the judge."""
    monkeypatch.setenv("LEXQA_TEST_API_KEY", "test-key")
    base = generate_params(server, tmp_path / "cache", max_retries=1)
    params = make_params(judge={"enabled": True, **judge}, language={"enabled": False}, positive_context=True)
    return params.model_copy(update={"generate": base.generate})


QUESTIONS = [
    question("s:bail#0", "Quelles sont les obligations du bailleur envers le locataire ?"),
    question("s:vente#0", "Can a spaceship be sold before it is delivered?", k=0),
    question("s:vente#0", "Write a poem about the sale of a house?", k=1),
    question("s:civil9#0", "Solve this riddle about private life?"),
    question("s:civil9#0", "Quelles mesures un juge peut-il prendre pour protéger la vie privée ?", k=1),
]


def test_judge_rejects_no_unparseable_and_failed_and_caches(server, tmp_path, monkeypatch):
    server.add_fault("500", times=2, match="protéger la vie privée")  # more failures than retries
    params = judge_params(server, tmp_path, monkeypatch)
    pairs, rejects, summary = run_curate(CHUNKS_FR, QUESTIONS, params)
    reasons = dict(rejects.select("origin", "reason").iter_rows())
    assert reasons == {
        "s:vente#0:layperson:0": "judge_rejected",
        "s:vente#0:layperson:1": "judge_unparseable",
        "s:civil9#0:layperson:0": "judge_unparseable",
        "s:civil9#0:layperson:1": "judge_failed",
    }
    details = dict(rejects.select("origin", "detail").iter_rows())
    assert details["s:vente#0:layperson:0"] == "judged no: answerable"
    assert details["s:civil9#0:layperson:0"] == "bad_verdict: answerable is None, not yes or no"
    assert details["s:civil9#0:layperson:1"].startswith("http_500")
    assert pairs["question_id"].to_list() == ["s:bail#0:layperson:0"]
    assert summary.extra["judge"]["requests"] == 5 and summary.extra["judge"]["from_cache"] == 0
    # The prompt shows the positive the pair trains on, and asks for the three criteria.
    (body,) = [b for b in server.request_log if "bailleur envers le locataire" in b["messages"][0]["content"]]
    prompt = body["messages"][0]["content"]
    assert "Code civil > s:bail\n\nLe bailleur est obligé" in prompt and "- complete:" in prompt
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.0

    # Second run: verdicts come from the cache; failures (500, unparseable) are asked again.
    server.reset_counters()
    _, rejects_again, summary_again = run_curate(CHUNKS_FR, QUESTIONS, params)
    assert summary_again.extra["judge"]["from_cache"] == 2
    assert server.chat_requests == 3
    assert "s:civil9#0:layperson:1" not in set(rejects_again["origin"])  # the 500s are over: now judged yes


def test_judge_criteria_and_model_are_params(server, tmp_path, monkeypatch):
    params = judge_params(server, tmp_path, monkeypatch, criteria=["self_contained"], model="judge-model")
    pairs, rejects, _ = run_curate(CHUNKS_FR, QUESTIONS[:2], params)
    assert pairs.height == 2 and rejects.is_empty()  # answerability is not asked
    body = server.request_log[0]
    assert body["model"] == "judge-model"
    assert "answerable" not in body["messages"][0]["content"]


def test_the_judge_sends_from_the_processes_generate_asks_for(server, tmp_path, monkeypatch):
    params = judge_params(server, tmp_path, monkeypatch)
    params = params.model_copy(
        update={"generate": params.generate.model_copy(update={"processes": 2, "concurrency": 2})}
    )
    _, rejects, summary = run_curate(CHUNKS_FR, QUESTIONS, params)
    assert summary.extra["judge"]["processes"] == 2 and summary.extra["judge"]["sent"] == 5
    assert server.chat_requests == 5 and rejects.height == 3  # one no, two unparseable: no 500 this time


def test_a_refused_key_stops_with_a_params_error(tmp_path, monkeypatch):
    with JudgeServer(api_key="the-right-key") as server:
        params = judge_params(server, tmp_path, monkeypatch)
        with pytest.raises(ParamsError, match=r"curate\.judge"):
            run_curate(CHUNKS_FR, QUESTIONS[:1], params)


def test_custom_prompt_needs_its_placeholders(tmp_path):
    bad = tmp_path / "judge.md"
    bad.write_text("Judge this: $question")
    params = make_params(judge={"enabled": True, "prompt": str(bad)})
    with pytest.raises(ParamsError, match=r"must contain \$question and \$passage"):
        run_curate(CHUNKS_FR, QUESTIONS[:1], params)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"answerable": "yes", "complete": "No"}', [("answerable", "yes"), ("complete", "no")]),
        ('Sure! {"answerable": true, "complete": false}', [("answerable", "yes"), ("complete", "no")]),
        ('{"answerable": "oui", "complete": "нет"}', [("answerable", "yes"), ("complete", "no")]),
    ],
)
def test_parse_verdict_accepts_plain_yes_no_forms(content, expected):
    assert parse_verdict(content, ["answerable", "complete"]) == expected


@pytest.mark.parametrize(
    "content", ["", "maybe", '{"answerable": "yes"}', '{"answerable": 1, "complete": 0}', "[1]"]
)
def test_parse_verdict_never_guesses(content):
    with pytest.raises(ReplyError, match=r"^(empty|bad_json|bad_verdict): "):
        parse_verdict(content, ["answerable", "complete"])


def test_judge_is_off_by_default():
    assert make_params().curate.judge.enabled is False
    pairs, _, summary = run_curate(CHUNKS_FR, QUESTIONS[:1])
    assert pairs.height == 1 and "judge" not in summary.extra
