"""Writing a fresh index's segments fast: what a full build needs from Whoosh's writer, and nothing slower.

Whoosh's SegmentWriter keeps every posting of a segment as a Python tuple in a PostingPool; past its
memory limit the pool pickles sorted runs to disk one posting at a time and merges them back with heapq,
and writing the postings then reads each posting's field length back from the lengths file it just wrote.
At 20k entries that was most of a full build's CPU. `CompactSegmentWriter` is the same writer with two
changes that leave every byte of the segment alike:

- `CompactPostingPool`: the postings of each (field, term) in typed arrays (document number, weight,
  an index into the distinct value strings), sorted by term only when the segment is written. Postings
  arrive in document order, so each term's list is already in the order the pool's sort gives; a few
  dozen bytes a posting instead of a tuple, and no runs on disk;
- the field lengths the postings are written with are read once per field and document
  (`PreloadedLengths`), not once per posting.

`write_segments` writes a fresh index from documents in `procs` forked processes, one contiguous slice
each, one segment each, in the order of the documents (so document numbers do not depend on which
process finished first), and commits them in one table of contents. The processes inherit the
documents and the build's words by fork; only each segment's small descriptor comes back.

These are Whoosh's private writer internals (SegmentWriter's pool, _flush_segment, _finalize_segment,
_commit_toc, _finish); importing kb.search.whoosh.internals checks the installed version first.
"""
from __future__ import annotations

import multiprocessing
import traceback
from array import array
from typing import Callable, Iterable, Sequence

from whoosh.writing import PostingPool, SegmentWriter

from . import internals  # noqa: F401  (refuses a Whoosh version these internals were not checked against)


class CompactPostingPool(PostingPool):
    """A PostingPool (whoosh.writing) that holds postings in arrays per (field, term) and never spills."""

    def __init__(self, tempstore, segment, limitmb: int = 128, **kwargs):
        super().__init__(tempstore, segment, limitmb=limitmb, **kwargs)
        self._terms: dict[tuple[str, bytes], tuple[array, array, array]] = {}
        self._values: dict[bytes | None, int] = {}
        self._value_list: list[bytes | None] = []
        self._unordered: set[tuple[str, bytes]] = set()   # terms whose postings did not come in docnum order

    def add(self, item) -> None:
        fieldname, tbytes, docnum, weight, vbytes = item
        key = (fieldname, tbytes)
        postings = self._terms.get(key)
        if postings is None:
            postings = self._terms[key] = (array("q"), array("d"), array("l"))
            self.fieldnames.add(fieldname)
        elif postings[0][-1] >= docnum:
            self._unordered.add(key)
        code = self._values.get(vbytes)
        if code is None:
            code = self._values[vbytes] = len(self._value_list)
            self._value_list.append(vbytes)
        postings[0].append(docnum)
        postings[1].append(weight)
        postings[2].append(code)

    def save(self) -> None:
        """Nothing to spill: the arrays are the compact form."""

    def items(self, maxfiles: int = 128):
        """Every posting as Whoosh's tuple (fieldname, tbytes, docnum, weight, vbytes), in the pool's order."""
        values = self._value_list
        for key in sorted(self._terms):
            docnums, weights, codes = self._terms[key]
            fieldname, tbytes = key
            postings = zip(docnums, weights, codes)
            if key in self._unordered:
                postings = sorted(postings, key=lambda p: (p[0], p[1], values[p[2]] or b""))
            for docnum, weight, code in postings:
                yield fieldname, tbytes, docnum, weight, values[code]

    def iter_postings(self):
        return self.items()

    def __len__(self) -> int:
        return sum(len(p[0]) for p in self._terms.values())


class PreloadedLengths:
    """The per-document reader's field lengths for add_postings, read once per (field, document)."""

    def __init__(self, reader, doc_count: int):
        self._reader, self._doc_count = reader, doc_count
        self._fields: dict[str, list] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default=0):
        lengths = self._fields.get(fieldname)
        if lengths is None:
            read = self._reader.doc_field_length
            lengths = self._fields[fieldname] = [read(d, fieldname, default) for d in range(self._doc_count)]
        return lengths[docnum]


class CompactSegmentWriter(SegmentWriter):
    """Whoosh's SegmentWriter with a CompactPostingPool and preloaded field lengths (module docstring)."""

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        self.pool = CompactPostingPool(self._tempstorage, self.newsegment)

    def _flush_segment(self):
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        lengths = PreloadedLengths(pdr, self.docnum) if pdr else None
        self.fieldwriter.add_postings(self.schema, lengths, self.pool.iter_postings())
        self.fieldwriter.close()
        if pdr:
            pdr.close()


class SegmentWorkerError(RuntimeError):
    """A process writing one segment failed; the message carries its traceback."""


def _write_one_segment(ix, items: Sequence, fields: Callable[[object], dict], connection) -> None:
    """In a forked process: one segment of these items, its descriptor sent back on connection."""
    try:
        # no cancel() on failure: it would remove the temporary folder the parent's writer shares; the
        # parent cancels, and a failed build discards the whole folder
        writer = CompactSegmentWriter(ix, _lk=False)
        for item in items:
            writer.add_document(**fields(item))
        connection.send(("ok", writer._finalize_segment() if writer._added else None))
    except BaseException:
        connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()


def _slices(items: Sequence, parts: int) -> list[Sequence]:
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for k in range(parts):
        end = start + size + (1 if k < extra else 0)
        out.append(items[start:end])
        start = end
    return [s for s in out if len(s)]


def write_segments(ix, items: Sequence, fields: Callable[[object], dict], procs: int = 1) -> None:
    """Add items (`fields(item)`: a document's field values) to ix, an empty index, and commit: one
    segment per process, in the order of items."""
    writer = CompactSegmentWriter(ix)
    try:
        if procs <= 1 or len(items) < 2:
            for item in items:
                writer.add_document(**fields(item))
            writer.commit()
            return
        segments = _fork_segments(ix, _slices(items, procs), fields)
        writer._close_segment()
        writer._commit_toc(list(writer.segments) + segments)
        writer._finish()
    except BaseException:
        if not writer.is_closed:
            writer.cancel()
        raise


def _fork_segments(ix, slices: Iterable[Sequence], fields: Callable[[object], dict]) -> list:
    context = multiprocessing.get_context("fork")
    running = []
    try:
        for part in slices:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_write_one_segment, args=(ix, part, fields, send), daemon=True)
            process.start()
            send.close()
            running.append((process, receive))
        segments = []
        for process, receive in running:
            try:
                status, value = receive.recv()
            except EOFError:
                process.join()
                raise SegmentWorkerError(f"写索引段的进程意外退出（退出码 {process.exitcode}）") from None
            if status != "ok":
                raise SegmentWorkerError(f"写索引段的进程出错：\n{value}")
            if value is not None:
                segments.append(value)
        return segments
    finally:
        for process, receive in running:
            receive.close()
            if process.is_alive() and process.exitcode is None:
                process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
