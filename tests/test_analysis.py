"""Text normalisation: width and traditional characters fold, offsets stay, and domain words stay whole."""
from __future__ import annotations

from kb.analysis import normalize
from kb.search.engine import SearchRequest

from conftest import technology, write


def test_normalize_keeps_length_and_folds_traditional_and_width():
    for text, expected in [("廢水回用", "废水回用"), ("ＶＯＣｓ治理", "VOCs治理"), ("二噁英類", "二噁英类"), ("噁心", "恶心")]:
        assert normalize(text) == expected and len(normalize(text)) == len(text)


def test_a_character_opencc_would_push_beyond_the_bmp_is_kept():
    """OpenCC's t2s writes 二噁英 as 二𫫇英 (U+2BAC7), which nobody types and jieba cannot keep as one word."""
    assert normalize("垃圾焚烧二噁英排放") == "垃圾焚烧二噁英排放"
    assert normalize("𫫇") == "𫫇"                 # an astral character written as such is left alone


def test_dioxin_is_one_word_and_found_under_both_spellings(content, settings):
    from kb.knowledge import KnowledgeBase

    write(content, "technologies", "steel-sinter-dioxin", technology(
        "steel-sinter-dioxin", "烧结烟气二噁英协同控制", sectors="[钢铁]", tags="[废气]", process="烧结",
        summary="在烧结烟气净化中抑制和脱除二噁英。", body="通过烟气循环和活性炭喷射降低二噁英排放。"))
    kb = KnowledgeBase(settings)
    try:
        kb.build()
        assert ("二噁英", 6, 9) in [(w, s, e) for w, s, e in kb.analysis.index_tokens("烧结烟气中的二噁英")]
        for query in ("二噁英", "二恶英", "二噁英排放"):
            hits = [h.id for h in kb.search(SearchRequest(text=query)).hits]
            assert hits[:1] == ["steel-sinter-dioxin"], query
    finally:
        kb.close()
