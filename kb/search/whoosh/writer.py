"""Documents → index segments, full or incremental, and the compiled arrays beside them."""
from __future__ import annotations

from pathlib import Path

from ...documents import Document
from ...files import link_or_copy
from ...fields import FIELD_BOOSTS, PreparedWords
from .arrays import compile_arrays
from .compile_process import compile_apart
from .schema import create_index, open_index
from .segments import write_segments


def _clone(base: Path, target: Path) -> None:
    """Hard-link the live segments into the new generation: Whoosh never rewrites a segment file,
    it writes new ones, so the live index cannot be touched by the new generation's writer."""
    target.mkdir(parents=True)
    for entry in base.iterdir():
        if entry.is_file() and not entry.name.endswith(".lock"):
            link_or_copy(entry, target / entry.name)


class WhooshSnapshotWriter:
    """The engine protocol's SnapshotWriter (kb/search/engine.py) for Whoosh: a new index folder at
    target — the base's segments hard-linked in, or empty — and, on commit, the compiled term arrays
    beside it (target/../arrays, reusing the base's per-segment arrays).

    A fresh index (a full build) is written on commit by kb's compact segment writer, one segment per
    process (kb/search/whoosh/segments.py); an index on a base takes Whoosh's own writer's updates."""

    def __init__(self, target: Path, prepared: PreparedWords, base: Path | None = None, procs: int = 1):
        self.target, self.base, self.prepared = Path(target), base, prepared
        if base is not None:
            _clone(base, self.target)
            # without the mapping: Whoosh copies each file of a mapped compound segment (~30 MB at 20k entries)
            self.ix = open_index(self.target, prepared.analysis, prepared.prepared, mmap=False)
            self.writer = self.ix.writer()
            self._add = self.writer.update_document
        else:
            self.target.mkdir(parents=True)
            self.ix = create_index(self.target, prepared.analysis, prepared.prepared)
            self.writer = None
            self._fresh: list[Document] = []
        self.procs = procs

    def upsert(self, doc: Document) -> None:
        if self.writer is None:
            self._fresh.append(doc)
        else:
            self._add(**self.prepared.fields(doc))

    def delete(self, doc_id: str) -> None:
        if self.writer is None:         # a fresh index holds only what this writer adds
            self._fresh = [d for d in self._fresh if d.id != doc_id]
        else:
            self.writer.delete_by_term("id", doc_id)

    def commit(self) -> None:
        try:
            if self.writer is None:
                write_segments(self.ix, self._fresh, self.prepared.fields, self.procs)
            else:
                self.writer.commit()
        finally:
            self.ix.close()
        reuse = Path(self.base).parent / "arrays" if self.base is not None else None
        if self.writer is None and self.procs > 1:      # a large full build: its peak memory was here
            compile_apart(self.target, self.target.parent / "arrays", FIELD_BOOSTS, reuse=reuse)
        else:
            compile_arrays(self.target, self.target.parent / "arrays", FIELD_BOOSTS, reuse=reuse)

    def cancel(self) -> None:
        try:
            if self.writer is not None:
                self.writer.cancel()
        finally:
            self.ix.close()
