"""The Whoosh engine behind the protocol of kb/search/engine.py."""
from __future__ import annotations

from pathlib import Path

from ...analysis import Analysis
from ...fields import PreparedWords
from .searcher import WhooshSearcher
from .writer import WhooshSnapshotWriter


class WhooshEngine:
    """Snapshots are Whoosh index folders (segments hard-linked from the previous generation) with
    their compiled term arrays beside them; readers are pooled Whoosh searchers over those arrays."""

    name = "whoosh"

    def writer(self, target: Path, prepared: PreparedWords, base: Path | None = None,
               procs: int = 1) -> WhooshSnapshotWriter:
        return WhooshSnapshotWriter(target, prepared, base=base, procs=procs)

    def reader(self, snapshot: Path, analysis: Analysis) -> WhooshSearcher:
        return WhooshSearcher(snapshot, analysis)
