"""The cheaper forms the vectorised search takes for large match sets give the same numbers as the
plain ones: dense score arrays equal sorted docnums to the last bit, facet bitsets equal counting the
facets' values document by document."""
from __future__ import annotations

import numpy as np
import pytest

from kb.fields import FACETS
from kb.search.query import plan_query
from kb.search.whoosh import evaluate as evaluate_mod
from kb.search.whoosh.evaluate import Dense, evaluate_any
from kb.search.whoosh.translate import whoosh_plan

from bench.relevance import judged_queries


def _groups(knowledge):
    """Every word group (and its parts) of every judged query, as Whoosh query trees."""
    for query in judged_queries():
        plan = whoosh_plan(plan_query(knowledge.analysis, query["q"]))
        yield from plan.groups
        if len(plan.groups) > 1:
            yield plan.conjunction()
            yield plan.disjunction()


@pytest.mark.parametrize("share", [evaluate_mod.DENSE_SHARE, 10**12])
def test_dense_and_sorted_forms_give_the_same_matches_and_scores(bundled_kb, monkeypatch, share):
    """Every judged query's groups match the same documents with bit-identical scores whether every
    node keeps sorted docnums, the forms are chosen by size (sorted docnums looked up in dense parts
    included), or every node that combines children is dense."""
    arrays = bundled_kb.searcher().arrays()
    groups = list(_groups(bundled_kb))
    monkeypatch.setattr(evaluate_mod, "DENSE_SHARE", 0)            # never dense
    sparse = [evaluate_any(g, arrays) for g in groups]
    assert not any(isinstance(found, Dense) for found in sparse)
    monkeypatch.setattr(evaluate_mod, "DENSE_SHARE", share)
    chosen = [evaluate_any(g, arrays) for g in groups]
    assert any(isinstance(found, Dense) for found in chosen)
    assert sum(len(found) for found in sparse) > 1000
    for group, plain, found in zip(groups, sparse, chosen):
        found = found.sparse()
        assert np.array_equal(plain.ids, found.ids), group
        assert np.array_equal(plain.scores, found.scores), group     # exact, not approximately


def test_dense_scores_are_zero_exactly_where_nothing_matches(bundled_kb, monkeypatch):
    monkeypatch.setattr(evaluate_mod, "DENSE_SHARE", 10**12)
    arrays = bundled_kb.searcher().arrays()
    for group in list(_groups(bundled_kb))[:60]:
        found = evaluate_any(group, arrays)
        if isinstance(found, Dense):
            assert found.scores.shape == (arrays.size,)
            assert (found.scores >= 0).all()
            assert np.array_equal(np.flatnonzero(found.scores), found.sparse().ids)


def test_every_posting_scores_above_zero(bundled_kb):
    """Dense matches are the documents whose score is above 0, which holds because every posting is."""
    arrays = bundled_kb.searcher().arrays()
    for fieldname in arrays.compiled_fields:
        _vocab, _indptr, _ids, scores = arrays._compiled[fieldname]
        assert len(scores) and scores.min() > 0, fieldname


def test_a_boost_of_zero_is_left_to_whoosh(bundled_kb):
    from whoosh import query as Q

    arrays = bundled_kb.searcher().arrays()
    with pytest.raises(evaluate_mod.Unsupported):
        evaluate_any(Q.Or([Q.Term("body", "废水"), Q.Term("title", "废水", boost=0.0)]), arrays)


def _counted_one_by_one(facet, docnums) -> list[int]:
    expected = np.zeros(len(facet.values), dtype=np.int64)
    for d in docnums:
        for v in facet.value_ids[facet.indptr[d]:facet.indptr[d + 1]]:
            expected[v] += 1
    return expected.tolist()


def test_facet_bitsets_count_like_the_facets(bundled_kb):
    arrays = bundled_kb.searcher().arrays()
    bits = arrays.facet_bits()
    live = np.flatnonzero(arrays.live)
    rng = np.random.default_rng(1)
    for n in (0, 1, 5, len(live) // 2, len(live)):
        docnums = np.sort(rng.choice(live, n, replace=False))
        mask = np.zeros(arrays.size, dtype=bool)
        mask[docnums] = True
        by_docnums, by_mask = bits.counts(docnums), bits.counts(mask)
        for name in FACETS:
            expected = _counted_one_by_one(arrays.facet(name), docnums)
            assert by_docnums[name].tolist() == expected, (name, n)
            assert by_mask[name].tolist() == expected, (name, n)
            assert arrays.value_counts(name, docnums).tolist() == expected, (name, n)
            assert arrays.value_counts(name, mask).tolist() == expected, (name, n)


def test_facet_bitsets_say_who_holds_a_value(bundled_kb):
    arrays = bundled_kb.searcher().arrays()
    bits = arrays.facet_bits()
    facet = arrays.facet("sector")
    for wanted in ([0], [1, 2], list(range(len(facet.values)))):
        holding = bits.holding("sector", wanted)
        expected = [any(v in wanted for v in facet.value_ids[facet.indptr[d]:facet.indptr[d + 1]])
                    for d in range(arrays.size)]
        assert holding.tolist() == expected
    assert not bits.holding("sector", []).any()


def _differences(a: str, b: str) -> list[tuple[str, str]]:
    return [(x, y) for x, y in zip(a, b) if x != y]


def test_snippet_text_equals_normalising_wherever_a_word_can_be_read():
    """searchable() skips folding what no word can hold (，。（） stay) and skips OpenCC when nothing
    converts; it must equal normalize(...).lower() in length and at every character a word or the
    Latin boundary rule reads, on every bundled text and on text full of what normalising changes."""
    import re

    from bench.corpus import bundled_documents
    from kb.analysis import normalize
    from kb.search.whoosh.snippet_text import searchable

    wordlike = re.compile(r"[\w+#&.%\-]")
    texts = [t for d in bundled_documents().values() for t in (d.body, d.summary, d.title)]
    texts += ["ＣＯＤ去除率９０％，ＰＭ２．５降至３５μｇ／ｍ³；Ⅰ级标准②。", "廢水處理與餘熱回收（ＲＴＯ）",
              "𝐀𝐁 二噁英 ﬁlter ㈱ 丽", "ΑΒΓ Straße İstanbul ＫＥＬＶＩＮ", "m³/h 与 m3/h；CO₂ 与 CO2", "普通文字，没有要折叠的。"]
    folded_somewhere = 0
    for text in texts:
        mine, theirs = searchable(text), normalize(text).lower()
        assert len(mine) == len(theirs), text[:40]
        for x, y in _differences(mine, theirs):
            assert not wordlike.match(x) and not wordlike.match(y), (text[:40], x, y)
        folded_somewhere += mine != text.lower()
    assert folded_somewhere >= 5
    assert searchable("ＣＯＤ９０％") == "cod90%" and searchable("廢水") == "废水"
    assert searchable("废水，回收。") == "废水，回收。"         # left as written: no word holds ，or 。


def test_sectors_named_by_a_query_are_found_among_the_terms_it_can_hold():
    """_name_sectors checks only the sector terms whose first character the query holds; the sectors
    (and their order) equal checking every term, longest first, on the judged and generated queries."""
    from bench.__main__ import workload
    from kb.analysis import load_analysis, normalize

    analysis = load_analysis()
    queries = [q["q"] for q in judged_queries()] + workload(400)
    named = 0
    for text in queries:
        norm = normalize(text).lower()
        expected, rest = [], norm
        for folded, sector in analysis.sector_terms:
            if folded in rest:
                if sector != "通用" and sector not in expected:
                    expected.append(sector)
                rest = rest.replace(folded, " ")
        plan = plan_query(analysis, text)
        assert plan.sectors[:len(expected)] == expected, text
        named += bool(expected)
    assert named > 50


def _combine_before(masks, scores, weights, emphasis=None, credits=None):
    """coverage.combine as it was written with np.where and stacked reductions: the reference."""
    stacked = np.vstack(masks)
    mask = stacked.any(axis=0)
    complete = stacked.all(axis=0)
    total = float(weights.sum())
    if emphasis is not None and any(e != 1.0 for e in emphasis):
        scores = [s * e for s, e in zip(scores, emphasis)]
    summed = np.add.reduce(scores)
    if total <= 0:
        coverage = np.where(mask, 1.0, 0.0)
    else:
        covered = stacked if not credits or all(c is None for c in credits) else \
            np.vstack([mask if credit is None else credit for mask, credit in zip(masks, credits)])
        coverage = (weights[:, None] * covered).sum(axis=0) / total
    return mask, np.where(mask, summed * coverage, 0.0), complete


def test_coverage_arithmetic_is_the_same_to_the_last_bit():
    """combine, alternative_credit and sector_factors avoid np.where and stacked sums; on random
    groups (with emphasis and credits, and with weights summing to 0) every number equals the
    np.where formulation bit for bit."""
    from kb.search import coverage

    rng = np.random.default_rng(7)
    for trial in range(300):
        k, n = int(rng.integers(1, 7)), int(rng.integers(1, 400))
        masks = [rng.random(n) < rng.random() for _ in range(k)]
        scores = [np.where(m, rng.random(n) * 20, 0.0) for m in masks]
        weights = coverage.group_weights(masks, n + int(rng.integers(0, 50)), list(rng.choice([1.0, 0.3, 0.8], k)))
        if trial % 10 == 0:
            weights = np.zeros(k)
        emphasis = list(rng.choice([1.0, 0.3, 0.8], k))
        credits = [None if rng.random() < 0.5 else
                   coverage.alternative_credit([m & (rng.random(n) < 0.5) for _ in range(3)], n) for m in masks]
        for args in ((None, None), (emphasis, None), (emphasis, credits)):
            found = coverage.combine(masks, scores, weights, *args)
            mask, combined, complete = _combine_before(masks, scores, weights, *args)
            assert np.array_equal(found.mask, mask) and np.array_equal(found.complete, complete)
            assert np.array_equal(found.scores, combined)
        named, pointed, cross = (rng.random(n) < 0.3 for _ in range(3))
        nested = np.where(named, coverage.NAMED_SECTOR_FACTOR, np.where(
            pointed, coverage.INFERRED_SECTOR_FACTOR, np.where(cross, coverage.CROSS_SECTOR_FACTOR, 1.0)))
        assert np.array_equal(coverage.sector_factors(named, pointed, cross), nested)
    alternatives = [rng.random(50) < 0.4 for _ in range(4)]
    weights = coverage.group_weights(alternatives, 60) ** 1.0
    top = float(weights.max())
    expected = np.zeros(50)
    for m, w in zip(alternatives, weights):
        expected = np.maximum(expected, np.where(m, w / top, 0.0))
    assert np.array_equal(coverage.alternative_credit(alternatives, 60), expected)


def _matched_terms_before(q, arrays, docnums):
    """evaluate.matched_terms as it was, one numpy array per node: the reference."""
    from whoosh import query as Q

    page = np.asarray(docnums, dtype=np.int64)
    found = [set() for _ in docnums]
    memo = {}

    def at(node):
        if id(node) in memo:
            return memo[id(node)]
        if isinstance(node, Q.Term):
            ids, _ = arrays.scored(node.fieldname, node.text)
            ids = np.asarray(ids)
            out = np.zeros(len(page), dtype=bool) if not len(ids) else \
                ids[np.minimum(np.searchsorted(ids, page), len(ids) - 1)] == page
        elif type(node) in (Q.And, Q.Or) and node.subqueries:
            parts = [at(s) for s in node.subqueries]
            out = np.logical_or.reduce(parts) if type(node) is Q.Or else np.logical_and.reduce(parts)
        else:
            out = np.zeros(len(page), dtype=bool)
        memo[id(node)] = out
        return out

    def collect(node, allowed):
        if not allowed.any():
            return
        if isinstance(node, Q.Term):
            for k in np.flatnonzero(allowed):
                found[k].add((node.fieldname, node.text))
            return
        if type(node) in (Q.And, Q.Or):
            for sub in node.subqueries:
                collect(sub, allowed & at(sub) if type(node) is Q.Or else allowed)

    collect(q, at(q))
    return found


def test_matched_terms_on_bits_equal_one_array_per_node(bundled_kb):
    from kb.search.whoosh.evaluate import matched_terms

    arrays = bundled_kb.searcher().arrays()
    rng = np.random.default_rng(3)
    live = np.flatnonzero(arrays.live)
    compared = 0
    for query in judged_queries():
        plan = whoosh_plan(plan_query(bundled_kb.analysis, query["q"]))
        tree = plan.disjunction()
        if not plan.groups:
            continue
        matched = evaluate_any(tree, arrays).sparse().ids
        page = sorted(set(rng.choice(matched, min(6, len(matched)), replace=False).tolist())
                      | set(rng.choice(live, 4, replace=False).tolist())) if len(matched) else []
        expected = _matched_terms_before(tree, arrays, page)
        assert matched_terms(tree, arrays, page) == expected, query["q"]
        compared += sum(map(len, expected))
    assert compared > 1000


def test_snapping_by_searching_near_a_run_equals_bisecting_every_sentence_end():
    """_snapped_bounds without the list of sentence ends (what highlighting now passes) gives the
    bounds the bisection over every sentence end gives, for every run of every bundled body."""
    import kb.search.whoosh.searcher as searcher_mod
    from bench.corpus import bundled_documents
    from kb.analysis import load_analysis, normalize

    fragmenter = searcher_mod._highlighter().fragmenter
    analysis = load_analysis()
    checked = 0
    for doc in sorted(bundled_documents().values(), key=lambda d: d.id):
        text = doc.body
        norm = normalize(text).lower()
        words = {*analysis.query_tokens(doc.title)[:3], "废水", "余热", "，", "。"}
        tokens = sorted((s, e, w) for w in words for s, e in searcher_mod._occurrences(norm, w))
        kept = []
        for token in sorted(tokens, key=lambda t: (t[0], -(t[1] - t[0]))):
            if not kept or token[0] >= kept[-1][1]:
                kept.append(token)
        ends = [m.start() for m in searcher_mod._SENTENCE_END.finditer(text)]
        for run in searcher_mod._runs(kept, len(text), fragmenter.maxchars, fragmenter.surround):
            first, last = kept[run[0]][0], kept[run[1]][1]
            assert searcher_mod._snapped_bounds(fragmenter, text, None, run, first, last) == \
                searcher_mod._snapped_bounds(fragmenter, text, ends, run, first, last), (doc.id, run)
            checked += 1
    assert checked > 2000


def test_glossary_forms_are_segmented_ahead_as_a_query_would_segment_them():
    """The planner's table of glossary forms holds every synonym and colloquial-phrase form of the
    glossary, each segmented exactly as on the spot, and the plans of the judged queries only ask it
    for forms it holds."""
    from kb.analysis import load_analysis
    from kb.search import query as query_mod

    analysis = load_analysis()
    table = query_mod._segmented_forms(analysis)
    assert len(table) > 1000
    for form, words in list(table.items())[::7]:
        assert words == query_mod._segmented(analysis, form)
    asked = []
    real = query_mod._segmented
    query_mod._words_of_forms.pop(analysis, None)
    query_mod._glossary_words(analysis, "余热")            # builds the table
    try:
        query_mod._segmented = lambda a, form: asked.append(form) or real(a, form)
        for query in judged_queries():
            plan_query(analysis, query["q"])
    finally:
        query_mod._segmented = real
    assert asked == []
