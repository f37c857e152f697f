"""Every use of Whoosh's private internals, in one module, checked against the installed version.

kb reads a generation's postings as whole arrays and scores them with Whoosh's BM25F
(kb/search/whoosh/arrays.py). Whoosh offers no public API for either: a posting block's arrays are
read with `W3LeafMatcher._read_ids` / `_read_weights` / `_next_block`, a field's B is in
`BM25F._field_B`, and the idf is recomputed here for all terms at once. These were read from the
whoosh-reloaded versions in TESTED; any other version stops at import with a message naming it,
rather than scoring differently in silence. The recomputed formulas are also compared with Whoosh's
own at import.
"""
from __future__ import annotations

import math

import numpy as np
import whoosh
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching.wrappers import FilterMatcher
from whoosh.scoring import BM25F, WeightingModel
from whoosh.scoring import bm25 as whoosh_bm25

# whoosh-reloaded versions (inclusive) whose internals this module was written against; pyproject.toml pins it
TESTED = ((2, 7, 5), (2, 7, 5))


class UnsupportedWhoosh(ImportError):
    """The installed Whoosh is not one whose private internals kb was checked against."""


def check_version(version: tuple = tuple(whoosh.__version__)) -> None:
    found = ".".join(map(str, version))
    low, high = (".".join(map(str, v)) for v in TESTED)
    if not TESTED[0] <= tuple(version[:3]) <= TESTED[1]:
        raise UnsupportedWhoosh(
            f"kb 的 Whoosh 适配层（kb/search/whoosh/internals.py）使用 Whoosh 的私有接口，只在 whoosh-reloaded "
            f"{low}–{high} 上核对过；当前安装的是 {found}。请安装 pyproject.toml 固定的版本，"
            f"或核对这些私有接口后再放宽 TESTED。")
    missing = [name for name in ("_read_ids", "_read_weights", "_next_block") if not hasattr(W3LeafMatcher, name)]
    if missing or not hasattr(BM25F(), "_field_B"):
        raise UnsupportedWhoosh(f"Whoosh {found} 缺少 kb 使用的私有接口：{', '.join(missing) or 'BM25F._field_B'}")


def leaf_postings(matcher) -> tuple[np.ndarray, np.ndarray]:
    """All (docnum, weight) of one segment's postings: block arrays for the on-disk format,
    posting by posting for the inlined short lists Whoosh keeps in the term dictionary."""
    if isinstance(matcher, FilterMatcher):      # deleted documents are masked by the caller
        matcher = matcher.child
    if isinstance(matcher, W3LeafMatcher) and matcher.is_active():
        ids, weights = [], []
        while True:
            matcher._read_ids()
            matcher._read_weights()
            ids.append(np.asarray(matcher._ids, dtype=np.int64))
            weights.append(np.asarray(matcher._weights, dtype=np.float64))
            if matcher._lastblock:
                break
            matcher._next_block()
        return np.concatenate(ids), np.concatenate(weights)
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float64)


def field_b(weighting: BM25F, fieldname: str) -> float:
    """BM25F's B for one field (its per-field value, else the default), as BM25F.scorer picks it."""
    return weighting._field_B.get(fieldname, weighting.B)


def idf(doc_count_all: int, doc_frequency: np.ndarray) -> np.ndarray:
    """Whoosh's idf (WeightingModel.idf) of many terms at once: log(N / (df + 1)) + 1, where N counts
    deleted documents too, as Whoosh does."""
    return np.fromiter((math.log(doc_count_all / (n + 1)) + 1 for n in np.asarray(doc_frequency).tolist()),
                       dtype=np.float64, count=len(doc_frequency))


def bm25(idf, tf: np.ndarray, length: np.ndarray, avgfl: float, b: float, k1: float) -> np.ndarray:
    """Whoosh's BM25F term score (whoosh.scoring.bm25), on arrays."""
    return idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / avgfl)))


class _Statistics:
    """The statistics WeightingModel.idf reads from a searcher."""

    def __init__(self, docs: int, df: int):
        self.docs, self.df = docs, df

    def get_parent(self):
        return self

    def doc_frequency(self, fieldname, text):
        return self.df

    def doc_count_all(self):
        return self.docs


def check_formulas() -> None:
    """The recomputed idf and BM25 equal Whoosh's own on a few values."""
    for docs, df in ((40, 3), (1, 0), (12345, 678)):
        ours, theirs = float(idf(docs, np.array([df]))[0]), WeightingModel().idf(_Statistics(docs, df), "f", "t")
        if ours != theirs:
            raise UnsupportedWhoosh(f"Whoosh {whoosh.versionstring()} 的 idf 与 kb 的重算不同：{theirs} ≠ {ours}")
    for tf, length, avgfl, b, k1 in ((1.0, 10.0, 12.5, 0.75, 1.2), (3.0, 2.0, 1.0, 0.3, 2.0)):
        ours = float(bm25(1.7, np.array([tf]), np.array([length]), avgfl, b, k1)[0])
        theirs = whoosh_bm25(1.7, tf, length, avgfl, b, k1)
        if abs(ours - theirs) > 1e-12:
            raise UnsupportedWhoosh(f"Whoosh {whoosh.versionstring()} 的 BM25 与 kb 的重算不同：{theirs} ≠ {ours}")


check_version()
check_formulas()
