"""A Whoosh query tree → which documents match and their scores, computed on whole arrays.

The semantics are Whoosh's own, so results equal those of `Searcher.search` (tests compare them):
a Term scores BM25F times its boost; Or matches any child and sums the children that match; And
matches where every child does and sums them; a compound's boost multiplies its sum, except that a
compound with one child is that child (Whoosh ignores the boost there too). Query types the planner
never produces raise `Unsupported`, and the caller falls back to Whoosh's matcher.

The cost follows the matches, not the corpus: a term is its compiled (sorted docnums, scores)
slice, an And intersects sorted docnums by binary search, and an Or sums its children with one
`np.bincount` over their concatenated docnums. Sums run in child order, as the corpus-sized arrays
this replaces summed them, so every score is the same number to the last bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from whoosh import query as Q

from .arrays import IndexArrays

# An Or whose children hold more than size / DENSE_SHARE postings sums them in one corpus-sized
# bincount (linear, no sort); below that, sorting the few docnums is cheaper than touching the corpus.
DENSE_SHARE = 64


class Unsupported(Exception):
    """A query node this evaluator does not implement."""


@dataclass
class Matches:
    ids: np.ndarray       # matched docnums: integers, sorted, distinct
    scores: np.ndarray    # float64 score of each, aligned with ids

    def __len__(self) -> int:
        return len(self.ids)


def _empty() -> Matches:
    return Matches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


def evaluate(q: Q.Query, arrays: IndexArrays) -> Matches:
    if isinstance(q, Q.Term):
        ids, scores = arrays.scored(q.fieldname, q.text)     # compiled docnums are int32: not copied
        return Matches(ids, scores * q.boost if q.boost != 1.0 else scores)
    if isinstance(q, Q.NullQuery.__class__):
        return _empty()
    if type(q) in (Q.And, Q.Or):
        subs = q.subqueries
        if not subs:
            return _empty()
        if len(subs) == 1:
            return evaluate(subs[0], arrays)
        parts = [evaluate(s, arrays) for s in subs]
        found = union(parts, arrays.size) if type(q) is Q.Or else _intersection(parts)
        if q.boost != 1.0:
            found = Matches(found.ids, found.scores * q.boost)
        return found
    raise Unsupported(type(q).__name__)


def union_ids(id_arrays: list[np.ndarray], size: int) -> np.ndarray:
    """The sorted distinct docnums of several sorted docnum arrays."""
    nonempty = [ids for ids in id_arrays if len(ids)]
    if not nonempty:
        return np.zeros(0, dtype=np.int64)
    if len(nonempty) == 1:
        return nonempty[0]
    ids = np.concatenate(nonempty)
    if len(ids) * DENSE_SHARE > size:
        seen = np.zeros(size, dtype=bool)
        seen[ids] = True
        return np.flatnonzero(seen)
    return np.unique(ids)


def union(parts: list[Matches], size: int) -> Matches:
    """Docnums matched by any part; each one's score is the sum of the parts that match it, added
    in part order (bincount adds its weights in input order)."""
    nonempty = [p for p in parts if len(p)]
    if not nonempty:
        return _empty()
    if len(nonempty) == 1:
        return nonempty[0]
    ids = np.concatenate([p.ids for p in nonempty])
    scores = np.concatenate([p.scores for p in nonempty])
    if len(ids) * DENSE_SHARE > size:
        seen = np.zeros(size, dtype=bool)
        seen[ids] = True
        matched = np.flatnonzero(seen)
        return Matches(matched, np.bincount(ids, weights=scores, minlength=size)[matched])
    matched, slot = np.unique(ids, return_inverse=True)
    return Matches(matched, np.bincount(slot, weights=scores, minlength=len(matched)))


def _positions(ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each wanted docnum, its index in the sorted ids and whether it is there."""
    pos = np.searchsorted(ids, wanted)
    if not len(ids):
        return pos, np.zeros(len(wanted), dtype=bool)
    return pos, ids[np.minimum(pos, len(ids) - 1)] == wanted


def _intersection(parts: list[Matches]) -> Matches:
    """Docnums matched by every part, scored by the sum of the parts in part order."""
    smallest = min(parts, key=len)
    ids = smallest.ids
    for part in parts:
        if not len(ids):
            return _empty()
        if part is not smallest:
            ids = ids[_positions(part.ids, ids)[1]]
    if not len(ids):
        return _empty()
    summed = None
    for part in parts:
        score = part.scores[np.searchsorted(part.ids, ids)]
        summed = score if summed is None else summed + score
    return Matches(ids, summed)


def contains(found: Matches, docnums: np.ndarray) -> np.ndarray:
    """Whether each of docnums is among the matches."""
    return _positions(found.ids, docnums)[1]


def filter_mask(q: Q.Query | None, arrays: IndexArrays) -> np.ndarray:
    """Documents a filter query allows (Whoosh filters restrict, they do not score): one bool per docnum."""
    if q is None:
        return arrays.live
    mask = np.zeros(arrays.size, dtype=bool)
    mask[evaluate(q, arrays).ids] = True
    return mask & arrays.live


def matched_terms(q: Q.Query, arrays: IndexArrays, docnums: list[int]) -> list[set[tuple[str, str]]]:
    """For each of a page's documents, the (field, text) terms that take part in its match, as
    Whoosh reports them with `terms=True`: an Or's matching children, an And's children only where
    all of them match."""
    page = np.asarray(docnums, dtype=np.int64)
    found: list[set] = [set() for _ in docnums]
    if not len(page):
        return found
    memo: dict[int, np.ndarray] = {}
    _collect(q, arrays, page, _matches_at(q, arrays, page, memo), found, memo)
    return found


def _matches_at(q: Q.Query, arrays: IndexArrays, page: np.ndarray, memo: dict) -> np.ndarray:
    """Which page documents a node matches, computed once per node."""
    known = memo.get(id(q))
    if known is not None:
        return known
    if isinstance(q, Q.Term):
        ids, _ = arrays.scored(q.fieldname, q.text)
        out = _positions(np.asarray(ids), page)[1]
    elif type(q) in (Q.And, Q.Or) and q.subqueries:
        parts = [_matches_at(s, arrays, page, memo) for s in q.subqueries]
        out = np.logical_or.reduce(parts) if type(q) is Q.Or else np.logical_and.reduce(parts)
    else:
        out = np.zeros(len(page), dtype=bool)
    memo[id(q)] = out
    return out


def _collect(q: Q.Query, arrays: IndexArrays, page: np.ndarray, allowed: np.ndarray, found: list[set],
             memo: dict) -> None:
    if not allowed.any():
        return
    if isinstance(q, Q.Term):
        for k in np.flatnonzero(allowed):
            found[k].add((q.fieldname, q.text))
        return
    if type(q) in (Q.And, Q.Or):
        for sub in q.subqueries:
            # an And only contributes where all its children match, which `allowed` already says
            child = allowed & _matches_at(sub, arrays, page, memo) if type(q) is Q.Or else allowed
            _collect(sub, arrays, page, child, found, memo)
