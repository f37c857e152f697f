"""Profile → recommended technologies: what a consultant preparing an audit relies on."""
from __future__ import annotations

import json
import numpy as np

import pytest

from conftest import technology, write
from kb.cli import main
from kb.knowledge import KnowledgeBase
from kb.recommend.profile import ProfileError, parse_profile
from kb.recommend.recommender import Recommender

DYEING_CASE = """---
id: case-dyeing-membrane-reuse
type: case
title: 测试用印染企业废水膜法回用案例
sectors: [印染]
region: 浙江省绍兴市
year: 2021
audit: 强制性
kind: 清洁生产审核
enterprise: 绍兴某印染企业
problems: [印染废水排放量大, 新鲜水取水量高]
options:
  - name: 印染废水超滤反渗透双膜法深度处理回用
    cost_class: 中/高费
technologies: [dyeing-membrane-reuse]
results: [废水回用率提高, 新鲜水用量下降]
source:
  kind: 案例报道
  title: 测试来源
  issuer: 绍兴市生态环境局
  year: 2021
  origin: 企业/政府公开
  confidence: 高
---

## 企业概况

以棉针织物染色为主的印染企业。

## 审核发现

染色和前处理工序用水量大，印染废水排放量高。

## 方案实施

建设超滤和反渗透双膜法回用系统，产水回用于染色和水洗。

## 成效

新鲜水用量和废水排放量下降。
"""


# The conftest technologies cite a standard; a figure needs its own source (kb check's provenance rule).
FIGURE_SOURCE = "{field}: {{kind: 文献, title: 测试用期刊论文, issuer: 测试期刊, year: 2020, origin: 期刊论文, confidence: 中}}\n"


@pytest.fixture
def rkb(content, settings):
    """The conftest knowledge base plus dyeing entries: real, widely used cleaner-production techniques."""
    write(content, "technologies", "dyeing-cold-pad-batch", technology(
        "dyeing-cold-pad-batch", "冷轧堆前处理", sectors="[印染]", tags="[蒸汽, 能耗, 水耗]", process="前处理",
        category="节能", summary="织物浸轧碱氧工作液后打卷堆置，在室温下缓慢完成退浆、煮练和漂白，省去汽蒸。",
        body="冷轧堆工艺把退煮漂合并为常温堆置，减少蒸汽消耗和前处理用水，适合棉及混纺织物。",
        extra="investment_wan: 50\n" + FIGURE_SOURCE.format(field="investment_source")))
    write(content, "technologies", "dyeing-membrane-reuse", technology(
        "dyeing-membrane-reuse", "印染废水双膜法深度处理回用", sectors="[印染]", tags="[水耗, 废水, COD]",
        process="废水处理", category="节水",
        summary="生化处理后的印染废水经超滤和反渗透双膜处理，产水回用于生产，减少新鲜水用量和废水排放。",
        body="超滤去除悬浮物和胶体，反渗透脱盐，产水水质满足染色和水洗回用要求；浓水另行处理。"))
    write(content, "technologies", "dyeing-airflow-dyeing", technology(
        "dyeing-airflow-dyeing", "气流染色", sectors="[印染]", tags="[水耗, 蒸汽]", process="染色",
        category="节水", summary="用循环气流牵引绳状织物，染液经喷嘴与织物交换，浴比大幅降低。",
        body="浴比降低后，每缸用水、升温蒸汽和染化料用量都随之减少。", extra="payback_years: 2\n" + FIGURE_SOURCE.format(field="payback_source")))
    write(content, "technologies", "general-condensate-recovery", technology(
        "general-condensate-recovery", "蒸汽冷凝水回收利用", tags="[蒸汽, 能耗]", process="公用工程",
        category="节能", summary="回收用汽设备排出的高温冷凝水，送回锅炉给水，回收热量并节约软化水。",
        body="冷凝水经疏水阀和回收管网集中后返回除氧器或锅炉给水箱。"))
    write(content, "cases", "case-dyeing-membrane-reuse", DYEING_CASE)
    knowledge = KnowledgeBase(settings)
    knowledge.build()
    yield knowledge
    knowledge.close()


def recommend(kb, **profile):
    return kb.recommender().recommend(parse_profile(profile))


def ids(response):
    return [r["id"] for r in response["results"]]


def by_id(response, doc_id):
    return next(r for r in response["results"] if r["id"] == doc_id)


# -- sectors -----------------------------------------------------------------------------------

def test_sector_alias_resolves_and_filters(rkb):
    response = recommend(rkb, sector="水泥", problem="窑头窑尾废气余热没有利用，电耗高", limit=2)
    assert response["profile"]["sector"] == "建材"
    assert ids(response)[0] == "building-cement-whr"
    assert "适用于本行业：建材" in response["results"][0]["reasons"]
    # only 建材 and 通用 entries: the sector has enough of them for limit=2, so nothing relaxed
    assert all({"建材", "通用"} & set(r["sectors"]) for r in response["results"])
    assert response["notes"] == []


def test_relaxation_adds_other_sectors_below_with_note(rkb):
    response = recommend(rkb, sector="电镀", problem="漂洗用水量大，想减少新鲜水和废水", limit=10)
    assert any("已补充其他行业" in note and "电镀" in note for note in response["notes"])
    tiers = [0 if {"电镀", "通用"} & set(r["sectors"]) else 1 for r in response["results"]]
    assert tiers == sorted(tiers) and 1 in tiers  # other sectors' entries only after the sector's own
    assert ids(response)[0] == "plating-countercurrent-rinse"
    relaxed = next(r for r, t in zip(response["results"], tiers) if t == 1)
    assert any(reason.startswith("其他行业") for reason in relaxed["reasons"])


def test_no_relaxation_when_sector_has_enough(rkb):
    response = recommend(rkb, sector="电镀", problem="漂洗用水量大", limit=2)
    assert not response["notes"]
    assert len(response["results"]) == 2


# -- constraints -------------------------------------------------------------------------------

def test_investment_above_max_is_excluded_unstated_stays(rkb):
    problem = "前处理蒸汽消耗大，用水多"
    assert "dyeing-cold-pad-batch" in ids(recommend(rkb, sector="印染", problem=problem))
    response = recommend(rkb, sector="印染", problem=problem, max_investment_wan=30)
    assert "dyeing-cold-pad-batch" not in ids(response)  # states 50 万元
    assert any("投资上限 30 万元" in note for note in response["notes"])
    unstated = by_id(response, "dyeing-membrane-reuse")
    assert any("未给出投资额" in reason for reason in unstated["reasons"])
    within = by_id(recommend(rkb, sector="印染", problem=problem, max_investment_wan=60), "dyeing-cold-pad-batch")
    assert "投资约50万元，在预算内" in within["reasons"]


def test_payback_above_max_is_excluded(rkb):
    problem = "染色浴比大，用水用汽多"
    assert "dyeing-airflow-dyeing" in ids(recommend(rkb, sector="印染", problem=problem, max_payback_years=3))
    response = recommend(rkb, sector="印染", problem=problem, max_payback_years=1.5)
    assert "dyeing-airflow-dyeing" not in ids(response)
    assert "dyeing-cold-pad-batch" in ids(response)  # states no payback: stays


# -- boosts and reasons ------------------------------------------------------------------------

def test_focus_boost_ranks_water_saving_entry_higher(rkb):
    problem = "蒸汽消耗"      # not 蒸汽消耗大, which the problem vocabulary reads as a steam problem
    plain = recommend(rkb, sector="印染", problem=problem)
    focused = recommend(rkb, sector="印染", problem=problem, focus=["节水"])
    water, steam = "dyeing-membrane-reuse", "general-condensate-recovery"  # 节水 vs 节能 entries
    assert ids(plain).index(steam) < ids(plain).index(water)
    assert ids(focused).index(water) < ids(focused).index(steam)
    assert by_id(focused, water)["score"] > by_id(plain, water)["score"]
    assert "针对关注点：节水" in by_id(focused, water)["reasons"]
    assert not any(r.startswith("针对关注点") for r in by_id(plain, water)["reasons"])


def test_focus_matches_tags_through_synonyms_case_insensitively(rkb):
    response = recommend(rkb, sector="工业涂装", problem="喷漆废气浓度高", focus=["vocs", "危废"])
    entry = by_id(response, "general-activated-carbon")
    assert any(r.startswith("针对关注点") and "危废" in r for r in entry["reasons"])


def test_unknown_focus_is_noted(rkb):
    response = recommend(rkb, sector="印染", problem="染色用水多", focus=["火星尘"])
    assert any("火星尘" in note for note in response["notes"])


def test_reasons_name_matched_terms_sector_and_process(rkb):
    response = recommend(rkb, sector="焦化", problem="湿法熄焦用水多，红焦余热没有回收", process="熄焦")
    top = response["results"][0]
    assert top["id"] == "coking-cdq"
    terms = next(r for r in top["reasons"] if r.startswith("问题描述与本技术共同涉及："))
    assert "湿法熄焦" in terms and "余热" in terms
    assert "适用于本行业：焦化" in top["reasons"]
    assert "对应工序：熄焦" in top["reasons"]
    general = recommend(rkb, sector="印染", problem="蒸汽冷凝水直接排掉了")
    assert "跨行业通用技术" in by_id(general, "general-condensate-recovery")["reasons"]


def test_result_shape_and_url(rkb):
    # the caller builds the addresses (the web layer from its routes): the recommender knows no URL scheme
    response = rkb.recommender().recommend(parse_profile(dict(sector="印染", problem="印染废水回用率低", limit=5)),
                                           url_of=lambda doc_id: f"/documents/{doc_id}")  # 印染 + 通用: exactly 5
    assert not response["notes"] and len(response["results"]) == 5
    assert set(response) == {"profile", "results", "notes", "excluded"}   # excluded: issue 17
    assert set(response["profile"]) == {"sector", "problem", "focus", "process", "max_investment_wan",
                                        "max_payback_years", "limit", "province"}
    for item in response["results"]:
        assert set(item) == {"id", "title", "sectors", "score", "reasons", "cases", "url"}
        assert item["url"] == f"/documents/{item['id']}"
        assert all(set(c) == {"id", "title"} for c in item["cases"])
    scores = [r["score"] for r in response["results"]]
    assert scores == sorted(scores, reverse=True)
    elsewhere = rkb.recommender().recommend(parse_profile(dict(sector="印染", problem="印染废水回用率低", limit=5)),
                                            url_of=lambda doc_id: f"https://kb.example/entries/{doc_id}")
    assert [r["url"] for r in elsewhere["results"]] == [f"https://kb.example/entries/{r['id']}" for r in response["results"]]
    assert all(r["url"] is None for r in recommend(rkb, sector="印染", problem="印染废水回用率低", limit=5)["results"])


# -- cases -------------------------------------------------------------------------------------

def test_cases_linking_the_technology_are_listed(rkb):
    response = recommend(rkb, sector="工业涂装", problem="喷涂废气挥发性有机物排放")
    entry = by_id(response, "general-activated-carbon")
    assert entry["cases"] == [{"id": "case-coating-vocs", "title": "测试用涂装企业VOCs治理案例"}]
    membrane = by_id(recommend(rkb, sector="印染", problem="印染废水回用"), "dyeing-membrane-reuse")
    assert membrane["cases"][0]["id"] == "case-dyeing-membrane-reuse"


def test_similar_sector_cases_when_none_links_the_technology(rkb):
    response = recommend(rkb, sector="印染", problem="染色用水量大")
    airflow = by_id(response, "dyeing-airflow-dyeing")
    assert [c["id"] for c in airflow["cases"]] == ["case-dyeing-membrane-reuse"]
    assert any("相近案例" in r for r in airflow["reasons"])


# -- determinism -------------------------------------------------------------------------------

def test_same_profile_same_answer(rkb):
    profile = dict(sector="印染", problem="用水多，蒸汽消耗大", focus=["节能"], limit=20)
    first = recommend(rkb, **profile)
    assert recommend(rkb, **profile) == first
    fresh = Recommender(rkb.generation / "model", rkb).recommend(parse_profile(profile))
    assert fresh == first
    # ties (here: entries the problem does not mention at all) are broken by id
    zero = [r["id"] for r in first["results"] if r["score"] == 0]
    assert zero == sorted(zero)


# -- bad input ---------------------------------------------------------------------------------

def errors(data):
    with pytest.raises(ProfileError) as info:
        parse_profile(data)
    return {d["field"]: d["message"] for d in info.value.details}


def test_missing_problem_and_sector():
    found = errors({})
    assert set(found) == {"sector", "problem"}
    assert "必填" in found["problem"]
    assert "problem" in errors({"sector": "印染", "problem": "   "})
    assert "中文" in errors({"sector": "印染", "problem": "VOCs 0"})["problem"]


def test_unknown_sector_lists_valid_ones():
    message = errors({"sector": "火星", "problem": "用水多"})["sector"]
    assert "未知行业「火星」" in message and "电镀" in message and "印染" in message


@pytest.mark.parametrize("limit", [0, 51])
def test_limit_out_of_range(limit):
    assert "返回条数" in errors({"sector": "印染", "problem": "用水多", "limit": limit})["limit"]


@pytest.mark.parametrize("field,value", [
    ("limit", "ten"), ("limit", 2.5), ("limit", True), ("problem", 123), ("sector", ["印染"]),
    ("focus", [1]), ("max_investment_wan", "很多"), ("max_payback_years", -1), ("process", {"a": 1}),
])
def test_wrong_types_name_the_field(field, value):
    found = errors({"sector": "印染", "problem": "用水多", field: value})
    assert list(found) == [field]
    assert f"（{field}" in found[field]  # the key the caller sent, beside its Chinese name


def test_other_bad_input():
    assert "problem" in errors({"sector": "印染", "problem": "水" * 2001})
    assert "不支持的字段" in errors({"sector": "印染", "problem": "用水多", "industry": "印染"})["industry"]
    with pytest.raises(ProfileError):
        parse_profile(["印染"])


def test_profile_is_normalised():
    profile = parse_profile({"sector": " 染整 ", "problem": " 用水多 ", "focus": "节水，节能、节水", "process": ""})
    assert profile.normalised() == {"sector": "印染", "problem": "用水多", "focus": ["节水", "节能"], "process": None,
                                    "max_investment_wan": None, "max_payback_years": None, "limit": 10,
                                    "province": None}


# -- CLI ---------------------------------------------------------------------------------------

@pytest.fixture
def cli(runner, rkb, settings, monkeypatch):
    monkeypatch.setenv("KB_HOME", str(settings.home))
    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", settings.content_dirs[0])
    return runner


def test_cli_json_shape(cli):
    result = cli.invoke(main, ["recommend", "--sector", "水泥", "--problem", "窑头窑尾余热没有利用",
                               "--focus", "节能", "--max-investment-wan", "100", "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"profile", "results", "notes", "excluded"}
    assert data["profile"]["sector"] == "建材" and data["profile"]["focus"] == ["节能"]
    assert data["profile"]["max_investment_wan"] == 100
    assert data["results"][0]["id"] == "building-cement-whr"
    assert set(data["results"][0]) == {"id", "title", "sectors", "score", "reasons", "cases", "url"}
    assert data["results"][0]["url"] == "/documents/building-cement-whr"


def test_cli_readable_output(cli):
    result = cli.invoke(main, ["recommend", "--sector", "焦化", "--problem", "湿法熄焦用水多"])
    assert result.exit_code == 0, result.output
    assert "干熄焦" in result.stdout and "适用于本行业：焦化" in result.stdout


@pytest.mark.parametrize("args,expected", [
    (["--sector", "火星", "--problem", "用水多"], "未知行业「火星」"),
    (["--sector", "印染"], "问题描述"),
    (["--sector", "印染", "--problem", "用水多", "--limit", "0"], "返回条数"),
])
def test_cli_bad_input_exits_2(cli, args, expected):
    result = cli.invoke(main, ["recommend", *args])
    assert result.exit_code == 2
    assert expected in result.stderr and result.stdout == ""


def test_model_from_cached_counts_equals_sklearn_tfidf_vectorizer(tmp_path):
    """build_model counts each entry once and reuses the counts across builds; the result must be the
    model TfidfVectorizer itself fits, before and after an edit."""
    import dataclasses

    from sklearn.feature_extraction.text import TfidfVectorizer

    from kb.analysis import load_analysis
    from kb.config import BUNDLED_CONTENT
    from kb.fields import PreparedWords
    from kb.loader import load_content
    from kb.recommend import model as model_mod

    docs = list(load_content([BUNDLED_CONTENT]).documents.values())
    analysis = load_analysis()

    counts = model_mod.TermCounts()     # kept between the two builds, as a knowledge base keeps it

    def check(documents, out):
        words = PreparedWords(analysis)
        model_mod.build_model(documents, out, words, counts)
        data = model_mod.load_model(out)
        techs = sorted((d for d in documents if d.type == "technology"), key=lambda d: d.id)
        cases = sorted((d for d in documents if d.type == "case"), key=lambda d: d.id)
        reference = TfidfVectorizer(analyzer=model_mod._identity, sublinear_tf=True, norm="l2")
        tech_matrix = reference.fit_transform([model_mod.document_tokens(d, words) for d in techs])
        case_matrix = reference.transform([model_mod.document_tokens(d, words) for d in cases])
        assert data.vectorizer.vocabulary_ == reference.vocabulary_
        assert np.array_equal(data.vectorizer.idf_, reference.idf_)
        assert abs(data.tech_matrix - tech_matrix).max() < 1e-12 and abs(data.case_matrix - case_matrix).max() < 1e-12
        assert data.tech_ids == [d.id for d in techs]

    check(docs, tmp_path / "first")
    edited = next(d for d in docs if d.type == "technology")
    docs = [dataclasses.replace(d, body=d.body + "\n\n新增描述：膜法回收与余热梯级利用。", content_hash=d.content_hash + "x")
            if d.id == edited.id else d for d in docs]
    assert not counts.has(next(d for d in docs if d.id == edited.id), analysis)
    check(docs, tmp_path / "second")


def test_cases_of_the_enterprises_province_come_first(rkb, content):
    from conftest import case

    write(content, "cases", "case-coating-zj", case("case-coating-zj").replace("region: 江苏省常州市", "region: 浙江省湖州市"))
    rkb.build()
    problem = dict(sector="工业涂装", problem="喷涂废气挥发性有机物排放")
    cases = lambda **extra: [c["id"] for c in by_id(recommend(rkb, **problem, **extra), "general-activated-carbon")["cases"]]
    assert cases() == ["case-coating-vocs", "case-coating-zj"]              # equal relevance: by id
    assert cases(province="浙江省") == ["case-coating-zj", "case-coating-vocs"]
    assert cases(province="江苏") == ["case-coating-vocs", "case-coating-zj"]
    assert recommend(rkb, **problem, province="浙江")["profile"]["province"] == "浙江"
    assert "省" in errors({**problem, "province": "火星"})["province"]


def test_audit_cases_are_cited_before_retrofit_news(rkb, content):
    from conftest import case

    # "case-coating-aaa" sorts first by id and is as relevant, but it is a retrofit news item
    write(content, "cases", "case-coating-aaa", case("case-coating-aaa").replace("kind: 清洁生产审核", "kind: 技改项目"))
    rkb.build()
    problem = dict(sector="工业涂装", problem="喷涂废气挥发性有机物排放")
    cases = [c["id"] for c in by_id(recommend(rkb, **problem), "general-activated-carbon")["cases"]]
    assert cases == ["case-coating-vocs", "case-coating-aaa"]


def test_colloquial_problem_words_reach_the_technical_entry(rkb):
    # 前处理(很)费蒸汽 is what a dyer says; the 印染 group maps it to 冷轧堆前处理, 生物酶前处理 …
    recommender = rkb.recommender()
    profile = parse_profile({"sector": "印染", "problem": "前处理很费蒸汽"})
    terms = recommender.problem_terms(profile)
    assert list(terms) == ["前处理费蒸汽"] and "冷轧堆前处理" in terms["前处理费蒸汽"]
    assert ids(recommender.recommend(profile))[0] == "dyeing-cold-pad-batch"
    # groups of other sectors do not apply: 熄焦冒白汽 is a coking phrase
    assert recommender.problem_terms(parse_profile({"sector": "印染", "problem": "熄焦冒白汽"})) == {}
    assert recommender.problem_terms(parse_profile({"sector": "焦化", "problem": "熄焦冒白汽"}))


def test_count_cache_holds_one_generation_and_stays_exact(tmp_path):
    """The counts kept between builds are those of the last build only (a server editing for months
    does not grow them), and renumbering the shrunken term table leaves the model unchanged."""
    import dataclasses

    from kb.config import BUNDLED_CONTENT
    from kb.loader import load_content
    from kb.recommend import model as model_mod

    documents = sorted(load_content([BUNDLED_CONTENT]).documents.values(), key=lambda d: d.id)
    techs = [d for d in documents if d.type == "technology"][:40]
    cases = [d for d in documents if d.type == "case"][:10]
    from kb.analysis import load_analysis
    from kb.fields import PreparedWords

    analysis = load_analysis()
    words = PreparedWords(analysis)
    counts = model_mod.TermCounts()
    model_mod.build_model(techs + cases, tmp_path / "first", words, counts)
    assert len(counts.rows) == 50
    edited = dataclasses.replace(techs[0], body=techs[0].body + "\n\n补充：余热梯级利用。", content_hash="edited")
    model_mod.build_model([edited, *techs[1:], *cases], tmp_path / "second", words, counts)
    assert len(counts.rows) == 50 and not counts.has(techs[0], analysis) and counts.has(edited, analysis)
    vocabulary = len(counts.terms)
    model_mod.build_model(techs[:3], tmp_path / "small", words, counts)
    assert len(counts.rows) == 3 and len(counts.terms) < vocabulary        # renumbered, smaller
    assert len(counts.term_ids) == len(counts.terms)
    model_mod.build_model([edited, *techs[1:], *cases], tmp_path / "again", words, counts)
    fresh = model_mod.TermCounts()
    model_mod.build_model([edited, *techs[1:], *cases], tmp_path / "fresh", words, fresh)
    again, reference = model_mod.load_model(tmp_path / "again"), model_mod.load_model(tmp_path / "fresh")
    assert again.vectorizer.vocabulary_ == reference.vectorizer.vocabulary_
    assert abs(again.tech_matrix - reference.tech_matrix).max() == 0 and abs(again.case_matrix - reference.case_matrix).max() == 0
    assert again.tech_info == reference.tech_info


def test_unreadable_counts_are_logged(tmp_path, caplog):
    from kb.recommend import model as model_mod

    (tmp_path / model_mod.COUNTS_FILE).write_bytes(b"not an npz")
    with caplog.at_level("WARNING", logger="kb.recommend.counts"):
        assert model_mod.TermCounts().warm(tmp_path) == 0
    assert "重新分词" in caplog.text and model_mod.COUNTS_FILE in caplog.text


def test_counts_written_before_rows_kept_term_order_are_reordered_when_read(tmp_path):
    """A generation built by an older kb saved each row's terms in first-seen order: reading it puts
    them in string order (the count matrix relies on it), and the model is the same."""
    from kb.config import BUNDLED_CONTENT
    from kb.loader import load_content
    from kb.recommend import model as model_mod

    documents = sorted(load_content([BUNDLED_CONTENT]).documents.values(), key=lambda d: d.id)
    entries = [d for d in documents if d.type == "technology"][:20] + [d for d in documents if d.type == "case"][:5]
    from kb.analysis import load_analysis
    from kb.fields import PreparedWords

    words = PreparedWords(load_analysis())
    model_mod.build_model(entries, tmp_path / "new", words, model_mod.TermCounts())
    saved = dict(np.load(tmp_path / "new" / model_mod.COUNTS_FILE))
    starts = np.concatenate([[0], np.cumsum(saved["lengths"])])
    order = np.concatenate([np.arange(b - 1, a - 1, -1) for a, b in zip(starts[:-1], starts[1:])])  # each row reversed
    (tmp_path / "old").mkdir()
    np.savez(tmp_path / "old" / model_mod.COUNTS_FILE, keys=saved["keys"], terms=saved["terms"], lengths=saved["lengths"],
             ids=saved["ids"][order], counts=saved["counts"][order])
    counts = model_mod.TermCounts()
    assert counts.warm(tmp_path / "old") == 25
    for ids, _ in counts.rows.values():
        terms = [counts.terms[i] for i in ids.tolist()]
        assert terms == sorted(terms)
    model_mod.build_model(entries, tmp_path / "again", words, counts)
    again, reference = model_mod.load_model(tmp_path / "again"), model_mod.load_model(tmp_path / "new")
    assert again.vectorizer.vocabulary_ == reference.vectorizer.vocabulary_
    assert abs(again.tech_matrix - reference.tech_matrix).max() == 0 and again.tech_matrix.has_sorted_indices


def test_matrices_are_memory_mapped_and_an_older_pickled_model_answers_the_same(rkb, tmp_path):
    """The matrices are files the recommender maps (shared by every process serving the generation); a model
    written before they had files (matrices inside the pickle) still loads, with the same answers."""
    import pickle
    import shutil

    from kb.recommend.model import MODEL_FILE, load_model
    from kb.recommend.recommender import Recommender

    model_dir = rkb.generation / "model"
    data = load_model(model_dir)
    assert all(isinstance(m.data, np.ndarray) and not m.data.flags.writeable
               for m in (data.tech_matrix, data.tech_columns, data.case_matrix, data.case_columns))
    profiles = [{"sector": "印染", "problem": "用水多 蒸汽消耗大"}, {"sector": "焦化", "problem": "熄焦用水"},
                {"sector": "印染", "problem": "冷凝水回收", "focus": ["蒸汽"]}]
    expected = [recommend(rkb, **p) for p in profiles]
    old = tmp_path / "old-model"
    old.mkdir()
    data.tech_matrix, data.case_matrix = data.tech_matrix.copy(), data.case_matrix.copy()
    data.tech_columns = data.case_columns = None
    with open(old / MODEL_FILE, "wb") as fh:
        pickle.dump(data, fh)
    assert not list(old.glob("*.npy"))
    older = Recommender(old, rkb)
    assert [older.recommend(parse_profile(p)) for p in profiles] == expected
    shutil.rmtree(old)
