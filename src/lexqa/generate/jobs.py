"""The work list of an LLM run: one :class:`QuestionJob` (request) per chunk, and its question rows.

Each chunk gets one chat request asking for ``questions_per_chunk`` questions whose styles are
:func:`~lexqa.generate.prompts.style_slots` (the job's labels); the request body is the same for the online
and the batch backend, so both share cache entries. Its cache key is :func:`lexqa.llm.jobs.cache_key` of
that body (model, messages, temperature, max_tokens, response_format); base URL, concurrency, limits, timeouts
and the seed are not part of it, so changing them never pays twice::

    >>> from lexqa.config import GenerateParams
    >>> from lexqa.generate.jobs import JobBuilder
    >>> from lexqa.generate.prompts import PromptTemplate
    >>> t = PromptTemplate.parse("---\\nstyles: {query: a short query}\\n---\\n$slots\\n$text", "t.md")
    >>> params = GenerateParams(styles=["query"], questions_per_chunk=1)
    >>> job = JobBuilder(params).build(t, "doc#0", "Art. 9", "", "fr")
    >>> job.id, job.labels, len(job.key), [mode for mode, _ in job.formats]
    ('doc#0', ('query',), 64, ['json_schema', 'json_object_schema', 'json_object', 'text'])
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lexqa.config import GenerateParams
from lexqa.generate.prompts import PromptTemplate, step_down, style_slots
from lexqa.llm.cache import Entry
from lexqa.llm.jobs import Job, RequestShape, chat_body


@dataclass(frozen=True)
class QuestionJob(Job):
    """The request for one chunk (``id``), asking for one question per label (its style), with the sha256 of
    the prompt template it was rendered from."""

    prompt_sha: str = field(kw_only=True)


class JobBuilder:
    """The jobs of one run. Everything in a request but its prompt depends only on the styles it asks for, so
    that part of the body, its share of the cache key and its step-down are made once per style tuple."""

    def __init__(self, params: GenerateParams) -> None:
        self.params = params
        self._shapes: dict[tuple[str, ...], tuple[RequestShape, tuple[Any, ...]]] = {}

    def build(
        self, template: PromptTemplate, chunk_id: str, text: str, context: str | None, lang: str | None
    ) -> QuestionJob:
        slots = tuple(style_slots(chunk_id, self.params.styles, self.params.questions_per_chunk))
        if slots not in self._shapes:
            formats = step_down(self.params.response_format, slots)
            fixed = chat_body(
                self.params.model, None, self.params.temperature, self.params.max_tokens, formats[0][1]
            )
            self._shapes[slots] = (RequestShape(fixed), formats)
        shape, formats = self._shapes[slots]
        prompt = template.render(text=text, context=context, lang=lang, slots=slots)
        key, body = shape.body(prompt)
        return QuestionJob(key, chunk_id, body, slots, formats, prompt_sha=template.sha)


def question_rows(job: QuestionJob, entry: Entry | None, backend: str, model: str) -> list[dict[str, Any]]:
    """The ``QUESTIONS`` rows of a job: one per question when its entry is ok, else one failure row per style.

    ``entry`` is None when the request never completed (still in a batch, or aborted); ``backend`` is then the
    configured one, otherwise the backend that produced the entry.
    """
    base = {
        "chunk_id": job.id,
        "backend": (entry.backend if entry else None) or backend,
        "model": model,
        "prompt_sha": job.prompt_sha,
        "cache_key": job.key,
        "prompt_tokens": entry.prompt_tokens if entry else 0,
        "completion_tokens": entry.completion_tokens if entry else 0,
        "passage": None,
    }
    if entry is not None and entry.ok and entry.answer:
        seen: Counter[str] = Counter()
        rows = []
        for style, question in entry.answer:
            qid = f"{job.id}:{style}:{seen[style]}"
            seen[style] += 1
            rows.append(
                {"question_id": qid, "question": question, "style": style, "status": "ok", "error": None}
                | base
            )
        return rows
    error = (
        entry.error
        if entry is not None
        else "not_generated: no response stored (pending batch or aborted run)"
    )
    return [
        {
            "question_id": f"{job.id}:{style}:failed",
            "question": None,
            "style": style,
            "status": "failed",
            "error": error,
        }
        | base
        for style in dict.fromkeys(job.labels)
    ]
