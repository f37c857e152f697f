"""A Whoosh query tree → which documents match and their scores, computed on whole arrays.

The semantics are Whoosh's own, so results equal those of `Searcher.search` (tests compare them):
a Term scores BM25F times its boost; Or matches any child and sums the children that match; And
matches where every child does and sums them; a compound's boost multiplies its sum, except that a
compound with one child is that child (Whoosh ignores the boost there too). Query types the planner
never produces raise `Unsupported`, and the caller falls back to Whoosh's matcher.

A node's matches take one of two forms, whichever is cheaper for their number:

- `Matches`, sorted docnums and their scores: a term is its compiled (docnums, scores) slice; an Or
  of few postings sums its children with one `np.bincount` over their concatenated docnums; an And
  whose smallest part is small looks its docnums up in the others.
- `Dense`, one score per document of the corpus (0.0 where it does not match): an Or whose
  children hold more than size / DENSE_SHARE postings, and an And of such parts. An Or adds its
  children into one score array (`np.add.at`, a dense child by one array addition), an And keeps
  the sum where the smallest of its parts' scores is above 0; no docnum is sorted or searched for.
  Queries of common words (half the bench's queries at 20k documents match over half the corpus)
  spent most of their time mapping one node's sorted docnums onto another's.

Sums run in child order in both forms and adding the 0.0 of a document a child does not match
changes nothing, so every score is the same number to the last bit as Whoosh's and as the sorted
form alone gave.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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

    def sparse(self) -> "Matches":
        return self


@dataclass
class Dense:
    """Matches over the whole corpus, one score per docnum: the node's score where it matches, 0.0
    elsewhere. Every posting scores above 0 (BM25F of a term that occurs, or its frequency, times a
    positive boost; evaluate_any refuses other boosts), so a document matches where its score is
    above 0 and no mask is kept."""
    scores: np.ndarray    # float64 per docnum
    _mask: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def mask(self) -> np.ndarray:
        """Where the node matches (worked out once: coverage and facet counting both ask)."""
        if self._mask is None:
            self._mask = self.scores > 0
        return self._mask

    def __len__(self) -> int:
        return int(np.count_nonzero(self.mask))

    def sparse(self) -> Matches:
        ids = np.flatnonzero(self.mask)          # on the bool mask: flatnonzero of floats is ~5x slower
        return Matches(ids, self.scores[ids])


Found = Matches | Dense


def _empty() -> Matches:
    return Matches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


def evaluate(q: Q.Query, arrays: IndexArrays) -> Matches:
    """The node's matches as sorted docnums and scores."""
    return evaluate_any(q, arrays).sparse()


def evaluate_any(q: Q.Query, arrays: IndexArrays) -> Found:
    """The node's matches in whichever form (Matches or Dense) was cheaper to compute."""
    if q.boost <= 0:
        raise Unsupported(f"{type(q).__name__} with boost {q.boost}")     # scores must stay above 0
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
            return evaluate_any(subs[0], arrays)
        if type(q) is Q.Or and all(type(s) is Q.Term for s in subs):
            found = _terms_union(subs, arrays)          # a word in every field: the commonest node
            return found if q.boost == 1.0 else _boosted(found, q.boost)
        parts = [evaluate_any(s, arrays) for s in subs]
        found = union(parts, arrays.size) if type(q) is Q.Or else _intersection(parts, arrays.size)
        return found if q.boost == 1.0 else _boosted(found, q.boost)
    raise Unsupported(type(q).__name__)


def _boosted(found: Found, boost: float) -> Found:
    return Matches(found.ids, found.scores * boost) if isinstance(found, Matches) else Dense(found.scores * boost)


def _terms_union(terms: list[Q.Term], arrays: IndexArrays) -> Found:
    """An Or of terms, as union() would sum their evaluations, without a Matches per term: each
    term's compiled slice, times its boost, added in term order."""
    postings = []
    count = 0
    for term in terms:
        if term.boost <= 0:
            raise Unsupported(f"Term with boost {term.boost}")
        ids, scores = arrays.scored(term.fieldname, term.text)
        if len(ids):
            postings.append((ids, scores * term.boost if term.boost != 1.0 else scores))
            count += len(ids)
    if not postings:
        return _empty()
    if len(postings) == 1:
        return Matches(*postings[0])
    if count * DENSE_SHARE <= arrays.size:
        matched, slot = np.unique(np.concatenate([ids for ids, _ in postings]), return_inverse=True)
        return Matches(matched, np.bincount(slot, weights=np.concatenate([sc for _, sc in postings]),
                                            minlength=len(matched)))
    total = np.zeros(arrays.size, dtype=np.float64)
    ids, scores = postings[0]
    total[ids] = scores
    for ids, scores in postings[1:]:
        np.add.at(total, ids, scores)
    return Dense(total)


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


def union(parts: list[Found], size: int) -> Found:
    """Docnums matched by any part; each one's score is the sum of the parts that match it, added
    in part order: by one bincount over the concatenated parts when they are few postings, else
    part by part into one score per document (np.add.at adds in input order; a dense part adds 0.0
    where it does not match, which changes nothing)."""
    nonempty = [p for p in parts if isinstance(p, Dense) or len(p)]
    if not nonempty:
        return _empty()
    if len(nonempty) == 1:
        return nonempty[0]
    if all(isinstance(p, Matches) for p in nonempty) and sum(len(p) for p in nonempty) * DENSE_SHARE <= size:
        ids = np.concatenate([p.ids for p in nonempty])
        scores = np.concatenate([p.scores for p in nonempty])
        matched, slot = np.unique(ids, return_inverse=True)
        return Matches(matched, np.bincount(slot, weights=scores, minlength=len(matched)))
    first = nonempty[0]
    total = first.scores.copy() if isinstance(first, Dense) else _scattered(first, size)
    for part in nonempty[1:]:
        if isinstance(part, Dense):
            total += part.scores
        else:
            np.add.at(total, part.ids, part.scores)
    return Dense(total)


def _scattered(found: Matches, size: int) -> np.ndarray:
    """One score per document of the corpus: the match's where it matches, 0.0 elsewhere."""
    total = np.zeros(size, dtype=np.float64)
    total[found.ids] = found.scores
    return total


def _positions(ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each wanted docnum, its index in the sorted ids and whether it is there."""
    pos = np.searchsorted(ids, wanted)
    if not len(ids):
        return pos, np.zeros(len(wanted), dtype=bool)
    return pos, ids[np.minimum(pos, len(ids) - 1)] == wanted


def _intersection(parts: list[Found], size: int) -> Found:
    """Docnums matched by every part, scored by the sum of the parts in part order: looked up part by
    part from the smallest sparse part when it is small, else on whole-corpus scores."""
    sparse = [p for p in parts if isinstance(p, Matches)]
    smallest = min(sparse, key=len) if sparse else None
    if smallest is not None and len(smallest) * DENSE_SHARE <= size:
        ids = smallest.ids
        for part in parts:
            if not len(ids):
                return _empty()
            if part is not smallest:
                ids = ids[part.scores[ids] > 0] if isinstance(part, Dense) else ids[_positions(part.ids, ids)[1]]
        if not len(ids):
            return _empty()
        summed = None
        for part in parts:
            score = part.scores[ids] if isinstance(part, Dense) else part.scores[np.searchsorted(part.ids, ids)]
            summed = score if summed is None else summed + score
        return Matches(ids, summed)
    columns = [p.scores if isinstance(p, Dense) else _scattered(p, size) for p in parts]
    lowest = np.minimum.reduce(columns) if len(columns) > 2 else np.minimum(columns[0], columns[1])
    summed = columns[0]
    for column in columns[1:]:
        summed = summed + column
    return Dense(summed * (lowest > 0))       # 0.0 where any part does not match


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
    all of them match.

    Which page documents a node matches is a Python int with one bit per page document: the tree
    has dozens of nodes and the page ten documents, so combining and testing bits beats a numpy
    call per node; a term is looked up once (one searchsorted) however many nodes hold it."""
    page = np.asarray(docnums, dtype=np.int64)
    found: list[set] = [set() for _ in docnums]
    if not len(page):
        return found
    walk = _PageMatches(arrays, page)
    walk.collect(q, walk.at(q), found)
    return found


class _PageMatches:
    """Which page documents each node of one query tree matches, as bits, computed once per node."""

    def __init__(self, arrays: IndexArrays, page: np.ndarray):
        self.arrays, self.page = arrays, page
        self.everyone = (1 << len(page)) - 1
        self.nodes: dict[int, int] = {}
        self.terms: dict[tuple, int] = {}

    def at(self, q: Q.Query) -> int:
        known = self.nodes.get(id(q))
        if known is not None:
            return known
        if isinstance(q, Q.Term):
            bits = self._term(q.fieldname, q.text)
        elif type(q) in (Q.And, Q.Or) and q.subqueries:
            parts = [self.at(s) for s in q.subqueries]
            if type(q) is Q.Or:
                bits = 0
                for part in parts:
                    bits |= part
            else:
                bits = self.everyone
                for part in parts:
                    bits &= part
        else:
            bits = 0
        self.nodes[id(q)] = bits
        return bits

    def _term(self, fieldname: str, text) -> int:
        key = (fieldname, text)
        bits = self.terms.get(key)
        if bits is None:
            bits = 0
            ids, _ = self.arrays.scored(fieldname, text)
            if len(ids):
                present = ids.take(np.searchsorted(ids, self.page), mode="clip") == self.page
                for k in np.flatnonzero(present).tolist():
                    bits |= 1 << k
            self.terms[key] = bits
        return bits

    def collect(self, q: Q.Query, allowed: int, found: list[set]) -> None:
        if not allowed:
            return
        if isinstance(q, Q.Term):
            term = (q.fieldname, q.text)
            k = 0
            while allowed:
                if allowed & 1:
                    found[k].add(term)
                allowed >>= 1
                k += 1
            return
        if type(q) in (Q.And, Q.Or):
            for sub in q.subqueries:
                # an And only contributes where all its children match, which `allowed` already says
                self.collect(sub, allowed & self.at(sub) if type(q) is Q.Or else allowed, found)
