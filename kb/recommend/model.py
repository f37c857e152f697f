"""The TF-IDF model over technology entries, built by `kb build` into the index generation.

Fields are weighted by repeating their tokens (title ×3, tags and process ×2, summary ×2, body ×1),
tokenised by the same Analysis as search so the glossary keeps domain words whole in both.
"""
from __future__ import annotations

import functools
import logging
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer

from ..analysis import Analysis
from ..documents import Document
from ..fields import PreparedWords
from ..regions import province_of

FIELD_WEIGHTS = (("title", 3), ("tags", 2), ("process", 2), ("summary", 2), ("body", 1))
MODEL_FILE = "recommender.pkl"
MODEL_TYPES = ("technology", "case")
COUNTS_FILE = "counts.npz"


def _identity(tokens: list[str]) -> list[str]:
    return tokens


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

    def row(self, doc: Document, words: PreparedWords, key: Key | None = None) -> Row:
        """(term ids, counts) of one entry's weighted tokens, terms in string order."""
        key = key or self.key(doc, words.analysis)
        entry = self.rows.get(key)
        if entry is None:
            counts = Counter(document_tokens(doc, words))
            terms = sorted(counts)
            ids = np.fromiter((self.term_id(t) for t in terms), dtype=np.int64, count=len(terms))
            entry = self.rows[key] = [ids, np.fromiter((counts[t] for t in terms), dtype=np.float64, count=len(terms))]
        return entry[0], entry[1]

    def keep_only(self, keys: set[Key], used: np.ndarray | None = None) -> None:
        """Forget the entries of older generations; renumber the terms once the table has grown to twice
        what the kept rows use (`used`: those term ids, when the caller has them). In place: the
        containers are shared with the module's names."""
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


# The process's counts between builds (a server's builds, or `kb build` reading the live generation's).
# `kb.build` and the bench address them through these names; a KnowledgeBase could own one instead.
_counts = TermCounts()
_rows, _term_ids, _terms = _counts.rows, _counts.term_ids, _counts.terms


def is_cached(doc: Document, analysis: Analysis) -> bool:
    return _counts.has(doc, analysis)


def _concatenated(rows: list[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lengths, term ids, counts) of many rows, end to end."""
    lengths = np.fromiter((len(ids) for ids, _ in rows), dtype=np.int64, count=len(rows))
    ids = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
    data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0)
    return lengths, ids, data


def _count_matrix(lengths: np.ndarray, ids: np.ndarray, data: np.ndarray, column_of: np.ndarray, width: int):
    """Documents × vocabulary counts; terms outside the vocabulary (column -1) are dropped, as
    CountVectorizer.transform drops unseen words. Built as CSR directly: a row's terms are distinct."""
    count = len(lengths)
    columns = column_of[ids]
    keep = columns >= 0
    if not keep.all():
        row_of = np.repeat(np.arange(count), lengths)
        lengths = np.bincount(row_of[keep], minlength=count)
        columns, data = columns[keep], data[keep]
    indptr = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    matrix = sparse.csr_matrix((data, columns, indptr), shape=(count, width))
    matrix.sort_indices()   # canonical, like CountVectorizer's output (rows in string order: only a check)
    return matrix


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


@dataclass
class ModelData:
    vectorizer: TfidfVectorizer
    tech_ids: list[str]
    tech_matrix: Any
    tech_info: list[dict]
    case_ids: list[str]
    case_matrix: Any
    case_info: list[dict]


def _info(doc: Document, province_of: Callable[[str | None], str | None] = province_of) -> dict:
    meta = doc.meta
    return {
        "id": doc.id, "title": doc.title, "sectors": doc.sectors, "tags": doc.tags,
        "category": doc.category, "process": meta.get("process", ""),
        "investment_wan": meta.get("investment_wan"), "payback_years": meta.get("payback_years"),
        "technologies": meta.get("technologies", []), "year": doc.year,
        "province": province_of(meta.get("region")) if doc.type == "case" else None,
        # reliability (issue 15): an audit case is cited before a retrofit news item; confidence weighs a little
        "kind": meta.get("kind"), "confidence": doc.source.get("confidence"),
    }


def build_model(documents: list[Document], out_dir: Path, words: PreparedWords,
                counts: TermCounts | None = None) -> None:
    """The same model as TfidfVectorizer(sublinear_tf=True, norm="l2").fit on the technologies'
    tokens (vocabulary sorted as sklearn sorts it) and .transform of the cases, from cached counts.
    `words`: the build's field values and words (kb/fields.py)."""
    counts = counts if counts is not None else _counts
    techs = sorted((d for d in documents if d.type == "technology"), key=lambda d: d.id)
    cases = sorted((d for d in documents if d.type == "case"), key=lambda d: d.id)
    entries = techs + cases
    fingerprint = words.analysis.fingerprint
    keys = [(d.id, d.content_hash, fingerprint) for d in entries]
    lengths, ids, data = _concatenated([counts.row(d, words, k) for d, k in zip(entries, keys)])
    split = int(lengths[:len(techs)].sum())
    out_dir.mkdir(parents=True, exist_ok=True)
    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2")
    tech_matrix = case_matrix = None
    if techs:
        present = np.flatnonzero(np.bincount(ids[:split], minlength=len(counts.terms)))
        names = [counts.terms[i] for i in present.tolist()]
        order = sorted(range(len(names)), key=names.__getitem__)
        column_of = np.full(len(counts.terms), -1, dtype=np.int64)
        column_of[present[order]] = np.arange(len(order))
        vocabulary = {names[i]: j for j, i in enumerate(order)}
        transformer = TfidfTransformer(sublinear_tf=True, norm="l2")
        tech_matrix = transformer.fit_transform(
            _count_matrix(lengths[:len(techs)], ids[:split], data[:split], column_of, len(order)))
        if cases:
            case_matrix = transformer.transform(
                _count_matrix(lengths[len(techs):], ids[split:], data[split:], column_of, len(order)))
        vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2", vocabulary=vocabulary)
        vectorizer.idf_ = transformer.idf_
    # the entry fields are not cached: 20k dicts kept alive cost memory and slow every full GC pass;
    # building them is cheap once the region → province lookup is remembered for this build
    provinces = functools.lru_cache(maxsize=None)(province_of)
    info = [_info(d, provinces) for d in entries]
    model = ModelData(vectorizer, [d.id for d in techs], tech_matrix, info[:len(techs)],
                      [d.id for d in cases], case_matrix, info[len(techs):])
    with open(out_dir / MODEL_FILE, "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    used = counts.save(out_dir, keys, lengths, ids, data)
    counts.keep_only(set(keys), used)


def warm_counts(model_dir: Path) -> int:
    """Load a previous generation's counts into the process's cache (see TermCounts.warm)."""
    return _counts.warm(model_dir)


def load_model(model_dir: Path) -> ModelData:
    with open(model_dir / MODEL_FILE, "rb") as fh:
        return pickle.load(fh)
