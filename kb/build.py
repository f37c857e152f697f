"""`kb build`: content → store, index and model, built beside what is live and swapped in at the end.

Every build writes a new generation folder (index/gen-*/) and only then points index/CURRENT at it
with an atomic rename, so a failed or killed build leaves the serving generation untouched. Unchanged
documents are carried over by hard links; only files whose content hash changed are re-indexed.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from .config import Settings
from .documents import Document, Problem
from .loader import load_content
from .files import atomic_write, file_lock
from .analysis import Analysis, refreshed
from .search.backend import write_index
from .store import Store
from .workers import workers_die_with_parent

SCHEMA_VERSION = "4"   # 2: no stored character offsets; compiled term arrays per generation; 3: province;
# 4: source origin / confidence and case kind
KEEP_GENERATIONS = 2
AUTO_PROCS_MIN_DOCUMENTS = 2000


class BuildError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} 个内容问题，未构建：\n" + "\n".join(map(str, problems)))


@dataclass
class BuildReport:
    generation: str | None
    documents: int
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    full: bool = False
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)   # lenient builds: files kept at their last good version


def current_generation(settings: Settings) -> Path | None:
    pointer = settings.index_root / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = settings.index_root / name
    return path if name and path.is_dir() else None


def read_meta(generation: Path | None) -> dict:
    if generation is None:
        return {}
    try:
        return json.loads((generation / "meta.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def build_lock(settings: Settings):
    """One build at a time per instance folder (the file watcher and a manual build may overlap)."""
    settings.ensure()
    return file_lock(settings.home / "build.lock")


def build(
    settings: Settings,
    progress: bool = False,
    full: bool = False,
    documents: dict[str, Document] | None = None,
    procs: int = 1,
    on_document: Callable[[Document], None] | None = None,
    lenient: bool = False,
    analysis: Analysis | None = None,
) -> BuildReport:
    """Build; with lenient=True (the file watcher, web publishing) a file with problems does not stop
    the build: its last good version stays in the index and the problems are returned. `analysis`:
    the caller's (a knowledge base's, its jieba dictionary loaded), used while the glossary and the
    sectors it was made from are unchanged."""
    started = time.perf_counter()
    problems: list[Problem] = []
    if documents is None:
        content = load_content(settings.content_dirs)
        documents = content.documents
        if content.problems:
            if not lenient:
                raise BuildError(content.problems)
            problems = content.problems
            documents = _keep_last_good(settings, documents, problems)
    with build_lock(settings):
        analysis = refreshed(analysis, settings.cache_dir)
        live = current_generation(settings)
        _remove_unfinished_generations(settings, live)
        workers_die_with_parent()
        meta = read_meta(live)
        fingerprint = f"{SCHEMA_VERSION}:{analysis.fingerprint}"
        incremental = bool(live) and not full and meta.get("fingerprint") == fingerprint
        old_hashes: dict[str, str] = meta.get("hashes", {}) if incremental else {}
        changed = [d for d in documents.values() if old_hashes.get(d.id) != d.content_hash]
        changed_ids = {d.id for d in changed}
        removed = sorted(set(old_hashes) - set(documents))
        if procs <= 0:      # auto: processes pay off only for large full builds
            procs = min(os.cpu_count() or 1, 4) if len(changed) >= AUTO_PROCS_MIN_DOCUMENTS else 1
        store = Store.for_settings(settings)
        try:
            if incremental and not changed and not removed:
                store.sync(documents.values())
                return BuildReport(live.name, len(documents), seconds=time.perf_counter() - started,
                                   problems=problems)

            name = f"gen-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 100000:05d}"
            generation = settings.index_root / name
            try:
                from .prepare import prepared
                from .recommend.model import MODEL_TYPES, build_model, is_cached, warm_counts

                # segment each field text once for both the index and the recommender model
                def uncounted() -> list[Document]:
                    return [d for d in documents.values()
                            if d.id not in changed_ids and d.type in MODEL_TYPES and not is_cached(d, analysis)]

                # a new process (a running server has them all): read the live generation's counts back
                if incremental and uncounted():
                    warm_counts(live / "model")
                # (the model reads technologies and cases only: other entries need words only when changed)
                unsegmented = [d for d in documents.values() if d.id in changed_ids] + uncounted()
                # bars on a terminal; in a log (make serve > file, CI) plain lines instead of \r redraws
                bars = progress and sys.stderr.isatty()
                if progress and not bars and changed:
                    print(f"索引 {len(changed)} 篇……", file=sys.stderr, flush=True)
                with prepared(analysis, unsegmented, procs, bars) as words:
                    bar = tqdm(total=len(changed), desc="索引", unit="篇", disable=not bars, leave=False)

                    def tick(doc: Document) -> None:
                        bar.update(1)
                        if on_document:
                            on_document(doc)

                    write_index(generation / "index", changed, words, removed,
                                base=(live / "index") if incremental else None, on_document=tick, procs=procs)
                    bar.close()
                    build_model(list(documents.values()), generation / "model", words)
                if progress and not bars and changed:
                    print(f"索引完成：{len(changed)} 篇", file=sys.stderr, flush=True)
                atomic_write(
                    generation / "meta.json",
                    json.dumps({"fingerprint": fingerprint, "built_at": time.time(),
                                "hashes": {d.id: d.content_hash for d in documents.values()}},
                               ensure_ascii=False).encode("utf-8"),
                )
                store.sync(documents.values())
            except BaseException:
                shutil.rmtree(generation, ignore_errors=True)
                raise
            atomic_write(settings.index_root / "CURRENT", name.encode("utf-8"))
            _remove_old_generations(settings, keep={name, live.name if live else ""})
            return BuildReport(name, len(documents), [d.id for d in changed], removed, not incremental,
                               time.perf_counter() - started, problems)
        finally:
            store.dispose()


def _keep_last_good(settings: Settings, documents: dict[str, Document], problems: list[Problem]) -> dict[str, Document]:
    bad = {str(Path(p.path).resolve()) for p in problems}
    documents = {k: d for k, d in documents.items() if str(Path(d.path).resolve()) not in bad}
    store = Store.for_settings(settings)
    try:
        for row in store.all():
            if row.id not in documents and str(Path(row.path).resolve()) in bad:
                documents[row.id] = Document(row.id, row.type, row.title, list(row.sectors), dict(row.meta),
                                             row.body, row.path, row.content_hash)
    finally:
        store.dispose()
    return documents


def _remove_unfinished_generations(settings: Settings, live: Path | None) -> None:
    """Generations a killed build left half-written (no meta.json: it is written last). Called under the
    build lock, so no build is writing one now; a build that changes nothing must clean them too."""
    for path in settings.index_root.glob("gen-*"):
        if path.is_dir() and path != live and not (path / "meta.json").exists():
            shutil.rmtree(path, ignore_errors=True)


def _remove_old_generations(settings: Settings, keep: set[str]) -> None:
    generations = sorted((p for p in settings.index_root.glob("gen-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    stale = [p for p in generations if p.name not in keep][: max(0, len(generations) - KEEP_GENERATIONS)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
