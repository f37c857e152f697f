"""Documents → index segments, full or incremental."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterable

from ...documents import Document
from ...fields import PreparedWords
from .schema import create_index, open_index


def _clone(base: Path, target: Path) -> None:
    """Hard-link the live segments into the new generation: Whoosh never rewrites a segment file,
    it writes new ones, so the live index cannot be touched by the new generation's writer."""
    target.mkdir(parents=True)
    for entry in base.iterdir():
        if entry.is_file() and not entry.name.endswith(".lock"):
            try:
                os.link(entry, target / entry.name)
            except OSError:
                shutil.copy2(entry, target / entry.name)


def write_index(
    target: Path,
    changed: Iterable[Document],
    prepared: PreparedWords,
    removed: Iterable[str] = (),
    base: Path | None = None,
    on_document: Callable[[Document], None] | None = None,
    procs: int = 1,
) -> None:
    """Write a new index at target: a copy of base with changes applied, or a fresh one. The
    documents' field values and words come from the build's `prepared` (computed once)."""
    if base is not None:
        _clone(base, target)
        ix = open_index(target, prepared.analysis, prepared.prepared)
        writer = ix.writer()
        for doc_id in removed:
            writer.delete_by_term("id", doc_id)
        add = writer.update_document
    else:
        target.mkdir(parents=True)
        ix = create_index(target, prepared.analysis, prepared.prepared)
        writer = ix.writer(procs=procs, limitmb=256, multisegment=procs > 1) if procs > 1 else ix.writer()
        add = writer.add_document
    try:
        for doc in changed:
            add(**prepared.fields(doc))
            if on_document:
                on_document(doc)
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    finally:
        ix.close()
