"""The small interface the rest of kb uses to search; the only module that names the engine.

Replacing Whoosh means writing another `open_searcher` / `write_index` pair and changing this file.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..analysis import Analysis

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
    # typo/homophone correction (kb/search/spelling.py): None, or what the query would say corrected
    # and whether these results are for it (applied) or it is only offered (您是不是要找：…)
    correction: Any = None


class Searcher(Protocol):
    def search(self, request: SearchRequest) -> SearchResponse: ...

    def close(self) -> None: ...


def open_searcher(index_dir: Path, analysis: "Analysis") -> Searcher:
    """A searcher over one index generation, reading queries with this analysis."""
    from .whoosh.searcher import WhooshSearcher

    return WhooshSearcher(index_dir, analysis)


def write_index(target: Path, *args, **kwargs) -> None:
    """Write the Whoosh index at target, then its compiled term arrays beside it (target/../arrays)."""
    from .whoosh.arrays import compile_arrays
    from .whoosh.schema import FIELD_BOOSTS
    from .whoosh.writer import write_index as whoosh_write_index

    whoosh_write_index(target, *args, **kwargs)
    base = kwargs.get("base")
    compile_arrays(target, Path(target).parent / "arrays", FIELD_BOOSTS,
                   reuse=Path(base).parent / "arrays" if base is not None else None)
