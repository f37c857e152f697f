"""The engine kb runs on: the one module outside kb/search/whoosh/ that names it.

Another engine is another adapter folder implementing kb/search/engine.py's protocol, chosen here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from ..analysis import Analysis
from ..documents import Document
from ..fields import PreparedWords
from .engine import Engine, Searcher, write_snapshot


def engine() -> Engine:
    from .whoosh.engine import WhooshEngine

    return WhooshEngine()


def open_searcher(index_dir: Path, analysis: Analysis) -> Searcher:
    """A searcher over one published snapshot, reading queries with this analysis."""
    return engine().reader(index_dir, analysis)


def write_index(target: Path, changed: Iterable[Document], prepared: PreparedWords, removed: Iterable[str] = (),
                base: Path | None = None, on_document: Callable[[Document], None] | None = None,
                procs: int = 1) -> None:
    """Write and publish a new snapshot at target: base's documents with changes applied, or a fresh one."""
    write_snapshot(engine().writer(target, prepared, base=base, procs=procs), changed, removed, on_document)
