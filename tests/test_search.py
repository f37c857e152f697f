"""Build → search round trip: what an enterprise typing Chinese into the search box relies on."""
from __future__ import annotations

import functools
from contextlib import contextmanager
import json
import re

import pytest

from kb.cli import main
from kb.analysis import load_analysis
from kb.search.engine import SearchRequest

current = functools.cache(load_analysis)     # one analysis of the bundled glossary for these tests


def ids(kb, text, **kwargs):
    return [h.id for h in kb.search(SearchRequest(text=text, **kwargs)).hits]


def test_round_trip_finds_entry_by_title_word(kb):
    assert ids(kb, "干熄焦")[0] == "coking-cdq"


def test_synonym_vocs_finds_entry_that_only_says_chinese_name(kb):
    # general-activated-carbon never writes "VOCs"; the glossary says VOCs = 挥发性有机物
    assert "general-activated-carbon" in ids(kb, "VOCs")
    assert "general-activated-carbon" in ids(kb, "vocs")  # Latin abbreviations match case-insensitively


def test_synonym_cdq_finds_dry_quenching(kb):
    response = kb.search(SearchRequest(text="CDQ"))
    assert [h.id for h in response.hits] == ["coking-cdq"]
    assert "干熄焦" in response.synonyms["cdq"]


def test_traditional_characters_are_folded(kb):
    assert ids(kb, "乾熄焦")[:1] == ids(kb, "干熄焦")[:1] == ["coking-cdq"]
    assert ids(kb, "多級逆流漂洗")[:1] == ids(kb, "多级逆流漂洗")[:1] == ["plating-countercurrent-rinse"]
    assert "building-cement-whr" in ids(kb, "餘熱發電")


def test_dictionary_words_stay_whole():
    words = current().query_tokens("清洁生产审核 挥发性有机物 干熄焦 中水回用")
    assert words == ["清洁生产审核", "挥发性有机物", "干熄焦", "中水回用"]


def test_words_that_say_how_not_what_are_not_required():
    # 改 / 高 are standalone tokens a document rarely has; requiring them emptied 喷漆改水性漆
    assert current().query_tokens("喷漆改水性漆") == ["喷漆", "水性漆"]
    assert current().query_tokens("水泥粉磨电耗高") == ["水泥", "粉磨", "电耗"]


def test_long_domain_words_split_into_dictionary_words():
    # 脱硝 is in the glossary, so a query for the whole phrase also finds texts that word it differently
    assert current().subwords("焦炉烟气脱硫脱硝") == ["焦炉", "烟气脱硫", "脱硝"]
    assert current().query_tokens("水泥脱硝") == ["水泥", "脱硝"]


def test_highlight_marks_whole_words(kb):
    hit = kb.search(SearchRequest(text="余热锅炉")).hits[0]
    assert "<mark" in hit.snippet
    marked = re.findall(r"<mark[^>]*>(.*?)</mark>", hit.snippet)
    assert marked and all(len(m) >= 2 for m in marked), hit.snippet


def test_full_matches_first_then_partial_ones(kb):
    # 余热 熄焦: the entry with both words first; one with only 余热 still listed, after it
    both = kb.search(SearchRequest(text="余热 熄焦"))
    assert both.matched_all_words and [h.id for h in both.hits][:2] == ["coking-cdq", "building-cement-whr"]
    assert both.hits[0].score > 2 * both.hits[1].score
    either = kb.search(SearchRequest(text="熄焦 漂洗"))
    assert not either.matched_all_words
    assert {"coking-cdq", "plating-countercurrent-rinse"} <= {h.id for h in either.hits}
    # sorted by year, relevance no longer orders the page: only the full matches are listed
    assert [h.id for h in kb.search(SearchRequest(text="余热 熄焦", sort="year")).hits] == ["coking-cdq"]


def test_partial_match_of_the_rare_word_outranks_full_match_of_common_ones(kb, settings, content):
    """No entry has all of 干熄焦 能耗 浪费. The any-word fallback summed the words, so entries that
    repeat the two common words outranked the one entry on 干熄焦; coverage weighs each word by how
    rare it is, so covering the rare word counts for more than covering the two common ones."""
    from conftest import technology, write

    for n in range(8):
        write(content, "technologies", f"general-note-{n}", technology(
            f"general-note-{n}", f"能耗浪费统计说明{n}", summary="能耗浪费的统计口径。",
            body="减少能耗浪费，能耗浪费统计中常被忽略。"))
    kb.build()
    kb.refresh()
    response = kb.search(SearchRequest(text="干熄焦 能耗 浪费"))
    assert not response.matched_all_words
    assert response.hits[0].id == "coking-cdq"


def test_title_outranks_body(kb):
    # 挥发性有机物 is in the body of the adsorption entry only; 漂洗 is in the rinse entry's title
    assert ids(kb, "漂洗")[0] == "plating-countercurrent-rinse"


@pytest.mark.parametrize("text, found", [
    ('"(*: AND OR', []), ("title:干熄焦 OR *", ["coking-cdq"]), ("((((", []), ("NOT", []), ("\\", []),
    ("干熄焦 AND (", ["coking-cdq"]), ("'", []), ("a" * 10000, []),
])
def test_query_syntax_characters_are_read_as_text(kb, text, found):
    """Never a crash, and never an operator: `*` does not match every entry, `title:` does not pick a field,
    an unbalanced bracket does not empty a query that has a real word."""
    response = kb.search(SearchRequest(text=text))
    assert [h.id for h in response.hits] == found
    assert response.total == len(found)


def test_sector_and_type_filters(kb):
    assert ids(kb, "余热", sectors=["焦化"]) == ["coking-cdq"]
    assert ids(kb, "VOCs", types=["case"]) == ["case-coating-vocs"]


def test_facets_count_whole_result_set(kb):
    response = kb.search(SearchRequest(text="余热", per_page=1))
    assert response.total == 2 and len(response.hits) == 1
    assert response.facets["sector"] == {"焦化": 1, "钢铁": 1, "建材": 1}
    assert response.facets["type"] == {"technology": 2}


def test_cli_search_json_shape(runner, kb, settings, monkeypatch):
    monkeypatch.setenv("KB_HOME", str(settings.home))
    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", settings.content_dirs[0])
    result = runner.invoke(main, ["search", "干熄焦", "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"query", "total", "results"}
    assert data["results"][0]["id"] == "coking-cdq"
    # extended in issue 15 with reliability (origin, confidence) and case kind; the old keys stay
    assert set(data["results"][0]) == {"id", "type", "title", "sectors", "summary", "snippet", "score",
                                       "origin", "confidence", "kind", "audit"}
    assert data["results"][0]["origin"] == "标准" and data["results"][0]["confidence"] == "高"
    assert data["results"][0]["kind"] is None


def test_cli_search_unknown_sector_lists_valid_ones(runner):
    result = runner.invoke(main, ["search", "余热", "--sector", "火星"])
    assert result.exit_code == 2
    assert "未知行业「火星」" in result.output and "电镀" in result.output


def test_province_of_region():
    from kb.regions import province_of

    assert province_of("江苏省常州市武进区") == "江苏"
    assert province_of("苏州市吴江区平望镇") == "江苏"        # a Jiangsu city without its province
    assert province_of("内蒙古自治区呼和浩特市") == "内蒙古"
    assert province_of("陕西省") == "陕西" and province_of("山西省长治市") == "山西"
    assert province_of("多地（集团层面）") is None and province_of(None) is None


def test_cases_filter_and_facet_by_province(kb, settings, content):
    from conftest import case, write

    write(content, "cases", "case-coating-shaoxing", case("case-coating-shaoxing").replace(
        "region: 江苏省常州市", "region: 浙江省绍兴市").replace("常州某涂装企业", "绍兴某涂装企业"))
    kb.build()
    kb.refresh()
    response = kb.search(SearchRequest(text="VOCs"))
    assert response.facets["province"] == {"江苏": 1, "浙江": 1}
    jiangsu = kb.search(SearchRequest(text="VOCs", provinces=["江苏"]))
    assert [h.id for h in jiangsu.hits] == ["case-coating-vocs"]
    assert jiangsu.facets["province"] == {"江苏": 1}


# -- problem vocabulary (glossary `problems`): what enterprises say → technical words ------------

def test_colloquial_phrase_also_searches_its_technical_words(kb):
    # the activated-carbon entry never says 异味 or 味道; the glossary says 异味 means VOCs, 恶臭, 有机废气
    response = kb.search(SearchRequest(text="车间异味"))
    assert response.hits[0].id == "general-activated-carbon"
    assert response.expansions == {"异味": ["VOCs", "恶臭", "有机废气"]}
    assert "异味" in response.words


def test_colloquial_phrases_are_found_longest_first_in_normalised_text():
    analysis = current()
    text = "電費太貴了，車間味道大"                   # traditional characters fold first
    from kb.analysis import normalize

    norm = normalize(text).lower()
    assert [(norm[lo:hi], p) for lo, hi, p in analysis.problem_spans(norm)] == [("电费太贵", "电费贵"), ("味道大", "味道大")]
    # degree words and fillers between a phrase's words are skipped; 太阳 is not 太 + 阳
    assert [p for _, _, p in analysis.problem_spans("电镀用水量太大，热量都白白浪费了")] == ["电镀用水量大", "热量浪费"]
    assert [p for _, _, p in analysis.problem_spans("屋顶装太阳能板")] == ["屋顶装太阳能"]
    assert current().query_tokens("电费太贵") == ["电费", "太贵"]    # what jieba alone would leave


def test_problem_vocabulary_covers_every_sector_with_400_phrases():
    from kb.glossary import load_glossary
    from kb.taxonomy import load_taxonomy

    groups = load_glossary().problem_groups
    assert sum(len(g.phrases) for g in groups) >= 400
    assert {g.sector for g in groups} == set(load_taxonomy().names)
    assert all(g.line > 0 and g.terms for g in groups)


def test_homophones_are_corrected_only_where_the_word_as_typed_finds_nothing(kb, content):
    from kb.analysis import normalize
    from kb.spelling import correct

    analysis = current()

    def corrected(text, finds):
        norm = normalize(text).lower()
        return correct(analysis.speller, norm, analysis.cuts(norm), finds)

    for typed, meant in [("无情电镀", "无氰电镀"), ("无青镀锌", "无氰镀锌"), ("干息焦", "干熄焦"),
                         ("余热发点", "余热发电"), ("空呀机余热", "空压机余热"), ("编频改造", "变频改造")]:
        correction, use = corrected(typed, lambda word: False)
        assert correction.text == meant and use, typed
    # a stretch that finds documents as typed is only offered
    correction, use = corrected("定型机废气", lambda word: True)
    assert correction.text == "定形机废气" and not use
    # never across word boundaries (窑尾|废气 is not 尾废 → 危废), never a problem phrase (费水 → 废水)
    for text in ["水泥厂窑头窑尾废气温度高", "陶瓷厂喷雾干燥塔费煤费水", "烧碱电解电耗高", "印染厂废水回用"]:
        assert corrected(text, lambda word: False) == (None, False), text
    # through the engine: 余热发点 finds the whr entry, and says what it searched
    response = kb.search(SearchRequest(text="余热发点"))
    assert response.correction.applied and response.correction.text == "余热发电"
    assert response.hits[0].id == "building-cement-whr" and response.query == "余热发点"


def test_long_description_keeps_domain_words_and_drops_narrative_ones(kb):
    from kb.search.query import NARRATIVE_WEIGHT, plan_query

    text = "我们是一家棉布印染厂，有前处理、染色和定型工序。现在蒸汽用量大、废水排放多，想知道有哪些改造办法。"
    plan = plan_query(current(), text)
    assert {"前处理", "染色", "印染厂", "蒸汽用量大"} <= set(plan.words)
    assert {"一家", "现在", "知道", "工序", "改造"} <= set(plan.dropped)
    assert not set(plan.dropped) & set(plan.words) and len(plan.groups) == len(plan.words) == len(plan.emphasis)
    # a short query keeps its narrative words, at a lower weight
    short = plan_query(current(), "设备噪音太大被投诉")
    assert short.dropped == [] and short.emphasis[short.words.index("投诉")] == NARRATIVE_WEIGHT
    # through the engine: the plant's story does not bury the one entry about its problem
    response = kb.search(SearchRequest(text="我们厂有两座焦炉，现在红焦熄焦时热量都浪费了，另外周边居民也有意见，想知道怎么改。"))
    assert response.hits[0].id == "coking-cdq"


def test_synonym_lookup_is_a_dict_that_answers_like_a_scan_of_every_group():
    """synonyms_of answers from an index built once per glossary (no scan of every group per query
    word), and the answer is what the scan gave: case-insensitive, in group order, no repeats,
    merged over every group that holds the word."""
    from kb.glossary import Glossary, load_glossary

    def scan(glossary, word):
        key, found = word.lower(), []
        for group in glossary.synonym_groups:
            if any(m.lower() == key for m in group):
                found.extend(m for m in group if m.lower() != key and m not in found)
        return tuple(found)

    small = Glossary((), (("VOCs", "挥发性有机物", "vocs"), ("挥发性有机物", "有机废气", "VOCs"), ("中水", "再生水")))
    assert small.synonyms_of("vocs") == ("挥发性有机物", "有机废气") == scan(small, "vocs")
    assert small.synonyms_of("挥发性有机物") == ("VOCs", "vocs", "有机废气") == scan(small, "挥发性有机物")
    assert small.synonyms_of("废水") == ()
    bundled = load_glossary()
    for word in {m for group in bundled.synonym_groups for m in group} | {"VOCS", "cdq", "不存在"}:
        assert bundled.synonyms_of(word) == scan(bundled, word), word


def test_the_sectors_a_query_names_and_plant_words_as_cues():
    """印刷厂 / 电镀 / 水泥窑 name a sector (issue 18): the plan carries it; a plant word (…厂) is a cue for
    ranking, not a topic, and lone characters (没, 人 of 没人要) count as narrative words."""
    from kb.search.query import NARRATIVE_WEIGHT, PLANT_WORD_WEIGHT, plan_query

    plan = plan_query(current(), "印刷厂溶剂味道重")
    assert plan.sectors == ["包装印刷"]
    assert plan.emphasis[plan.words.index("印刷厂")] == PLANT_WORD_WEIGHT
    assert plan_query(current(), "电镀用水量太大").sectors == ["电镀"]
    assert plan_query(current(), "水泥窑 余热").sectors == ["建材"]
    assert plan_query(current(), "空压机很费电").sectors == []           # a cross-sector problem names none
    lone = plan_query(current(), "钢渣堆着没人要")
    assert [lone.emphasis[lone.words.index(w)] for w in ("没", "人")] == [NARRATIVE_WEIGHT] * 2


def test_coverage_of_a_phrase_is_graded_by_its_most_specific_alternative():
    import numpy as np

    from kb.search.coverage import alternative_credit, pointed_sector, sector_factors

    # 100 live documents; the phrase's technical words: a rare one (2 matches) and a common one (40)
    rare = np.zeros(100, dtype=bool); rare[[0, 1]] = True
    common = np.zeros(100, dtype=bool); common[:40] = True
    credit = alternative_credit([rare, common], 100)
    assert credit[0] == credit[1] == 1.0 and 0 < credit[5] < 0.25 and credit[60] == 0.0
    assert pointed_sector({"印染": 5, "造纸": 1}) == "印染" and pointed_sector({"印染": 2, "造纸": 2}) is None
    assert pointed_sector({"印染": 1}) is None                            # one match says too little
    factors = sector_factors(np.array([1, 0, 0, 0], bool), np.array([1, 1, 0, 0], bool), np.array([0, 0, 1, 0], bool))
    assert list(factors) == sorted(factors, reverse=True) and factors[3] == 1.0


def test_a_named_or_pointed_sector_ranks_its_entries_first(content, tmp_path):
    """Two entries match the same words equally; the one of the sector the query names (or the sector the
    query's own words point to) ranks first, and the other is still listed (a preference, not a filter)."""
    from conftest import technology, write

    write(content, "technologies", "paper-heat-pump-drying", technology(
        "paper-heat-pump-drying", "纸机干燥部热泵烘干", sectors="[造纸]", body="烘干工序用热泵回收排湿热量。"))
    write(content, "technologies", "dyeing-heat-pump-drying", technology(
        "dyeing-heat-pump-drying", "织物定型热泵烘干", sectors="[印染]", body="烘干工序用热泵回收排湿热量。"))
    with built(content, tmp_path) as kb:
        assert ids(kb, "印染厂 热泵烘干")[:2] == ["dyeing-heat-pump-drying", "paper-heat-pump-drying"]
        assert ids(kb, "造纸 热泵烘干")[:2] == ["paper-heat-pump-drying", "dyeing-heat-pump-drying"]
        assert_paths_agree(kb, "印染厂 热泵烘干")


def test_a_colloquial_phrase_of_one_sector_implies_that_sector(content, tmp_path):
    """定型机冒烟 is listed only among the 印染 problem groups: saying it says which plant the user runs, so
    of two entries matching what it means, the 印染 one ranks first even where the other matches a little
    more (as for a sector the words' matches point to); a cross-sector phrase (味道大) implies none."""
    from conftest import technology, write
    from kb.search.query import plan_query

    assert plan_query(current(), "定型机冒烟").implied == ["印染"]
    assert plan_query(current(), "车间味道大").implied == []
    write(content, "technologies", "coating-oil-fume-purifier", technology(
        "coating-oil-fume-purifier", "喷涂线废气净化", sectors="[工业涂装]", body="油烟经静电油烟净化，油烟去除率高。"))
    write(content, "technologies", "dyeing-oil-fume-purifier", technology(
        "dyeing-oil-fume-purifier", "织物整理废气净化", sectors="[印染]", body="油烟经静电油烟净化。"))
    with built(content, tmp_path) as kb:
        assert ids(kb, "油烟 静电")[:2] == ["coating-oil-fume-purifier", "dyeing-oil-fume-purifier"]
        assert ids(kb, "定型机冒烟")[:2] == ["dyeing-oil-fume-purifier", "coating-oil-fume-purifier"]
        assert_paths_agree(kb, "定型机冒烟")


def test_colloquial_phrases_are_found_with_their_fillers_and_keep_their_technical_words():
    """A phrase listed with a degree word or particle (钢坯冷了再加热, 污泥太多) is found where typed, though
    fillers are skipped when comparing; the technical words a phrase is made of (钢坯, 电镀污泥, 冷库) are
    word groups of their own; the everyday words inside colloquial phrases (浪费 of 热量白白浪费, 很多 of
    很多乙酸乙酯) are not domain words, so they count as narrative."""
    from kb.analysis import normalize
    from kb.search.query import NARRATIVE_WEIGHT, PHRASE_WORD_WEIGHT, plan_query

    analysis = current()
    spans = analysis.problem_spans(normalize("钢坯冷了再加热太费燃气"))
    assert [phrase for _, _, phrase in spans] == ["钢坯冷了再加热"]
    assert spans[0][:2] == (0, 7)
    assert [p for _, _, p in analysis.problem_spans(normalize("噪音太吵"))] == []    # 太吵 → 吵: too short
    plan = plan_query(analysis, "钢坯冷了再加热太费燃气")
    assert plan.words[:2] == ["钢坯冷了再加热", "钢坯"]
    # the phrase's own words count like the words it means, a little less than a word typed on its own
    # (疏水阀漏汽, a phrase and a technology's own name, must not rank by its parts as by the phrase)
    assert plan.phrase_words == ["钢坯"] and plan.emphasis[:2] == [1.0, PHRASE_WORD_WEIGHT] and PHRASE_WORD_WEIGHT < 1
    assert "电镀污泥" in plan_query(analysis, "电镀污泥太多").words
    assert plan_query(analysis, "冷库电费高").words == ["冷库电费", "冷库"]
    for everyday in ("浪费", "很多", "花钱", "可惜"):
        assert not analysis.is_domain(everyday), everyday
    for technical in ("印染", "钢坯", "排烟", "乙酸乙酯"):
        assert analysis.is_domain(technical), technical
    narrative = plan_query(analysis, "油漆利用率低 浪费")
    assert narrative.emphasis[narrative.words.index("浪费")] == NARRATIVE_WEIGHT


def test_an_entry_about_a_phrases_own_subject_ranks_above_one_matching_only_its_meaning(content, tmp_path):
    """冷库电费高 means 冷库, 制冷系统: the cold-store entry covers the phrase and its own word 冷库, so it ranks
    above an entry that only matches the phrase's other meaning, even in its title."""
    from conftest import technology, write

    write(content, "technologies", "food-cold-store-retrofit", technology(
        "food-cold-store-retrofit", "围护结构保温与除霜优化", sectors="[农副食品加工]", body="冷库围护结构保温。"))
    write(content, "technologies", "general-refrigeration-vfd", technology(
        "general-refrigeration-vfd", "制冷系统变频改造", sectors="[农副食品加工]",
        body="制冷系统压缩机变频；制冷系统冷凝压力优化；制冷系统群控。"))
    with built(content, tmp_path) as kb:
        assert ids(kb, "冷库电费高")[:2] == ["food-cold-store-retrofit", "general-refrigeration-vfd"]
        assert_paths_agree(kb, "冷库电费高")


@contextmanager
def built(content, tmp_path):
    """A knowledge base built from the test's content folder, closed afterwards."""
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase

    kb = KnowledgeBase(load_settings(tmp_path / "instance", bundled_content=content, editable_content=tmp_path / "editable"))
    kb.build()
    try:
        yield kb
    finally:
        kb.close()


def assert_paths_agree(kb, text: str) -> None:
    """The vectorised path and Whoosh's own collectors give the same hits and scores for the query."""
    fast = kb.search(SearchRequest(text=text))
    reference = kb.searcher().search_whoosh(SearchRequest(text=text))
    assert [(h.id, round(h.score, 6)) for h in fast.hits] == [(h.id, round(h.score, 6)) for h in reference.hits]
