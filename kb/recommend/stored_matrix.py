"""A saved sparse matrix read a few rows (or columns) at a time with `os.pread`, not memory-mapped.

A recommendation reads a dozen technology rows, the columns of a profile's words and the rows of one sector's
cases: a few hundred kB. Memory-mapped, each of those reads mapped a whole page-cache folio into the process
(about 1.4 MB per touch on a kernel with large folios, whatever `madvise` says), so a server's resident memory
grew by the whole matrices (about 145 MB at 20k entries) within a few requests. Read with pread, only what a
request asks for is ever in the process, and only while the request runs. Values come back bit for bit as
saved, so sums over them are the same as over the mapped arrays.
"""
from __future__ import annotations

import os
import weakref
from pathlib import Path

import numpy as np
from scipy import sparse


class _StoredArray:
    """One saved 1-D .npy array: its dtype, where its data starts, and an open file to pread from."""

    def __init__(self, path: Path):
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if len(shape) != 1 or fortran:
            raise ValueError(f"{path}: not a 1-D array")
        self.dtype, self.size = np.dtype(dtype), shape[0]
        self.fd = os.open(path, os.O_RDONLY)
        self._closer = weakref.finalize(self, os.close, self.fd)      # closed with the generation's recommender

    def ranges(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The elements of every [start, end) range, end to end (adjacent ranges are read in one call)."""
        total = int((ends - starts).sum())
        out = np.empty(total, dtype=self.dtype)
        if not total:
            return out
        view, size, at = memoryview(out).cast("B"), self.dtype.itemsize, 0
        keep = ends > starts
        starts, ends = starts[keep], ends[keep]
        # runs of ranges that follow each other in the file: one read each
        breaks = np.flatnonzero(starts[1:] != ends[:-1]) + 1
        for a, b in zip(np.concatenate(([0], breaks)).tolist(), np.concatenate((breaks, [len(starts)])).tolist()):
            lo, hi = int(starts[a]) * size, int(ends[b - 1]) * size
            got = os.preadv(self.fd, [view[at:at + hi - lo]], self.offset + lo)
            if got != hi - lo:
                raise OSError(f"short read: {got} of {hi - lo} bytes")
            at += hi - lo
        return out

    def close(self) -> None:
        self._closer()


class StoredSparse:
    """A CSR (rows) or CSC (columns) matrix saved by kb/recommend/model.py, its pointers in memory and its
    indices and values read on demand. `major` numbers rows for CSR and columns for CSC."""

    def __init__(self, model_dir: Path, name: str, layout: str):
        self.layout = layout
        self.shape = tuple(int(n) for n in np.load(model_dir / f"{name}.shape.npy"))
        self.indptr = np.load(model_dir / f"{name}.{layout}.indptr.npy").astype(np.int64)
        self._indices = _StoredArray(model_dir / f"{name}.{layout}.indices.npy")
        self._data = _StoredArray(model_dir / f"{name}.{layout}.data.npy")

    def major(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lengths, indices, values) of these rows/columns, one after the other in the order given."""
        which = np.asarray(which, dtype=np.int64)
        starts, ends = self.indptr[which], self.indptr[which + 1]
        return ends - starts, self._indices.ranges(starts, ends), self._data.ranges(starts, ends)

    def rows(self, which: np.ndarray) -> sparse.csr_matrix:
        """matrix[which] for a CSR matrix: the same arrays scipy's row indexing gives."""
        lengths, indices, data = self.major(which)
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        matrix = sparse.csr_matrix((data, indices, indptr), shape=(len(lengths), self.shape[1]), copy=False)
        matrix.has_sorted_indices = True            # saved sorted
        return matrix

    def close(self) -> None:
        self._indices.close()
        self._data.close()


class LoadedSparse:
    """The same reads over a matrix already in memory (a generation written before the matrices had files of
    their own keeps them in its pickle): the request path reads every model alike."""

    def __init__(self, matrix):
        self.matrix, self.shape, self.indptr = matrix, matrix.shape, matrix.indptr

    def major(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        which = np.asarray(which, dtype=np.int64)
        starts, ends = self.indptr[which], self.indptr[which + 1]
        parts = [(self.matrix.indices[a:b], self.matrix.data[a:b]) for a, b in zip(starts.tolist(), ends.tolist())]
        if not parts:
            return ends - starts, self.matrix.indices[:0], self.matrix.data[:0]
        return ends - starts, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def rows(self, which: np.ndarray):
        return self.matrix[which]

    def close(self) -> None:
        """Nothing to close."""
