"""A Whoosh query tree → which documents match and their scores, computed on whole arrays.

The semantics are Whoosh's own, so results equal those of `Searcher.search` (tests compare them):
a Term scores BM25F times its boost; Or matches any child and sums the children that match; And
matches where every child does and sums them; a compound's boost multiplies its sum, except that a
compound with one child is that child (Whoosh ignores the boost there too). Query types the planner
never produces raise `Unsupported`, and the caller falls back to Whoosh's matcher.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from whoosh import query as Q

from .arrays import IndexArrays


class Unsupported(Exception):
    """A query node this evaluator does not implement."""


@dataclass
class Matches:
    mask: np.ndarray      # bool per docnum
    scores: np.ndarray    # float per docnum, 0 where not matched


def evaluate(q: Q.Query, arrays: IndexArrays) -> Matches:
    size = arrays.size
    if isinstance(q, Q.Term):
        ids, scores = arrays.scored(q.fieldname, q.text)
        mask = np.zeros(size, dtype=bool)
        mask[ids] = True
        out = np.zeros(size, dtype=np.float64)
        out[ids] = scores * q.boost if q.boost != 1.0 else scores
        return Matches(mask, out)
    if isinstance(q, Q.NullQuery.__class__):
        return Matches(np.zeros(size, dtype=bool), np.zeros(size, dtype=np.float64))
    if type(q) in (Q.And, Q.Or):
        subs = q.subqueries
        if not subs:
            return Matches(np.zeros(size, dtype=bool), np.zeros(size, dtype=np.float64))
        if len(subs) == 1:
            return evaluate(subs[0], arrays)
        parts = [evaluate(s, arrays) for s in subs]
        if type(q) is Q.Or:
            mask = np.logical_or.reduce([p.mask for p in parts])
            scores = np.add.reduce([p.scores for p in parts])
        else:
            mask = np.logical_and.reduce([p.mask for p in parts])
            scores = np.where(mask, np.add.reduce([p.scores for p in parts]), 0.0)
        if q.boost != 1.0:
            scores = scores * q.boost
        return Matches(mask, scores)
    raise Unsupported(type(q).__name__)


def filter_mask(q: Q.Query | None, arrays: IndexArrays) -> np.ndarray:
    """Documents a filter query allows (Whoosh filters restrict, they do not score)."""
    if q is None:
        return arrays.live
    return evaluate(q, arrays).mask & arrays.live


def matched_terms(q: Q.Query, arrays: IndexArrays, docnums: list[int]) -> list[set[tuple[str, str]]]:
    """For each of a page's documents, the (field, text) terms that take part in its match, as
    Whoosh reports them with `terms=True`: an Or's matching children, an And's children only where
    all of them match."""
    page = np.asarray(docnums, dtype=np.int64)
    found: list[set] = [set() for _ in docnums]
    if not len(page):
        return found
    _collect(q, arrays, page, _matches_at(q, arrays, page), found)
    return found


def _matches_at(q: Q.Query, arrays: IndexArrays, page: np.ndarray) -> np.ndarray:
    if isinstance(q, Q.Term):
        ids, _ = arrays.scored(q.fieldname, q.text)
        i = np.searchsorted(ids, page)
        return (i < len(ids)) & (np.asarray(ids)[np.minimum(i, len(ids) - 1)] == page) if len(ids) \
            else np.zeros(len(page), dtype=bool)
    if type(q) in (Q.And, Q.Or) and q.subqueries:
        parts = [_matches_at(s, arrays, page) for s in q.subqueries]
        return np.logical_or.reduce(parts) if type(q) is Q.Or else np.logical_and.reduce(parts)
    return np.zeros(len(page), dtype=bool)


def _collect(q: Q.Query, arrays: IndexArrays, page: np.ndarray, allowed: np.ndarray, found: list[set]) -> None:
    if not allowed.any():
        return
    if isinstance(q, Q.Term):
        for k in np.flatnonzero(allowed):
            found[k].add((q.fieldname, q.text))
        return
    if type(q) in (Q.And, Q.Or):
        for sub in q.subqueries:
            # an And only contributes where all its children match, which `allowed` already says
            child = allowed & _matches_at(sub, arrays, page) if type(q) is Q.Or else allowed
            _collect(sub, arrays, page, child, found)
