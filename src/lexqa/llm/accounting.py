"""Token usage and cost: per run (what this run paid) and per table (what the answers behind it cost overall).

Costs come from ``generate.prices`` (USD per 1M input/output tokens, keyed by model); requests answered
through the Batch API are multiplied by ``generate.batch.discount``. A model missing from the table has no
cost estimate (``None``) rather than a wrong one::

    >>> from lexqa.config import GenerateParams
    >>> p = GenerateParams(model="gpt-4o-mini")
    >>> round(cost_usd(p, prompt_tokens=1_000_000, completion_tokens=100_000), 4)
    0.21
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from lexqa.config import GenerateParams
from lexqa.llm.cache import Entry


@dataclass
class RunStats:
    """What one run did on the wire: HTTP requests sent (retries included), tokens it was billed for."""

    sent: int = 0
    retries: int = 0
    answered: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    batch_prompt_tokens: int = 0
    batch_completion_tokens: int = 0
    batches_created: int = 0

    def record(self, entry: Entry) -> None:
        """Count a stored response (ok or failed) and the tokens it used."""
        self.answered += entry.ok
        self.failed += not entry.ok
        if entry.backend == "openai-batch":
            self.batch_prompt_tokens += entry.prompt_tokens
            self.batch_completion_tokens += entry.completion_tokens
        else:
            self.prompt_tokens += entry.prompt_tokens
            self.completion_tokens += entry.completion_tokens

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def __add__(self, other: RunStats) -> RunStats:
        """The stats of two senders together (the workers of one run)."""
        return RunStats(**{name: count + getattr(other, name) for name, count in asdict(self).items()})


def cost_usd(
    params: GenerateParams, prompt_tokens: int, completion_tokens: int, batch: bool = False
) -> float | None:
    """Estimated USD for the tokens with ``params.model``'s price; None when the model has no price."""
    price = params.prices.get(params.model)
    if price is None:
        return None
    factor = params.batch.discount if batch else 1.0
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1e6 * factor


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def run_cost(params: GenerateParams, stats: RunStats) -> float | None:
    online = cost_usd(params, stats.prompt_tokens, stats.completion_tokens)
    batch = cost_usd(params, stats.batch_prompt_tokens, stats.batch_completion_tokens, batch=True)
    return _add(online, batch)


def dataset_usage(params: GenerateParams, entries: Iterable[Entry]) -> dict[str, Any]:
    """Tokens and cost of the responses behind the final table (each request counted once, cached or not)."""
    prompt = completion = batch_prompt = batch_completion = 0
    for e in entries:
        if e.backend == "openai-batch":
            batch_prompt += e.prompt_tokens
            batch_completion += e.completion_tokens
        else:
            prompt += e.prompt_tokens
            completion += e.completion_tokens
    cost = _add(
        cost_usd(params, prompt, completion), cost_usd(params, batch_prompt, batch_completion, batch=True)
    )
    return {
        "prompt_tokens": prompt + batch_prompt,
        "completion_tokens": completion + batch_completion,
        "cost_usd": None if cost is None else round(cost, 8),
    }
