"""The TF-IDF model over technology entries, built by `kb build` into the index generation.

Fields are weighted by repeating their tokens (title ×3, tags and process ×2, summary ×2, body ×1),
tokenised by the same Analysis as search so the glossary keeps domain words whole in both.
"""
from __future__ import annotations

import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def document_tokens(doc: Document, words: PreparedWords) -> list[str]:
    """Weighted tokens of one entry (title ×3 … body ×1), read through a build's prepared words."""
    return _document_tokens(doc, words)


# A long-running server rebuilds the model on every edit. Each entry's term counts are kept, keyed by
# its content hash and the dictionary, so an edit re-tokenises and re-counts only the changed entries;
# the TF-IDF fit itself is then a few array operations over the cached counts.
_rows: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
_term_ids: dict[str, int] = {}
_terms: list[str] = []
MAX_CACHED_ROWS = 200_000


def _key(doc: Document, analysis: Analysis) -> tuple[str, str, str]:
    return (doc.id, doc.content_hash, analysis.fingerprint)


def is_cached(doc: Document, analysis: Analysis) -> bool:
    return _key(doc, analysis) in _rows


def _term_id(term: str) -> int:
    found = _term_ids.get(term)
    if found is None:
        found = _term_ids[term] = len(_terms)
        _terms.append(term)
    return found


def _row(doc: Document, words: PreparedWords) -> tuple[np.ndarray, np.ndarray]:
    """(term ids, counts) of one entry's weighted tokens."""
    key = _key(doc, words.analysis)
    row = _rows.get(key)
    if row is None:
        if len(_rows) > MAX_CACHED_ROWS:
            _rows.clear()
        counts = Counter(document_tokens(doc, words))
        ids = np.fromiter((_term_id(t) for t in counts), dtype=np.int64, count=len(counts))
        row = _rows[key] = (ids, np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
    return row


def _count_matrix(rows: list[tuple[np.ndarray, np.ndarray]], column_of: np.ndarray, width: int):
    """Documents × vocabulary counts; terms outside the vocabulary (column -1) are dropped, as
    CountVectorizer.transform drops unseen words. Built as CSR directly: a row's terms are distinct."""
    lengths = np.fromiter((len(ids) for ids, _ in rows), dtype=np.int64, count=len(rows))
    ids = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
    data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0)
    columns = column_of[ids]
    keep = columns >= 0
    if not keep.all():
        row_of = np.repeat(np.arange(len(rows)), lengths)
        lengths = np.bincount(row_of[keep], minlength=len(rows))
        columns, data = columns[keep], data[keep]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    matrix = sparse.csr_matrix((data, columns, indptr), shape=(len(rows), width))
    matrix.sort_indices()                     # canonical, like CountVectorizer's output
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


def _info(doc: Document) -> dict:
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


def build_model(documents: list[Document], out_dir: Path, words: PreparedWords) -> None:
    """The same model as TfidfVectorizer(sublinear_tf=True, norm="l2").fit on the technologies'
    tokens (vocabulary sorted as sklearn sorts it) and .transform of the cases, from cached counts;
    `words`: the build's field values and words (kb/fields.py)."""
    techs = sorted((d for d in documents if d.type == "technology"), key=lambda d: d.id)
    cases = sorted((d for d in documents if d.type == "case"), key=lambda d: d.id)
    out_dir.mkdir(parents=True, exist_ok=True)
    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2")
    tech_matrix = case_matrix = None
    if techs:
        tech_rows = [_row(d, words) for d in techs]
        case_rows = [_row(d, words) for d in cases]
        present = np.flatnonzero(np.bincount(np.concatenate([ids for ids, _ in tech_rows]), minlength=len(_terms)))
        names = [_terms[i] for i in present.tolist()]
        order = sorted(range(len(names)), key=names.__getitem__)
        column_of = np.full(len(_terms), -1, dtype=np.int64)
        column_of[present[order]] = np.arange(len(order))
        vocabulary = {names[i]: j for j, i in enumerate(order)}
        transformer = TfidfTransformer(sublinear_tf=True, norm="l2")
        tech_matrix = transformer.fit_transform(_count_matrix(tech_rows, column_of, len(order)))
        if cases:
            case_matrix = transformer.transform(_count_matrix(case_rows, column_of, len(order)))
        vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2", vocabulary=vocabulary)
        vectorizer.idf_ = transformer.idf_
    data = ModelData(vectorizer, [d.id for d in techs], tech_matrix, [_info(d) for d in techs],
                     [d.id for d in cases], case_matrix, [_info(d) for d in cases])
    with open(out_dir / MODEL_FILE, "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    _save_counts(out_dir, techs + cases, words.analysis)


# The counts also go to disk with each generation, so that a new process (`kb build` after an edit, a
# restarted server) re-tokenises only the changed entries instead of every technology and case.
COUNTS_FILE = "counts.npz"


def _save_counts(out_dir: Path, documents: list[Document], analysis: Analysis) -> None:
    keys = [_key(d, analysis) for d in documents]
    rows = [_rows[k] for k in keys]
    used = np.flatnonzero(np.bincount(np.concatenate([ids for ids, _ in rows]), minlength=len(_terms))) \
        if rows else np.zeros(0, np.int64)
    local = np.full(len(_terms), -1, dtype=np.int64)
    local[used] = np.arange(len(used))
    np.savez(out_dir / COUNTS_FILE,
             keys=np.array(["\x1f".join(k) for k in keys], dtype=str),       # text arrays: no pickle
             terms=np.array([_terms[i] for i in used.tolist()], dtype=str),
             lengths=np.array([len(ids) for ids, _ in rows], dtype=np.int64),
             ids=np.concatenate([local[ids] for ids, _ in rows]).astype(np.int32) if rows else np.zeros(0, np.int32),
             counts=np.concatenate([c for _, c in rows]).astype(np.float32) if rows else np.zeros(0, np.float32))


def warm_counts(model_dir: Path) -> int:
    """Load a previous generation's counts into this process's cache (keys carry the content hash and
    the dictionary fingerprint, so a stale row is never used). Returns how many rows were loaded."""
    try:
        saved = np.load(model_dir / COUNTS_FILE, allow_pickle=False)
        keys, terms = saved["keys"].tolist(), saved["terms"].tolist()
        lengths, ids, counts = saved["lengths"], saved["ids"], saved["counts"]
    except (OSError, KeyError, ValueError):
        return 0
    if len(_rows) + len(keys) > MAX_CACHED_ROWS:
        return 0
    to_global = np.fromiter((_term_id(t) for t in terms), dtype=np.int64, count=len(terms))
    ids = to_global[ids] if len(ids) else ids.astype(np.int64)
    counts = counts.astype(np.float64)
    ends = np.cumsum(lengths)
    loaded = 0
    for key, end, length in zip(keys, ends.tolist(), lengths.tolist()):
        parts = tuple(key.split("\x1f"))
        if len(parts) == 3 and parts not in _rows:
            _rows[parts] = (ids[end - length:end], counts[end - length:end])
            loaded += 1
    return loaded


def load_model(model_dir: Path) -> ModelData:
    with open(model_dir / MODEL_FILE, "rb") as fh:
        return pickle.load(fh)
