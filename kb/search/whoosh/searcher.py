"""Running a planned query: filters, facets that combine, highlighting, pagination."""
from __future__ import annotations

import logging
import re
import threading
from bisect import bisect_left
from heapq import nlargest
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from whoosh import query as Q
from whoosh import sorting
from whoosh.searching import Hit as WhooshHit
from whoosh.compat import htmlescape
from whoosh.highlight import Fragment, HtmlFormatter, Highlighter, PinpointFragmenter

from ... import analysis
from .arrays import IndexArrays
from ..coverage import alternative_credit, combine, group_weights, listed, pointed_sector, sector_factors
from ..engine import Hit, SearchRequest, SearchResponse
from .evaluate import Dense, Found, Unsupported, evaluate, evaluate_any, filter_mask, matched_terms, union, union_ids
from ..query import QueryPlan
from ..searching import search_planned
from .schema import FACETS, open_index
from .snippet_text import searchable
from .translate import WhooshPlan, whoosh_filter, whoosh_plan
from ...taxonomy import CROSS_SECTOR

log = logging.getLogger("kb.search")

SENTENCE_ENDS = "。！？；!?;\n"
_SENTENCE_END = re.compile("[" + re.escape(SENTENCE_ENDS) + "]")
# characters of a stored field searched at a time for a snippet's words; the snippet comes from the
# first window that has any (a body shorter than this is searched whole)
WINDOW = 4000


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
        self.index = open_index(self.index_dir, analysis, mmap=False)
        self._idle: list = []
        self._all: list = []
        self._lock = threading.Lock()
        self._index_arrays: IndexArrays | None = None
        self._fallbacks: set[str] = set()       # reasons already logged for this generation

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

    def search(self, req: SearchRequest) -> SearchResponse:
        return search_planned(self, self.analysis, req)

    # -- the engine protocol's Reader (kb/search/engine.py) ------------------------------------------
    def execute(self, plan: QueryPlan, req: SearchRequest) -> SearchResponse:
        found = whoosh_plan(plan)
        try:
            return self._search_arrays(req, found)
        except Unsupported as exc:
            self._fallback(f"query node {exc} has no vectorised evaluation")
            return self.search_whoosh(req, found)

    def _fallback(self, reason: str) -> None:
        """Log, once per reason and generation, that a search took Whoosh's collector (many times slower)."""
        with self._lock:
            if reason in self._fallbacks:
                return
            self._fallbacks.add(reason)
        log.warning("search falls back to Whoosh's collector (%s): %s", self.index_dir, reason)

    def matches(self, plan: QueryPlan) -> bool:
        found = whoosh_plan(plan)
        try:
            return bool(found.groups) and len(evaluate_any(found.conjunction(), self.arrays())) > 0
        except Unsupported as exc:
            self._fallback(f"query node {exc} has no vectorised evaluation")
            return self.reference().matches(plan)

    # -- the vectorised path: Whoosh's postings and scores, combined with numpy ---------------------
    def arrays(self) -> IndexArrays:
        """The index's term arrays (read once per generation; public for tools and the engine tests)."""
        if self._index_arrays is None:
            with self._lock:
                if self._index_arrays is None:
                    self._index_arrays = IndexArrays(self.index.searcher(), compiled=self.index_dir.parent / "arrays")
        return self._index_arrays

    def _search_arrays(self, req: SearchRequest, plan: WhooshPlan) -> SearchResponse:
        arrays = self.arrays()
        filters = _filters(req)
        allowed = filter_mask(filters, arrays)
        matched_all = True
        listed_mask = None              # the listed documents as a corpus-sized mask, when at hand
        query = plan.conjunction()
        docnums, relevance = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        browse = not plan.groups and filters is not None
        if browse:                      # filters only: every entry they allow, newest first
            docnums = np.flatnonzero(allowed)
            relevance = np.ones(len(docnums), dtype=np.float64)
        elif len(plan.groups) == 1:
            found = evaluate(query, arrays)
            keep = allowed[found.ids]
            docnums, relevance = found.ids[keep], found.scores[keep]
            factors = self._sector_factors(plan, [found.ids], docnums)
            if factors is not None:
                relevance = relevance * factors
        elif plan.groups:
            # every word group on its own, combined by coverage (a soft minimum-should-match) over
            # the candidates, the documents that match at least one group
            query = plan.disjunction()
            # a phrase group's alternatives are evaluated once: their union is the group, their own
            # matches grade its coverage (the same sums evaluate() makes of an Or)
            alternatives_of = [None if alts is None else [evaluate_any(a, arrays) for a in alts]
                               for alts in _phrase_alternatives(plan)]
            parts = [evaluate_any(group, arrays) if alts is None else union(alts, arrays.size)
                     for group, alts in zip(plan.groups, alternatives_of)]
            columns = _Columns(parts, arrays.size)
            masks, scores = [], []
            for part in parts:
                mask, score = columns.of(part)
                masks.append(mask)
                scores.append(score)
            weights = group_weights(masks, arrays.live_count, plan.emphasis)
            credits = [None if alts is None else
                       alternative_credit([columns.of(a)[0] for a in alts], arrays.live_count)
                       for alts in alternatives_of]
            found = combine(masks, scores, weights, plan.emphasis, credits)
            factors = self._sector_factors(plan, [_docs(p) for p in parts], columns.candidates)
            ranked_scores = found.scores if factors is None else found.scores * factors
            permitted = columns.pick(allowed)
            shown = listed(found, permitted, req.sort)
            docnums, relevance = columns.docnums(shown), ranked_scores[shown]
            listed_mask = shown if columns.candidates is None else None
            matched_all = bool((found.complete & permitted).any())

        limit = req.page * req.per_page
        start = (req.page - 1) * req.per_page
        order = _rank(docnums, relevance, arrays, "year" if browse else req.sort, limit)[start:limit]
        page = [int(d) for d in docnums[order]]
        page_scores = [float(s) for s in relevance[order]]

        facet_counts = _facet_counts(arrays, docnums, listed_mask)
        highlighter = _highlighter() if req.highlight and not browse else None
        hits: list[Hit] = []
        terms_of = matched_terms(query, arrays, page) if highlighter is not None else []
        stored_page = self._stored_fields(arrays, page, body=highlighter is not None)
        for k, (stored, score) in enumerate(zip(stored_page, page_scores)):
            snippet = ""
            if highlighter is not None:
                terms = terms_of[k]
                snippet = (_marked(highlighter, stored, "body", terms, top=2)
                           or _marked(highlighter, stored, "summary", terms, top=1))
            hits.append(_hit(stored, snippet, score))
        return SearchResponse(query=req.text, total=int(len(docnums)), page=req.page, per_page=req.per_page,
                              hits=hits, facets=facet_counts, words=plan.words, synonyms=plan.synonyms,
                              matched_all_words=matched_all, expansions=plan.expansions)

    def _stored_fields(self, arrays: IndexArrays, docnums: list[int], body: bool) -> list[dict]:
        """The listed documents' stored fields, from the generation's segment files (the body only for
        snippets), or from Whoosh for a generation written without them."""
        stored = arrays.stored()
        if stored is not None:
            return stored.fields_of(docnums, body)
        with self._searcher() as searcher:
            return [searcher.stored_fields(docnum) for docnum in docnums]

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
            matched = np.array(sorted(searcher.search(plan.conjunction(), limit=None).docs()), dtype=np.int64)
            if self._sector_factors(plan, [matched], matched) is not None:
                # the sector preference reorders: rank every match as the coverage path does (one group)
                return self._search_whoosh_coverage(searcher, req, plan, facets, single=True)
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

    def _search_whoosh_coverage(self, searcher, req: SearchRequest, plan: WhooshPlan, facets: dict,
                                single: bool = False) -> SearchResponse:
        """The reference for several word groups (or one, reordered by sector): each group scored by
        Whoosh's own collector, then the shared coverage rule and sector preference; totals and facets
        from Whoosh over the any-group query."""
        size = searcher.doc_count_all()
        masks, scores = [], []
        for group in plan.groups:
            mask, score = np.zeros(size, dtype=bool), np.zeros(size, dtype=np.float64)
            for hit in searcher.search(group, limit=None):
                mask[hit.docnum], score[hit.docnum] = True, hit.score
            masks.append(mask)
            scores.append(score)
        credits = None
        if not single:
            def alternative_mask(alternative) -> np.ndarray:
                mask = np.zeros(size, dtype=bool)
                mask[list(searcher.search(alternative, limit=None).docs())] = True
                return mask

            credits = [None if alternatives is None else
                       alternative_credit([alternative_mask(a) for a in alternatives], searcher.doc_count())
                       for alternatives in _phrase_alternatives(plan)]
        found = combine(masks, scores, group_weights(masks, searcher.doc_count(), plan.emphasis), plan.emphasis,
                        credits)
        factors = self._sector_factors(plan, [np.flatnonzero(m) for m in masks], np.arange(size, dtype=np.int64))
        if factors is not None:
            found.scores = found.scores * factors
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
                              matched_all_words=single or bool(found.complete[docnums].any()),
                              expansions=plan.expansions)

    # -- the query's sectors (issue 18): both paths rank with the same factors -----------------------
    def _sector_factors(self, plan: WhooshPlan, group_docnums: list[np.ndarray],
                        columns: np.ndarray | None) -> np.ndarray | None:
        """The score factor of each column (docnums `columns`, None: every document): entries of the
        sectors the query names, of a sector a word's matches point to (coverage.pointed_sector) or its
        colloquial phrases imply (plan.implied), of 通用; None when the query is about no sector in
        particular. `group_docnums`: each group's matches, docnums or a corpus-sized bool mask."""
        arrays = self.arrays()
        facet = arrays.facet("sector")
        pointed: set[str] = set(plan.implied)
        for word, emphasis, docnums in zip(plan.words, plan.emphasis, group_docnums):
            if word in plan.expansions or emphasis != 1.0 or not len(docnums):
                continue
            counts = arrays.value_counts("sector", docnums).tolist()
            sector = pointed_sector({str(value): count for value, count in zip(facet.values, counts)
                                     if count and value not in (None, "", CROSS_SECTOR)})
            if sector:
                pointed.add(sector)
        named = set(plan.sectors)
        if not named and not pointed:
            return None
        if columns is None or len(columns) * 8 > arrays.size:     # most of the corpus: the bitsets, unpacked
            bits = arrays.facet_bits()

            def holding(values: set[str]) -> np.ndarray:
                held = bits.holding("sector", [i for i, v in enumerate(facet.values) if v in values])
                return held if columns is None else held[columns]
        else:
            held = _values_of(facet, columns)          # read once for the three sets of sectors

            def holding(values: set[str]) -> np.ndarray:
                return _holding(facet, held, len(columns), values)
        return sector_factors(holding(named), holding(pointed), holding({CROSS_SECTOR}))

    def close(self) -> None:
        with self._lock:
            for searcher in self._all:
                try:
                    searcher.close()
                except Exception:       # closing must go on for the others; say which one failed
                    log.warning("closing a pooled Whoosh searcher of %s failed", self.index_dir, exc_info=True)
            self._all.clear()
            if self._index_arrays is not None:
                self._index_arrays.close()
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


def _phrase_alternatives(plan: WhooshPlan) -> list[list[Q.Query] | None]:
    """Per group, the alternatives of a colloquial phrase's group (the phrase, its technical words),
    whose specificity grades coverage (coverage.alternative_credit); None for other groups."""
    out: list[list[Q.Query] | None] = []
    for word, group in zip(plan.words, plan.groups):
        parts = group.subqueries if type(group) is Q.Or and group.boost == 1.0 else ()
        # a phrase group is an Or of alternatives; an Or of field terms is one word anywhere
        out.append(list(parts) if word in plan.expansions and len(parts) > 1
                   and not all(isinstance(p, Q.Term) for p in parts) else None)
    return out


class _Columns:
    """The columns a coverage search computes on, and each group's matches and scores as columns.

    The columns are the candidates, the documents any group matches (sorted docnums); when dense
    groups make them most of the corpus, every document is a column instead (`candidates` is None):
    a non-candidate matches no group and comes out of every coverage function as a zero column, and
    no score array has to be gathered down to the candidates (a dozen gathers of ~20k values for a
    query of common words)."""

    def __init__(self, parts: list[Found], size: int):
        self.size = size
        self.candidates: np.ndarray | None
        if any(isinstance(p, Dense) for p in parts):
            seen = np.zeros(size, dtype=bool)
            for part in parts:
                if isinstance(part, Dense):
                    seen |= part.mask
                else:
                    seen[part.ids] = True
            self.candidates = None if 2 * np.count_nonzero(seen) > size else np.flatnonzero(seen)
        else:
            self.candidates = union_ids([p.ids for p in parts], size)
        self._slot: np.ndarray | None = None

    @property
    def width(self) -> int:
        return self.size if self.candidates is None else len(self.candidates)

    def pick(self, per_document: np.ndarray) -> np.ndarray:
        """A corpus-sized array's values at the columns."""
        return per_document if self.candidates is None else per_document[self.candidates]

    def docnums(self, columns: np.ndarray) -> np.ndarray:
        """The docnums of the columns a bool array over the columns selects."""
        return np.flatnonzero(columns) if self.candidates is None else self.candidates[columns]

    def of(self, found: Found) -> tuple[np.ndarray, np.ndarray]:
        """(whether each column matches, its score there, 0.0 where it does not)."""
        if isinstance(found, Dense):
            if self.candidates is None:
                return found.mask, found.scores
            score = found.scores[self.candidates]
            return score > 0, score
        width = self.width
        if self.candidates is None:
            at = found.ids
        else:
            if self._slot is None:
                self._slot = np.empty(self.size, dtype=np.int64)      # docnum → its column among the candidates
                self._slot[self.candidates] = np.arange(width)
            at = self._slot[found.ids]
        mask = np.zeros(width, dtype=bool)
        mask[at] = True
        score = np.zeros(width, dtype=np.float64)
        score[at] = found.scores
        return mask, score


def _docs(found: Found) -> np.ndarray:
    """What facet counting takes of some matches: their docnums, or the corpus-sized mask of dense ones."""
    return found.mask if isinstance(found, Dense) else found.ids


def _values_of(facet, docnums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value ids the documents hold, and for each the position of its document in docnums."""
    docnums = np.asarray(docnums, dtype=np.int64)
    starts = facet.indptr[docnums]
    lengths = facet.indptr[docnums + 1] - starts          # not np.diff of the whole corpus' indptr
    owners = np.repeat(np.arange(len(docnums)), lengths)
    if not len(owners):
        return np.zeros(0, dtype=np.int64), owners
    offsets = np.arange(len(owners)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return facet.value_ids[np.repeat(starts, lengths) + offsets], owners


def _holding(facet, held: tuple[np.ndarray, np.ndarray], count: int, values: set[str]) -> np.ndarray:
    """Whether each of `count` documents holds any of the values (`held`: their _values_of)."""
    if not values:
        return np.zeros(count, dtype=bool)
    wanted = np.array([v in values for v in facet.values] + [False], dtype=bool)
    held, owners = held
    out = np.zeros(count, dtype=bool)
    out[owners[wanted[held]]] = True
    return out


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


def _rank(docnums: np.ndarray, relevance: np.ndarray, arrays: IndexArrays, sort: str, limit: int) -> np.ndarray:
    """Indices of the first `limit` matches in Whoosh's order: score (or year, then score)
    descending, ties by docnum. Only the candidates that can reach the page are sorted."""
    if not len(docnums) or limit <= 0:
        return np.zeros(0, dtype=np.int64)
    if sort == "year":
        year = arrays.facet("year")
        year_of = np.asarray(year.values + [-1], dtype=np.int64)[year.codes[docnums]]   # code -1 (no year) → -1
        return np.lexsort((docnums, -relevance, -year_of))[:limit]
    index = np.arange(len(docnums))
    if len(docnums) > limit:
        kth = np.partition(relevance, len(relevance) - limit)[len(relevance) - limit]
        index = np.flatnonzero(relevance >= kth)     # every tie at the cut, so the docnum tie-break is exact
    order = np.lexsort((docnums[index], -relevance[index]))
    return index[order[:limit]]


def _facet_counts(arrays: IndexArrays, docnums: np.ndarray, mask: np.ndarray | None = None) -> dict[str, dict[str, int]]:
    """Every facet's value → count over the listed documents (also given as a corpus-sized mask, when
    the search has one), most frequent first, as Whoosh's groups."""
    if not len(docnums):
        return {name: {} for name in FACETS}
    counted = arrays.facet_counts(FACETS, docnums, mask)
    return arrays.facet_labels().ordered(np.concatenate([counted[name] for name in FACETS]))


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
    limit = highlighter.fragmenter.charlimit or len(text)       # Whoosh marks nothing ending beyond it
    # A single Chinese character (水, 多) found as a substring is mostly part of other words (许多),
    # so it is marked only when nothing longer matched in this field.
    tokens = (_first_matches(text, {w for w in words if len(w) > 1 or w.isascii()}, limit)
              or _first_matches(text, words, limit))
    if not tokens:
        return ""
    return _formatted(highlighter.formatter, _top_fragments(highlighter, text, tokens, top))


def _formatted(formatter, fragments: list) -> str:
    """`formatter.format(fragments)` for Whoosh's HtmlFormatter, written out without a method call, a
    template dict and a get_text per marked word: the same string, the same term classes (kept in
    the formatter's `seen`, which carries over between the hits of a request)."""
    if type(formatter) is not HtmlFormatter:
        return formatter.format(fragments)
    seen, maxclasses, quote = formatter.seen, formatter.maxclasses, formatter.attrquote
    opening = f"<{formatter.tagname} class={quote}{formatter.htmlclass}"
    closing = f"</{formatter.tagname}>"
    out = []
    for fragment in fragments:
        text, index, parts = fragment.text, fragment.startchar, []
        for token in sorted(fragment.matches, key=lambda t: (t.startchar, -(t.endchar - t.startchar))):
            if token.startchar is None or token.startchar < index:
                continue
            if token.startchar > index:
                parts.append(htmlescape(text[index:token.startchar], quote=False))
            marked = htmlescape(text[token.startchar:token.endchar], quote=False)
            termnum = seen.get(marked)
            if termnum is None:
                termnum = seen[marked] = len(seen) % maxclasses
            parts.append(f"{opening}{termnum}{quote}>{marked}{closing}")
            index = token.endchar
        parts.append(htmlescape(text[index:fragment.endchar], quote=False))
        out.append("".join(parts))
    return formatter.between.join(out)


def _first_matches(text: str, words: set[str], limit: int) -> list[tuple[int, int, str]]:
    """(start, end, word) of every occurrence of the words in the first window of the text that has
    any: the text is normalised and searched WINDOW characters at a time, so a hit's cost follows
    where its words first occur, not the length of its body. A word is found in the window where it
    starts; one character either side of a window is read for the Latin word-boundary rule. Nothing
    ending beyond `limit` is found."""
    if not words:
        return []
    reach = max(len(w) for w in words)
    for lo in range(0, min(len(text), limit), WINDOW):
        hi = min(len(text), lo + WINDOW)
        left = max(0, lo - 1)
        norm = searchable(text[left:hi + reach])      # normalize(...).lower() where words are read
        found = [(left + start, left + end, word) for word in words for start, end in _occurrences(norm, word)
                 if lo <= left + start < hi and left + end <= limit]
        if found:
            return found
    return []


class _RunKey:
    """Stands for a run's Fragment in top_fragments' comparisons: Fragment defines only __lt__, on
    startchar, and equality is identity; so does this (heapq then orders ties exactly alike). The
    startchar (trimmed and snapped, see _snapped_bounds) is worked out the first time a comparison
    needs it: only runs whose scores tie are ever compared, so most runs never need it."""

    __slots__ = ("run", "_bounds", "_start")

    def __init__(self, bounds, run: tuple):
        self.run = run
        self._bounds = bounds           # run → its snapped (startchar, endchar)
        self._start: int | None = None

    @property
    def startchar(self) -> int:
        if self._start is None:
            self._start = self._bounds(self.run)[0]
        return self._start

    def __lt__(self, other: "_RunKey") -> bool:
        return self.startchar < other.startchar


def _top_fragments(highlighter: Highlighter, text: str, tokens: list[tuple[int, int, str]], top: int) -> list:
    """What `top_fragments(WordFragmenter.fragment_matches(...), top, BasicFragmentScorer(), FIRST)`
    returns for these (start, end, word) matches, without a Fragment per run.

    WordFragmenter builds, trims and snaps a Fragment (and a Token per match) for every run of
    matches, and top_fragments keeps `top` of them; with many matches that was most of a
    highlighted search. Here every run is found on tuples, scored with BasicFragmentScorer's
    formula (matches × 100 × distinct words, every match weighing 1) and keyed by the start its
    Fragment would have after trimming and snapping (sentence ends looked up by bisection, and only
    for runs whose scores tie); the same heapq.nlargest picks the winners, and only they become
    Fragments (with those bounds)."""
    fragmenter = highlighter.fragmenter
    kept: list[tuple[int, int, str]] = []
    for token in sorted(tokens, key=lambda t: (t[0], -(t[1] - t[0]))):
        if kept and token[0] < kept[-1][1]:
            continue                        # the longest of overlapping matches only
        kept.append(token)
    runs = _runs(kept, len(text), fragmenter.maxchars, fragmenter.surround)
    def bounds(run: tuple) -> tuple[int, int]:
        return _snapped_bounds(fragmenter, text, None, run, kept[run[0]][0], kept[run[1]][1])

    scored = []
    for run in runs:
        i, j = run[0], run[1]
        distinct = 1 if i == j else len({w for _, _, w in kept[i:j + 1]})
        scored.append((float(j - i + 1) * (distinct * 100), _RunKey(bounds, run)))
    # an iterator, as top_fragments passes: given a list no longer than `top`, nlargest sorts it
    # instead of heapifying, which orders runs of equal score and start differently
    best = [_fragment(text, kept, key.run, bounds(key.run)) for score, key in nlargest(top, iter(scored))
            if score >= 1]
    best.sort(key=highlighter.order)
    return best


class _Match:
    """A marked word in a Fragment: what Fragment and HtmlFormatter read of a Whoosh Token."""

    __slots__ = ("text", "startchar", "endchar")

    def __init__(self, text: str, startchar: int, endchar: int):
        self.text, self.startchar, self.endchar = text, startchar, endchar


def _snapped_bounds(fragmenter, text: str, ends: list[int] | None, run: tuple, first: int,
                    last: int) -> tuple[int, int]:
    """The (startchar, endchar) that PinpointFragmenter._autotrim then WordFragmenter._snap give
    a run's Fragment, with the sentence ends (sorted positions) found by bisection, or with
    `ends` None by searching the few characters around the run for them (listing every sentence
    end of a body cost more than snapping the two or three runs that need it)."""
    _i, _j, start, end = run
    if fragmenter.autotrim:
        space = text.find(" ", start, end)
        if space > 0:
            start = space + 1
        space = text.rfind(" ", start, end)
        if space > 0:
            end = space
        start, end = min(start, first), max(end, last)
    lo = max(0, start - fragmenter.reach)
    if ends is None:
        before = -1                         # the last sentence end in [lo, first)
        for found in _SENTENCE_END.finditer(text, lo, first):
            before = found.start()
    else:
        k = bisect_left(ends, first) - 1
        before = ends[k] if k >= 0 and ends[k] >= lo else -1
    if before >= 0:
        start = before + 1
    elif lo == 0:
        start = 0
    hi = min(len(text), end + fragmenter.reach)
    if ends is None:
        found = _SENTENCE_END.search(text, last, hi)      # the first sentence end in [last, hi)
        after = found.start() if found else -1
    else:
        k = bisect_left(ends, last)
        after = ends[k] if k < len(ends) and ends[k] < hi else -1
    if after >= 0:
        end = after + 1
    elif hi == len(text):
        end = len(text)
    while start < first and text[start].isspace():
        start += 1
    return start, end


def _fragment(text: str, kept: list[tuple[int, int, str]], run: tuple, bounds: tuple[int, int]) -> Fragment:
    i, j = run[0], run[1]
    return Fragment(text, [_Match(w, s, e) for s, e, w in kept[i:j + 1]], bounds[0], bounds[1])


def _runs(tokens: list[tuple[int, int, str]], length: int, maxchars: int, surround: int) -> list[tuple]:
    """PinpointFragmenter's grouping of sorted matches, on tuples: (first match, last match, start, end)
    of each fragment before trimming."""
    runs = []
    j = -1
    last = len(tokens) - 1
    for i, (left, right, _word) in enumerate(tokens):
        if j >= i:
            continue
        j = i
        current = right - left
        while j < last and current < maxchars:
            start, end, _ = tokens[j + 1]
            if end - right <= surround and end - left <= maxchars:
                j += 1
                right = end
                current += end - start
            else:
                break
        runs.append((i, j, max(0, left - surround), min(length, right + surround)))
    return runs
