"""The Whoosh adapter's vectorised path: compiled arrays, snippets, incremental compiles, pooling.

Its answers on the judged queries, filters, pages and after deletions are checked against Whoosh's
own collectors by the engine contract (tests/test_engine_contract.py), which every backend passes.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

from kb.search.engine import SearchRequest

from conftest import technology, write


def test_compiled_arrays_are_used(bundled_kb):
    arrays = bundled_kb.searcher().arrays()
    assert arrays.compiled_fields == {"title", "tags_text", "summary", "process", "body"}


def _delete_one_add_one(kb, content):
    """An incremental build that deletes one entry and adds another."""
    (content / "technologies" / "coking-cdq.md").unlink()
    write(content, "technologies", "general-rto", technology(
        "general-rto", "蓄热式热力焚烧炉（RTO）处理有机废气", tags="[VOCs, 余热]",
        body="RTO 利用陶瓷蓄热体回收焚烧热量，适用于中高浓度有机废气，热回收效率高。"))
    report = kb.build()
    assert not report.full
    return report


def _hit_for(kb, content, doc_id, title, body, query, tags="[能耗]"):
    """Add one entry, rebuild, and return its hit for the query."""
    write(content, "technologies", doc_id, technology(doc_id, title, tags=tags, body=body))
    kb.build()
    kb.refresh()
    return next(h for h in kb.search(SearchRequest(text=query)).hits if h.id == doc_id)


def test_snippet_marks_a_word_that_jieba_cut_across(kb, content):
    hit = _hit_for(kb, content, "general-whr-note", "空压机余热回收",
                   "空压机耗电中约八成转化为热，其余热量由冷却水带走；回收余热可供生活热水。", "余热", tags="[余热, 电耗]")
    assert hit.snippet.count(">余热</mark>") == 2, hit.snippet      # in 其余热量 and in 回收余热


def test_snippet_marks_latin_words_only_where_they_stand_alone(kb, content):
    hit = _hit_for(kb, content, "general-co-note", "燃烧优化控制", "在线监测烟气中的CO浓度调整风量，同时记录废水COD。", "CO")
    assert hit.snippet.count("</mark>") == 1 and ">CO</mark>浓度" in hit.snippet, hit.snippet


def test_snippet_starts_and_ends_at_sentence_boundaries(kb, content):
    body = ("窑炉烟气温度高、流量稳定，过去直接经烟囱排放，热量全部损失，企业能耗统计中这一部分常被忽略不计。"
            "改造后在烟道上加装换热器回收余热，产出热水供车间和生活使用。其他工序不受影响，运行维护也比较简单。")
    hit = _hit_for(kb, content, "general-kiln-note", "窑炉烟气换热", body, "余热")
    plain = re.sub(r"<[^>]+>", "", hit.snippet)
    assert plain.startswith("改造后在烟道上") and plain.endswith("生活使用。"), hit.snippet


def _compiled_by_term(folder):
    out = {}
    for vocab_file in sorted(folder.glob("*.vocab.json")):
        field = vocab_file.name[: -len(".vocab.json")]
        vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
        indptr = np.load(folder / f"{field}.indptr.npy")
        ids = np.load(folder / f"{field}.ids.npy")
        scores = np.load(folder / f"{field}.scores.npy")
        for i, text in enumerate(vocab):
            lo, hi = indptr[i], indptr[i + 1]
            out[(field, text)] = (ids[lo:hi].tolist(), scores[lo:hi].tolist())
    return out


def test_incremental_compile_reuses_segments_and_equals_a_fresh_compile(kb, settings, content, tmp_path, monkeypatch):
    import kb.search.whoosh.arrays as arrays_mod
    from kb.fields import FIELD_BOOSTS

    from kb.build import current_generation

    first = current_generation(settings).name
    extracted = []
    original = arrays_mod._extract_segment
    monkeypatch.setattr(arrays_mod, "_extract_segment",
                        lambda reader, *a: (extracted.append(reader.segment().segment_id()), original(reader, *a))[1])
    report = _delete_one_add_one(kb, content)
    second = settings.index_root / report.generation
    old_segments = {p.name for p in (settings.index_root / first / "arrays" / "segments").iterdir()}
    new_segments = {p.name for p in (second / "arrays" / "segments").iterdir()}
    # only the segment holding the new entry was read from Whoosh; the shared one is the same file
    assert extracted and set(extracted) == new_segments - old_segments and old_segments & new_segments
    shared = sorted(old_segments & new_segments)[0]
    a = settings.index_root / first / "arrays" / "segments" / shared / "body.ids.npy"
    b = second / "arrays" / "segments" / shared / "body.ids.npy"
    assert os.path.samefile(a, b)
    # the scores over the reused segments equal a compile that reads every segment afresh
    fresh = tmp_path / "fresh"
    arrays_mod.compile_arrays(second / "index", fresh, FIELD_BOOSTS)
    assert _compiled_by_term(second / "arrays") == _compiled_by_term(fresh)


def test_searchers_are_pooled_not_one_per_thread(bundled_kb):
    """Memory must not grow with the server's thread count: 16 threads searching in turn share one searcher."""
    import threading

    engine = bundled_kb.searcher()
    before = engine.pooled_searchers()
    lock = threading.Lock()

    def one_search():
        with lock:   # one at a time, as under the server's CPU slots
            assert engine.search(SearchRequest(text="余热发电")).total > 0

    threads = [threading.Thread(target=one_search) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.pooled_searchers() <= max(before, 1)


def _answer(response):
    return response.total, [(h.id, round(h.score, 6)) for h in response.hits], response.facets


def _dense(q, arrays):
    """The corpus-sized evaluation the sparse one replaced: a mask and a score array per node."""
    from whoosh import query as Q

    size = arrays.size
    if isinstance(q, Q.Term):
        ids, scores = arrays.scored(q.fieldname, q.text)
        mask, out = np.zeros(size, dtype=bool), np.zeros(size)
        mask[ids] = True
        out[ids] = scores * q.boost if q.boost != 1.0 else scores
        return mask, out
    if len(q.subqueries) == 1:
        return _dense(q.subqueries[0], arrays)
    parts = [_dense(s, arrays) for s in q.subqueries]
    if type(q) is Q.Or:
        mask = np.logical_or.reduce([m for m, _ in parts])
        scores = np.add.reduce([s for _, s in parts])
    else:
        mask = np.logical_and.reduce([m for m, _ in parts])
        scores = np.where(mask, np.add.reduce([s for _, s in parts]), 0.0)
    return mask, scores * q.boost if q.boost != 1.0 else scores


def test_sparse_evaluation_equals_corpus_sized_sums_bit_for_bit(bundled_kb, monkeypatch):
    """Term nodes on sorted docnums, Or summed by bincount (both the sort and the dense branch), And by
    binary search: the same documents and the very same floats as corpus-sized arrays per node."""
    import kb.search.whoosh.evaluate as ev
    from bench.relevance import judged_queries
    from kb.search.query import plan_query
    from kb.search.whoosh.translate import whoosh_plan

    arrays = bundled_kb.searcher().arrays()
    plans = [whoosh_plan(plan_query(bundled_kb.analysis, q["q"])) for q in judged_queries()]
    nodes = [g for plan in plans for g in plan.groups] + [plan.disjunction() for plan in plans if plan.groups]
    for share in (ev.DENSE_SHARE, 10**9, 1):            # default threshold, always dense, always sorted
        monkeypatch.setattr(ev, "DENSE_SHARE", share)
        for node in nodes:
            found = ev.evaluate(node, arrays)
            mask, scores = _dense(node, arrays)
            assert np.array_equal(found.ids, np.flatnonzero(mask)), node
            assert np.array_equal(found.scores, scores[found.ids]), node


def test_fallback_to_whoosh_is_logged_once_with_its_reason(kb, monkeypatch, caplog):
    """A query node the vectorised path cannot evaluate falls back to Whoosh's collector (same answer)
    and says so in the log, once per reason, not silently and not on every request."""
    import logging

    from whoosh import query as Q

    import kb.search.whoosh.searcher as searcher_mod
    from kb.search.query import plan_query

    translate = searcher_mod.whoosh_plan

    def with_prefix(plan):
        found = translate(plan)
        found.groups = [Q.Or([found.groups[0], Q.Prefix("body", "活性")])]
        return found

    monkeypatch.setattr(searcher_mod, "whoosh_plan", with_prefix)
    engine = kb.searcher()
    request = SearchRequest(text="活性炭", correct=False)
    with caplog.at_level(logging.WARNING, logger="kb.search"):
        answers = [engine.search(request) for _ in range(3)]
    fallbacks = [r for r in caplog.records if "falls back to Whoosh" in r.getMessage()]
    assert len(fallbacks) == 1 and "Prefix" in fallbacks[0].getMessage()
    reference = engine.search_whoosh(request, with_prefix(plan_query(kb.analysis, "活性炭")))
    assert answers[0].total and _answer(answers[0]) == _answer(reference)


def test_facet_counts_of_few_and_of_most_documents_equal_counting_each_facet(bundled_kb):
    """Facets are counted over the listed documents only, all facets in one bincount; for most of
    the corpus the documents left out are counted and taken from the totals. Both equal counting
    each facet's values document by document."""
    from kb.fields import FACETS

    arrays = bundled_kb.searcher().arrays()
    live = np.flatnonzero(arrays.live)
    rng = np.random.default_rng(0)
    for n in (1, 7, len(live) // 3, len(live) // 2 + 1, len(live) - 3, len(live)):
        docnums = np.sort(rng.choice(live, n, replace=False))
        counted = arrays.facet_counts(FACETS, docnums)
        for name in FACETS:
            facet = arrays.facet(name)
            expected = np.zeros(len(facet.values), dtype=np.int64)
            for d in docnums:
                for v in facet.value_ids[facet.indptr[d]:facet.indptr[d + 1]]:
                    expected[v] += 1
            assert counted[name].tolist() == expected.tolist(), (name, n)
