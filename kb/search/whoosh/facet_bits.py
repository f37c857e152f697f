"""Facet values as document bitsets, for counting the values of large sets of documents.

A query of common words matches most of the corpus (at 20k synthetic documents, half the bench's
queries list over 10k), and counting the facet values of that many documents by gathering their
rows of value ids (arrays.FacetTable) costs about 26 ns a document. Here every facet value holds the
documents that have it as a bitset, 64 documents a machine word; the documents to count become a
bitset too, and every value's count is the popcount of one AND: about 140 values × 313 words at 20k,
some 60 µs whatever the number of documents. FacetTable stays the faster way for a few documents,
and `IndexArrays.facet_counts` picks by size. Built from the generation's facets when first needed,
in the reading process (nothing is written at build time).
"""
from __future__ import annotations

import numpy as np

WORD_BITS = 64


def pack(mask: np.ndarray) -> np.ndarray:
    """A bool array (length a multiple of 64) as little-endian uint64 words."""
    return np.packbits(mask, bitorder="little").view(np.uint64)


class FacetBits:
    """For the facets given, one row of `words` uint64 per value: bit d set when document d holds it."""

    def __init__(self, facets: dict, size: int):
        self.size = size
        self.words = (size + WORD_BITS - 1) // WORD_BITS
        rows = sum(len(facet.values) for facet in facets.values())
        bits = np.zeros((rows, self.words * WORD_BITS), dtype=bool)
        self.slices: dict[str, slice] = {}
        start = 0
        for name, facet in facets.items():
            lengths = np.diff(facet.indptr)
            bits[start + facet.value_ids, np.repeat(np.arange(size), lengths)] = True
            self.slices[name] = slice(start, start + len(facet.values))
            start += len(facet.values)
        self.rows = start
        self.matrix = np.packbits(bits, axis=1, bitorder="little").view(np.uint64) if rows \
            else np.zeros((0, self.words), dtype=np.uint64)

    def of(self, docs: np.ndarray) -> np.ndarray:
        """The bitset of these documents (distinct docnums, or a bool mask over the corpus)."""
        mask = np.zeros(self.words * WORD_BITS, dtype=bool)
        if docs.dtype == bool:
            mask[:len(docs)] = docs
        else:
            mask[docs] = True
        return pack(mask)

    def counts(self, docs: np.ndarray, names=None) -> dict[str, np.ndarray]:
        """Per facet (all, or `names`), how many of the documents (distinct docnums, or a bool mask
        over the corpus) hold each value."""
        selected = self.slices if names is None else {name: self.slices[name] for name in names}
        docs = self.of(docs)
        if len(selected) == 1:
            (name, where), = selected.items()
            return {name: _popcounts(self.matrix[where], docs)}
        counted = _popcounts(self.matrix, docs)
        return {name: counted[where] for name, where in selected.items()}

    def holding(self, name: str, value_ids: list[int]) -> np.ndarray:
        """One bool per document: whether it holds any of these values of the facet."""
        if not value_ids:
            return np.zeros(self.size, dtype=bool)
        rows = self.matrix[self.slices[name].start + np.asarray(value_ids, dtype=np.int64)]
        anyof = np.bitwise_or.reduce(rows, axis=0)
        return np.unpackbits(anyof.view(np.uint8), bitorder="little", count=self.size).view(bool)


def _popcounts(rows: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Per row, the number of bits it shares with docs."""
    # summed as uint32 (a count never exceeds the corpus): about twice as fast as summing into int64
    return np.add.reduce(np.bitwise_count(rows & docs), axis=1, dtype=np.uint32).astype(np.int64)
