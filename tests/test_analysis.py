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


READINGS = """
import json, sys
from kb.config import BUNDLED_CONTENT
from kb.spelling import reading
chars = sorted({c for p in BUNDLED_CONTENT.rglob("*.md") for c in p.read_text(encoding="utf-8") if "\\u4e00" <= c <= "\\u9fff"})
readings = [reading(c) for c in chars]
from pypinyin.constants import PHRASES_DICT
print(json.dumps({"phrases": bool(PHRASES_DICT), "readings": readings}))
"""


def test_readings_without_pypinyins_phrase_dictionary_are_the_same():
    """kb.spelling reads single characters, so it imports pypinyin without its phrase dictionary (~40 MB in
    every process that loads it) and only when it first reads (a build never does): every character of the
    bundled content reads the same as with the dictionary loaded."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)

    def run(**env) -> dict:
        out = subprocess.run([sys.executable, "-c", READINGS], capture_output=True, text=True, check=True,
                             env={**{k: v for k, v in os.environ.items() if k != "PYPINYIN_NO_PHRASES"},
                                  "PYTHONPATH": root, **env})
        return json.loads(out.stdout)

    ours, with_phrases = run(), run(PYPINYIN_NO_PHRASES="")
    assert not ours["phrases"] and with_phrases["phrases"]
    assert len(ours["readings"]) > 1500 and ours["readings"] == with_phrases["readings"]
    # what a build (and the writer process) imports of the search engine does not load pypinyin
    loaded = subprocess.run([sys.executable, "-c", "import sys, kb.search.whoosh.engine; print('pypinyin' in sys.modules)"],
                            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": root})
    assert loaded.stdout.strip() == "False"
