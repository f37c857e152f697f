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
    dfs = np.array([np.count_nonzero(m) for m in masks], dtype=np.float64)
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
            emphasis: list[float] | None = None, credits: list[np.ndarray | None] | None = None) -> Combined:
    """Candidates, coverage-weighted scores and full matches from per-group matches and scores;
    `emphasis` also scales each group's own score (a narrative word adds less); `credits`, where given
    for a group, is how fully each column covers it (see alternative_credit) instead of 0 or 1."""
    stacked = np.vstack(masks)
    mask = stacked.any(axis=0)
    complete = stacked.all(axis=0)
    total = float(weights.sum())
    if emphasis is not None and any(e != 1.0 for e in emphasis):
        scores = [s * e for s, e in zip(scores, emphasis)]
    # Sums over the groups in group order, as a reduction over the stacked rows adds them, and
    # products with a mask instead of np.where (x × True is x, x × False is 0.0, with no branch to
    # mispredict on a random mask): the same numbers to the last bit, a fraction of the time.
    summed = scores[0].copy()
    for score in scores[1:]:
        summed += score
    if total <= 0:
        coverage = mask * 1.0
    else:
        covered = [m if credit is None else credit for m, credit in zip(masks, credits or [None] * len(masks))]
        weighted = covered[0] * weights[0]
        for column, weight in zip(covered[1:], weights[1:]):
            weighted += column * weight
        coverage = weighted / total
    return Combined(mask, (summed * coverage ** EXPONENT) * mask, complete)


def alternative_credit(alternatives: list[np.ndarray], docs: int) -> np.ndarray:
    """How fully each column covers a colloquial phrase's group (电镀污泥多 → 电镀污泥, 减量, 资源化): by the
    most specific alternative it matches, that alternative's idf ** IDF_POWER over the group's most
    specific one, so an entry matching only the common 减量 no longer counts as covering the phrase.
    `alternatives`: each alternative's matches (live documents) over the same columns."""
    docs = max(int(docs), 1)
    dfs = np.array([np.count_nonzero(m) for m in alternatives], dtype=np.float64)
    weights = np.where(dfs > 0, np.log1p(docs / np.maximum(dfs, 1.0)), 0.0) ** IDF_POWER
    credit = np.zeros(len(alternatives[0]) if alternatives else 0, dtype=np.float64)
    top = float(weights.max()) if len(weights) else 0.0
    if top <= 0:
        return credit
    for mask, weight in zip(alternatives, weights):
        np.maximum(credit, mask * (weight / top), out=credit)       # weight / top where mask, else 0.0
    return credit


# -- which sector the query is about (issue 18) ------------------------------------------------------
# A group's matches point to a sector when at least SECTOR_SHARE of its sector-tagged matches (and at
# least SECTOR_MIN_MATCHES of them) are that sector's: 染缸, 钢渣, 定型机 say the query is about 印染, 钢铁, 印染.
SECTOR_SHARE = 0.6
SECTOR_MIN_MATCHES = 2
# the score of an entry of a sector the query names (印染厂, 电镀) / of a sector its words point to / of a
# cross-sector entry (通用), relative to 1 for any other: a preference that reorders, never filters
NAMED_SECTOR_FACTOR = 3.0
INFERRED_SECTOR_FACTOR = 2.0
CROSS_SECTOR_FACTOR = 1.3


def pointed_sector(counts: dict[str, int]) -> str | None:
    """The sector holding SECTOR_SHARE of a group's sector-tagged matches (`counts`: sector → matches,
    the cross-sector 通用 left out), if any."""
    total = sum(counts.values())
    if total < SECTOR_MIN_MATCHES:
        return None
    sector, best = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return sector if best / total >= SECTOR_SHARE else None


def sector_factors(named: np.ndarray, pointed: np.ndarray, cross_sector: np.ndarray) -> np.ndarray:
    """Per column, the factor on its score: membership of a named sector, of a pointed-to one, of 通用
    (the first that holds). Looked up by a 3-bit code rather than nested np.where, which branches on
    every column (~8x slower on 20k candidates)."""
    code = np.asarray(named, dtype=bool).view(np.uint8) * np.uint8(4)
    code += np.asarray(pointed, dtype=bool).view(np.uint8) * np.uint8(2)
    code += np.asarray(cross_sector, dtype=bool).view(np.uint8)
    return _FACTOR_OF_CODE.take(code)


# factor by code named·4 + pointed·2 + cross-sector: named wins over pointed over cross-sector
_FACTOR_OF_CODE = np.array([1.0, CROSS_SECTOR_FACTOR, INFERRED_SECTOR_FACTOR, INFERRED_SECTOR_FACTOR]
                           + [NAMED_SECTOR_FACTOR] * 4, dtype=np.float64)
