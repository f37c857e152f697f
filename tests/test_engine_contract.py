"""The engine contract: what any search engine behind kb/search/engine.py must answer.

Each backend is a factory (published snapshot folder, analysis) → Reader. Every backend runs kb's
own planner and typo correction (kb/search/searching.py) on the judged queries (bench/queries.yaml,
typed the way enterprises type them), filters, later pages and odd input, and must answer like the
reference Reader — Whoosh's own collectors executing the same plans — in everything the plan and the
filters decide: totals, the matching documents, facet counts, whether every word matched, the
correction, snippets marking only the query's words. A backend that claims Whoosh's BM25F
(`exact_scores`) must also rank the page with the same scores. Each backend must also keep the
invariants checked here on its own answers (pages, year order, filters, facets ↔ filters), and
forget deleted documents after an incremental build.

A new engine adds one entry to BACKENDS.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from typing import Callable

import pytest

from kb.analysis import normalize
from kb.build import current_generation
from kb.config import BUNDLED_CONTENT, load_settings
from kb.knowledge import KnowledgeBase
from kb.search.engine import Reader, SearchRequest
from kb.search.query import plan_query
from kb.search.searching import search_planned
from kb.search.whoosh.searcher import WhooshReference, WhooshSearcher

from bench.relevance import judged_queries
from conftest import technology, write


@dataclass(frozen=True)
class Backend:
    open: Callable[..., Reader]          # (snapshot folder, analysis) → Reader
    exact_scores: bool                   # scores Whoosh's BM25F exactly
    is_reference: bool = False


BACKENDS = {
    "whoosh-arrays": Backend(lambda snapshot, analysis: WhooshSearcher(snapshot, analysis), exact_scores=True),
    "whoosh-collectors": Backend(lambda snapshot, analysis: WhooshReference(WhooshSearcher(snapshot, analysis), owns=True),
                                 exact_scores=True, is_reference=True),
}

MARK = re.compile(r"<mark[^>]*>(.*?)</mark>")
# a mark not inside a Latin word (Whoosh marks ro inside hydrogen; the fast path does not)
MARK_ALONE = re.compile(r"(?<![A-Za-z0-9])<mark[^>]*>(.*?)</mark>(?![A-Za-z0-9])")


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled knowledge base, built once from a copy (the last test edits it)."""
    root = tmp_path_factory.mktemp("contract")
    shutil.copytree(BUNDLED_CONTENT, root / "content")
    settings = load_settings(root / "instance", bundled_content=root / "content", editable_content=root / "editable",
                             database_url=f"sqlite:///{root / 'kb.sqlite3'}")
    knowledge = KnowledgeBase(settings)
    knowledge.build()
    yield knowledge
    knowledge.close()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    return request.param, BACKENDS[request.param]


class Engines:
    """The backend under test and the reference, on the live generation of a knowledge base."""

    def __init__(self, knowledge: KnowledgeBase, backend: Backend):
        self.analysis = knowledge.analysis
        snapshot = current_generation(knowledge.settings) / "index"
        self.backend = backend
        self.reader = backend.open(snapshot, self.analysis)
        self.reference = BACKENDS["whoosh-collectors"].open(snapshot, self.analysis)

    def search(self, request: SearchRequest):
        return search_planned(self.reader, self.analysis, request)

    def close(self):
        self.reader.close()
        self.reference.close()


@pytest.fixture
def engines(bundled, backend):
    opened = Engines(bundled, backend[1])
    yield opened
    opened.close()


def _decided(response):
    """What the plan and the filters decide, whatever the engine's scoring."""
    correction = response.correction and (response.correction.text, response.correction.applied)
    return response.total, response.facets, response.matched_all_words, correction


def _ranked(response):
    return [(h.id, round(h.score, 6)) for h in response.hits]


def _query_words(analysis, text):
    words = set()
    plan = plan_query(analysis, text)
    # a colloquial phrase (异味) is searched with the technical words it means (VOCs, 恶臭)
    for word in [*plan.words, *(t for terms in plan.expansions.values() for t in terms)]:
        for form in [normalize(word).lower(), *analysis.synonyms(word)]:
            words.add(form)
            words.update(analysis.subwords(form))
            words.update(w for w, _, _ in analysis.index_tokens(form))
    return words


def _standalone_terms(analysis, text):
    from kb.search.query import AnyOf, Term

    found = set()

    def walk(node):
        if isinstance(node, Term):
            found.add(node.text)
        elif isinstance(node, AnyOf):
            for sub in node.parts:
                walk(sub)
        # an AllOf's terms only count together

    for group in plan_query(analysis, text).groups:
        walk(group)
    return found


def _assert_like_reference(engines: Engines, request: SearchRequest):
    mine = engines.search(request)
    searched = mine.correction.text if mine.correction and mine.correction.applied else request.text
    words = _query_words(engines.analysis, searched)
    for hit in mine.hits:       # only the query's words are marked (Whoosh's highlighter marks any token)
        marked = {m.lower() for m in MARK.findall(hit.snippet)}
        assert marked <= words, (request.text, marked - words)
    theirs = search_planned(engines.reference, engines.analysis, request)
    assert _decided(mine) == _decided(theirs), request
    if engines.backend.exact_scores:
        assert _ranked(mine) == _ranked(theirs), request
    else:                       # the same documents match: compare one page that holds them all
        everything = replace(request, page=1, per_page=max(theirs.total, 1), highlight=False)
        assert {h.id for h in engines.search(everything).hits} == {h.id for h in
                                                                 search_planned(engines.reference, engines.analysis, everything).hits}
    # Snippets: Whoosh marks the indexed tokens; another path may mark every occurrence of a matched
    # word in the stored text (so 余热 is also marked in 其余热). It must have a snippet whenever Whoosh
    # marks a word that is an alternative on its own (single characters aside).
    standalone = _standalone_terms(engines.analysis, searched)
    if engines.backend.exact_scores:
        for hit, ref in zip(mine.hits, theirs.hits):
            if {m for m in (normalize(m).lower() for m in MARK_ALONE.findall(ref.snippet)) if len(m) > 1} & standalone:
                assert MARK.search(hit.snippet), (request.text, hit.id)


@pytest.mark.parametrize("sort", ["relevance", "year"])
def test_judged_queries_answer_like_the_reference(engines, sort):
    if engines.backend.is_reference:
        pytest.skip("the reference itself")
    queries = [q["q"] for q in judged_queries()]
    assert len(queries) >= 60
    for text in queries:
        _assert_like_reference(engines, SearchRequest(text=text, sort=sort))


ODD_AND_FILTERED = [
    SearchRequest(text="废水回用", sectors=["印染"]),
    SearchRequest(text="余热", types=["technology"], categories=["节能"], page=2, per_page=5),
    SearchRequest(text="VOCs 治理", tags=["VOCs"], years=[2021, 2022, 2023]),
    SearchRequest(text="清洁生产审核", types=["case"], sort="year", page=3, per_page=4),
    SearchRequest(text="电镀 逆流漂洗 三价铬 无氰 危险废物", highlight=False),
    SearchRequest(text="zzzz 不存在的词语组合"),
    SearchRequest(text="的"),
    SearchRequest(text=""),
    SearchRequest(text="余热", page=500),
    SearchRequest(text="", types=["case"]),                       # filters only: browse, newest first
    SearchRequest(text="", sectors=["焦化"], page=2, per_page=3),
    SearchRequest(text="", provinces=["江苏"], types=["case"], sort="relevance"),
]


def test_filters_pages_and_odd_input_answer_like_the_reference(engines):
    if engines.backend.is_reference:
        pytest.skip("the reference itself")
    for request in ODD_AND_FILTERED:
        _assert_like_reference(engines, request)


def test_pages_partition_the_ranking(engines):
    for text in ["余热回收", "印染废水", "VOCs"]:
        whole = engines.search(SearchRequest(text=text, per_page=10, highlight=False))
        first = engines.search(SearchRequest(text=text, per_page=5, highlight=False))
        second = engines.search(SearchRequest(text=text, page=2, per_page=5, highlight=False))
        assert whole.total == first.total == second.total > 10
        assert [h.id for h in first.hits + second.hits] == [h.id for h in whole.hits]
        scores = [h.score for h in whole.hits]
        assert scores == sorted(scores, reverse=True)


def test_hits_keep_to_the_filters_and_year_order(engines):
    response = engines.search(SearchRequest(text="废气治理", sectors=["工业涂装"], types=["case"], sort="year", per_page=50))
    assert response.total > 0 and len(response.hits) == min(response.total, 50)
    assert all(h.type == "case" and "工业涂装" in h.sectors for h in response.hits)
    years = [h.year for h in response.hits if h.year is not None]
    assert years == sorted(years, reverse=True)
    tagged = engines.search(SearchRequest(text="", tags=["VOCs"], per_page=50))
    assert tagged.total > 0 and all("VOCs" in h.tags for h in tagged.hits)


def test_facet_counts_are_the_totals_of_the_filtered_searches(engines):
    text = "余热回收"
    response = engines.search(SearchRequest(text=text, highlight=False))
    for facet, field in [("type", "types"), ("sector", "sectors"), ("year", "years")]:
        counts = response.facets[facet]
        assert counts, facet
        for value, count in list(counts.items())[:4]:
            value = int(value) if facet == "year" else value
            filtered = engines.search(SearchRequest(text=text, highlight=False, **{field: [value]}))
            assert filtered.total == count, (facet, value)


def test_an_incremental_build_forgets_deleted_documents(bundled, backend):
    """Last in this module: it edits the shared copy. Whoosh keeps a deleted document in its segment
    until a merge; no backend may find it."""
    content = bundled.settings.content_dirs[0]
    gone = content / "technologies" / "building-cement-grate-cooler.md"      # no case cites it
    if gone.exists():
        gone.unlink()
        write(content, "technologies", "general-rto", technology(
            "general-rto", "蓄热式热力焚烧炉（RTO）处理有机废气", tags="[VOCs, 余热]",
            body="RTO 利用陶瓷蓄热体回收焚烧热量，适用于中高浓度有机废气，热回收效率高。"))
        assert not bundled.build().full
    engines = Engines(bundled, backend[1])
    try:
        if not engines.backend.is_reference:
            for text in ["有机废气", "篦冷机", "RTO 余热", "余热", "VOCs"]:
                _assert_like_reference(engines, SearchRequest(text=text))
        assert "building-cement-grate-cooler" not in [h.id for h in engines.search(SearchRequest(text="篦冷机 熟料", per_page=100)).hits]
        assert engines.search(SearchRequest(text="蓄热式焚烧")).hits[0].id == "general-rto"
    finally:
        engines.close()
