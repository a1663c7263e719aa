"""YAML read from an input (Markdown front matter), parsed within fixed bounds of size, depth and expansion.

PyYAML's safe loader builds no arbitrary objects, but it bounds nothing: a few hundred bytes of nested aliases
(``b: [*a, *a, …]``, ``c: [*b, *b, …]``) load as shared references in microseconds and expand into gigabytes as
soon as the value is turned into text (a title, the JSON of ``meta``); a recursive alias (``&a [*a]``) makes a
structure no JSON encoder can write; and a few thousand nested ``[`` crash libyaml's composer (a segmentation
fault, not an exception) or take seconds per level. :func:`load_bounded` therefore checks the text's length
first, then walks libyaml's event stream, which is flat and costs one step per event, and stops at the first
limit passed: the nesting depth, the length of one scalar, and the number of nodes and characters the document
holds *once every alias is expanded* (each anchor's expanded size is counted once, where it is defined, and
added again at each alias). Only a document within every limit is handed to the safe loader::

    >>> load_bounded("title: Code civil\\nrank: code")
    {'title': 'Code civil', 'rank': 'code'}
    >>> load_bounded("a: &x [lol, lol, lol]\\nb: [*x, *x, *x]\\nc: [*x, *x]", Limits(max_nodes=16))
    Traceback (most recent call last):
    ...
    lexqa.ingest.bounded_yaml.YamlLimitError: more than 16 nodes once aliases are expanded (max_nodes)

Any other problem (not YAML, a bad date) raises :class:`YamlError`; both are ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["Limits", "YamlError", "YamlLimitError", "load_bounded"]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one YAML document. The defaults fit front matter (a few keys, a few hundred bytes in the real
    codes) with a wide margin; whatever passes them stays under ~100 KB of Python objects."""

    max_chars: int = 16_384  # the YAML text itself
    max_depth: int = 10  # mappings and sequences nested in one another
    max_scalar_chars: int = 4_096  # one key or value
    max_nodes: int = 2_000  # scalars and collections, aliases expanded
    max_expanded_chars: int = 65_536  # characters of all scalars, aliases expanded


class YamlError(ValueError):
    """Not a YAML document the safe loader can build."""


class YamlLimitError(YamlError):
    """The document passes one of the :class:`Limits`; the message names the limit."""


@dataclass(slots=True)
class _Frame:
    """An open collection: its anchor and its expanded size so far."""

    anchor: str | None
    nodes: int = 1
    chars: int = 0


def check_limits(text: str, limits: Limits = Limits()) -> None:
    """Raise :class:`YamlLimitError` at the first limit ``text`` passes, without building anything."""
    if len(text) > limits.max_chars:
        raise YamlLimitError(f"{len(text):,} characters, more than {limits.max_chars:,} (max_chars)")
    stack = [_Frame(None, nodes=0)]  # the root frame collects the document's expanded totals
    sizes: dict[str, tuple[int, int]] = {}  # expanded (nodes, chars) of each closed anchor
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.ScalarEvent):
                chars = len(event.value)
                if chars > limits.max_scalar_chars:
                    raise YamlLimitError(
                        f"a scalar of {chars:,} characters, more than {limits.max_scalar_chars:,} "
                        "(max_scalar_chars)"
                    )
                _add(stack, limits, 1, chars)
                if event.anchor:
                    sizes[event.anchor] = (1, chars)
            elif isinstance(event, yaml.AliasEvent):
                if any(frame.anchor == event.anchor for frame in stack):
                    raise YamlLimitError(
                        f"alias *{event.anchor} inside its own anchor (a recursive structure)"
                    )
                _add(stack, limits, *sizes.get(event.anchor, (1, 0)))  # undefined: the loader says so below
            elif isinstance(event, _COLLECTION_START):
                if len(stack) > limits.max_depth:
                    raise YamlLimitError(f"nested deeper than {limits.max_depth} levels (max_depth)")
                _add(stack, limits, 1, 0)
                stack.append(_Frame(event.anchor))
            elif isinstance(event, _COLLECTION_END):
                frame = stack.pop()
                if frame.anchor:
                    sizes[frame.anchor] = (frame.nodes, frame.chars)
                stack[-1].nodes += frame.nodes - 1  # its own node was added when it opened
                stack[-1].chars += frame.chars
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {' '.join(str(exc).split())}") from None


def _add(stack: list[_Frame], limits: Limits, nodes: int, chars: int) -> None:
    """Count a node (or an alias's expansion) in the innermost frame; check the document's running totals."""
    stack[-1].nodes += nodes
    stack[-1].chars += chars
    total_nodes = sum(frame.nodes for frame in stack) - (len(stack) - 1)
    total_chars = sum(frame.chars for frame in stack)
    if total_nodes > limits.max_nodes:
        raise YamlLimitError(f"more than {limits.max_nodes:,} nodes once aliases are expanded (max_nodes)")
    if total_chars > limits.max_expanded_chars:
        raise YamlLimitError(
            f"more than {limits.max_expanded_chars:,} characters once aliases are expanded (max_expanded_chars)"
        )


def load_bounded(text: str, limits: Limits = Limits()) -> Any:
    """The YAML document in ``text`` built by the safe loader, once :func:`check_limits` has passed."""
    check_limits(text, limits)
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp with month 13
        raise YamlError(f"a value the YAML loader cannot build: {exc}") from None
