"""Prompt templates in ``prompts/``: loading, style slots, rendering, and the JSON schema of the answer.

A template is a Markdown file with a YAML front matter that describes each question style in the template's
language, and a body with ``$placeholders`` (:class:`string.Template`; write ``$$`` for a literal dollar)::

    ---
    styles:
      layperson: une question qu'une personne sans formation juridique poserait
      query: une requête de recherche courte, sans point d'interrogation
    ---
    Source : $context
    $text
    Écris exactement $n questions : $slots

Placeholders: ``$text`` (required), ``$context``, ``$n``, ``$slots`` (the numbered list of the requested
styles with their descriptions) and ``$language`` (the chunk's language in English, for the default
template)::

    >>> from lexqa.generate.prompts import PromptTemplate
    >>> t = PromptTemplate.parse("---\\nstyles: {query: a short query}\\n---\\n$n: $slots\\n$text", "t.md")
    >>> print(t.render(text="Art. 9", context="", lang="fr", slots=["query"]))
    1: 1. query: a short query
    Art. 9
    <BLANKLINE>
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lexqa.config import GenerateParams, ParamsError
from lexqa.languages import language_name

PLACEHOLDERS = frozenset({"text", "context", "n", "slots", "language"})


@dataclass(frozen=True)
class PromptTemplate:
    """One template file: its style descriptions, its body, and the sha256 of the file (``prompt_sha``)."""

    path: str
    styles: Mapping[str, str]
    body: string.Template
    sha: str

    @classmethod
    def parse(cls, source: str, path: str) -> PromptTemplate:
        """Parse a template's text; a malformed one raises :class:`ParamsError` naming the file."""
        sha = hashlib.sha256(source.encode("utf-8")).hexdigest()
        head, body = _split_front_matter(source, path)
        styles = head.get("styles") or {}
        if not isinstance(styles, dict) or not all(isinstance(v, str) for v in styles.values()):
            raise ParamsError(f"{path}: front matter 'styles' must map each style name to a description")
        template = string.Template(body.strip() + "\n")
        if not template.is_valid():
            raise ParamsError(f"{path}: invalid $placeholder (write $$ for a literal dollar sign)")
        names = set(template.get_identifiers())
        if unknown := names - PLACEHOLDERS:
            raise ParamsError(
                f"{path}: unknown placeholders {sorted(unknown)}; allowed: {sorted(PLACEHOLDERS)}"
            )
        if "text" not in names:
            raise ParamsError(f"{path}: the template must contain $text (the chunk)")
        return cls(path=path, styles=dict(styles), body=template, sha=sha)

    @classmethod
    def load(cls, path: str | Path) -> PromptTemplate:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prompt template {path} not found (generate.prompts in params.yaml)")
        return cls.parse(path.read_text(encoding="utf-8"), str(path))

    def render(self, *, text: str, context: str | None, lang: str | None, slots: Sequence[str]) -> str:
        """The prompt for one chunk; ``slots`` is the style of each requested question, in order."""
        listing = "\n".join(f"{i}. {style}: {self.styles[style]}" for i, style in enumerate(slots, 1))
        return self.body.substitute(
            text=text,
            context=context or "",
            n=len(slots),
            slots=listing,
            language=language_name(lang),
        )


def _split_front_matter(source: str, path: str) -> tuple[dict[str, Any], str]:
    if not source.startswith("---"):
        return {}, source
    parts = source.split("\n---", 1)
    if len(parts) != 2:
        raise ParamsError(f"{path}: front matter opened with '---' but never closed")
    try:
        head = yaml.safe_load(parts[0].removeprefix("---")) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: front matter is not valid YAML: {exc}") from None
    if not isinstance(head, dict):
        raise ParamsError(f"{path}: front matter must be a mapping")
    return head, parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""


class Templates:
    """The templates of ``generate.prompts``; :meth:`for_chunk` picks by domain, language, else default."""

    def __init__(self, params: GenerateParams) -> None:
        self.by_key = {key: PromptTemplate.load(path) for key, path in params.prompts.items()}
        for key, template in self.by_key.items():
            missing = [s for s in params.styles if s not in template.styles]
            if missing:
                raise ParamsError(
                    f"{template.path} (generate.prompts.{key}) does not describe the styles {missing}: "
                    "add them to its front matter or remove them from generate.styles"
                )

    def for_chunk(self, domain: str | None, lang: str | None) -> PromptTemplate:
        return self.by_key.get(domain or "") or self.by_key.get(lang or "") or self.by_key["default"]


def style_slots(chunk_id: str, styles: Sequence[str], n: int) -> list[str]:
    """The style of each of the ``n`` questions of a chunk: ``styles`` in turn from a start set by its id.

    The start rotates with the chunk so that styles stay balanced over a corpus when ``n`` is not a multiple
    of the number of styles; it depends only on the chunk id, so the prompt (and its cache key) never
    changes::

        >>> style_slots("a#0", ["layperson", "query"], 3) in (["layperson", "query", "layperson"],
        ...                                                   ["query", "layperson", "query"])
        True
    """
    start = int.from_bytes(hashlib.sha256(chunk_id.encode()).digest()[:4], "big") % len(styles)
    return [styles[(start + k) % len(styles)] for k in range(n)]


JSON_OBJECT_SCHEMA = "json_object_schema"
"""A step-down format, never a param: JSON mode carrying the schema, ``{"type": "json_object", "schema": ...}``.

llama-cpp-python's server refuses ``json_schema`` but constrains generation to a schema given this way (the
Anyscale convention); a server that does not know the ``schema`` field ignores it (plain JSON mode) or refuses
it (the next step down)."""


def response_format(mode: str, slots: Sequence[str]) -> dict[str, Any] | None:
    """The ``response_format`` of a request asking for ``slots``: a strict JSON schema, JSON mode (with the
    schema for :data:`JSON_OBJECT_SCHEMA`), or none."""
    if mode == "text":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    item = {
        "type": "object",
        "additionalProperties": False,
        "required": ["style", "question"],
        "properties": {
            "style": {"type": "string", "enum": sorted(set(slots))},
            "question": {"type": "string"},
        },
    }
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["questions"],
        "properties": {
            "questions": {"type": "array", "minItems": len(slots), "maxItems": len(slots), "items": item}
        },
    }
    if mode == JSON_OBJECT_SCHEMA:
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "questions", "strict": True, "schema": schema}}


FORMAT_STEPS = ("json_schema", JSON_OBJECT_SCHEMA, "json_object", "text")
"""The ``response_format`` step-down, from the strictest: a server that refuses one gets the next."""


def step_down(mode: str, slots: Sequence[str]) -> tuple[tuple[str, dict[str, Any] | None], ...]:
    """``(mode, response_format)`` of each format from ``mode`` down to plain text, for a request asking for
    ``slots`` (a job's :attr:`~lexqa.llm.jobs.Job.formats`)::

    >>> [m for m, _ in step_down("json_schema", ["query"])]
    ['json_schema', 'json_object_schema', 'json_object', 'text']
    >>> step_down("json_object", ["query"])
    (('json_object', {'type': 'json_object'}), ('text', None))
    """
    return tuple((m, response_format(m, slots)) for m in FORMAT_STEPS[FORMAT_STEPS.index(mode) :])
