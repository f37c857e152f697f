"""Each technology's and case's weighted term counts, kept by the knowledge base between its builds.

numpy only (no scikit-learn), so a knowledge base can own its counts without loading the model's libraries.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..documents import Document

if TYPE_CHECKING:
    from ..analysis import Analysis
    from ..fields import PreparedWords

FIELD_WEIGHTS = (("title", 3), ("tags", 2), ("process", 2), ("summary", 2), ("body", 1))
COUNTS_FILE = "counts.npz"


def document_tokens(doc: Document, words: PreparedWords) -> list[str]:
    """Weighted tokens of one entry (title ×3 … body ×1)."""
    return _document_tokens(doc, words)


Key = tuple[str, str, str]
Row = tuple[np.ndarray, np.ndarray]
log = logging.getLogger(__name__)


class TermCounts:
    """Each entry's weighted term counts, keyed by (id, content hash, dictionary
    fingerprint), kept between builds: a long-running server rebuilds the model on every edit, and with
    these an edit re-tokenises and re-counts only the changed entries; the TF-IDF fit itself is then a few
    array operations. After each build the cache holds that build's entries only (see `keep_only`), so
    it is as large as one generation, never more. A row's terms are stored in the vocabulary's own
    (string) order, so the count matrix comes out with sorted indices and needs no sort."""

    def __init__(self) -> None:
        # key → [term ids, counts] (a list: renumbering the terms updates it in place)
        self.rows: dict[Key, list] = {}
        self.term_ids: dict[str, int] = {}
        self.terms: list[str] = []

    @staticmethod
    def key(doc: Document, analysis: Analysis) -> Key:
        return (doc.id, doc.content_hash, analysis.fingerprint)

    def has(self, doc: Document, analysis: Analysis) -> bool:
        return self.key(doc, analysis) in self.rows

    def term_id(self, term: str) -> int:
        found = self.term_ids.get(term)
        if found is None:
            found = self.term_ids[term] = len(self.terms)
            self.terms.append(term)
        return found

    def clear(self) -> None:
        """Forget every row (what a new process starts with)."""
        self.rows.clear()
        self.term_ids.clear()
        self.terms.clear()

    def row(self, doc: Document, words: PreparedWords, key: Key | None = None,
            tokens: Callable[[Document, PreparedWords], list[str]] | None = None) -> Row:
        """(term ids, counts) of one entry's weighted tokens (`tokens`: document_tokens unless given),
        terms in string order."""
        key = key or self.key(doc, words.analysis)
        entry = self.rows.get(key)
        if entry is None:
            counts = Counter((tokens or document_tokens)(doc, words))
            terms = sorted(counts)
            ids = np.fromiter((self.term_id(t) for t in terms), dtype=np.int64, count=len(terms))
            entry = self.rows[key] = [ids, np.fromiter((counts[t] for t in terms), dtype=np.float64, count=len(terms))]
        return entry[0], entry[1]

    def keep_only(self, keys: set[Key], used: np.ndarray | None = None) -> None:
        """Forget the entries of older generations; renumber the terms once the table has grown to twice
        what the kept rows use (`used`: those term ids, when the caller has them)."""
        for old in [k for k in self.rows if k not in keys]:
            del self.rows[old]
        if not self.rows:
            self.term_ids.clear()
            self.terms.clear()
            return
        if used is None:
            used = np.flatnonzero(np.bincount(np.concatenate([entry[0] for entry in self.rows.values()]),
                                              minlength=len(self.terms)))
        if len(self.terms) <= 2 * max(len(used), 1024):
            return
        new_id = np.full(len(self.terms), -1, dtype=np.int64)
        new_id[used] = np.arange(len(used))
        kept = [self.terms[i] for i in used.tolist()]
        for entry in self.rows.values():
            entry[0] = new_id[entry[0]]
        self.terms[:] = kept
        self.term_ids.clear()
        self.term_ids.update((t, i) for i, t in enumerate(kept))

    # The counts also go to disk with each generation, so that a new process (`kb build` after an edit,
    # a restarted server) re-tokenises only the changed entries instead of every technology and case.
    def save(self, out_dir: Path, keys: list[Key], lengths: np.ndarray, ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Write the rows (concatenated: `lengths` per key) with their own small term list; returns the
        term ids they use."""
        used = np.flatnonzero(np.bincount(ids, minlength=len(self.terms)))
        local = np.full(len(self.terms), -1, dtype=np.int64)
        local[used] = np.arange(len(used))
        np.savez(out_dir / COUNTS_FILE,
                 keys=np.array(["\x1f".join(k) for k in keys], dtype=str),       # text arrays: no pickle
                 terms=np.array([self.terms[i] for i in used.tolist()], dtype=str),
                 lengths=lengths.astype(np.int64),
                 ids=local[ids].astype(np.int32),
                 counts=counts.astype(np.float32),
                 rows_in_term_order=np.array(True))     # files written before did not keep that order
        return used

    def warm(self, model_dir: Path) -> int:
        """Load a previous generation's counts (keys carry the content hash and the dictionary
        fingerprint, so a stale row is never used). Returns how many rows were loaded; a file that
        cannot be read is logged (the build then tokenises those entries again, slower but correct)."""
        try:
            saved = np.load(model_dir / COUNTS_FILE, allow_pickle=False)
            keys, terms = saved["keys"].tolist(), saved["terms"].tolist()
            lengths, ids, counts = saved["lengths"], saved["ids"], saved["counts"]
        except (OSError, KeyError, ValueError) as exc:
            log.warning("推荐模型：读不到上一代的词频 %s（%s），本次构建将重新分词全部技术和案例",
                        model_dir / COUNTS_FILE, exc)
            return 0
        if "rows_in_term_order" not in saved.files:
            ids, counts = _terms_in_string_order(terms, lengths, ids, counts)
        to_global = np.fromiter((self.term_id(t) for t in terms), dtype=np.int64, count=len(terms))
        ids = to_global[ids] if len(ids) else ids.astype(np.int64)
        counts = counts.astype(np.float64)
        ends = np.cumsum(lengths)
        loaded = 0
        for key, end, length in zip(keys, ends.tolist(), lengths.tolist()):
            parts = tuple(key.split("\x1f"))
            if len(parts) == 3 and parts not in self.rows:
                self.rows[parts] = [ids[end - length:end], counts[end - length:end]]
                loaded += 1
        return loaded


def _terms_in_string_order(terms: list[str], lengths: np.ndarray, ids: np.ndarray, counts: np.ndarray):
    """Each saved row's terms in string order (files written before rows were kept so: sorted once)."""
    if not len(ids):
        return ids, counts
    rank = np.empty(len(terms), dtype=np.int64)
    rank[np.argsort(np.array(terms, dtype=str), kind="stable")] = np.arange(len(terms))
    ranked = rank[ids]
    starts = np.zeros(len(ids), dtype=bool)
    starts[np.cumsum(lengths)[:-1]] = True
    if np.all((np.diff(ranked) > 0) | starts[1:]):
        return ids, counts
    order = np.lexsort((ranked, np.repeat(np.arange(len(lengths)), lengths)))
    return ids[order], counts[order]



def _document_tokens(doc: Document, prepared: PreparedWords) -> list[str]:
    # the same field texts the search index reads, so a build segments each of them once
    fields = prepared.fields(doc)
    words = prepared.words
    texts = {"title": fields["title"], "tags": fields["tags_text"], "process": fields["process"],
             "summary": fields["summary"], "body": fields["body"]}
    tokens: list[str] = []
    for name, weight in FIELD_WEIGHTS:
        tokens.extend(words(texts[name]) * weight)
    return tokens
