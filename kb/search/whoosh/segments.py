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
from collections import Counter
from typing import Callable, Iterable, Sequence

from whoosh.fields import FieldType
from whoosh.formats import Frequency
from whoosh.system import pack_uint
from whoosh.writing import PostingPool, SegmentWriter

from . import internals  # noqa: F401  (refuses a Whoosh version these internals were not checked against)
from .schema import JiebaTokenizer


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

    def add_field(self, fieldname: str, docnum: int, items, fieldboost: float, scorable: bool) -> tuple[int, object]:
        """One document's postings in one field, as SegmentWriter.add_document adds them one by one:
        returns the field length (the frequencies' sum when scorable) and the last value bytes."""
        terms, values, value_list, unordered = self._terms, self._values, self._value_list, self._unordered
        length, vbytes, new_field = 0, None, fieldname not in self.fieldnames
        for tbytes, freq, weight, vbytes in items:
            if scorable:
                length += freq
            key = (fieldname, tbytes)
            postings = terms.get(key)
            if postings is None:
                postings = terms[key] = (array("q"), array("d"), array("l"))
            elif postings[0][-1] >= docnum:
                unordered.add(key)
            code = values.get(vbytes)
            if code is None:
                code = values[vbytes] = len(value_list)
                value_list.append(vbytes)
            postings[0].append(docnum)
            postings[1].append(weight * fieldboost)
            postings[2].append(code)
            if new_field:
                self.fieldnames.add(fieldname)
                new_field = False
        return length, vbytes

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


def prepared_items(field, value) -> list | None:
    """What `field.index(value)` yields — (term bytes, frequency, weight, value bytes) per distinct word —
    counted straight from the build's words when the field is a plain frequency-format text field over
    kb's tokenizer and the build segmented this text; else None. Frequency.word_values sums each token's
    boost (1.0, as JiebaTokenizer sets it) times the format's field boost: the same floats as here."""
    analyzer = getattr(field, "analyzer", None)
    if type(field.format) is not Frequency or type(field).index is not FieldType.index \
            or not isinstance(analyzer, JiebaTokenizer) or analyzer.prepared is None or not isinstance(value, str):
        return None
    words = analyzer.prepared(value)
    if words is None:
        return None
    boost = field.format.field_boost
    return [(word.encode("utf-8"), freq, float(freq) * boost, pack_uint(freq))
            for word, freq in Counter(words).items()]


class CompactSegmentWriter(SegmentWriter):
    """Whoosh's SegmentWriter with a CompactPostingPool, preloaded field lengths, and a text field's
    postings counted from the build's words (module docstring)."""

    def __init__(self, ix, **kwargs):
        super().__init__(ix, **kwargs)
        self.pool = CompactPostingPool(self._tempstorage, self.newsegment)

    def add_document(self, **fields):
        """SegmentWriter.add_document (whoosh-reloaded 2.7.5) with `prepared_items` in place of
        field.index where it applies; term vectors and separate spelling fields go Whoosh's own way."""
        self._check_state()
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        pool = self.pool
        add_post = pool.add
        docboost = self._doc_boost(fields)
        fieldnames = sorted([name for name in fields.keys() if not name.startswith("_")])
        self._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields.get(fieldname)
                if value is None:
                    continue
                field = schema[fieldname]
                length, vbytes = 0, None
                if field.indexed:
                    fieldboost = self._field_boost(fields, fieldname, docboost)
                    items = prepared_items(field, value)
                    length, vbytes = pool.add_field(fieldname, docnum, items if items is not None
                                                    else field.index(value), fieldboost, field.scorable)
                if field.separate_spelling():        # Whoosh passes on the last posting's value bytes
                    for word in field.spellable_words(value):
                        add_post((field.spelling_fieldname(fieldname), word.encode("utf-8"), 0, 1, vbytes))
                vformat = field.vector
                if vformat:
                    vitems = vformat.word_values(value, field.analyzer, mode="index")
                    vitems = sorted((text, weight, vbytes) for text, _, weight, vbytes in vitems)
                    perdocwriter.add_vector_items(fieldname, field, vitems)
                customval = fields.get("_stored_%s" % fieldname, value)
                perdocwriter.add_field(fieldname, field, customval if field.stored else None, length)
                column = field.column_type
                if column and customval is not None:
                    perdocwriter.add_column_value(fieldname, column, field.to_column_value(customval))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

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
