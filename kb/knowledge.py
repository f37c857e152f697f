"""The built knowledge base as one object: store, the live index generation and the recommender.

The web app keeps one per process; it re-opens the searcher only when a build has swapped in a new
generation (a stat of index/CURRENT per call), so no request reloads jieba or the index.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .build import BuildReport, build, current_generation
from .checks import CrossChecks
from .config import Settings
from .analysis import load_analysis, refreshed
from .stats import OPTIONAL_FIELDS, ContentStats, content_stats
from .recommend.counts import TermCounts
from .search.backend import open_searcher
from .search.engine import SearchRequest, SearchResponse, Searcher
from .store import Store
from .taxonomy import Taxonomy, load_taxonomy


class NotBuilt(RuntimeError):
    pass


@dataclass
class ListedEntry:
    """What the overview and the content statistics read of one entry: its front matter narrowed to the keys
    they use (optional fields only as present or not), except a spec's, whose indicators say whether it can
    assess. At 20k entries the full rows took about 150 MB while the home page's statistics were made."""
    id: str
    type: str
    title: str
    sectors: list[str]
    year: int | None
    meta: dict

    KEYS = ("source", "kind", "audit", "region", "technologies", "related_technologies")

    @classmethod
    def of(cls, row) -> "ListedEntry":
        meta = row.meta
        if row.type != "spec":
            kept = {k: meta[k] for k in cls.KEYS if k in meta}
            kept.update((f, True) for f in OPTIONAL_FIELDS.get(row.type, ()) if meta.get(f))
            meta = kept
        return cls(row.id, row.type, row.title, list(row.sectors), row.year, meta)


@dataclass
class Overview:
    generation: Path
    counts: dict[str, dict[str, int]]               # sector → type → count
    totals: dict[str, int]                          # type → count
    cases_by_technology: dict[str, list[dict]]      # technology id → [{id, title, related}]
    titles: dict[str, str]
    recent_cases: list[dict]
    stats: ContentStats

    @classmethod
    def from_rows(cls, generation: Path, rows, taxonomy: Taxonomy) -> "Overview":
        stats = content_stats(rows, taxonomy.names, taxonomy.key_sectors)
        totals = {"technology": 0, "case": 0, "spec": 0}
        links: dict[str, list[dict]] = {}
        titles = {}
        cases = []
        for row in rows:
            titles[row.id] = row.title
            totals[row.type] += 1
            if row.type == "case":
                cases.append({"id": row.id, "title": row.title, "year": row.year, "sectors": row.sectors,
                              "region": row.meta.get("region", ""), "kind": row.meta.get("kind"),
                              "audit": row.meta.get("audit")})
                for tech_id in row.meta.get("technologies", []):
                    links.setdefault(tech_id, []).append({"id": row.id, "title": row.title, "related": False})
                for tech_id in row.meta.get("related_technologies", []):
                    links.setdefault(tech_id, []).append({"id": row.id, "title": row.title, "related": True})
        cases.sort(key=lambda c: (-(c["year"] or 0), c["id"]))
        return cls(generation, stats.counts, totals, links, titles, cases, stats)


class KnowledgeBase:
    def __init__(self, settings: Settings):
        self.settings = settings.ensure()
        self._taxonomy: Taxonomy = load_taxonomy()
        # one analysis per knowledge base (the jieba dictionary loads once), handed to the build,
        # the searcher and the recommender
        self.analysis = load_analysis(settings.cache_dir)
        self.store = Store.for_settings(settings)
        # shared mode: the Markdown this node indexes is pulled from the shared database before each build
        self.mirror = None
        if settings.shared:
            from .shared.mirror import Mirror

            self.mirror = Mirror(settings)
        self._lock = threading.Lock()
        self._generation: Path | None = None
        self._searcher: Searcher | None = None
        self._recommender = None
        self.content_checks = CrossChecks()     # remembered between this knowledge base's builds
        self.term_counts = TermCounts()         # the recommender's counts, likewise (re-counts only edits)

    # -- generations -------------------------------------------------------------------------
    def is_built(self) -> bool:
        return current_generation(self.settings) is not None

    def build(self, **kwargs) -> BuildReport:
        pulled = self.mirror.pull() if self.mirror is not None and kwargs.get("documents") is None else None
        kwargs.setdefault("checks", self.content_checks)
        kwargs.setdefault("term_counts", self.term_counts)
        if pulled is not None:
            kwargs["stamp"] = {"shared_revision": pulled}
        report = build(self.settings, analysis=self.analysis, **kwargs)
        self.refresh()
        return report

    def ensure_built(self, progress: bool = False) -> BuildReport | None:
        """Build when there is no index, or when this instance's rows are missing from the database (a new
        database, or rows of an upgraded shared table that another instance took over): an unchanged
        build then only refills the store. In shared mode a node always catches up with the database first."""
        if self.mirror is None and self.is_built() and self.store.count():
            return None
        return self.build(progress=progress)

    def refresh(self) -> Path:
        generation = current_generation(self.settings)
        if generation is None:
            raise NotBuilt("知识库尚未构建：请先运行 kb build")
        if generation != self._generation:
            with self._lock:
                if generation != self._generation:
                    # the dictionaries the new generation was built with (a build that changed
                    # sectors.yaml or the glossary rebuilt in full): queries must be read the same way
                    self._taxonomy = load_taxonomy()
                    self.analysis = refreshed(self.analysis, self.settings.cache_dir)
                    # Requests still using the old searcher keep their open files (unlinked files stay
                    # readable); closing it here would break them, so garbage collection closes it. The new
                    # one is opened by the first search: a process that only builds (the writer process)
                    # never loads the index's vocabularies (~35 MB at 20k entries).
                    self._searcher = None
                    self._recommender = None
                    self._generation = generation
        return generation

    @property
    def generation(self) -> Path:
        return self.refresh()

    @property
    def taxonomy(self) -> Taxonomy:
        """The sectors the live generation was built with (re-read when a new generation is swapped in)."""
        try:
            self.refresh()
        except NotBuilt:
            pass
        return self._taxonomy

    # -- queries -----------------------------------------------------------------------------
    def searcher(self) -> Searcher:
        """The live generation's searcher (the engine behind `search`; tools and the engine tests compare its
        paths)."""
        generation = self.refresh()
        searcher = self._searcher
        if searcher is None:
            with self._lock:
                if self._searcher is None and generation == self._generation:
                    self._searcher = open_searcher(generation / "index", self.analysis)
                searcher = self._searcher
            if searcher is None:            # a newer generation was swapped in meanwhile
                return self.searcher()
        return searcher

    def search(self, request: SearchRequest) -> SearchResponse:
        return self.searcher().search(request)

    def recommender(self):
        generation = self.refresh()
        if self._recommender is None:
            from .recommend.recommender import Recommender

            with self._lock:
                if self._recommender is None:
                    self._recommender = Recommender(generation / "model", self)
        return self._recommender

    def document(self, doc_id: str) -> dict[str, Any] | None:
        row = self.store.get(doc_id)
        if row is None:
            return None
        data = row.as_dict()
        data["body_markdown"] = row.body
        return data

    def overview(self) -> "Overview":
        """Counts and case↔technology links, computed once per generation."""
        generation = self.refresh()
        cached = getattr(self, "_overview", None)
        if cached is None or cached.generation != generation:
            cached = Overview.from_rows(generation, [ListedEntry.of(r) for r in self.store.each()], self.taxonomy)
            self._overview = cached
        return cached

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self.store.dispose()
        if self.mirror is not None:
            self.mirror.close()
