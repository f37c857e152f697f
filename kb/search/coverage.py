"""How much of the query a document covers, folded into its score (a soft minimum-should-match).

Strict AND lets one generic word (浪费, 投诉) that no entry uses empty the result, and the any-word
fallback then ranks a match of that generic word as high as a match of the important one. Here every
query word group is scored on its own; a document that matches any group is a candidate, and its
summed score is multiplied by the share of the query it covers, each group weighted by how rare its
matches are (an idf over the live documents), so a partial match of the rare, specific words ranks
above a full match of the common ones. Both the vectorised path and the Whoosh reference path call
`combine`, so the coverage rule is written once.

Every function here works column by column: the arrays may hold one column per document of the
corpus (the Whoosh reference path) or only the candidates, the documents some group matches (the
vectorised path), and give the same numbers for the same document either way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# how sharply a missing word costs: score × coverage ** EXPONENT
EXPONENT = 1.0
# how much rarer words count in coverage: idf ** IDF_POWER
IDF_POWER = 2.0


@dataclass
class Combined:
    mask: np.ndarray          # candidates: documents that match at least one group
    scores: np.ndarray        # summed group scores × coverage ** EXPONENT, 0 elsewhere
    complete: np.ndarray      # documents that match every group


def group_weights(masks: list[np.ndarray], docs: int, emphasis: list[float] | None = None) -> np.ndarray:
    """An idf per group, from how many of the `docs` live documents the group matches (masks hold
    live documents only); a group that matches nothing weighs nothing (it cannot be covered, so it
    must not lower anyone's coverage). `emphasis` multiplies each weight (domain terms up, narrative
    words down)."""
    docs = max(int(docs), 1)
    dfs = np.array([int(m.sum()) for m in masks], dtype=np.float64)
    weights = np.where(dfs > 0, np.log1p(docs / np.maximum(dfs, 1.0)), 0.0) ** IDF_POWER
    if emphasis is not None:
        weights = weights * np.asarray(emphasis, dtype=np.float64)
    return weights


def listed(found: Combined, allowed: np.ndarray, sort: str) -> np.ndarray:
    """The documents a search lists. Ranked by relevance, every candidate (coverage orders them);
    sorted by year, relevance no longer orders the page, so only the full matches are listed while
    there are any (then the partial ones, as the old any-word fallback did)."""
    mask = found.mask & allowed
    if sort == "year":
        complete = found.complete & allowed
        if complete.any():
            return complete
    return mask


def combine(masks: list[np.ndarray], scores: list[np.ndarray], weights: np.ndarray,
            emphasis: list[float] | None = None) -> Combined:
    """Candidates, coverage-weighted scores and full matches from per-group matches and scores;
    `emphasis` also scales each group's own score (a narrative word adds less)."""
    stacked = np.vstack(masks)
    mask = stacked.any(axis=0)
    complete = stacked.all(axis=0)
    total = float(weights.sum())
    if emphasis is not None and any(e != 1.0 for e in emphasis):
        scores = [s * e for s, e in zip(scores, emphasis)]
    summed = np.add.reduce(scores)
    if total <= 0:
        coverage = np.where(mask, 1.0, 0.0)
    else:
        coverage = (weights[:, None] * stacked).sum(axis=0) / total
    return Combined(mask, np.where(mask, summed * coverage ** EXPONENT, 0.0), complete)
