"""Each technology's and case's weighted term counts, kept by the knowledge base between its builds.

numpy only (no scikit-learn), so a knowledge base can own its counts without loading the model's libraries.
"""
from __future__ import annotations

import json
import logging
import zipfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..documents import Document
from ..files import link_or_copy

if TYPE_CHECKING:
    from ..analysis import Analysis
    from ..fields import PreparedWords

FIELD_WEIGHTS = (("title", 3), ("tags", 2), ("process", 2), ("summary", 2), ("body", 1))
COUNTS_FILE = "counts.npz"
# A generation's counts are a base file, shared by hard link with the generations before it, and the rows
# since the base in a small file of its own; the base is written afresh once those rows outgrow this share.
COUNTS_DELTA_FILE = "counts.delta.npz"
DELTA_SHARE = 0.1
DELTA_MIN_ROWS = 64


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
        # key → [term ids, counts] (a list: renumbering the terms updates it in place), as int32 and float32
        # (counts are small whole numbers: exact), half the memory a writer holds between its builds
        self.rows: dict[Key, list] = {}
        self.term_ids: dict[str, int] = {}
        self.terms: list[str] = []
        # key → the model's fields of the entry as JSON (bytes: not tracked by the garbage collector)
        self.infos: dict[Key, bytes] = {}
        # the counts file the last saved (or warmed) generation holds as its base, and the keys it holds
        self.base: tuple[Path, frozenset[Key]] | None = None
        # what the last model built from these counts needs to refit only an edit's rows (model.LastModel)
        self.last_model = None
        self._used_terms = 0         # how many terms the kept rows used when last counted …
        self._dropped = 0            # … and how many rows were forgotten since

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
        self.infos.clear()
        self.base = None
        self.last_model = None
        self._used_terms = 0
        self._dropped = 0

    def info(self, key: Key, make: Callable[[], dict]) -> bytes:
        """The entry's model fields as JSON, made once per key."""
        found = self.infos.get(key)
        if found is None:
            found = self.infos[key] = json.dumps(make(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return found

    def row(self, doc: Document, words: PreparedWords, key: Key | None = None,
            tokens: Callable[[Document, PreparedWords], list[str]] | None = None) -> Row:
        """(term ids, counts) of one entry's weighted tokens (`tokens`: document_tokens unless given),
        terms in string order."""
        key = key or self.key(doc, words.analysis)
        entry = self.rows.get(key)
        if entry is None:
            counts = Counter((tokens or document_tokens)(doc, words))
            terms = sorted(counts)
            ids = np.fromiter((self.term_id(t) for t in terms), dtype=np.int32, count=len(terms))
            entry = self.rows[key] = [ids, np.fromiter((counts[t] for t in terms), dtype=np.float32, count=len(terms))]
        return entry[0], entry[1]

    def keep_only(self, keys: set[Key], used: np.ndarray | None = None) -> None:
        """Forget the entries of older generations; renumber the terms once the table has grown to twice
        what the kept rows use (`used`: those term ids, when the caller has them; else they are counted
        when the table has doubled or a tenth of the rows were forgotten since they were last counted)."""
        dropped = [k for k in self.rows if k not in keys]
        for old in dropped:
            del self.rows[old]
        self._dropped += len(dropped)
        for old in [k for k in self.infos if k not in keys]:
            del self.infos[old]
        if not self.rows:
            self.term_ids.clear()
            self.terms.clear()
            return
        if used is None:
            # counting them reads every row: only once the table has doubled or a tenth of the rows went
            if len(self.terms) <= 2 * max(self._used_terms, 1024) and 10 * self._dropped <= len(self.rows):
                return
            used = np.flatnonzero(np.bincount(np.concatenate([entry[0] for entry in self.rows.values()]),
                                              minlength=len(self.terms)))
        self._used_terms, self._dropped = len(used), 0
        if len(self.terms) <= 2 * max(len(used), 1024):
            return
        new_id = np.full(len(self.terms), -1, dtype=np.int32)
        new_id[used] = np.arange(len(used))
        kept = [self.terms[i] for i in used.tolist()]
        for entry in self.rows.values():
            entry[0] = new_id[entry[0]]
        if self.last_model is not None:
            self.last_model.vocabulary = new_id[self.last_model.vocabulary]
        self.terms[:] = kept
        self.term_ids.clear()
        self.term_ids.update((t, i) for i, t in enumerate(kept))

    # The counts also go to disk with each generation, so that a new process (`kb build` after an edit,
    # a restarted server) re-tokenises only the changed entries instead of every technology and case.
    def save(self, out_dir: Path, keys: list[Key], rows: list[Row], infos: list[bytes] | None = None) -> None:
        """Write the rows (one per key) with their own small term list, and the entries' model fields
        (`infos`, JSON per key) when given. When most rows are in the base file of the previous generation,
        that file is linked and only the other rows written."""
        base = self.base if self.base is not None and self.base[0].is_file() else None
        fresh = np.ones(len(keys), dtype=bool)
        if base is not None:
            fresh = np.fromiter((k not in base[1] for k in keys), dtype=bool, count=len(keys))
            if fresh.sum() > max(DELTA_MIN_ROWS, DELTA_SHARE * len(keys)):
                base = None
                fresh[:] = True
        if base is None:
            self._write(out_dir / COUNTS_FILE, keys, rows, infos)
            self.base = (out_dir / COUNTS_FILE, frozenset(keys))
            return
        link_or_copy(base[0], out_dir / COUNTS_FILE)
        self.base = (out_dir / COUNTS_FILE, base[1])
        picked = np.flatnonzero(fresh).tolist()
        self._write(out_dir / COUNTS_DELTA_FILE, [keys[i] for i in picked], [rows[i] for i in picked],
                    [infos[i] for i in picked] if infos is not None else None)

    def _write(self, path: Path, keys: list[Key], rows: list[Row], infos: list[bytes] | None) -> None:
        """An .npz as np.savez writes it (np.load reads it), each array made only when it is written: at 20k
        entries the concatenated rows, their local ids and the fields' JSON were a build's peak together."""
        lengths = np.fromiter((len(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        ids = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, dtype=np.int32)
        used = np.flatnonzero(np.bincount(ids, minlength=len(self.terms)))
        local = np.full(len(self.terms), -1, dtype=np.int32)       # int32: no posting-sized int64 temporaries
        local[used] = np.arange(len(used))
        ids = local[ids]
        arrays: dict[str, Callable[[], np.ndarray]] = {
            "keys": lambda: np.array(["\x1f".join(k) for k in keys], dtype=str),       # text arrays: no pickle
            "terms": lambda: np.array([self.terms[i] for i in used.tolist()], dtype=str),
            "lengths": lambda: lengths,
            "ids": lambda: ids,
            "counts": lambda: (np.concatenate([r[1] for r in rows]) if rows else np.zeros(0)).astype(np.float32,
                                                                                                    copy=False),
            "rows_in_term_order": lambda: np.array(True),     # files written before did not keep that order
        }
        if infos is not None:
            arrays["info_offsets"] = lambda: np.cumsum([0] + [len(i) for i in infos]).astype(np.int64)
            arrays["info_blob"] = lambda: np.frombuffer(b"".join(infos), dtype=np.uint8)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, make in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, make(), allow_pickle=False)

    def warm(self, model_dir: Path) -> int:
        """Load a previous generation's counts (keys carry the content hash and the dictionary
        fingerprint, so a stale row is never used). Returns how many rows were loaded; a file that
        cannot be read is logged (the build then tokenises those entries again, slower but correct)."""
        loaded = self._warm_file(model_dir / COUNTS_FILE, base=True)
        if loaded and (model_dir / COUNTS_DELTA_FILE).is_file():
            loaded += self._warm_file(model_dir / COUNTS_DELTA_FILE, base=False)
        return loaded

    def _warm_file(self, path: Path, base: bool) -> int:
        try:
            saved = np.load(path, allow_pickle=False)
            keys, terms = saved["keys"].tolist(), saved["terms"].tolist()
            lengths, ids, counts = saved["lengths"], saved["ids"], saved["counts"]
            infos = (saved["info_offsets"], saved["info_blob"].tobytes()) if "info_blob" in saved.files else None
        except (OSError, KeyError, ValueError) as exc:
            log.warning("推荐模型：读不到上一代的词频 %s（%s），本次构建将重新分词全部技术和案例", path, exc)
            return 0
        if "rows_in_term_order" not in saved.files:
            ids, counts = _terms_in_string_order(terms, lengths, ids, counts)
        to_global = np.fromiter((self.term_id(t) for t in terms), dtype=np.int32, count=len(terms))
        ids = to_global[ids] if len(ids) else ids.astype(np.int32)
        counts = counts.astype(np.float32, copy=False)
        ends = np.cumsum(lengths)
        parsed = [tuple(key.split("\x1f")) for key in keys]
        if base:
            self.base = (path, frozenset(parsed))
        loaded = 0
        for k, (parts, end, length) in enumerate(zip(parsed, ends.tolist(), lengths.tolist())):
            if len(parts) == 3 and parts not in self.rows:
                self.rows[parts] = [ids[end - length:end], counts[end - length:end]]
                if infos is not None:
                    self.infos[parts] = infos[1][int(infos[0][k]):int(infos[0][k + 1])]
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
