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
    the idf), pickled on its own: a process that only serves loads it without importing scikit-learn
    (about 65 MB per process); the builds that fit the model do import it."""
    vocabulary_: dict[str, int]
    idf_: np.ndarray


def _transformer():
    return tfidf_transformer_class()(sublinear_tf=True, norm="l2")


def tfidf_transformer_class():
    """scikit-learn's TfidfTransformer, imported only where a model is fitted (a serving process never
    imports scikit-learn; the writer process imports it at start: kb/writer_process.py preload)."""
    from sklearn.feature_extraction.text import TfidfTransformer

    return TfidfTransformer


def tfidf_idf(counts: sparse.csr_matrix) -> np.ndarray:
    """The technologies' smoothed idf: scikit-learn's TfidfTransformer fitted on their counts."""
    return _transformer().fit(counts).idf_


def idf_of(document_frequency: np.ndarray, rows: int) -> np.ndarray:
    """The smoothed idf of each column from its document frequency over `rows` rows, the formula of
    TfidfTransformer.fit (log((1 + n) / (1 + df)) + 1, in its order of operations, so the same bits): an edit
    keeps the document frequencies and recomputes the idf from them without the whole count matrix, which
    scikit-learn has no entry point for (tests/test_model_incremental.py compares it with sklearn's)."""
    df = np.asarray(document_frequency).astype(np.float64)
    df += 1.0
    idf = np.full_like(df, fill_value=rows + 1, dtype=np.float64)
    idf /= df
    np.log(idf, out=idf)
    idf += 1.0
    return idf


def tfidf_transform(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """TfidfTransformer(sublinear_tf=True, norm="l2").transform(counts) with this idf (log(tf) + 1, times the
    idf, each row L2-normalised): scikit-learn's own transform, given the idf of the fit (or of an edit).
    It transforms `counts` in place (copy=False): the callers' count matrices are made for this call only,
    and a copy of 20k entries' counts was a build's peak memory."""
    if counts.shape[0] == 0:                  # an edit that changed no row of this kind (sklearn refuses 0 rows)
        return sparse.csr_matrix(counts.shape, dtype=np.float64)
    transformer = _transformer()
    transformer.idf_ = idf
    matrix = sparse.csr_matrix(transformer.transform(counts, copy=False))
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


@dataclass
class LastModel:
    """What a model build leaves on its TermCounts so that the next build refits only what an edit changed:
    the folder it wrote (generation folders never change), the keys of its rows, and per column the counts'
    term id, the number of technologies holding it and its idf."""
    folder: Path
    tech_keys: list
    case_keys: list
    vocabulary: np.ndarray
    df: np.ndarray
    idf: np.ndarray


def last_model_of(model_dir: Path, hashes: dict[str, str], fingerprint: str, counts: TermCounts) -> LastModel | None:
    """The LastModel of a generation's model written by this code (a new process refits from the live
    generation as a running server does from its last build): its rows' keys from the generation's content
    hashes, its vocabulary in the counts' term ids; None for a model written before (no refit then)."""
    model_dir = Path(model_dir)
    if not ((model_dir / f"tech.{INFO_SUFFIX}").is_file() and (model_dir / "tech.csc.indptr.npy").is_file()):
        return None
    try:
        with open(model_dir / MODEL_FILE, "rb") as fh:
            data: ModelData = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, AttributeError, EOFError):
        return None
    if not isinstance(data.vectorizer, Vocabulary) or any(i not in hashes for i in (*data.tech_ids, *data.case_ids)):
        return None
    terms = [""] * len(data.vectorizer.vocabulary_)
    for term, column in data.vectorizer.vocabulary_.items():
        terms[column] = term
    return LastModel(model_dir, [(i, hashes[i], fingerprint) for i in data.tech_ids],
                     [(i, hashes[i], fingerprint) for i in data.case_ids],
                     np.fromiter((counts.term_id(t) for t in terms), dtype=np.int64, count=len(terms)),
                     np.diff(np.load(model_dir / "tech.csc.indptr.npy")).astype(np.int64), data.vectorizer.idf_)


REFIT_SHARE = 0.5     # more rows than this to recompute (common words changed their idf): the whole model is refitted


def build_model(documents: list[Document], out_dir: Path, words: PreparedWords,
                counts: TermCounts | None = None) -> None:
    """The same model as TfidfVectorizer(sublinear_tf=True, norm="l2").fit on the technologies'
    tokens (vocabulary sorted as sklearn sorts it) and .transform of the cases, from cached counts, with
    scikit-learn's TfidfTransformer (tfidf_idf, tfidf_transform). After an edit, only the
    rows whose values change are recomputed (`_refit`); the others are copied from the previous model.
    `words`: the build's field values and words (kb/fields.py); `counts`: the caller's term counts (a
    knowledge base keeps one between its builds), else counted afresh for this build."""
    counts = counts if counts is not None else TermCounts()
    techs = sorted((d for d in documents if d.type == "technology"), key=lambda d: d.id)
    cases = sorted((d for d in documents if d.type == "case"), key=lambda d: d.id)
    entries = techs + cases
    fingerprint = words.analysis.fingerprint
    keys = [(d.id, d.content_hash, fingerprint) for d in entries]
    rows = [counts.row(d, words, k, document_tokens) for d, k in zip(entries, keys)]
    words.release()                 # the build's last reader of its words: not held through the fit
    out_dir.mkdir(parents=True, exist_ok=True)
    fitted = _refit(counts, keys[:len(techs)], keys[len(techs):], rows) if techs else None
    if fitted is None:
        fitted = _fit(counts, keys[:len(techs)], keys[len(techs):], rows)
    vectorizer, tech_matrix, make_case_matrix, last = fitted
    del fitted
    # the entry fields are kept between builds as JSON (bytes: 20k dicts kept alive cost memory and slow
    # every full GC pass), so an edit makes only the changed entries' and writes the rest as they are
    provinces = functools.lru_cache(maxsize=None)(province_of)
    info = [counts.info(k, functools.partial(_info, d, provinces)) for d, k in zip(entries, keys)]
    # each matrix is saved and let go before the next one is made and before the counts are written
    if tech_matrix is not None:
        _save_matrix(out_dir, "tech", tech_matrix)
    del tech_matrix
    case_matrix = make_case_matrix()
    if case_matrix is not None:
        _save_matrix(out_dir, "case", case_matrix)
    del case_matrix, make_case_matrix
    for name, part in (("tech", info[:len(techs)]), ("case", info[len(techs):])):
        (out_dir / f"{name}.{INFO_SUFFIX}").write_bytes(b"[" + b",".join(part) + b"]")
    model = ModelData(vectorizer, [d.id for d in techs], None, [], [d.id for d in cases], None, [])
    with open(out_dir / MODEL_FILE, "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    counts.save(out_dir, keys, rows, info)
    if last is not None:
        last.folder = out_dir
    counts.last_model = last
    counts.keep_only(set(keys))


def _fit(counts: TermCounts, tech_keys: list, case_keys: list, rows: list[Row]):
    """(vocabulary, tech matrix, a function making the case matrix, LastModel) fitted on every row. The case
    matrix is made when asked, after the tech matrix was saved and let go: with 20k entries each of the two
    and its counts is tens of MB, and a build's memory peaks here."""
    if not tech_keys:
        return Vocabulary({}, np.zeros(0)), None, lambda: None, None
    techs = len(tech_keys)
    lengths, ids, data = _concatenated(rows[:techs])
    df_of_term = np.bincount(ids, minlength=len(counts.terms))
    present = np.flatnonzero(df_of_term)
    names = [counts.terms[i] for i in present.tolist()]
    order = sorted(range(len(names)), key=names.__getitem__)
    column_of = np.full(len(counts.terms), -1, dtype=np.int64)
    column_of[present[order]] = np.arange(len(order))
    tech_counts = _count_matrix(lengths, ids, data, column_of, len(order))
    del lengths, ids, data
    idf = tfidf_idf(tech_counts)
    tech_matrix = tfidf_transform(tech_counts, idf)

    def case_matrix():
        return tfidf_transform(_count_matrix(*_concatenated(rows[techs:]), column_of, len(order)), idf) \
            if case_keys else None

    vocabulary = present[order]
    last = LastModel(Path(), list(tech_keys), list(case_keys), vocabulary, df_of_term[vocabulary], idf)
    return Vocabulary({names[i]: j for j, i in enumerate(order)}, idf), tech_matrix, case_matrix, last


def _refit(counts: TermCounts, tech_keys: list, case_keys: list, rows: list[Row]):
    """The model of the previous build (counts.last_model) with an edit's rows applied, or None when it cannot
    be (no previous model, entries added or removed, too many rows to recompute). A row's values depend only
    on its counts and its terms' idf, so rows of unchanged entries whose terms kept their idf are copied
    (their column numbers moved when the vocabulary changed); the rest are computed as _fit computes them."""
    last: LastModel | None = counts.last_model
    techs, cases_n = len(tech_keys), len(case_keys)
    if last is None or not (last.folder / "tech.shape.npy").is_file() \
            or [k[0] for k in last.tech_keys] != [k[0] for k in tech_keys] \
            or [k[0] for k in last.case_keys] != [k[0] for k in case_keys] \
            or (case_keys and not (last.folder / "case.shape.npy").is_file()):
        return None
    changed_techs = [i for i, (a, b) in enumerate(zip(last.tech_keys, tech_keys)) if a != b]
    changed_cases = [j for j, (a, b) in enumerate(zip(last.case_keys, case_keys)) if a != b]
    if len(changed_techs) + len(changed_cases) > REFIT_SHARE * (techs + cases_n):
        return None
    old_rows = _load_matrix(last.folder, "tech", "csr")
    old_columns = _load_matrix(last.folder, "tech", "csc")
    # document frequencies in the counts' term ids: the old ones, less the edited rows' old terms, plus their new
    df_of_term = np.zeros(len(counts.terms), dtype=np.int64)
    df_of_term[last.vocabulary] = last.df
    for i in changed_techs:
        df_of_term[last.vocabulary[old_rows.indices[old_rows.indptr[i]:old_rows.indptr[i + 1]]]] -= 1
        df_of_term[rows[i][0]] += 1
    present = np.flatnonzero(df_of_term > 0)
    if len(present) == len(last.vocabulary) and np.array_equal(np.sort(last.vocabulary), present):
        vocabulary, remap = last.vocabulary, None
    else:
        names = [counts.terms[i] for i in present.tolist()]
        vocabulary = present[sorted(range(len(names)), key=names.__getitem__)]
    column_of = np.full(len(counts.terms), -1, dtype=np.int64)
    column_of[vocabulary] = np.arange(len(vocabulary))
    if vocabulary is not last.vocabulary:
        remap = column_of[last.vocabulary]          # old column → new column, -1: the word left the vocabulary
    df = df_of_term[vocabulary]
    idf = idf_of(df, techs)
    survives = remap >= 0 if remap is not None else np.ones(len(last.vocabulary), dtype=bool)
    moved = np.flatnonzero(~survives)
    kept = np.flatnonzero(survives)
    new_of_old = remap[kept] if remap is not None else kept
    changed_columns = np.concatenate([moved, kept[idf[new_of_old] != last.idf[kept]]])
    affected_techs = _rows_of(old_columns, changed_columns, changed_techs)
    affected_cases = np.zeros(0, dtype=np.int64)
    old_cases = old_case_columns = None
    if cases_n:
        old_cases = _load_matrix(last.folder, "case", "csr")
        old_case_columns = _load_matrix(last.folder, "case", "csc")
        affected_cases = _rows_of(old_case_columns, changed_columns, changed_cases)
        new_terms = np.setdiff1d(vocabulary, last.vocabulary)
        if len(new_terms):          # cases holding a word new to the vocabulary gain it
            case_rows = rows[techs:]
            lengths = np.fromiter((len(r[0]) for r in case_rows), dtype=np.int64, count=cases_n)
            holding = np.isin(np.concatenate([r[0] for r in case_rows]), new_terms)
            affected_cases = np.union1d(affected_cases, np.unique(np.repeat(np.arange(cases_n), lengths)[holding]))
    if len(affected_techs) + len(affected_cases) > REFIT_SHARE * (techs + cases_n):
        return None
    width = len(vocabulary)
    tech_matrix = _patched(old_rows, affected_techs, rows[:techs], column_of, idf, remap, width)

    def case_matrix():          # made after the tech matrix was saved and let go, as _fit does
        return _patched(old_cases, affected_cases, rows[techs:], column_of, idf, remap, width) if cases_n else None

    terms = counts.terms
    last = LastModel(Path(), list(tech_keys), list(case_keys), vocabulary, df, idf)
    return Vocabulary({terms[t]: j for j, t in enumerate(vocabulary.tolist())}, idf), tech_matrix, case_matrix, last


def _rows_of(columns, which: np.ndarray, also: list[int]) -> np.ndarray:
    """The rows holding any of these columns (of a CSC matrix), with `also`, sorted and distinct."""
    parts = [columns.indices[columns.indptr[c]:columns.indptr[c + 1]] for c in which.tolist()]
    return np.union1d(np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64),
                      np.asarray(also, dtype=np.int64))


def _patched(old, affected: np.ndarray, rows: list[Row], column_of: np.ndarray, idf: np.ndarray,
             remap: np.ndarray | None, width: int) -> sparse.csr_matrix:
    """`old` (CSR) with the affected rows computed afresh from their counts and the others copied, their
    column numbers moved by remap (None: the vocabulary did not change)."""
    count = old.shape[0]
    lengths, ids, data = _concatenated([rows[i] for i in affected.tolist()])
    fresh = tfidf_transform(_count_matrix(lengths, ids, data, column_of, width), idf)
    row_lengths = np.diff(old.indptr).astype(np.int64)
    row_lengths[affected] = np.diff(fresh.indptr)
    index = np.int32 if int(row_lengths.sum()) < 2**31 and width < 2**31 else np.int64
    indptr = np.zeros(count + 1, dtype=index)
    np.cumsum(row_lengths, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=index)
    values = np.empty(int(indptr[-1]), dtype=np.float64)

    def copy_old(first: int, last: int) -> None:        # rows first..last-1, unchanged
        if first >= last:
            return
        a, b = int(old.indptr[first]), int(old.indptr[last])
        at = int(indptr[first])
        indices[at:at + b - a] = old.indices[a:b] if remap is None else remap[old.indices[a:b]]
        values[at:at + b - a] = old.data[a:b]

    start = 0
    for k, row in enumerate(affected.tolist()):
        copy_old(start, row)
        a, b = int(fresh.indptr[k]), int(fresh.indptr[k + 1])
        at = int(indptr[row])
        indices[at:at + b - a] = fresh.indices[a:b]
        values[at:at + b - a] = fresh.data[a:b]
        start = row + 1
    copy_old(start, count)
    matrix = sparse.csr_matrix((values, indices, indptr), shape=(count, width))
    matrix.has_sorted_indices = True        # copied rows keep their order (remap keeps column order); fresh ones are sorted
    return matrix


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
