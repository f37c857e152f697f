"""Running a planned query: filters, facets that combine, highlighting, pagination."""
from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from whoosh import query as Q
from whoosh import sorting
from whoosh.searching import Hit as WhooshHit
from whoosh.highlight import HtmlFormatter, Highlighter, PinpointFragmenter, Token, top_fragments

from ... import analysis
from .arrays import IndexArrays
from ..coverage import combine, group_weights, listed
from ..engine import Hit, SearchRequest, SearchResponse
from .evaluate import Unsupported, evaluate, filter_mask, matched_terms
from ..query import QueryPlan
from ..searching import search_planned
from .schema import FACETS, open_index
from .translate import WhooshPlan, whoosh_filter, whoosh_plan

log = logging.getLogger("kb.search")


SENTENCE_ENDS = "。！？；!?;\n"


class WordFragmenter(PinpointFragmenter):
    """Pinpoint fragments from known character offsets (no re-segmentation per hit), keeping only
    the longest of overlapping matches so 清洁生产审核 is marked once, not as 清洁 + 生产审核, and
    snapped to sentence boundaries so a snippet does not start or stop in the middle of a clause."""

    reach = 30      # how far beyond the window a fragment may grow to reach a sentence boundary

    def fragment_matches(self, text, tokens):
        kept = []
        for token in sorted(tokens, key=lambda t: (t.startchar, -(t.endchar - t.startchar))):
            if kept and token.startchar < kept[-1].endchar:
                continue
            kept.append(token)
        for fragment in super().fragment_matches(text, kept):
            self._snap(text, fragment)
            yield fragment

    def _snap(self, text: str, fragment) -> None:
        first, last = fragment.matches[0].startchar, fragment.matches[-1].endchar
        # start: just after the last sentence end before the first match, looking a little further
        # left than the window when there is none inside it
        lo = max(0, fragment.startchar - self.reach)
        cut = max(text.rfind(ch, lo, first) for ch in SENTENCE_ENDS)
        if cut >= 0:
            fragment.startchar = cut + 1
        elif lo == 0:
            fragment.startchar = 0
        # end: through the first sentence end after the last match
        hi = min(len(text), fragment.endchar + self.reach)
        ends = [i for i in (text.find(ch, last, hi) for ch in SENTENCE_ENDS) if i >= 0]
        if ends:
            fragment.endchar = min(ends) + 1
        elif hi == len(text):
            fragment.endchar = len(text)
        while fragment.startchar < first and text[fragment.startchar].isspace():
            fragment.startchar += 1


def _highlighter() -> Highlighter:
    return Highlighter(
        fragmenter=WordFragmenter(maxchars=160, surround=40, autotrim=True),
        formatter=HtmlFormatter(tagname="mark", between="…"),
    )


def _filters(req: SearchRequest) -> Q.Query | None:
    return whoosh_filter(req.filters())


class WhooshSearcher:
    """One index generation. Whoosh searchers are pooled: a request borrows an idle one and gives it back.

    A searcher is not thread-safe and costs memory in proportion to the index (its readers' caches), so
    one per thread would grow with the server's thread count; the pool only grows to the number of
    requests that read stored fields at the same moment (bounded by the server's CPU slots).
    """

    def __init__(self, index_dir: Path, analysis: "analysis.Analysis"):
        self.index_dir = Path(index_dir)
        self.analysis = analysis
        self.index = open_index(self.index_dir, analysis)
        self._idle: list = []
        self._all: list = []
        self._lock = threading.Lock()
        self._index_arrays: IndexArrays | None = None
        self._fallbacks: set[str] = set()       # reasons already logged, once each per generation

    @contextmanager
    def _searcher(self) -> Iterator:
        with self._lock:
            searcher = self._idle.pop() if self._idle else None
        if searcher is None:
            searcher = self.index.searcher()
            with self._lock:
                self._all.append(searcher)
        try:
            yield searcher
        finally:
            with self._lock:
                self._idle.append(searcher)

    def pooled_searchers(self) -> int:
        """How many Whoosh searchers this generation has opened (what the pool bounds)."""
        with self._lock:
            return len(self._all)

    def doc_count(self) -> int:
        with self._searcher() as searcher:
            return searcher.doc_count()

    def search(self, req: SearchRequest) -> SearchResponse:
        return search_planned(self, self.analysis, req)

    # -- the engine protocol's Reader (kb/search/engine.py) ------------------------------------------
    def execute(self, plan: QueryPlan, req: SearchRequest) -> SearchResponse:
        found = whoosh_plan(plan)
        try:
            return self._search_arrays(req, found)
        except Unsupported as exc:
            if str(exc) not in self._fallbacks:
                self._fallbacks.add(str(exc))
                log.warning("检索回退到 Whoosh 自己的收集器（慢）：向量化路径不支持查询节点 %s", exc)
            return self.search_whoosh(req, found)

    def matches(self, plan: QueryPlan) -> bool:
        found = whoosh_plan(plan)
        return bool(found.groups) and bool((evaluate(found.conjunction(), self._arrays()).mask & self._arrays().live).any())

    # -- the vectorised path: Whoosh's postings and scores, combined with numpy ---------------------
    def _arrays(self) -> IndexArrays:
        if self._index_arrays is None:
            with self._lock:
                if self._index_arrays is None:
                    self._index_arrays = IndexArrays(self.index.searcher(), compiled=self.index_dir.parent / "arrays")
        return self._index_arrays

    def _search_arrays(self, req: SearchRequest, plan: WhooshPlan) -> SearchResponse:
        arrays = self._arrays()
        filters = _filters(req)
        allowed = filter_mask(filters, arrays)
        matched_all = True
        query = plan.conjunction()
        mask = np.zeros(arrays.size, dtype=bool)
        scores = np.zeros(arrays.size, dtype=np.float64)
        browse = not plan.groups and filters is not None
        if browse:                      # filters only: every entry they allow, newest first
            mask = allowed.copy()
            scores = np.ones(arrays.size, dtype=np.float64)
        elif len(plan.groups) == 1:
            found = evaluate(query, arrays)
            mask, scores = found.mask & allowed, found.scores
        elif plan.groups:
            # every word group on its own, combined by coverage (a soft minimum-should-match)
            query = plan.disjunction()
            parts = [evaluate(group, arrays) for group in plan.groups]
            masks = [p.mask & arrays.live for p in parts]
            weights = group_weights(masks, int(arrays.live.sum()), plan.emphasis)
            found = combine(masks, [p.scores for p in parts], weights, plan.emphasis)
            mask, scores = listed(found, allowed, req.sort), found.scores
            matched_all = bool((found.complete & allowed).any())

        docnums = np.flatnonzero(mask)
        limit = req.page * req.per_page
        start = (req.page - 1) * req.per_page
        page = _rank(docnums, scores, arrays, "year" if browse else req.sort, limit)[start:limit]

        facet_counts = {name: _count(arrays, name, mask) for name in FACETS} if len(docnums) else {n: {} for n in FACETS}
        highlighter = _highlighter() if req.highlight and not browse else None
        hits: list[Hit] = []
        page = [int(d) for d in page]
        terms_of = matched_terms(query, arrays, page) if highlighter is not None else []
        with self._searcher() as searcher:
            stored_page = [searcher.stored_fields(docnum) for docnum in page]
        for k, (docnum, stored) in enumerate(zip(page, stored_page)):
            snippet = ""
            if highlighter is not None:
                terms = terms_of[k]
                snippet = (_marked(highlighter, stored, "body", terms, top=2)
                           or _marked(highlighter, stored, "summary", terms, top=1))
            hits.append(_hit(stored, snippet, float(scores[docnum])))
        return SearchResponse(query=req.text, total=int(len(docnums)), page=req.page, per_page=req.per_page,
                              hits=hits, facets=facet_counts, words=plan.words, synonyms=plan.synonyms,
                              matched_all_words=matched_all, expansions=plan.expansions)

    # -- Whoosh's own collectors: the reference the vectorised path is tested against -------------
    def search_whoosh(self, req: SearchRequest, plan: WhooshPlan | None = None) -> SearchResponse:
        """Whoosh's own collectors (with the same spelling correction when given the request alone)."""
        if plan is not None:
            with self._searcher() as searcher:
                return self._search_whoosh(searcher, req, plan)
        return search_planned(self.reference(), self.analysis, req)

    def reference(self) -> "WhooshReference":
        """This generation read by Whoosh's own collectors: the Reader the vectorised one is tested against."""
        return WhooshReference(self)

    def _search_whoosh(self, searcher, req: SearchRequest, plan: WhooshPlan) -> SearchResponse:
        facets = {
            name: sorting.FieldFacet(name, allow_overlap=name in ("sector", "tag"), maptype=sorting.Count)
            for name in FACETS
        }
        sortedby = [sorting.FieldFacet("year", reverse=True), sorting.ScoreFacet()] if req.sort == "year" else None
        limit = req.page * req.per_page
        common = dict(filter=_filters(req), limit=limit, groupedby=facets, terms=True, sortedby=sortedby)

        matched_all = True
        if not plan.groups:
            # filters only: every entry they allow, newest first (no filter: nothing to list)
            year_first = [sorting.FieldFacet("year", reverse=True), sorting.ScoreFacet()]
            results = searcher.search(Q.Every(), **{**common, "sortedby": year_first}) \
                if common["filter"] is not None else None
        elif len(plan.groups) == 1:
            results = searcher.search(plan.conjunction(), **common)
        else:
            return self._search_whoosh_coverage(searcher, req, plan, facets)

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
            highlight = req.highlight and bool(plan.groups)
            if highlight:
                results.highlighter = _highlighter()
            start = (req.page - 1) * req.per_page
            for hit in results[start:limit]:
                snippet = ""
                if highlight:
                    snippet = hit.highlights("body", top=2) or hit.highlights("summary", top=1)
                hits.append(_hit(hit.fields(), snippet, _score(hit)))
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
            expansions=plan.expansions,
        )

    def _search_whoosh_coverage(self, searcher, req: SearchRequest, plan: WhooshPlan, facets: dict) -> SearchResponse:
        """The reference for several word groups: each group scored by Whoosh's own collector, then
        the shared coverage rule; totals and facets from Whoosh over the any-group query."""
        size = searcher.doc_count_all()
        masks, scores = [], []
        for group in plan.groups:
            mask, score = np.zeros(size, dtype=bool), np.zeros(size, dtype=np.float64)
            for hit in searcher.search(group, limit=None):
                mask[hit.docnum], score[hit.docnum] = True, hit.score
            masks.append(mask)
            scores.append(score)
        found = combine(masks, scores, group_weights(masks, searcher.doc_count(), plan.emphasis), plan.emphasis)
        query = plan.disjunction()
        allowed = np.zeros(size, dtype=bool)
        allowed[list(searcher.search(query, filter=_filters(req), limit=None).docs())] = True
        shown = listed(found, allowed, req.sort)
        if req.sort == "year" and not np.array_equal(shown, found.mask & allowed):
            query = Q.And([query, Q.Or([Q.Term("id", searcher.stored_fields(int(d))["id"])
                                        for d in np.flatnonzero(shown)])])
        results = searcher.search(query, filter=_filters(req), limit=None, groupedby=facets, terms=True)
        docnums = np.array(sorted(results.docs()), dtype=np.int64)
        relevance = found.scores[docnums]
        if req.sort == "year":
            years = np.array([searcher.stored_fields(int(d)).get("year") or -1 for d in docnums], dtype=np.int64)
            order = np.lexsort((docnums, -relevance, -years))
        else:
            order = np.lexsort((docnums, -relevance))
        ranked = docnums[order]
        facet_counts = {
            name: {str(k): v for k, v in sorted(results.groups(name).items(), key=lambda kv: (-kv[1], str(kv[0])))
                   if k not in (None, "")}
            for name in FACETS
        }
        if req.highlight:
            results.highlighter = _highlighter()
        hits: list[Hit] = []
        start, limit = (req.page - 1) * req.per_page, req.page * req.per_page
        for pos, docnum in enumerate(ranked[start:limit], start=start):
            hit = WhooshHit(results, int(docnum), pos, float(found.scores[docnum]))
            snippet = (hit.highlights("body", top=2) or hit.highlights("summary", top=1)) if req.highlight else ""
            hits.append(_hit(hit.fields(), snippet, float(found.scores[docnum])))
        return SearchResponse(query=req.text, total=len(docnums), page=req.page, per_page=req.per_page, hits=hits,
                              facets=facet_counts, words=plan.words, synonyms=plan.synonyms,
                              matched_all_words=bool(found.complete[docnums].any()), expansions=plan.expansions)

    def close(self) -> None:
        with self._lock:
            for searcher in self._all:
                try:
                    searcher.close()
                except Exception:
                    pass
            self._all.clear()
            if self._index_arrays is not None:
                self._index_arrays.searcher.close()
                self._index_arrays = None
        self.index.close()


class WhooshReference:
    """A Reader (kb/search/engine.py) over Whoosh's own collectors for one WhooshSearcher's generation."""

    def __init__(self, engine: WhooshSearcher, owns: bool = False):
        self.engine, self.owns = engine, owns       # owns: close the searcher with this reader

    def execute(self, plan: QueryPlan, req: SearchRequest) -> SearchResponse:
        return self.engine.search_whoosh(req, whoosh_plan(plan))

    def matches(self, plan: QueryPlan) -> bool:
        found = whoosh_plan(plan)
        if not found.groups:
            return False
        with self.engine._searcher() as searcher:
            return not searcher.search(found.conjunction(), limit=1).is_empty()

    def search(self, req: SearchRequest) -> SearchResponse:
        return search_planned(self, self.engine.analysis, req)

    def close(self) -> None:
        if self.owns:
            self.engine.close()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _score(hit) -> float:
    # When sorted by a facet Whoosh reports the sort key as the score; the relevance is its last part.
    score = hit.score
    if isinstance(score, tuple):
        score = next((v for v in reversed(score) if isinstance(v, (int, float))), 0.0)
    return round(abs(float(score or 0.0)), 4)


def _hit(stored: dict, snippet: str, score: float) -> Hit:
    return Hit(
        id=stored["id"],
        type=stored["type"],
        title=stored["title"],
        sectors=[s for s in stored.get("sector", "").split(",") if s],
        summary=stored.get("summary", ""),
        snippet=snippet or _escape(stored.get("summary", ""))[:160],
        score=round(abs(float(score or 0.0)), 4),
        category=stored.get("category") or None,
        year=stored.get("year"),
        province=stored.get("province") or None,
        tags=[t for t in stored.get("tag", "").split(",") if t],
        origin=stored.get("origin") or None,
        confidence=stored.get("confidence") or None,
        kind=stored.get("kind") or None,
        audit=stored.get("audit") or None,
    )


def _rank(docnums: np.ndarray, scores: np.ndarray, arrays: IndexArrays, sort: str, limit: int) -> np.ndarray:
    """The first `limit` matches in Whoosh's order: score (or year, then score) descending, ties
    by docnum. Only the candidates that can reach the page are sorted."""
    if not len(docnums) or limit <= 0:
        return docnums[:0]
    relevance = scores[docnums]
    if sort == "year":
        years, codes = arrays.facet("year")
        year_of = np.asarray(years + [-1], dtype=np.int64)[codes[docnums]]     # code -1 (no year) → -1
        order = np.lexsort((docnums, -relevance, -year_of))
        return docnums[order[:limit]]
    if len(docnums) > limit:
        kth = np.partition(relevance, len(relevance) - limit)[len(relevance) - limit]
        keep = relevance >= kth              # every tie at the cut, so the docnum tie-break is exact
        docnums, relevance = docnums[keep], relevance[keep]
    order = np.lexsort((docnums, -relevance))
    return docnums[order[:limit]]


def _count(arrays: IndexArrays, name: str, mask: np.ndarray) -> dict[str, int]:
    values, table = arrays.facet(name)
    if name == "year":
        codes = table[mask]
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
    else:
        counts = table.dot(mask.astype(np.float64))
    pairs = [(str(v), int(c)) for v, c in zip(values, counts) if c and v not in (None, "")]
    return dict(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))


_LATIN = re.compile(r"[a-z0-9]")


def _occurrences(norm: str, word: str) -> Iterator[tuple[int, int]]:
    """Where a matched word occurs in the normalised text. A Latin word must stand alone (CO is not
    marked inside COD); a Chinese word is marked wherever it occurs, which also catches 余热 in 其余热
    where jieba cut 其余 + 热."""
    latin = bool(_LATIN.match(word[0])) or bool(_LATIN.match(word[-1]))
    start = norm.find(word)
    while start >= 0:
        end = start + len(word)
        if not latin or ((start == 0 or not _LATIN.match(norm[start - 1]))
                         and (end == len(norm) or not _LATIN.match(norm[end]))):
            yield start, end
        start = norm.find(word, start + 1)


def _marked(highlighter: Highlighter, stored: dict, fieldname: str, terms: set, top: int) -> str:
    """Pinpoint highlighting of the words this hit matched in this field. The offsets come from
    the stored text itself: normalisation keeps offsets, so no segmentation and no postings reads."""
    text = stored.get(fieldname)
    words = {word for name, word in terms if name == fieldname}
    if not text or not words:
        return ""
    norm = analysis.normalize(text).lower()
    charlimit = highlighter.fragmenter.charlimit

    def tokens_of(chosen):
        return [Token(text=word, startchar=start, endchar=end)
                for word in chosen for start, end in _occurrences(norm, word)
                if not charlimit or end <= charlimit]

    # A single Chinese character (水, 多) found as a substring is mostly part of other words (许多),
    # so it is marked only when nothing longer matched in this field.
    tokens = tokens_of({w for w in words if len(w) > 1 or w.isascii()}) or tokens_of(words)
    if not tokens:
        return ""
    tokens.sort(key=lambda t: (t.startchar, -(t.endchar - t.startchar)))
    for pos, token in enumerate(tokens):
        token.pos = pos
    fragments = highlighter.fragmenter.fragment_matches(text, tokens)
    fragments = top_fragments(fragments, top, highlighter.scorer, highlighter.order, minscore=1)
    return highlighter.formatter.format(fragments)
