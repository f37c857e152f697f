"""The TF-IDF model over technology entries, built by `kb build` into the index generation.

Fields are weighted by repeating their tokens (title ×3, tags and process ×2, summary ×2, body ×1),
tokenised by the same Analysis as search so the glossary keeps domain words whole in both.
"""
from __future__ import annotations

import functools
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import sparse

from ..documents import Document
from ..fields import PreparedWords
from ..regions import province_of

from .counts import COUNTS_FILE, Row, TermCounts, document_tokens  # noqa: F401 (COUNTS_FILE: public name)

MODEL_FILE = "recommender.pkl"
INFO_SUFFIX = "info.json"     # tech.info.json, case.info.json: each entry's fields (`_info`), a JSON array
MODEL_TYPES = ("technology", "case")


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _concatenated(rows: list[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lengths, term ids, counts) of many rows, end to end (the counts as float64, as the model computes)."""
    lengths = np.fromiter((len(ids) for ids, _ in rows), dtype=np.int64, count=len(rows))
    ids = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
    data = np.concatenate([r[1] for r in rows]).astype(np.float64) if rows else np.zeros(0)
    return lengths, ids, data


def _count_matrix(lengths: np.ndarray, ids: np.ndarray, data: np.ndarray, column_of: np.ndarray, width: int):
    """Documents × vocabulary counts; terms outside the vocabulary (column -1) are dropped, as
    CountVectorizer.transform drops unseen words. Built as CSR directly: a row's terms are distinct."""
    count = len(lengths)
    # scipy keeps 32-bit indices when they fit: made so here, scipy does not copy them to narrow them
    index = np.int32 if len(ids) < 2**31 and width < 2**31 else np.int64
    columns = column_of.astype(index, copy=False)[ids]
    keep = columns >= 0
    if not keep.all():
        row_of = np.repeat(np.arange(count), lengths)
        lengths = np.bincount(row_of[keep], minlength=count)
        columns, data = columns[keep], data[keep]
    indptr = np.zeros(count + 1, dtype=index)
    np.cumsum(lengths, out=indptr[1:])
    matrix = sparse.csr_matrix((data, columns, indptr), shape=(count, width))
    matrix.sort_indices()   # canonical, like CountVectorizer's output (rows in string order: only a check)
    return matrix


@dataclass
class Vocabulary:
    """What the recommender reads of a fitted TfidfVectorizer (term → column, in sklearn's sorted order, and
    the idf), without scikit-learn: importing it costs about 65 MB in every process that serves or builds."""
    vocabulary_: dict[str, int]
    idf_: np.ndarray


def tfidf_idf(counts: sparse.csr_matrix) -> np.ndarray:
    """TfidfTransformer(smooth_idf=True).fit(counts).idf_, step for step (the same operations in the same
    order, so the same bits)."""
    df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
    df += 1.0
    idf = np.full_like(df, fill_value=counts.shape[0] + 1, dtype=np.float64)
    idf /= df
    np.log(idf, out=idf)
    idf += 1.0
    return idf


def tfidf_transform(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """TfidfTransformer(sublinear_tf=True, norm="l2").transform(counts) with this idf, step for step: log(tf)
    + 1, times the idf, each row divided by its L2 norm, summed term after term as sklearn's
    inplace_csr_row_normalize_l2 sums it (scipy's csr_matvec adds in the same order)."""
    data = np.log(counts.data)
    data += 1.0
    data *= idf[counts.indices]
    squares = sparse.csr_matrix((data * data, counts.indices, counts.indptr), shape=counts.shape)
    sums = squares @ np.ones(counts.shape[1], dtype=np.float64)
    norms = np.sqrt(sums)
    norms[sums == 0.0] = 1.0            # sklearn leaves an all-zero row as it is
    data /= np.repeat(norms, np.diff(counts.indptr))
    matrix = sparse.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)
    matrix.has_sorted_indices = counts.has_sorted_indices
    return matrix


@dataclass
class ModelData:
    vectorizer: Vocabulary
    tech_ids: list[str]
    tech_matrix: Any
    tech_info: list[dict]
    case_ids: list[str]
    case_matrix: Any
    case_info: list[dict]
    # the matrices by column too (similarity reads the few columns of a profile's words); set by load_model
    tech_columns: Any = None
    case_columns: Any = None


# The matrices are not pickled: each is kept by row (CSR) and by column (CSC), indices sorted, as plain .npy
# arrays that load_model memory-maps, so every process serving a generation shares their pages and a
# recommendation reads only the rows and columns it touches (at 20k entries the four matrices were about
# 150 MB of private memory per process).
MATRIX_PARTS = ("data", "indices", "indptr")


def _save_matrix(out_dir: Path, name: str, matrix) -> None:
    for layout, m in (("csr", matrix.tocsr()), ("csc", matrix.tocsc())):
        m.sort_indices()
        for part in MATRIX_PARTS:
            np.save(out_dir / f"{name}.{layout}.{part}.npy", getattr(m, part))
    np.save(out_dir / f"{name}.shape.npy", np.asarray(matrix.shape, dtype=np.int64))


def _load_matrix(model_dir: Path, name: str, layout: str):
    """One saved matrix, memory-mapped; None when the model has none (no technologies, or no cases)."""
    if not (model_dir / f"{name}.shape.npy").is_file():
        return None
    shape = tuple(int(n) for n in np.load(model_dir / f"{name}.shape.npy"))
    # plain ndarray views of the mapped files (a np.memmap subclass costs a Python call per slice)
    parts = [np.asarray(np.load(model_dir / f"{name}.{layout}.{part}.npy", mmap_mode="r")) for part in MATRIX_PARTS]
    kind = sparse.csr_matrix if layout == "csr" else sparse.csc_matrix
    matrix = kind(tuple(parts), shape=shape, copy=False)
    matrix.has_sorted_indices = True        # saved sorted: nothing may sort the read-only arrays in place
    return matrix


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
    tokens (vocabulary sorted as sklearn sorts it) and .transform of the cases, from cached counts, computed
    as scikit-learn computes it (tfidf_idf, tfidf_transform) without importing it.
    `words`: the build's field values and words (kb/fields.py); `counts`: the caller's term counts (a
    knowledge base keeps one between its builds), else counted afresh for this build."""
    counts = counts if counts is not None else TermCounts()
    techs = sorted((d for d in documents if d.type == "technology"), key=lambda d: d.id)
    cases = sorted((d for d in documents if d.type == "case"), key=lambda d: d.id)
    entries = techs + cases
    fingerprint = words.analysis.fingerprint
    keys = [(d.id, d.content_hash, fingerprint) for d in entries]
    lengths, ids, data = _concatenated([counts.row(d, words, k, document_tokens) for d, k in zip(entries, keys)])
    split = int(lengths[:len(techs)].sum())
    out_dir.mkdir(parents=True, exist_ok=True)
    vectorizer = Vocabulary({}, np.zeros(0))
    tech_matrix = case_matrix = None
    if techs:
        present = np.flatnonzero(np.bincount(ids[:split], minlength=len(counts.terms)))
        names = [counts.terms[i] for i in present.tolist()]
        order = sorted(range(len(names)), key=names.__getitem__)
        column_of = np.full(len(counts.terms), -1, dtype=np.int64)
        column_of[present[order]] = np.arange(len(order))
        tech_counts = _count_matrix(lengths[:len(techs)], ids[:split], data[:split], column_of, len(order))
        idf = tfidf_idf(tech_counts)
        tech_matrix = tfidf_transform(tech_counts, idf)
        if cases:
            case_matrix = tfidf_transform(
                _count_matrix(lengths[len(techs):], ids[split:], data[split:], column_of, len(order)), idf)
        vectorizer = Vocabulary({names[i]: j for j, i in enumerate(order)}, idf)
    # the entry fields are kept between builds as JSON (bytes: 20k dicts kept alive cost memory and slow
    # every full GC pass), so an edit makes only the changed entries' and writes the rest as they are
    provinces = functools.lru_cache(maxsize=None)(province_of)
    info = [counts.info(k, functools.partial(_info, d, provinces)) for d, k in zip(entries, keys)]
    for name, matrix in (("tech", tech_matrix), ("case", case_matrix)):
        if matrix is not None:
            _save_matrix(out_dir, name, matrix)
    for name, rows in (("tech", info[:len(techs)]), ("case", info[len(techs):])):
        (out_dir / f"{name}.{INFO_SUFFIX}").write_bytes(b"[" + b",".join(rows) + b"]")
    model = ModelData(vectorizer, [d.id for d in techs], None, [], [d.id for d in cases], None, [])
    with open(out_dir / MODEL_FILE, "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    used = counts.save(out_dir, keys, lengths, ids, data, info)
    counts.keep_only(set(keys), used)


def load_model(model_dir: Path) -> ModelData:
    """The model of one generation: the pickled vocabulary and entry fields, the matrices memory-mapped."""
    model_dir = Path(model_dir)
    with open(model_dir / MODEL_FILE, "rb") as fh:
        data: ModelData = pickle.load(fh)
    for name in ("tech", "case"):
        path = model_dir / f"{name}.{INFO_SUFFIX}"
        if path.is_file():          # else a generation written before: the fields are in the pickle
            setattr(data, f"{name}_info", json.loads(path.read_bytes()))
    for name in ("tech", "case"):
        pickled = getattr(data, f"{name}_matrix")
        if pickled is not None:             # a generation written before the matrices had files of their own
            rows, columns = pickled.tocsr(), pickled.tocsc()
            rows.sort_indices()
            columns.sort_indices()
        else:
            rows, columns = _load_matrix(model_dir, name, "csr"), _load_matrix(model_dir, name, "csc")
        setattr(data, f"{name}_matrix", rows)
        setattr(data, f"{name}_columns", columns)
    return data
