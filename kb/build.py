"""`kb build`: content → store, index and model, built beside what is live and swapped in at the end.

Every build writes a new generation folder (index/gen-*/) and only then points index/CURRENT at it
with an atomic rename, so a failed or killed build leaves the serving generation untouched. Unchanged
documents are carried over by hard links; only files whose content hash changed are re-indexed.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from .config import Settings
from .documents import Document, Problem
from .loader import load_content
from .files import atomic_write, file_lock
from .instance_secret import ensure_secret_key
from .analysis import Analysis, refreshed
from .recommend.counts import TermCounts
from .search.backend import write_index
from .store import Store
from .workers import workers_die_with_parent

SCHEMA_VERSION = "5"   # 2: no stored character offsets; compiled term arrays per generation; 3: province;
# 4: source origin / confidence and case kind; 5: per-segment stored-field files, memory-mapped recommender matrices
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


class GenerationPointer:
    """`index/CURRENT`: the name of the generation that serves. A build publishes a generation by
    replacing the pointer atomically; readers (every worker process, on every request) follow it.

    This is the whole hand-over between the one writer of a node and its readers, so anything that
    brings a local index up to date (a file watcher, an editor's write, a note from another node) ends in
    `publish`, and any reader only needs `current`."""

    def __init__(self, index_root: Path):
        self.index_root = index_root
        self.path = index_root / "CURRENT"

    def current(self) -> Path | None:
        """The serving generation's folder (None before the first build)."""
        try:
            name = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        path = self.index_root / name
        return path if name and path.is_dir() else None

    def publish(self, generation: Path) -> None:
        """Point readers at a finished generation (its meta.json written), in one atomic rename."""
        atomic_write(self.path, generation.name.encode("utf-8"))


def current_generation(settings: Settings) -> Path | None:
    return GenerationPointer(settings.index_root).current()


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


@dataclass
class BuildPlan:
    """What one build will do, decided from the live generation's meta.json under the build lock."""
    live: Path | None
    fingerprint: str
    incremental: bool
    documents: dict[str, Document]
    changed: list[Document]
    removed: list[str]
    procs: int

    @property
    def changed_ids(self) -> set[str]:
        return {d.id for d in self.changed}


def build(
    settings: Settings,
    progress: bool = False,
    full: bool = False,
    documents: dict[str, Document] | None = None,
    procs: int = 1,
    on_document: Callable[[Document], None] | None = None,
    lenient: bool = False,
    checks: Callable[[dict[str, Document]], list[Problem]] | None = None,
    analysis: Analysis | None = None,
    stamp: dict | None = None,
    term_counts: TermCounts | None = None,
) -> BuildReport:
    """Build; with lenient=True (the file watcher, web publishing) a file with problems does not stop
    the build: its last good version stays in the index and the problems are returned. checks: the
    whole-content checks to run (a running knowledge base passes its CrossChecks, which remember what
    they found for unchanged files). `analysis`: the caller's (a knowledge base's, its jieba dictionary
    loaded), used while the glossary and the sectors it was made from are unchanged. `stamp`: facts
    about what was built (shared mode: the database revision pulled), kept in the generation's meta.json so
    they change in the same rename that makes the generation serve. `term_counts`: the recommender's
    term counts the caller keeps between its builds (a knowledge base's), else counted for this build."""
    with collection_paused():
        return _build(settings, progress, full, documents, procs, on_document, lenient, checks, analysis, stamp,
                      term_counts)


@contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one build. A build makes tens of thousands of short-lived
    containers (documents' fields, the recommender's entry rows) in a process a running server has filled
    with millions of long-lived ones (the analysis's and the loader's caches, the searchers' vocabularies),
    and each collection they set off walks that whole heap: about 0.25 s of a 1.4 s edit at 20k entries.
    Reference counting still frees everything as usual; cycles left by the build go at the next collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(settings: Settings, progress: bool, full: bool, documents: dict[str, Document] | None, procs: int,
           on_document: Callable[[Document], None] | None, lenient: bool,
           checks: Callable[[dict[str, Document]], list[Problem]] | None, analysis: Analysis | None,
           stamp: dict | None, term_counts: TermCounts | None) -> BuildReport:
    started = time.perf_counter()
    ensure_secret_key(settings.ensure().home)
    documents, problems = load_documents(settings, documents, lenient, checks)
    with build_lock(settings):
        analysis = refreshed(analysis, settings.cache_dir)
        pointer = GenerationPointer(settings.index_root)
        live = pointer.current()
        _remove_unfinished_generations(settings, live)
        workers_die_with_parent()
        plan = plan_build(live, documents, f"{SCHEMA_VERSION}:{analysis.fingerprint}", full, procs)
        store = Store.for_settings(settings)
        try:
            if plan.incremental and not plan.changed and not plan.removed:
                store.sync(documents.values())
                _restamp(live, stamp)
                return BuildReport(live.name, len(documents), seconds=time.perf_counter() - started,
                                   problems=problems)
            generation = settings.index_root / _generation_name()
            try:
                write_generation(generation, plan, analysis, progress, on_document, stamp,
                                 term_counts if term_counts is not None else TermCounts())
                store.sync(documents.values())
            except BaseException:
                shutil.rmtree(generation, ignore_errors=True)
                raise
            pointer.publish(generation)
            _remove_old_generations(settings, keep={generation.name, live.name if live else ""})
            return BuildReport(generation.name, len(documents), [d.id for d in plan.changed], plan.removed,
                               not plan.incremental, time.perf_counter() - started, problems)
        finally:
            store.dispose()


def load_documents(settings: Settings, documents: dict[str, Document] | None, lenient: bool,
                   checks: Callable[[dict[str, Document]], list[Problem]] | None = None,
                   ) -> tuple[dict[str, Document], list[Problem]]:
    """The documents to build (read from the content folders unless given) and, when lenient, the
    problems of files that keep their last good version."""
    if documents is not None:
        return documents, []
    content = load_content(settings.content_dirs, checks=checks)
    if not content.problems:
        return content.documents, []
    if not lenient:
        raise BuildError(content.problems)
    return _keep_last_good(settings, content.documents, content.problems), content.problems


def plan_build(live: Path | None, documents: dict[str, Document], fingerprint: str, full: bool,
               procs: int) -> BuildPlan:
    """Incremental when the live generation was built with the same schema and dictionaries: then only
    documents whose content hash changed are re-indexed."""
    meta = read_meta(live)
    incremental = bool(live) and not full and meta.get("fingerprint") == fingerprint
    old_hashes: dict[str, str] = meta.get("hashes", {}) if incremental else {}
    changed = [d for d in documents.values() if old_hashes.get(d.id) != d.content_hash]
    removed = sorted(set(old_hashes) - set(documents))
    if procs <= 0:      # auto: processes pay off only for large full builds
        procs = min(os.cpu_count() or 1, 4) if len(changed) >= AUTO_PROCS_MIN_DOCUMENTS else 1
    return BuildPlan(live, fingerprint, incremental, documents, changed, removed, procs)


def _generation_name() -> str:
    return f"gen-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 100000:05d}"


def write_generation(generation: Path, plan: BuildPlan, analysis: Analysis, progress: bool = False,
                     on_document: Callable[[Document], None] | None = None, stamp: dict | None = None,
                     term_counts: TermCounts | None = None) -> None:
    """The new generation's index, recommender model and meta.json (written last: a folder without it is
    unfinished). Each field text is segmented once for both the index and the model."""
    from .prepare import prepared

    term_counts = term_counts if term_counts is not None else TermCounts()

    # bars on a terminal; in a log (make serve > file, CI) plain lines instead of \r redraws
    bars = progress and sys.stderr.isatty()
    if progress and not bars and plan.changed:
        print(f"索引 {len(plan.changed)} 篇……", file=sys.stderr, flush=True)
    with prepared(analysis, _to_segment(plan, analysis, term_counts), plan.procs, bars) as words:
        bar = tqdm(total=len(plan.changed), desc="索引", unit="篇", disable=not bars, leave=False)

        def tick(doc: Document) -> None:
            bar.update(1)
            if on_document:
                on_document(doc)

        write_index(generation / "index", plan.changed, words, plan.removed,
                    base=(plan.live / "index") if plan.incremental else None, on_document=tick, procs=plan.procs)
        bar.close()
        _write_model(generation / "model", plan, words, term_counts)
    if progress and not bars and plan.changed:
        print(f"索引完成：{len(plan.changed)} 篇", file=sys.stderr, flush=True)
    atomic_write(
        generation / "meta.json",
        json.dumps({**(stamp or {}), "fingerprint": plan.fingerprint, "built_at": time.time(),
                    "hashes": {d.id: d.content_hash for d in plan.documents.values()}},
                   ensure_ascii=False).encode("utf-8"),
    )


def _restamp(live: Path, stamp: dict | None) -> None:
    """An unchanged build that still has new facts to record (a pull that changed no document): the live
    generation's meta.json is rewritten in place, atomically."""
    meta = read_meta(live)
    if stamp and any(meta.get(k) != v for k, v in stamp.items()):
        atomic_write(live / "meta.json", json.dumps({**meta, **stamp}, ensure_ascii=False).encode("utf-8"))


def _to_segment(plan: BuildPlan, analysis: Analysis, counts: TermCounts) -> list[Document]:
    """Documents whose words are needed: the changed ones (index), and technologies and cases the
    recommender has no cached counts for (a new process reads the live generation's counts back first)."""
    from .recommend.model import MODEL_TYPES

    changed_ids = plan.changed_ids

    def uncounted() -> list[Document]:
        return [d for d in plan.documents.values()
                if d.id not in changed_ids and d.type in MODEL_TYPES and not counts.has(d, analysis)]

    missing = uncounted()
    if plan.incremental and missing:
        counts.warm(plan.live / "model")
        missing = uncounted()
    return list(plan.changed) + missing


def _write_model(folder: Path, plan: BuildPlan, words, counts: TermCounts) -> None:
    from .recommend.model import build_model, last_model_of

    if counts.last_model is None and plan.incremental:      # a new process: refit from the live generation's model
        counts.last_model = last_model_of(plan.live / "model", read_meta(plan.live).get("hashes", {}),
                                          words.analysis.fingerprint, counts)
    build_model(list(plan.documents.values()), folder, words, counts)


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
