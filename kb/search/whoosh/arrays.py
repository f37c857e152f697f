"""Numpy views of one Whoosh index generation: per-term postings, field lengths and facet values.

Whoosh matches and scores one posting at a time in Python; at 20k documents that is most of a
query's time (see bench/RESULTS.md). A generation never changes once written, so everything here is
read from Whoosh's own files once, cached, and reused by every query until the next generation:
term postings as (docnums, BM25F scores) arrays computed with Whoosh's formula and statistics, and
facet values as code arrays for counting with `np.bincount`.
"""
from __future__ import annotations

import json
import logging
import shutil
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from whoosh.fields import NUMERIC
from whoosh.scoring import BM25F

# Whoosh's private internals (block arrays, BM25F's per-field B, the idf) are used only through here
from .internals import bm25 as _bm25
from .internals import field_b, idf
from .internals import leaf_postings as _leaf_postings
from ...fields import FACETS
from ...files import link_or_copy
from .facet_bits import FacetBits
from .stored import StoredDocuments, has_segment_files
from .stored import write_segment as write_stored

log = logging.getLogger("kb.search")

EMPTY_IDS = np.zeros(0, dtype=np.int64)
EMPTY_SCORES = np.zeros(0, dtype=np.float64)


def _live(leaves, size: int) -> np.ndarray:
    """Docnums not deleted: Whoosh keeps a deleted document in its segment until a merge."""
    live = np.ones(size, dtype=bool)
    for reader, offset in leaves:
        for docnum in reader.deleted_docs_set or ():
            live[offset + docnum] = False
    return live


class IndexArrays:
    """Arrays for one open Whoosh searcher (one generation). Thread-safe; the caches are bounded."""

    def __init__(self, searcher, compiled: Path | None = None, max_terms: int = 50_000):
        self.searcher = searcher
        self.schema = searcher.schema
        self.size = searcher.doc_count_all()
        self.leaves = [(leaf.reader(), offset) for leaf, offset in searcher.leaf_searchers()]
        self.live = _live(self.leaves, self.size)
        self.live_count = int(self.live.sum())
        weighting = searcher.weighting
        self.bm25 = weighting if isinstance(weighting, BM25F) else None
        self._lengths: dict[str, np.ndarray] = {}
        self._terms: OrderedDict = OrderedDict()
        self._max_terms = max_terms
        self._facets: dict[str, Facet] = {}
        self._facet_tables: dict[tuple[str, ...], FacetTable] = {}
        self._facet_bits: FacetBits | None = None
        self._facet_labels: FacetLabels | None = None
        self._lock = threading.RLock()
        self._compiled_dir = compiled
        self._stored: StoredDocuments | None | bool = False        # False: not opened yet
        self._compiled = _load_compiled(compiled, searcher) if compiled is not None else {}   # Whoosh readers seek shared files: one reader at a time

    def close(self) -> None:
        """Close the Whoosh searcher and the mapped stored fields (the knowledge base is closing)."""
        self.searcher.close()
        if isinstance(self._stored, StoredDocuments):
            self._stored.close()

    def stored(self) -> StoredDocuments | None:
        """The generation's stored fields from its segment files (None: a generation written before them, or
        no compiled folder; the caller then reads Whoosh's stored fields, as before)."""
        if self._stored is False:
            with self._lock:
                if self._stored is False:
                    self._stored = _open_stored(self._compiled_dir, self.leaves)
        return self._stored

    @property
    def compiled_fields(self) -> frozenset[str]:
        """The fields read from the generation's compiled arrays (the others come from Whoosh's postings)."""
        return frozenset(self._compiled)

    # -- postings ------------------------------------------------------------------------------
    def postings(self, fieldname: str, text) -> tuple[np.ndarray, np.ndarray]:
        """Live docnums (sorted) and raw weights (term frequency) of one term."""
        field = self.schema[fieldname] if fieldname in self.schema else None
        if field is None:
            return EMPTY_IDS, EMPTY_SCORES
        try:
            btext = field.to_bytes(text)
        except ValueError:
            return EMPTY_IDS, EMPTY_SCORES
        all_ids, all_weights = [], []
        for reader, offset in self.leaves:
            if (fieldname, btext) not in reader:
                continue
            ids, weights = _leaf_postings(reader.postings(fieldname, btext))
            all_ids.append(ids + offset)
            all_weights.append(weights)
        if not all_ids:
            return EMPTY_IDS, EMPTY_SCORES
        ids = np.concatenate(all_ids)
        weights = np.concatenate(all_weights)
        keep = self.live[ids]
        if not keep.all():
            ids, weights = ids[keep], weights[keep]
        return ids, weights

    def scored(self, fieldname: str, text) -> tuple[np.ndarray, np.ndarray]:
        """Live docnums and each one's BM25F score for this term, as Whoosh's own scorer computes it
        (same idf, average length, byte-quantised document lengths, B and K1)."""
        compiled = self._compiled.get(fieldname)
        if compiled is not None:
            vocab, indptr, ids, scores = compiled
            row = vocab.get(text)
            if row is None:
                return EMPTY_IDS, EMPTY_SCORES
            lo, hi = indptr[row], indptr[row + 1]
            return ids[lo:hi], scores[lo:hi]
        key = (fieldname, text)
        with self._lock:
            hit = self._terms.get(key)
            if hit is not None:
                self._terms.move_to_end(key)
                return hit
        with self._lock:
            return self._score_term(key, fieldname, text)

    def _score_term(self, key, fieldname: str, text) -> tuple[np.ndarray, np.ndarray]:
        hit = self._terms.get(key)
        if hit is not None:
            return hit
        value = self._compute(fieldname, text)
        self._terms[key] = value
        if len(self._terms) > self._max_terms:
            self._terms.popitem(last=False)
        return value

    def _compute(self, fieldname: str, text) -> tuple[np.ndarray, np.ndarray]:
        ids, tf = self.postings(fieldname, text)
        if len(ids) and self.schema[fieldname].scorable and self.bm25 is not None:
            bm25 = self.bm25
            b = field_b(bm25, fieldname)
            term_idf = self.searcher.idf(fieldname, text)
            avgfl = self.searcher.avg_field_length(fieldname) or 1
            scores = _bm25(term_idf, tf, self.lengths(fieldname)[ids], avgfl, b, bm25.K1)
        else:
            scores = tf
        return ids, scores

    def lengths(self, fieldname: str) -> np.ndarray:
        """Every document's length in this field, decoded from Whoosh's one-byte encoding."""
        cached = self._lengths.get(fieldname)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._lengths.get(fieldname)
            return cached if cached is not None else self._read_lengths(fieldname)

    def _read_lengths(self, fieldname: str) -> np.ndarray:
        out = np.ones(self.size, dtype=np.float64)
        for reader, offset in self.leaves:
            count = reader.doc_count_all()
            out[offset:offset + count] = np.fromiter(
                (reader.doc_field_length(d, fieldname, 1) or 1 for d in range(count)), dtype=np.float64, count=count)
        self._lengths[fieldname] = out
        return out

    # -- facets --------------------------------------------------------------------------------
    def facet(self, fieldname: str) -> "Facet":
        """The values of a KEYWORD/ID facet or of the sortable numeric one, per document, read once."""
        cached = self._facets.get(fieldname)
        if cached is not None:
            return cached
        with self._lock:
            if fieldname not in self._facets:
                self._facets[fieldname] = self._read_facet(fieldname)
            return self._facets[fieldname]

    def facet_counts(self, names: tuple[str, ...], docnums: np.ndarray,
                     mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Per facet, how many of docnums (live, distinct) hold each value. Many documents are counted
        on the facets' bitsets (facet_bits.py: one AND and popcount per value and 64 documents); a few
        are counted together on a code table (one gather of their rows, one bincount), and when they
        are most of a small corpus, the live documents they leave out are counted instead and taken
        from the totals. `mask`, when the caller has it, is docnums as a corpus-sized bool mask."""
        table = self._facet_table(tuple(names))
        bits = self.facet_bits()
        # many documents: the bitsets, whose cost is fixed (a gathered row costs about 1.5 words' AND
        # and popcount)
        if 3 * len(docnums) * table.width > 2 * bits.rows * bits.words:
            return bits.counts(docnums if mask is None else mask, names)
        if 2 * len(docnums) <= self.live_count:
            return table.counts(docnums)
        rest = self.live.copy()
        rest[docnums] = False
        return {name: table.totals[name] - counts for name, counts in table.counts(np.flatnonzero(rest)).items()}

    def value_counts(self, name: str, docs: np.ndarray) -> np.ndarray:
        """How many of some live documents hold each value of one facet; `docs` are distinct docnums
        or a bool mask over the corpus. Facet.counts for a few docnums, the facet's bitsets for many."""
        facet = self.facet(name)
        bits = self.facet_bits()
        if name in bits.slices and (docs.dtype == bool or len(docs) * 4 > len(facet.values) * bits.words):
            return bits.counts(docs, (name,))[name]
        return facet.counts(docs)

    def facet_bits(self) -> FacetBits:
        """Every facet's values as document bitsets (facet_bits.py), made on first use."""
        if self._facet_bits is None:
            bits = FacetBits({name: self.facet(name) for name in FACETS}, self.size)
            with self._lock:
                if self._facet_bits is None:
                    self._facet_bits = bits
        return self._facet_bits

    def facet_labels(self) -> "FacetLabels":
        """Every facet's values as the API shows them, in one table (made on first use)."""
        if self._facet_labels is None:
            labels = FacetLabels({name: self.facet(name) for name in FACETS})
            with self._lock:
                if self._facet_labels is None:
                    self._facet_labels = labels
        return self._facet_labels

    def _facet_table(self, names: tuple[str, ...]) -> "FacetTable":
        table = self._facet_tables.get(names)
        if table is None:
            facets = {name: self.facet(name) for name in names}
            table = FacetTable(facets, self.size, np.flatnonzero(self.live))
            with self._lock:
                self._facet_tables[names] = table
        return table

    def _read_facet(self, fieldname: str) -> "Facet":
        compiled = load_compiled_facet(self._compiled_dir, fieldname, self.size) if self._compiled else None
        if compiled is not None:
            return compiled
        field = self.schema[fieldname]
        if isinstance(field, NUMERIC):
            raw = np.full(self.size, -1, dtype=np.int64)
            for reader, offset in self.leaves:
                column = reader.column_reader(fieldname)
                count = reader.doc_count_all()
                default = column.default_value() if hasattr(column, "default_value") else None
                for d in range(count):
                    v = column[d]
                    if v is not None and v != default:
                        raw[offset + d] = int(v)
            known = raw >= 0
            distinct = np.unique(raw[known])
            codes = np.full(self.size, -1, dtype=np.int64)
            codes[known] = np.searchsorted(distinct, raw[known])
            return Facet.from_codes(distinct.tolist(), codes)
        values: list = []
        seen: set = set()
        for reader, _offset in self.leaves:
            for btext in reader.lexicon(fieldname):
                value = field.from_bytes(btext)
                if value not in seen:
                    seen.add(value)
                    values.append(value)
        values.sort()
        docs, codes = [], []
        for j, value in enumerate(values):
            ids, _ = self.postings(fieldname, value)
            docs.append(ids)
            codes.append(np.full(len(ids), j, dtype=np.int64))
        return Facet.from_pairs(values, np.concatenate(docs) if docs else EMPTY_IDS,
                                np.concatenate(codes) if codes else EMPTY_IDS, self.size)


class Facet:
    """One facet's value ids per document, document-major (CSR: a document's values are
    value_ids[indptr[d]:indptr[d + 1]]), so counting the values of the matched documents costs
    what they hold, not what the corpus holds. `codes` is the one value id of each document
    (-1 for none) when no document has two values (year, type); None for sector and tag."""

    def __init__(self, values: list, indptr: np.ndarray, value_ids: np.ndarray):
        self.values = values
        self.indptr = indptr
        self.value_ids = value_ids
        lengths = np.diff(indptr)
        self.codes: np.ndarray | None = None
        if not len(lengths) or lengths.max() <= 1:
            codes = np.full(len(lengths), -1, dtype=np.int64)
            codes[lengths == 1] = value_ids
            self.codes = codes

    @classmethod
    def from_codes(cls, values: list, codes: np.ndarray) -> "Facet":
        has = codes >= 0
        indptr = np.zeros(len(codes) + 1, dtype=np.int64)
        np.cumsum(has, out=indptr[1:])
        return cls(values, indptr, codes[has])

    @classmethod
    def from_pairs(cls, values: list, docs: np.ndarray, value_ids: np.ndarray, size: int) -> "Facet":
        order = np.lexsort((value_ids, docs))
        indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(docs, minlength=size), out=indptr[1:])
        return cls(values, indptr, value_ids[order])

    def counts(self, docnums: np.ndarray) -> np.ndarray:
        """How many of docnums hold each value (a document counts once per value it holds)."""
        if self.codes is not None:
            codes = self.codes[docnums]
            return np.bincount(codes[codes >= 0], minlength=len(self.values))
        starts = self.indptr[docnums]
        lengths = self.indptr[docnums + 1] - starts
        total = int(lengths.sum())
        if not total:
            return np.zeros(len(self.values), dtype=np.int64)
        # the positions of every matched document's values, gathered without a Python loop
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        return np.bincount(self.value_ids[shift + np.arange(total)], minlength=len(self.values))


class FacetLabels:
    """The values of several facets laid end to end, as the API names them (`str` of the value), with
    what ordering them needs: each value's facet, its rank among its facet's labels (Python's string
    order) and whether it is shown at all (an empty value is not)."""

    def __init__(self, facets: dict[str, Facet]):
        self.names = list(facets)
        facet_of, texts, ranks, shown = [], [], [], []
        for k, facet in enumerate(facets.values()):
            labels = [str(v) for v in facet.values]
            rank = {label: r for r, label in enumerate(sorted(set(labels)))}
            facet_of += [k] * len(labels)
            texts += labels
            ranks += [rank[label] for label in labels]
            shown += [v not in (None, "") for v in facet.values]
        self.facet_of = np.asarray(facet_of, dtype=np.int64)
        self.texts = texts
        self.ranks = np.asarray(ranks, dtype=np.int64)
        self.shown = np.asarray(shown, dtype=bool)

    def ordered(self, counts: np.ndarray) -> dict[str, dict[str, int]]:
        """Per facet, label → count for the shown values counted at least once, most frequent first,
        then by label (what sorting each facet's (label, count) pairs by (-count, label) gives);
        `counts` holds every facet's counts end to end, in this table's order."""
        out: dict[str, dict[str, int]] = {name: {} for name in self.names}
        held = np.flatnonzero((counts > 0) & self.shown)
        order = held[np.lexsort((self.ranks[held], -counts[held], self.facet_of[held]))]
        names, texts, facet_of = self.names, self.texts, self.facet_of.tolist()
        for i, count in zip(order.tolist(), counts[order].tolist()):
            out[names[facet_of[i]]][texts[i]] = count
        return out


class FacetTable:
    """Several facets counted at once. Each document's row holds, for every facet, its value ids
    shifted into that facet's own range of bins, padded with the range's first bin ("no value") to
    the most values any document holds; counting the values of some documents is then one gather of
    their rows and one bincount. `totals` are the counts over every live document."""

    def __init__(self, facets: dict[str, Facet], size: int, live_docnums: np.ndarray):
        self.slices: dict[str, slice] = {}
        blocks, start = [], 0
        for name, facet in facets.items():
            lengths = np.diff(facet.indptr)
            width = max(1, int(lengths.max()) if len(lengths) else 1)
            block = np.full((size, width), start, dtype=np.int64)
            rows = np.repeat(np.arange(size), lengths)
            block[rows, np.arange(len(facet.value_ids)) - facet.indptr[:-1][rows]] = facet.value_ids + start + 1
            blocks.append(block)
            self.slices[name] = slice(start + 1, start + 1 + len(facet.values))
            start += len(facet.values) + 1
        self.bins = start
        self.width = sum(block.shape[1] for block in blocks)       # value slots a document's row holds
        dtype = np.int16 if start < 2**15 else np.int32 if start < 2**31 else np.int64
        self.table = np.ascontiguousarray(np.hstack(blocks).astype(dtype)) if blocks \
            else np.zeros((size, 0), dtype=np.int16)
        self.totals = self.counts(live_docnums)

    def counts(self, docnums: np.ndarray) -> dict[str, np.ndarray]:
        binned = np.bincount(self.table[docnums].ravel(), minlength=self.bins)
        return {name: binned[where] for name, where in self.slices.items()}


# -- compiled at build time ----------------------------------------------------------------------
# Reading a term's postings the first time costs Whoosh's block decoding (pickle + zlib per block),
# which made a cold query 20x slower than a warm one. `kb build` therefore writes every searchable
# term's (docnums, scores) once, next to the index, and searchers memory-map them.
#
# Whoosh never rewrites a segment, so each segment's raw postings (term → local docnums, term
# frequencies) and field lengths are extracted once, kept under arrays/segments/<segment id>/ and
# hard-linked into the next generation. An edit then decodes only its new small segment; the BM25F
# scores, which depend on the whole index's statistics, are recomputed for all terms in a few
# vectorised passes over the cached arrays.

SEGMENT_FORMAT = 3       # 2: with the segment's stored fields (stored.py); 3: with its facet values
# The facets compiled with each generation (the first search after an edit read them from Whoosh: about
# 0.1 s at 20k entries); other fields asked for as facets are still read from Whoosh.
COMPILED_FACETS = FACETS


def _stamp(ix_or_searcher) -> dict:
    reader = ix_or_searcher.reader()
    return {"segments": sorted(r.segment().segment_id() for r, _ in reader.leaf_readers())}


def _extract_segment(reader, schema, fields, out: Path) -> None:
    """One segment's raw postings per field, deleted documents included (Whoosh's statistics count them)."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    count = reader.doc_count_all()
    for fieldname in fields:
        field = schema[fieldname]
        vocab, indptr, id_parts, tf_parts = [], [0], [], []
        for btext in reader.lexicon(fieldname):
            ids, tf = _leaf_postings(reader.postings(fieldname, btext))
            if not len(ids):
                continue
            vocab.append(field.from_bytes(btext))
            id_parts.append(ids.astype(np.int32))
            tf_parts.append(tf)
            indptr.append(indptr[-1] + len(ids))
        lengths = np.fromiter((reader.doc_field_length(d, fieldname, 1) or 1 for d in range(count)),
                              dtype=np.float64, count=count)
        np.save(partial / f"{fieldname}.ids.npy", np.concatenate(id_parts) if id_parts else np.zeros(0, np.int32))
        tf = np.concatenate(tf_parts) if tf_parts else np.zeros(0, np.float64)
        narrow = tf.astype(np.float32)          # frequencies are small whole numbers: exact in float32
        np.save(partial / f"{fieldname}.tf.npy", narrow if np.array_equal(narrow, tf) else tf)
        np.save(partial / f"{fieldname}.indptr.npy", np.asarray(indptr, dtype=np.int64))
        np.save(partial / f"{fieldname}.lengths.npy", lengths)
        (partial / f"{fieldname}.vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    _extract_facets(reader, schema, count, partial)
    write_stored(reader, count, partial)
    (partial / "meta.json").write_text(json.dumps(_segment_stamp(fields, count)))
    partial.rename(out)


def _extract_facets(reader, schema, count: int, out: Path) -> None:
    """One segment's facet values, read as IndexArrays._read_facet reads them from Whoosh: a numeric
    facet's column per document (-1: none), deleted documents included; a keyword facet's lexicon and the
    local docnums of each value (deleted documents included, dropped when merged)."""
    for name in COMPILED_FACETS:
        field = schema[name]
        if isinstance(field, NUMERIC):
            column = reader.column_reader(name)
            default = column.default_value() if hasattr(column, "default_value") else None
            raw = np.full(count, -1, dtype=np.int64)
            for d in range(count):
                v = column[d]
                if v is not None and v != default:
                    raw[d] = int(v)
            np.save(out / f"facet.{name}.column.npy", raw)
            continue
        values, indptr, id_parts = [], [0], []
        for btext in reader.lexicon(name):
            ids, _ = _leaf_postings(reader.postings(name, btext))
            values.append(field.from_bytes(btext))
            id_parts.append(ids.astype(np.int32))
            indptr.append(indptr[-1] + len(ids))
        np.save(out / f"facet.{name}.ids.npy", np.concatenate(id_parts) if id_parts else np.zeros(0, np.int32))
        np.save(out / f"facet.{name}.indptr.npy", np.asarray(indptr, dtype=np.int64))
        (out / f"facet.{name}.values.json").write_text(json.dumps(values, ensure_ascii=False), encoding="utf-8")


def _segment_stamp(fields, count: int) -> dict:
    return {"format": SEGMENT_FORMAT, "fields": list(fields), "facets": list(COMPILED_FACETS), "docs": count}


def _segment_meta(folder: Path) -> dict:
    try:
        return json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _segment_ok(folder: Path, fields, count: int) -> bool:
    return _segment_meta(folder) == _segment_stamp(fields, count)


def _link_tree(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for entry in source.iterdir():
        link_or_copy(entry, target / entry.name)


def _segment_arrays(searcher, fields, out_dir: Path, reuse: Path | None) -> list[tuple[Path, int, int]]:
    """(folder, docnum offset, document count) of every segment's raw arrays, extracting only
    segments that the previous generation (reuse) has not already extracted."""
    folders = []
    for reader, offset in searcher.reader().leaf_readers():
        segment_id = reader.segment().segment_id()
        count = reader.doc_count_all()
        folder = out_dir / "segments" / segment_id
        if not _segment_ok(folder, fields, count):
            shutil.rmtree(folder, ignore_errors=True)
            old = reuse / "segments" / segment_id if reuse is not None else None
            if old is not None and _segment_ok(old, fields, count):
                _link_tree(old, folder)
            else:
                _extract_segment(reader, searcher.schema, fields, folder)
        folders.append((folder, offset, count))
    return folders


class _SegmentPostings:
    """One segment's postings of one field, its deleted documents' postings left out: the global term of
    each local term, the counts per term before (Whoosh's document frequency counts deleted documents) and
    after the drop, and the live postings' local docnums and frequencies, read a chunk at a time from the
    memory-mapped arrays (a segment with deletions is not copied whole: +50 MB per edit at 20k entries)."""

    def __init__(self, folder: Path, fieldname: str, offset: int, live: np.ndarray, gid: dict):
        vocab = json.loads((folder / f"{fieldname}.vocab.json").read_text(encoding="utf-8"))
        if gid:
            self.terms = np.fromiter((gid.setdefault(t, len(gid)) for t in vocab), dtype=np.int64, count=len(vocab))
        else:       # the first segment numbers the terms: its own order
            gid.update(zip(vocab, range(len(vocab))))
            self.terms = np.arange(len(vocab), dtype=np.int64)
        indptr = np.load(folder / f"{fieldname}.indptr.npy")
        self.counts = np.diff(indptr)
        # plain ndarray views of the mapped files (a np.memmap costs a Python call per slice)
        self._ids = np.asarray(np.load(folder / f"{fieldname}.ids.npy", mmap_mode="r"))
        self._tf = np.asarray(np.load(folder / f"{fieldname}.tf.npy", mmap_mode="r"))
        self.folder, self.fieldname, self.offset = folder, fieldname, offset
        self.live_counts = self.counts
        self._live = None          # the segment's live documents, when some are deleted
        if len(live) and not live.all():
            dropped = np.flatnonzero(~live[self._ids])
            if len(dropped):
                self._live = live
                term_of = np.searchsorted(indptr, dropped, side="right") - 1
                self.live_counts = self.counts - np.bincount(term_of, minlength=len(self.counts))
        self.term_ends = np.cumsum(self.live_counts)     # each term's live postings: term_starts[t]..term_ends[t]-1
        self.term_starts = self.term_ends - self.live_counts
        self._norm_key, self._norm = None, None     # BM25's length term, for the scorer's (k1, b, avgfl)

    def chunks(self, size: int):
        """(first, docnums, frequencies) for the live postings in order, about `size` postings at a time;
        `first` is the chunk's first live posting's position among the live postings."""
        at = 0
        for start in range(0, len(self._ids), size):
            ids, tf = self._ids[start:start + size], self._tf[start:start + size]
            if self._live is not None:
                keep = self._live[ids]
                ids, tf = ids[keep], tf[keep]
            if len(ids):
                yield at, ids, tf
            at += len(ids)

    def lengths(self) -> np.ndarray:
        """The field length of each of the segment's documents (local docnums)."""
        return np.load(self.folder / f"{self.fieldname}.lengths.npy")

    def length_norm(self, k1: float, b: float, avgfl: float) -> np.ndarray:
        """BM25's per-document length term k1·((1−b) + b·length/avgfl), computed once per segment."""
        key = (k1, b, avgfl)
        if self._norm_key != key:
            self._norm_key, self._norm = key, k1 * ((1 - b) + b * self.lengths() / avgfl)
        return self._norm

    def term_of(self, first: int, last: int) -> np.ndarray:
        """The local term (index into `terms`) of each live posting first..last-1."""
        i0, lengths = spans_in(self.term_starts, self.term_ends, first, last)
        return np.repeat(np.arange(i0, i0 + len(lengths), dtype=np.int64), lengths)


def spans_in(starts: np.ndarray, stops: np.ndarray, first: int, last: int) -> tuple[int, np.ndarray]:
    """For contiguous spans in order (span i covers starts[i]..stops[i]-1, each starting where the one before
    stopped): the first span that reaches into first..last-1 and how many of those positions each span from
    there holds. A chunk's positions are then mapped to their spans with one np.repeat, in linear time,
    instead of a binary search per position (which was a third of an edit's array compile at 20k)."""
    i0 = int(np.searchsorted(stops, first, side="right"))
    i1 = int(np.searchsorted(starts, last, side="left"))
    return i0, np.minimum(stops[i0:i1], last) - np.maximum(starts[i0:i1], first)


def _merged_order(parts: list[_SegmentPostings]) -> list[tuple[int, int, int]]:
    """(part, start, end) runs of the parts' live postings that, concatenated, put every term's postings
    together in term order and, within a term, in segment (docnum) order. Consecutive terms of one part
    that no other part interleaves make one run, so a large segment is copied in a few long slices."""
    terms, seg, start, stop = [], [], [], []
    for k, part in enumerate(parts):
        present = part.live_counts > 0
        terms.append(part.terms[present])
        seg.append(np.full(int(present.sum()), k, dtype=np.int64))
        start.append(part.term_starts[present])
        stop.append(part.term_ends[present])
    terms, seg, start, stop = (np.concatenate(a) if a else EMPTY_IDS for a in (terms, seg, start, stop))
    order = np.lexsort((seg, terms))
    seg, start, stop = seg[order], start[order], stop[order]
    if not len(seg):
        return []
    breaks = np.flatnonzero((seg[1:] != seg[:-1]) | (start[1:] != stop[:-1])) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks - 1, [len(seg) - 1]))
    return list(zip(seg[first].tolist(), start[first].tolist(), stop[last].tolist()))


CHUNK_POSTINGS = 1 << 18     # postings scored and placed at a time: a few MB of buffers, not the field's size


def _merge_field(fieldname: str, segments: list[tuple[Path, int, int]], live: np.ndarray, score) -> tuple:
    """The whole index's (vocab, indptr, docnums, scores) for one field: each term's postings in docnum
    order (segments are in docnum order), deleted documents dropped; `score(df)` gives the function that
    turns a chunk of one segment's live postings into scores, from each term's document frequency over
    all segments (deleted documents included, as Whoosh counts them). A segment's postings are scored a
    chunk at a time and each chunk is placed by the runs that put it in term order, so beside the output
    the merge holds a few MB (the whole field's scores and their buffers were +200 MB for one edit at 20k)."""
    gid: dict = {}
    parts = [_SegmentPostings(folder, fieldname, offset, live[offset:offset + count], gid)
             for folder, offset, count in segments]
    terms = len(gid)
    df = np.zeros(terms, dtype=np.int64)
    live_df = np.zeros(terms, dtype=np.int64)
    for part in parts:             # a segment's terms are distinct
        df[part.terms] += part.counts
        live_df[part.terms] += part.live_counts
    runs = _merged_order(parts)
    total = int(live_df.sum())
    ids = np.empty(total, dtype=np.int32)
    scores = np.empty(total, dtype=np.float64)
    run_part, run_start, run_end = (np.array(column, dtype=np.int64) for column in zip(*runs)) if runs else \
        (EMPTY_IDS, EMPTY_IDS, EMPTY_IDS)
    run_shift = np.cumsum(run_end - run_start) - run_end        # output position of the run's first posting, less its start
    scorer = score(df)
    for k, part in enumerate(parts):
        mine = np.flatnonzero(run_part == k)
        mine = mine[np.argsort(run_start[mine], kind="stable")]    # a later segment's new terms come late in term order
        starts, ends, shifts = run_start[mine], run_end[mine], run_shift[mine]
        for first, chunk_ids, chunk_tf in part.chunks(CHUNK_POSTINGS):
            last = first + len(chunk_ids)
            i0, lengths = spans_in(starts, ends, first, last)
            dest = np.arange(first, last, dtype=np.int64)
            dest += np.repeat(shifts[i0:i0 + len(lengths)], lengths)
            ids[dest] = chunk_ids + np.int32(part.offset) if part.offset else chunk_ids
            scores[dest] = scorer(part, first, chunk_ids, chunk_tf)
    present = live_df > 0
    vocab = [None] * terms
    for text, i in gid.items():
        vocab[i] = text
    vocab = [t for t, p in zip(vocab, present.tolist()) if p]
    indptr = np.zeros(int(present.sum()) + 1, dtype=np.int64)
    np.cumsum(live_df[present], out=indptr[1:])
    return vocab, indptr, ids, scores


def compile_arrays(index_dir: Path, out_dir: Path, fields, reuse: Path | None = None) -> None:
    """Write the scored postings of `fields` for the index at index_dir into out_dir, reusing the
    per-segment arrays of a previous generation's out_dir (reuse) for segments it shares."""
    from whoosh.filedb.filestore import FileStorage

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = list(fields)
    # read through the files, not a mapping Whoosh copies from (see schema.open_index)
    ix = FileStorage(str(index_dir), supports_mmap=False).open_index()
    try:
        with ix.searcher() as searcher:
            segments = _segment_arrays(searcher, fields, out_dir, Path(reuse) if reuse is not None else None)
            size = searcher.doc_count_all()
            live = _live(searcher.reader().leaf_readers(), size)
            bm25 = searcher.weighting if isinstance(searcher.weighting, BM25F) else None
            meta = {"stamp": _stamp(searcher), "size": size, "fields": {}}
            for fieldname in fields:
                score = _bm25f(searcher, bm25, fieldname, size)
                vocab, indptr, ids, scores = _merge_field(fieldname, segments, live, score)
                np.save(out_dir / f"{fieldname}.ids.npy", ids)
                np.save(out_dir / f"{fieldname}.scores.npy", scores)
                np.save(out_dir / f"{fieldname}.indptr.npy", indptr)
                (out_dir / f"{fieldname}.vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
                meta["fields"][fieldname] = len(vocab)
            for name in COMPILED_FACETS:
                facet = _merge_facet(searcher.schema[name], name, segments, live, size)
                np.save(out_dir / f"facet.{name}.indptr.npy", facet.indptr)
                np.save(out_dir / f"facet.{name}.value_ids.npy", facet.value_ids)
                (out_dir / f"facet.{name}.values.json").write_text(json.dumps(facet.values, ensure_ascii=False),
                                                                   encoding="utf-8")
            meta["facets"] = list(COMPILED_FACETS)
            (out_dir / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    finally:
        ix.close()


def _merge_facet(field, name: str, segments: list[tuple[Path, int, int]], live: np.ndarray, size: int) -> "Facet":
    """The facet IndexArrays._read_facet would read from Whoosh for this index, from the segments' facet
    files: a keyword facet's values are every segment's lexicon (a value only deleted documents hold
    included), its documents the live ones; a numeric facet's values are those of every document."""
    if isinstance(field, NUMERIC):
        raw = np.concatenate([np.load(folder / f"facet.{name}.column.npy") for folder, _, _ in segments]) \
            if segments else np.zeros(0, dtype=np.int64)
        known = raw >= 0
        distinct = np.unique(raw[known])
        codes = np.full(size, -1, dtype=np.int64)
        codes[known] = np.searchsorted(distinct, raw[known])
        return Facet.from_codes(distinct.tolist(), codes)
    parts = []
    for folder, offset, count in segments:
        values = json.loads((folder / f"facet.{name}.values.json").read_text(encoding="utf-8"))
        indptr = np.load(folder / f"facet.{name}.indptr.npy")
        ids = np.load(folder / f"facet.{name}.ids.npy").astype(np.int64) + offset
        parts.append((values, np.repeat(np.arange(len(values)), np.diff(indptr)), ids))
    values = sorted({v for part in parts for v in part[0]})
    index = {v: j for j, v in enumerate(values)}
    docs, value_ids = [], []
    for local_values, local_of_posting, ids in parts:
        keep = live[ids]
        to_global = np.fromiter((index[v] for v in local_values), dtype=np.int64, count=len(local_values))
        docs.append(ids[keep])
        value_ids.append(to_global[local_of_posting[keep]])
    return Facet.from_pairs(values, np.concatenate(docs) if docs else EMPTY_IDS,
                            np.concatenate(value_ids) if value_ids else EMPTY_IDS, size)


def load_compiled_facet(folder: Path | None, name: str, size: int) -> "Facet | None":
    """A facet compiled with this generation (None: not compiled, e.g. a generation written before)."""
    if folder is None or name not in COMPILED_FACETS:
        return None
    folder = Path(folder)
    try:
        indptr = np.load(folder / f"facet.{name}.indptr.npy")
        value_ids = np.load(folder / f"facet.{name}.value_ids.npy")
        values = json.loads((folder / f"facet.{name}.values.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Facet(values, indptr, value_ids) if len(indptr) == size + 1 else None


def _bm25f(searcher, bm25, fieldname: str, size: int):
    """Whoosh's BM25F for every posting of a segment at once: the idf of each term from its document
    frequency over all segments (deleted documents included, as Whoosh counts them), Whoosh's average field
    length, and the byte-quantised document lengths; the raw frequency for unscored fields."""
    if bm25 is None or not searcher.schema[fieldname].scorable:
        return lambda df: lambda part, first, ids, tf: np.asarray(tf, dtype=np.float64)
    return bm25_scorer(size, searcher.avg_field_length(fieldname) or 1, field_b(bm25, fieldname), bm25.K1)


def bm25_scorer(size: int, avgfl: float, b: float, k1: float):
    """score(df) → the function giving one segment's live postings their BM25F scores (internals.bm25)."""
    def score(df):
        term_idf = idf(size, df)

        def segment_scores(part: _SegmentPostings, first: int, ids: np.ndarray, tf: np.ndarray) -> np.ndarray:
            # internals.bm25, idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / avgfl))), with its
            # length term computed once per document and per segment, on one chunk of live postings (`first`:
            # the chunk's position among them): the same operations on the same numbers (+ and * commute
            # exactly), so the same scores
            length_norm = part.length_norm(k1, b, avgfl)
            ratio = np.multiply(tf, k1 + 1, dtype=np.float64)
            denominator = length_norm[ids]
            denominator += tf
            ratio /= denominator
            del denominator
            scores = term_idf[part.terms[part.term_of(first, first + len(ids))]]
            scores *= ratio
            return scores
        return segment_scores
    return score


def _open_stored(compiled: Path | None, leaves) -> StoredDocuments | None:
    if compiled is None:
        return None
    segments = []
    for reader, offset in leaves:
        folder = Path(compiled) / "segments" / reader.segment().segment_id()
        meta = _segment_meta(folder)
        if not (meta.get("format") == SEGMENT_FORMAT and meta.get("docs") == reader.doc_count_all()
                and has_segment_files(folder)):
            log.warning("%s 没有段的存储字段文件，列出结果时改从 Whoosh 读取（较慢）", folder)
            return None
        segments.append((folder, offset, reader.doc_count_all()))
    return StoredDocuments(segments)


def _load_compiled(folder: Path, searcher) -> dict:
    """The compiled fields if they belong to exactly this index, else nothing (the lazy path, which
    decodes Whoosh's posting blocks per term and makes cold queries about 20x slower: logged, with
    the reason, once per generation opened)."""
    try:
        meta = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
        if meta.get("stamp") != _stamp(searcher) or meta.get("size") != searcher.doc_count_all():
            log.warning("编译的词项数组与索引不符（%s 的段或文档数不同），改用逐词解码（冷查询约慢 20 倍）", folder)
            return {}
        loaded = {}
        for fieldname in meta["fields"]:
            vocab = json.loads((folder / f"{fieldname}.vocab.json").read_text(encoding="utf-8"))
            loaded[fieldname] = (
                {text: i for i, text in enumerate(vocab)},
                np.load(folder / f"{fieldname}.indptr.npy"),
                # plain ndarray views of the mapped files: slicing a np.memmap costs a Python-level
                # __array_finalize__ per term of every query
                np.asarray(np.load(folder / f"{fieldname}.ids.npy", mmap_mode="r")),
                np.asarray(np.load(folder / f"{fieldname}.scores.npy", mmap_mode="r")),
            )
        return loaded
    except (OSError, ValueError, KeyError) as exc:
        log.warning("无法读取编译的词项数组 %s（%s: %s），改用逐词解码（冷查询约慢 20 倍）", folder, type(exc).__name__, exc)
        return {}
