"""Running a planned query: filters, facets that combine, highlighting, pagination."""
from __future__ import annotations

import threading
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as Q
from whoosh import sorting
from whoosh.highlight import HtmlFormatter, Highlighter, PinpointFragmenter

from . import analysis
from .engine import MAX_QUERY_CHARS, Hit, SearchRequest, SearchResponse
from .query import plan_query
from .schema import FACETS


class WordFragmenter(PinpointFragmenter):
    """Pinpoint fragments from the stored character offsets (no re-segmentation per hit), keeping
    only the longest of overlapping matches so 清洁生产审核 is marked once, not as 清洁 + 生产审核."""

    def fragment_matches(self, text, tokens):
        kept = []
        for token in sorted(tokens, key=lambda t: (t.startchar, -(t.endchar - t.startchar))):
            if kept and token.startchar < kept[-1].endchar:
                continue
            kept.append(token)
        return super().fragment_matches(text, kept)


def _highlighter() -> Highlighter:
    return Highlighter(
        fragmenter=WordFragmenter(maxchars=160, surround=40, autotrim=True),
        formatter=HtmlFormatter(tagname="mark", between="…"),
    )


def _filters(req: SearchRequest) -> Q.Query | None:
    clauses: list[Q.Query] = []
    for field_name, values in (("sector", req.sectors), ("type", req.types),
                               ("category", req.categories), ("source", req.sources)):
        if values:
            clauses.append(Q.Or([Q.Term(field_name, v) for v in values]))
    for tag in req.tags:
        clauses.append(Q.Term("tag", tag))
    if req.years:
        clauses.append(Q.Or([Q.Term("year", int(y)) for y in req.years]))
    return Q.And(clauses) if clauses else None


class WhooshSearcher:
    """One index generation. Searchers are per thread and reused across requests."""

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)
        self.index = whoosh_index.open_dir(str(self.index_dir))
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()

    def _searcher(self):
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self.index.searcher()
            self._local.searcher = searcher
            with self._lock:
                self._all.append(searcher)
        return searcher

    def doc_count(self) -> int:
        return self._searcher().doc_count()

    def search(self, req: SearchRequest) -> SearchResponse:
        text = req.text[:MAX_QUERY_CHARS]
        plan = plan_query(analysis.current(), text)
        searcher = self._searcher()
        facets = {
            name: sorting.FieldFacet(name, allow_overlap=name in ("sector", "tag"), maptype=sorting.Count)
            for name in FACETS
        }
        sortedby = [sorting.FieldFacet("year", reverse=True), sorting.ScoreFacet()] if req.sort == "year" else None
        limit = req.page * req.per_page
        common = dict(filter=_filters(req), limit=limit, groupedby=facets, terms=True, sortedby=sortedby)

        matched_all = True
        if not plan.groups:
            results = None
        else:
            results = searcher.search(plan.conjunction(), **common)
            if results.scored_length() == 0 and len(plan.groups) > 1:
                matched_all = False
                results = searcher.search(plan.disjunction(), **common)

        hits: list[Hit] = []
        facet_counts: dict[str, dict[str, int]] = {name: {} for name in FACETS}
        total = 0
        if results is not None:
            total = len(results)
            for name in FACETS:
                counts = results.groups(name)
                facet_counts[name] = {
                    str(k): v for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))) if k not in (None, "")
                }
            if req.highlight:
                results.highlighter = _highlighter()
            start = (req.page - 1) * req.per_page
            for hit in results[start:limit]:
                snippet = ""
                if req.highlight:
                    snippet = hit.highlights("body", top=2) or hit.highlights("summary", top=1)
                hits.append(
                    Hit(
                        id=hit["id"],
                        type=hit["type"],
                        title=hit["title"],
                        sectors=[s for s in hit.get("sector", "").split(",") if s],
                        summary=hit.get("summary", ""),
                        snippet=snippet or _escape(hit.get("summary", ""))[:160],
                        score=_score(hit),
                        category=hit.get("category") or None,
                        year=hit.get("year"),
                        tags=[t for t in hit.get("tag", "").split(",") if t],
                    )
                )
        return SearchResponse(
            query=req.text,
            total=total,
            page=req.page,
            per_page=req.per_page,
            hits=hits,
            facets=facet_counts,
            words=plan.words,
            synonyms=plan.synonyms,
            matched_all_words=matched_all,
        )

    def close(self) -> None:
        with self._lock:
            for searcher in self._all:
                try:
                    searcher.close()
                except Exception:
                    pass
            self._all.clear()
        self.index.close()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _score(hit) -> float:
    # When sorted by a facet Whoosh reports the sort key as the score; the relevance is its last part.
    score = hit.score
    if isinstance(score, tuple):
        score = next((v for v in reversed(score) if isinstance(v, (int, float))), 0.0)
    return round(abs(float(score or 0.0)), 4)
