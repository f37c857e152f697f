"""Each document's stored fields as flat files per index segment, read by offset instead of from Whoosh.

Whoosh keeps a document's stored fields as one pickled, zlib-compressed blob, body included: listing ten
hits decompressed ten bodies even when no snippet was wanted (about a quarter of a plain search's time at
2k documents, see bench/RESULTS.md). When the build extracts a segment's postings (arrays.py) it also writes
the segment's stored fields in two files, the display fields as JSON and the body as UTF-8, each with a
docnum → byte offset array. A segment never changes once written, so the files are shared by hard link
between generations like the postings, and memory-mapped, so every process serving a generation shares
their pages. A hit costs one small JSON decode, and the body is read only for a snippet.
"""
from __future__ import annotations

import json
import mmap
from pathlib import Path

import numpy as np

DISPLAY = "stored.display"       # JSON of the stored fields except the body, one document after another
BODY = "stored.body"             # the bodies, UTF-8, one after another
BODY_FIELD = "body"


def write_segment(reader, count: int, folder: Path) -> None:
    """The stored fields of one segment's `count` documents (deleted ones included, so local docnums index
    the offsets directly)."""
    display_parts, body_parts = [], []
    for docnum in range(count):
        stored = dict(reader.stored_fields(docnum))
        body = stored.pop(BODY_FIELD, "") or ""
        display_parts.append(json.dumps(stored, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        body_parts.append(body.encode("utf-8"))
    for name, parts in ((DISPLAY, display_parts), (BODY, body_parts)):
        offsets = np.zeros(count + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        (folder / f"{name}.bin").write_bytes(b"".join(parts))
        np.save(folder / f"{name}.offsets.npy", offsets)


class _Blob:
    """One mapped file and its offsets (an empty file cannot be mapped: then there is nothing to read)."""

    def __init__(self, folder: Path, name: str):
        self.offsets = np.load(folder / f"{name}.offsets.npy")
        path = folder / f"{name}.bin"
        self.data: bytes | mmap.mmap = b""
        if path.stat().st_size:
            with open(path, "rb") as handle:
                self.data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

    def get(self, local: int) -> bytes:
        lo, hi = self.offsets[local:local + 2].tolist()
        return self.data[lo:hi]

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            self.data.close()


class StoredDocuments:
    """The stored fields of every document of one generation, by global docnum."""

    def __init__(self, segments: list[tuple[Path, int, int]]):
        """segments: (folder, docnum offset, document count), in docnum order."""
        self._starts = np.asarray([offset for _, offset, _ in segments], dtype=np.int64)
        self._display = [_Blob(folder, DISPLAY) for folder, _, _ in segments]
        self._body = [_Blob(folder, BODY) for folder, _, _ in segments]

    def _locate(self, docnum: int) -> tuple[int, int]:
        segment = int(np.searchsorted(self._starts, docnum, side="right")) - 1
        return segment, docnum - int(self._starts[segment])

    def fields(self, docnum: int, body: bool = False) -> dict:
        """What Whoosh's `stored_fields(docnum)` gives, without the body unless asked for."""
        segment, local = self._locate(docnum)
        stored = json.loads(self._display[segment].get(local))
        if body:
            stored[BODY_FIELD] = self._body[segment].get(local).decode("utf-8")
        return stored

    def fields_of(self, docnums: list[int], body: bool = False) -> list[dict]:
        """`fields(docnum, body)` of several documents (a page), their segments located in one call."""
        if not docnums:
            return []
        segments = (np.searchsorted(self._starts, docnums, side="right") - 1).tolist()
        starts = self._starts.tolist()
        out = []
        for docnum, segment in zip(docnums, segments):
            local = docnum - starts[segment]
            stored = json.loads(self._display[segment].get(local))
            if body:
                stored[BODY_FIELD] = self._body[segment].get(local).decode("utf-8")
            out.append(stored)
        return out

    def close(self) -> None:
        for blob in (*self._display, *self._body):
            blob.close()


def has_segment_files(folder: Path) -> bool:
    return all((folder / f"{name}{suffix}").is_file() for name in (DISPLAY, BODY) for suffix in (".bin", ".offsets.npy"))
