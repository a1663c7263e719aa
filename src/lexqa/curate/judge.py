"""The answerability judge: an LLM answers yes/no criteria about each (question, passage) pair.

Requests go through the LLM layer (:func:`lexqa.llm.answer`) with the generate stage's server settings: the
same OpenAI-compatible server, key, concurrency, processes, rate limits, retries and response cache
(``generate.*``), so a re-run is free and a killed run resumes. The judge brings its prompt and its parser,
:func:`parse_verdict`. A verdict is cached as its ``(criterion, "yes" | "no")`` pairs; a reply that is not a
verdict for every criterion is stored as a failure (and retried next run, like a generation failure). Nothing
passes unjudged: a "no" rejects (``judge_rejected``), so does an unparseable reply (``judge_unparseable``) and a
request that failed after its retries (``judge_failed``)::

    >>> parse_verdict('```json\\n{"answerable": "Yes", "complete": false}\\n```', ["answerable", "complete"])
    [('answerable', 'yes'), ('complete', 'no')]
    >>> parse_verdict('{"answerable": "probably"}', ["answerable"])
    Traceback (most recent call last):
    ...
    lexqa.llm.replies.ReplyError: bad_verdict: answerable is 'probably', not yes or no
"""

from __future__ import annotations

import logging
import string
from collections.abc import Sequence
from typing import Any

import polars as pl

from lexqa import llm
from lexqa.config import GenerateParams, JudgeParams, ParamsError
from lexqa.curate.filters import rejected
from lexqa.languages import ANSWERS
from lexqa.llm.accounting import cost_usd
from lexqa.llm.cache import Entry
from lexqa.llm.jobs import Job, RequestShape, chat_body
from lexqa.llm.replies import ReplyError, extract_json
from lexqa.secrets import redact

log = logging.getLogger("lexqa.curate")

CRITERIA_TEXT = {
    "self_contained": "the question can be understood without seeing the passage (it does not refer to "
    '"this article", "the text" or the like, and names what it asks about)',
    "answerable": "the passage contains the answer to the question",
    "complete": "the passage answers the question fully, not only in part",
}
PROMPT = """You review questions written for passages of legal text, to build a retrieval dataset.

Passage:
<<<
$passage
>>>

Question: $question

Answer each criterion with "yes" or "no":
$criteria

Reply with one JSON object and nothing else, for example {$example}."""
UNPARSEABLE = ("empty", "bad_json", "bad_verdict", "bad_response")
_ANSWERS = {"true": "yes", "false": "no"} | ANSWERS  # JSON's booleans, and yes or no in every language


def parse_verdict(content: str | None, criteria: Sequence[str]) -> list[tuple[str, str]]:
    """``(criterion, "yes" | "no")`` for every criterion, or :class:`ReplyError` (never a guess)."""
    if content is None or not content.strip():
        raise ReplyError("empty", "the model returned no content")
    data = extract_json(content, lambda value: isinstance(value, dict))
    if not isinstance(data, dict):
        raise ReplyError("bad_verdict", f"expected a JSON object, got {type(data).__name__}")
    verdict = []
    for name in criteria:
        value = data.get(name)
        answer = _ANSWERS.get(str(value).strip().lower()) if isinstance(value, str | bool) else None
        if answer is None:
            raise ReplyError("bad_verdict", f"{name} is {value!r}, not yes or no")
        verdict.append((name, answer))
    return verdict


class Judge:
    """Builds one request per pair, answers what the cache holds, sends the rest."""

    def __init__(self, params: JudgeParams, generate: GenerateParams) -> None:
        self.params = params
        self.generate = generate.model_copy(update={"model": params.model or generate.model})
        source = params.prompt.read_text(encoding="utf-8") if params.prompt else PROMPT
        self.template = string.Template(source)
        missing = {"question", "passage"} - set(self.template.get_identifiers())
        if missing or not self.template.is_valid():
            where = f"curate.judge.prompt ({params.prompt})" if params.prompt else "the judge prompt"
            raise ParamsError(f"{where} must contain $question and $passage (write $$ for a dollar sign)")
        json_mode = {"type": "json_object"}
        self.shape = RequestShape(
            chat_body(self.generate.model, None, params.temperature, params.max_tokens, json_mode)
        )
        self.formats = (("json_object", json_mode), ("text", None))
        self.stats: dict[str, Any] = {}

    def job(self, question_id: str, question: str, passage: str) -> Job:
        criteria = self.params.criteria
        prompt = self.template.safe_substitute(
            question=question,
            passage=passage,
            criteria="\n".join(f"- {c}: {CRITERIA_TEXT[c]}" for c in criteria),
            example=", ".join(f'"{c}": "yes"' for c in criteria),
        )
        key, body = self.shape.body(prompt)
        return Job(key, question_id, body, tuple(criteria), self.formats)

    def entries(self, jobs: list[Job]) -> dict[str, Entry]:
        """The cached or newly received entry of every job (absent when a request never completed)."""
        try:
            answers = llm.answer(jobs, parse_verdict, self.generate, label="judge")
        except llm.FatalBackendError as exc:
            raise ParamsError(f"curate.judge: {exc}") from None
        sent = answers.stats
        cost = cost_usd(self.generate, sent.prompt_tokens, sent.completion_tokens)
        self.stats = {
            "model": self.generate.model,
            "requests": len(jobs),
            "from_cache": answers.from_cache,
            "sent": sent.sent,
            "processes": answers.processes,
            "prompt_tokens": sent.prompt_tokens,
            "completion_tokens": sent.completion_tokens,
            "cost_usd": None if cost is None else round(cost, 8),
        }
        return answers.entries

    def __call__(self, live: pl.DataFrame) -> pl.DataFrame:
        """The rejected rows of ``live`` (columns question_id, question, passage)."""
        rows = live.select("question_id", "question", "passage").rows()
        jobs = [self.job(*row) for row in rows]
        entries = self.entries(jobs)
        parts = []
        by_reason: dict[str, tuple[list[str], list[str]]] = {}
        for job in jobs:
            entry = entries.get(job.key)
            if entry is None:
                reason, detail = "judge_failed", "no verdict stored (aborted run)"
            elif not entry.ok:
                code = (entry.error or "").split(":", 1)[0]
                reason = "judge_unparseable" if code in UNPARSEABLE else "judge_failed"
                detail = redact(entry.error or "")
            elif no := [c for c, answer in entry.answer or [] if answer != "yes"]:
                reason, detail = "judge_rejected", f"judged no: {', '.join(no)}"
            else:
                continue
            ids, details = by_reason.setdefault(reason, ([], []))
            ids.append(job.id)
            details.append(detail)
        for reason, (ids, details) in by_reason.items():
            parts.append(rejected(ids, reason, details))
        return pl.concat(parts) if parts else rejected([], "judge_rejected")
