"""The engine protocol: what kb asks of a search engine, in engine-neutral terms.

- the request and response shapes (`SearchRequest`, `Hit`, `SearchResponse`) and a request's filters;
- a `SnapshotWriter` writes one new snapshot of the index: upsert / delete, then `commit` publishes
  it (from then on it never changes and can be opened), or `cancel` drops it;
- a `Reader` opens one published snapshot and executes a query plan (kb/search/query.py) with the
  request's filters, facets (kb.fields.FACETS) and page window;
- an `Engine` makes both. The engine kb runs on is chosen in kb/search/backend.py; the Whoosh adapter
  is kb/search/whoosh/. Nothing here imports an engine.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

from .query import Filter

if TYPE_CHECKING:
    from ..analysis import Analysis
    from ..documents import Document
    from ..fields import PreparedWords
    from .query import QueryPlan

MAX_QUERY_CHARS = 500
SORTS = ("relevance", "year")


@dataclass
class SearchRequest:
    text: str
    sectors: list[str] = field(default_factory=list)       # canonical names, any of them
    provinces: list[str] = field(default_factory=list)     # cases in any of these (江苏 …)
    types: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)          # all of them
    sources: list[str] = field(default_factory=list)
    source_kinds: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)       # source.origin, any of them
    kinds: list[str] = field(default_factory=list)         # case kind, any of them
    years: list[int] = field(default_factory=list)
    page: int = 1
    per_page: int = 10
    sort: str = "relevance"
    highlight: bool = True
    correct: bool = True            # typo/homophone correction (False: search the words as typed)

    def filters(self) -> list[Filter]:
        """What the request restricts to, in index field names: each list is any-of, and each tag
        must hold on its own."""
        out = [Filter(name, tuple(values)) for name, values in (
            ("sector", self.sectors), ("province", self.provinces), ("type", self.types),
            ("category", self.categories), ("source", self.sources), ("source_kind", self.source_kinds),
            ("origin", self.origins), ("kind", self.kinds)) if values]
        out += [Filter("tag", (tag,)) for tag in self.tags]
        if self.years:
            out.append(Filter("year", tuple(int(y) for y in self.years)))
        return out


@dataclass
class Hit:
    id: str
    type: str
    title: str
    sectors: list[str]
    summary: str
    snippet: str
    score: float
    category: str | None = None
    year: int | None = None
    province: str | None = None                            # cases: from region
    tags: list[str] = field(default_factory=list)
    origin: str | None = None                              # source.origin (官方目录 … 厂商资料)
    confidence: str | None = None                          # source.confidence (高 / 中 / 低)
    kind: str | None = None                                # cases: 清洁生产审核 | 技改项目 | 园区/集群 | 政策示范
    audit: str | None = None                               # audit cases: 强制性 | 自愿性

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResponse:
    query: str
    total: int
    page: int
    per_page: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]]
    words: list[str]
    synonyms: dict[str, list[str]]
    matched_all_words: bool
    # colloquial phrase → technical words also searched for (按“异味”也检索了：VOCs、恶臭)
    expansions: dict[str, list[str]] = field(default_factory=dict)
    # typo/homophone correction (kb/spelling.py): None, or what the query would say corrected
    # and whether these results are for it (applied) or it is only offered (您是不是要找：…)
    correction: Any = None


class Searcher(Protocol):
    """What the knowledge base searches with: a request in, a response out (kb/search/searching.py
    plans the text and corrects typos, then executes the plan on a Reader)."""

    def search(self, request: SearchRequest) -> SearchResponse: ...

    def close(self) -> None: ...


class Reader(Protocol):
    """One published snapshot, read-only."""

    def execute(self, plan: "QueryPlan", request: SearchRequest) -> SearchResponse:
        """The documents matching the plan and `request.filters()`, ranked (relevance, or year then
        relevance), the page `request.page` of `request.per_page`, counts of every facet in
        kb.fields.FACETS over all matches, snippets when `request.highlight`."""
        ...

    def matches(self, plan: "QueryPlan") -> bool:
        """Whether any live document matches every word group of the plan."""
        ...

    def close(self) -> None: ...


class SnapshotWriter(Protocol):
    """Writes one new snapshot: the base snapshot's documents (if any) with changes applied."""

    def upsert(self, doc: "Document") -> None: ...

    def delete(self, doc_id: str) -> None: ...

    def commit(self) -> None:
        """Publish: the snapshot is complete and never changes again."""
        ...

    def cancel(self) -> None: ...


class Engine(Protocol):
    def writer(self, target: Path, prepared: "PreparedWords", base: Path | None = None,
               procs: int = 1) -> SnapshotWriter:
        """A writer of a new snapshot at `target` (a folder of the generation, the engine's to fill),
        starting from the published snapshot at `base`; `prepared` gives each document's field values
        and words (kb/fields.py)."""
        ...

    def reader(self, snapshot: Path, analysis: "Analysis") -> Reader:
        """The published snapshot at `snapshot`, reading text with this analysis."""
        ...


def write_snapshot(writer: SnapshotWriter, changed: Iterable["Document"], removed: Iterable[str] = (),
                   on_document: Callable[["Document"], None] | None = None) -> None:
    """Delete, upsert, publish; nothing is published if anything fails."""
    try:
        for doc_id in removed:
            writer.delete(doc_id)
        for doc in changed:
            writer.upsert(doc)
            if on_document:
                on_document(doc)
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
