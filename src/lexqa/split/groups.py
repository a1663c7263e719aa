"""Groups that must stay on one side of the split, and the seeded assignment of groups to train or eval.

A pair's group starts from its document (``split.group_by``): the document itself, the first
``section_depth`` levels of a code's section path, or a ruling's case number. Groups are then merged
(connected components) whenever two of them share a near-duplicate positive or an identical question, so that
no text, exact or near-duplicate, can be on both sides::

    >>> doc_group("section", 1, "s:a", "s", ["Code civil", "Livre Ier"], None)
    'section:s:Code civil'
    >>> doc_group("case", 1, "s:r1", "s", [], "А40 – 1588/2013")
    'case:а40-1588/2013'
    >>> merge(["a", "b", "c", "d"], [(0, 2)])
    ['a', 'b', 'a', 'd']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from lexqa.errors import InputError

_DASHES = re.compile(r"\s*[-‐‑‒–—―]\s*")


def case_key(number: str) -> str:
    """A case number without spaces, with one kind of dash, lower-cased."""
    return "".join(_DASHES.sub("-", number).split()).casefold()


def doc_group(
    group_by: str,
    section_depth: int,
    doc_id: str,
    source: str | None,
    path: Sequence[str] | None,
    number: str | None,
) -> str:
    """The group key of one document (see :class:`lexqa.config.SplitParams.group_by`)."""
    path = list(path or [])
    if group_by == "section" and path:
        return f"section:{source}:{' > '.join(path[:section_depth])}"
    if group_by in ("section", "case") and not path and number:
        return f"case:{case_key(number)}"
    return doc_id


def merge(keys: Sequence[str], links: Sequence[tuple[int, int]]) -> list[str]:
    """Merge the groups of items linked together: every item gets the smallest key of its component."""
    names = sorted(set(keys))
    index = {k: i for i, k in enumerate(names)}
    nodes = np.array([index[k] for k in keys], dtype=np.int64)
    edges = np.array([(nodes[a], nodes[b]) for a, b in links], dtype=np.int64).reshape(-1, 2)
    graph = coo_array((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(names), len(names)))
    _, labels = connected_components(graph, directed=False)
    smallest: dict[int, str] = {}
    for name, label in zip(names, labels.tolist(), strict=True):
        smallest.setdefault(label, name)  # names are sorted: the first seen is the smallest
    return [smallest[int(labels[n])] for n in nodes]


def assign(sizes: dict[str, int], strata: dict[str, str], eval_fraction: float, seed: int) -> dict[str, str]:
    """``train`` or ``eval`` for every group. Within each stratum, groups are shuffled (seeded) and a group
    goes to eval when that brings the stratum's eval pairs closer to ``eval_fraction`` of its pairs. Eval gets
    at least one group and train keeps at least one.

    >>> sides = assign({"a": 5, "b": 5, "c": 5, "d": 5, "e": 5}, dict.fromkeys("abcde", "x"), 0.2, seed=1)
    >>> sorted(sides.values())
    ['eval', 'train', 'train', 'train', 'train']
    """
    if len(sizes) < 2:
        raise InputError(
            f"cannot split {len(sizes)} group(s) into train and eval: add documents, or use a finer "
            "split.group_by (document)"
        )
    rng = np.random.default_rng(seed)
    sides: dict[str, str] = {}
    order: list[str] = []
    for stratum in sorted(set(strata.values())):
        groups = sorted(g for g in sizes if strata[g] == stratum)
        groups = [groups[i] for i in rng.permutation(len(groups))]
        order.extend(groups)
        target = eval_fraction * sum(sizes[g] for g in groups)
        taken = 0
        for g in groups:
            if taken + sizes[g] / 2 < target:
                sides[g] = "eval"
                taken += sizes[g]
            else:
                sides[g] = "train"
    if "eval" not in sides.values():
        sides[min(order, key=lambda g: sizes[g])] = "eval"
    if "train" not in sides.values():
        sides[max(order, key=lambda g: sizes[g])] = "train"
    return sides
