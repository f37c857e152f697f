"""Documents → index segments, full or incremental, and the compiled arrays beside them."""
from __future__ import annotations

from pathlib import Path

from ...documents import Document
from ...files import link_or_copy
from ...fields import FIELD_BOOSTS, PreparedWords
from .arrays import compile_arrays
from .schema import create_index, open_index


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
    beside it (target/../arrays, reusing the base's per-segment arrays)."""

    def __init__(self, target: Path, prepared: PreparedWords, base: Path | None = None, procs: int = 1):
        self.target, self.base, self.prepared = Path(target), base, prepared
        if base is not None:
            _clone(base, self.target)
            self.ix = open_index(self.target, prepared.analysis, prepared.prepared)
            self.writer = self.ix.writer()
            self._add = self.writer.update_document
        else:
            self.target.mkdir(parents=True)
            self.ix = create_index(self.target, prepared.analysis, prepared.prepared)
            self.writer = self.ix.writer(procs=procs, limitmb=256, multisegment=procs > 1) \
                if procs > 1 else self.ix.writer()
            self._add = self.writer.add_document

    def upsert(self, doc: Document) -> None:
        self._add(**self.prepared.fields(doc))

    def delete(self, doc_id: str) -> None:
        self.writer.delete_by_term("id", doc_id)

    def commit(self) -> None:
        try:
            self.writer.commit()
        finally:
            self.ix.close()
        compile_arrays(self.target, self.target.parent / "arrays", FIELD_BOOSTS,
                       reuse=Path(self.base).parent / "arrays" if self.base is not None else None)

    def cancel(self) -> None:
        try:
            self.writer.cancel()
        finally:
            self.ix.close()
