"""Snippets of the vectorised search path: the same output as Whoosh's pinpoint fragmenter and
top_fragments over every match, at the cost of the few fragments that can win."""
from __future__ import annotations

import re

import pytest
from whoosh.highlight import Fragment, Token, top_fragments

import kb.search.whoosh.searcher as searcher_mod
from bench.corpus import bundled_documents
from kb.analysis import load_analysis, normalize
from kb.search.whoosh.searcher import _highlighter, _marked, _occurrences


def _marked_by_whoosh(highlighter, text, words, top):
    """What _marked did before: a Token per match, WordFragmenter over all of them, top_fragments."""
    norm = normalize(text).lower()

    def tokens_of(chosen):
        return [Token(text=w, startchar=s, endchar=e) for w in chosen for s, e in _occurrences(norm, w)]

    tokens = tokens_of({w for w in words if len(w) > 1 or w.isascii()}) or tokens_of(words)
    if not tokens:
        return ""
    tokens.sort(key=lambda t: (t.startchar, -(t.endchar - t.startchar)))
    fragments = highlighter.fragmenter.fragment_matches(text, tokens)
    return highlighter.formatter.format(top_fragments(fragments, top, highlighter.scorer, highlighter.order))


@pytest.fixture(scope="module")
def bodies():
    docs = sorted(bundled_documents().values(), key=lambda d: d.id)
    return [(d.body, load_analysis().query_tokens(d.title)[:3]) for d in docs]


def test_snippets_equal_whoosh_fragmenting_every_match(bodies):
    """Bodies shorter than a window (all the bundled ones): the very same snippet as Whoosh's
    fragmenter over every match, term classes included."""
    common = ["余热", "废水", "节能", "回收", "水", "vocs", "co"]
    mine, theirs = _highlighter(), _highlighter()      # one per request: term classes carry over between hits
    compared = 0
    for text, title_words in bodies:
        assert len(text) < searcher_mod.WINDOW
        for words in (set(title_words), set(title_words) | set(common[:3]), {"水"}, set(common)):
            for top in (1, 2, 3):
                terms = {("body", w) for w in words}
                expected = _marked_by_whoosh(theirs, text, words, top)
                assert _marked(mine, {"body": text}, "body", terms, top) == expected, (text[:40], words, top)
                compared += bool(expected)
    assert compared > 1000


FILLER = "本段介绍设备的日常维护要求和巡检周期，与工艺原理无关。"


def _long_body(sentences_before: int, late: str) -> str:
    return "余热锅炉在窑尾投运。" + FILLER * sentences_before + late


def test_long_body_snippet_comes_from_the_first_window_with_a_match(monkeypatch):
    """A body many windows long: only the window holding the first match is normalised and searched
    (not the whole body), and the snippet comes from there even where a later passage matches more."""
    late = "余热回收改造后，余热发电与余热供暖并行，余热利用率提高。"
    text = _long_body(600, late)                      # ~16k characters; the dense passage is at the end
    assert len(text) > 3 * searcher_mod.WINDOW
    normalised = []
    real = searcher_mod.analysis.normalize
    monkeypatch.setattr(searcher_mod.analysis, "normalize", lambda t: normalised.append(len(t)) or real(t))
    snippet = _marked(_highlighter(), {"body": text}, "body", {("body", "余热")}, 2)
    assert snippet.startswith("<mark") and "窑尾投运" in snippet and "发电" not in snippet, snippet
    assert sum(normalised) <= searcher_mod.WINDOW + 2 * len("余热"), normalised
    # Whoosh's fragmenter over the whole body picks the dense passage at the end instead
    assert "余热发电" in re.sub(r"<[^>]+>", "", _marked_by_whoosh(_highlighter(), text, {"余热"}, 1))


def test_long_body_whose_words_occur_late_still_gets_a_snippet():
    text = FILLER * 500 + "末段：采用余热回收。"          # the only match beyond the first windows
    snippet = _marked(_highlighter(), {"body": text}, "body", {("body", "余热")}, 2)
    assert ">余热</mark>回收" in snippet


def test_a_word_across_a_window_edge_is_found_once():
    edge = searcher_mod.WINDOW - 1                   # 余 ends the first window, 热 starts the next
    text = "甲" * edge + "余热回收。" + "乙" * 100
    snippet = _marked(_highlighter(), {"body": text}, "body", {("body", "余热")}, 2)
    assert snippet.count(">余热</mark>") == 1, snippet


def test_only_the_fragments_that_can_win_are_built(monkeypatch, bodies):
    """Hundreds of matches in one window make hundreds of runs; Fragments (trimmed and snapped) are
    built for the runs that can be among the two best, not for all of them."""
    dense = "余热回收改造。"
    text = ("余热。" + FILLER * 2) * 60 + dense + FILLER * 2 + dense       # 62 runs in ~3.6k characters
    assert len(text) < searcher_mod.WINDOW
    built = []
    monkeypatch.setattr(searcher_mod, "Fragment", lambda *a: built.append(a) or Fragment(*a))
    snippet = _marked(_highlighter(), {"body": text}, "body", {("body", "余热"), ("body", "回收")}, 2)
    assert snippet == _marked_by_whoosh(_highlighter(), text, {"余热", "回收"}, 2)
    assert snippet.count("<mark") == 4 and len(built) == 2


def test_every_run_gets_the_bounds_whoosh_trimming_and_snapping_give(bodies):
    """Runs are ranked by, and winners cut at, the bounds their Fragment gets from Whoosh's
    _autotrim and WordFragmenter._snap; computed by bisection, they must be those bounds for every
    run of every bundled body."""
    fragmenter = _highlighter().fragmenter
    checked = 0
    for text, title_words in bodies:
        norm = normalize(text).lower()
        tokens = sorted((s, e, w) for w in {*title_words, "废水", "余热", "，"} for s, e in _occurrences(norm, w))
        kept = []
        for token in sorted(tokens, key=lambda t: (t[0], -(t[1] - t[0]))):
            if not kept or token[0] >= kept[-1][1]:
                kept.append(token)
        ends = [m.start() for m in searcher_mod._SENTENCE_END.finditer(text)]
        for run in searcher_mod._runs(kept, len(text), fragmenter.maxchars, fragmenter.surround):
            i, j, left, right = run
            whoosh = Fragment(text, [Token(text=w, startchar=s, endchar=e) for s, e, w in kept[i:j + 1]], left, right)
            fragmenter._autotrim(whoosh)
            fragmenter._snap(text, whoosh)
            bounds = searcher_mod._snapped_bounds(fragmenter, text, ends, run, kept[i][0], kept[j][1])
            assert bounds == (whoosh.startchar, whoosh.endchar), (text[:30], run)
            checked += 1
    assert checked > 2000


def test_normalize_folds_exactly_as_translating_every_character():
    """normalize replaces only the characters NFKC folds; the result equals folding each character."""
    import unicodedata

    from kb.analysis import _FOLD, normalize

    text = "ＶＯＣｓ治理，（ＲＴＯ）１２３％：漢字 ㈱ ﬁ 𝐀 丽 普通文字"
    each = "".join(ch if len(unicodedata.normalize("NFKC", ch)) != 1 else unicodedata.normalize("NFKC", ch)
                   for ch in text)
    assert text.translate(_FOLD) == each
    folded = normalize(text)
    assert len(folded) == len(text)
    assert folded.startswith("VOCs治理,(RTO)123%:") and "𝐀" not in folded and "A" in folded
