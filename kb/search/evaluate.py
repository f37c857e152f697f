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


def matched_terms(q: Q.Query, arrays: IndexArrays, docnum: int) -> set[tuple[str, str]]:
    """The (field, text) terms that take part in this document's match, as Whoosh reports them
    with `terms=True`: an Or's matching children, an And's children only where all of them match."""
    found, _ = _terms_at(q, arrays, docnum)
    return found


def _terms_at(q: Q.Query, arrays: IndexArrays, docnum: int) -> tuple[set, bool]:
    if isinstance(q, Q.Term):
        ids, _ = arrays.scored(q.fieldname, q.text)
        i = np.searchsorted(ids, docnum)
        hit = bool(i < len(ids) and ids[i] == docnum)
        return ({(q.fieldname, q.text)} if hit else set()), hit
    if type(q) in (Q.And, Q.Or):
        results = [_terms_at(s, arrays, docnum) for s in q.subqueries]
        if type(q) is Q.Or:
            return set().union(*(t for t, ok in results if ok)), any(ok for _, ok in results)
        if results and all(ok for _, ok in results):
            return set().union(*(t for t, _ in results)), True
        return set(), False
    return set(), False
