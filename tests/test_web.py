"""Pages and JSON API through Flask's test client: every endpoint and every error path."""
from __future__ import annotations

import re

import pytest

from conftest import case, technology, write

XSS_BODY = """<script>window.pwned = 1</script>
<img src=x onerror="window.pwned = 2">
<a href="javascript:alert(1)">点我</a>
<p style="position:fixed" onclick="alert(1)">样式注入</p>
"""


def test_api_search_shape(client):
    data = client.get("/api/search?q=余热&per_page=1").get_json()
    # matched_all_words and words (issue 17), expanded and spelling (issue 18) extend the shape
    assert set(data) == {"query", "total", "page", "per_page", "matched_all_words", "words", "results", "facets",
                         "expanded", "spelling"}
    assert data["total"] == 2 and data["page"] == 1 and data["per_page"] == 1 and len(data["results"]) == 1
    # origin/confidence/kind/audit and the origin/kind facets extend the shape (issue 15)
    assert set(data["results"][0]) == {"id", "type", "title", "sectors", "summary", "snippet", "score", "url",
                                       "origin", "confidence", "kind", "audit",
                                       # what citing needs, and a text snippet (issue 17)
                                       "year", "category", "province", "region", "source_title", "source_issuer",
                                       "snippet_text"}
    assert data["results"][0]["url"] == f"/documents/{data['results'][0]['id']}"
    assert set(data["facets"]) == {"type", "sector", "category", "tag", "province", "origin", "kind"}
    assert data["facets"]["sector"] == {"焦化": 1, "钢铁": 1, "建材": 1}


def test_api_and_page_filter_cases_by_province(client):
    data = client.get("/api/search?q=VOCs&province=江苏省").get_json()      # full name or short name
    assert [r["id"] for r in data["results"]] == ["case-coating-vocs"] and data["facets"]["province"] == {"江苏": 1}
    assert client.get("/api/search?q=VOCs&province=浙江").get_json()["total"] == 0
    bad = client.get("/api/search?q=VOCs&province=火星")
    assert bad.status_code == 400 and bad.get_json()["details"][0]["field"] == "province"
    html = client.get("/search?q=VOCs").get_data(as_text=True)
    facet = html.split('data-facet="province"')[1].split("</section>")[0]
    assert "地区" in facet and "江苏" in facet and "province=%E6%B1%9F%E8%8B%8F" in facet


def test_api_search_sector_alias_and_filters(client):
    data = client.get("/api/search?q=余热&sector=水泥").get_json()
    assert [r["id"] for r in data["results"]] == ["building-cement-whr"]
    data = client.get("/api/search?q=余热&category=节能&tag=水耗").get_json()
    assert [r["id"] for r in data["results"]] == ["coking-cdq"]
    data = client.get("/api/search?q=VOCs&type=case").get_json()
    assert [r["id"] for r in data["results"]] == ["case-coating-vocs"]


def test_api_pagination(client):
    first = client.get("/api/search?q=余热&per_page=1&page=1").get_json()
    second = client.get("/api/search?q=余热&per_page=1&page=2").get_json()
    assert first["results"][0]["id"] != second["results"][0]["id"]
    assert client.get("/api/search?q=余热&per_page=1&page=3").get_json()["results"] == []


@pytest.mark.parametrize("query, field", [
    ("q=a&per_page=10000", "per_page"),
    ("q=a&per_page=0", "per_page"),
    ("q=a&page=-1", "page"),
    ("q=a&page=abc", "page"),
    ("q=" + "长" * 10000, "q"),
    ("q=%ff%fe%fd", "query"),
    ("q=a&sector=火星", "sector"),
    ("q=a&type=video", "type"),
    ("q=a&page=1001", "page"),
    ("q=a&sort=random", "sort"),
])
def test_api_bad_input_is_400_json_with_field(client, query, field):
    response = client.get("/api/search?" + query)
    assert response.status_code == 400
    data = response.get_json()
    assert data["error"] and any(d["field"] == field for d in data["details"])


def test_unknown_sector_lists_valid_ones(client):
    details = client.get("/api/search?q=a&sector=火星").get_json()["details"]
    assert "电镀" in details[0]["message"] and "包装印刷" in details[0]["valid"]


def test_api_404_and_405_are_json(client):
    response = client.get("/api/documents/no-such-doc")
    assert response.status_code == 404 and response.get_json()["error"]
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and response.is_json
    response = client.post("/api/search?q=a")
    assert response.status_code == 405 and response.get_json()["details"]


def test_api_document(client):
    data = client.get("/api/documents/coking-cdq").get_json()
    assert data["id"] == "coking-cdq" and data["type"] == "technology" and data["sectors"] == ["焦化", "钢铁"]
    assert data["source"]["number"] == "HJ 2026-2013"
    assert "## 技术原理" in data["body_markdown"] and "<h2>技术原理</h2>" in data["body_html"]


def test_api_sectors_counts(client):
    data = client.get("/api/sectors").get_json()
    by_name = {s["name"]: s for s in data["sectors"]}
    assert len(by_name) == 14
    assert by_name["建材"]["counts"] == {"technology": 1, "case": 0, "spec": 0}
    assert "水泥" in by_name["建材"]["subsectors"]
    assert data["totals"] == {"technology": 4, "case": 1, "spec": 0}


def test_openapi_document(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/search", "/api/documents/{doc_id}", "/api/sectors", "/api/recommend"} <= set(doc["paths"])


def test_home_page_lists_sectors_with_counts(client):
    html = client.get("/").get_data(as_text=True)
    for sector in ("能源", "钢铁", "焦化", "建材", "有色金属", "石化化工", "印染", "造纸", "化学原料药", "电镀",
                   "农副食品加工", "工业涂装", "包装印刷"):
        assert f"<strong>{sector}</strong>" in html
    assert "测试用涂装企业VOCs治理案例" in html


def test_results_page_highlights_and_facets(client):
    html = client.get("/search?q=余热锅炉").get_data(as_text=True)
    assert re.search(r"<mark[^>]*>余热锅炉</mark>", html)
    assert 'data-facet="sector"' in html and "/search?q=%E4%BD%99%E7%83%AD%E9%94%85%E7%82%89&amp;sector=" in html


def test_results_page_nothing_found_suggests(client):
    html = client.get("/search?q=VOCs&sector=焦化").get_data(as_text=True)
    assert "没有找到" in html and "去掉「行业：焦化」" in html
    assert "挥发性有机物" in html  # the synonyms that were tried


def test_page_bad_input_is_a_page_not_a_traceback(client):
    response = client.get("/search?q=a&per_page=abc")
    assert response.status_code == 400 and "必须是整数" in response.get_data(as_text=True)


def test_document_page_links_case_and_technology(client):
    tech = client.get("/documents/general-activated-carbon").get_data(as_text=True)
    assert 'href="/documents/case-coating-vocs"' in tech
    case = client.get("/documents/case-coating-vocs").get_data(as_text=True)
    assert 'href="/documents/general-activated-carbon"' in case and "常州某涂装企业" in case


def test_editorial_links_are_shown_apart_from_reported_ones(kb, settings, content):
    text = case("case-coating-related", technologies="[]").replace(
        "technologies: []", "related_technologies: [general-activated-carbon]")
    write(content, "cases", "case-coating-related", text)
    kb.build()
    from web import create_app

    client = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client()
    page = client.get("/documents/case-coating-related").get_data(as_text=True)
    assert "本案例采用的技术" not in page
    section = page.split("<h2>相关技术</h2>")[1].split("</section>")[0]
    assert "不代表该企业实际采用" in section and 'href="/documents/general-activated-carbon"' in section
    tech = client.get("/documents/general-activated-carbon").get_data(as_text=True)
    reported, associated = tech.split("<h3>相关案例</h3>")
    assert 'href="/documents/case-coating-vocs"' in reported.split("<h2>采用本技术的案例</h2>")[1]
    assert 'href="/documents/case-coating-related"' not in reported
    assert 'href="/documents/case-coating-related"' in associated.split("</section>")[0]


def test_sector_page_accepts_alias(client):
    response = client.get("/sectors/水泥")
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "水泥窑纯低温余热发电" in html


def test_markdown_body_is_sanitised(kb, settings, content):
    write(content, "technologies", "general-xss", technology("general-xss", "注入测试条目", body=XSS_BODY))
    kb.build()
    from web import create_app

    client = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client()
    body_html = client.get("/api/documents/general-xss").get_json()["body_html"]
    page = client.get("/documents/general-xss").get_data(as_text=True)
    for html in (body_html, page.split('<div class="body">')[1]):
        assert "<script" not in html and "onerror" not in html and "onclick" not in html
        assert "javascript:" not in html and "style=" not in html
    assert "样式注入" in body_html


def test_recommend_page_form_and_explained_results(client):
    html = client.get("/recommend").get_data(as_text=True)
    assert 'name="sector"' in html and 'name="problem"' in html
    html = client.get("/recommend?sector=焦化&problem=熄焦用水多，红焦显热没有回收&focus=节能").get_data(as_text=True)
    assert 'href="/documents/coking-cdq"' in html
    assert "焦化" in html and 'class="reasons"' in html


def test_recommend_page_bad_input_is_explained(client):
    html = client.get("/recommend?sector=火星&problem=废水多").get_data(as_text=True)
    assert "未知行业" in html and "电镀" in html


def test_api_recommend_shape_and_errors(client):
    data = client.post("/api/recommend", json={"sector": "炼焦", "problem": "熄焦耗水，余热未回收"}).get_json()
    assert data["profile"]["sector"] == "焦化"
    assert data["results"][0]["id"] == "coking-cdq" and data["results"][0]["reasons"]
    bad = client.post("/api/recommend", json={"sector": "焦化"})
    assert bad.status_code == 400 and any(d["field"] == "problem" for d in bad.get_json()["details"])
    assert client.post("/api/recommend", data="not json").status_code == 400


def test_coverage_page_shows_counts_by_sector_and_the_gaps(client):
    # the editors' backlog lives on 收录情况 (linked from the home page and the footer), not on the home page
    home = client.get("/").get_data(as_text=True)
    assert "stats-table" not in home and "缺少可选字段" not in home and 'href="/coverage"' in home
    html = client.get("/coverage").get_data(as_text=True)
    table = html.split('<table class="stats-table">')[1].split("</table>")[0]
    coating = table.split(">工业涂装</a></th>")[1].split("</tr>")[0]
    # the test content has one 工业涂装 case and no 工业涂装 spec: both cells are marked as gaps
    assert '<td class="gap">1</td>' in coating and '<td class="gap">0</td>' in coating
    gaps = html.split('<ul class="gaps">')[1].split("</ul>")[0]
    assert "案例少于 3 个的行业" in gaps and "工业涂装" in gaps
    assert "尚无标准条目的行业" in gaps and "缺少可选字段的条目" in gaps


def test_bare_source_addresses_in_bodies_become_safe_links():
    from web.render import render_markdown

    html = render_markdown("## 参考\n\n- 原文：http://example.gov.cn/a/b.html?id=1&x=2。\n- 代码里 `http://not.a/link` 不变\n"
                           "- 已是链接：[公告](https://example.gov.cn/n)\n- javascript:alert(1)\n")
    assert ('<a href="http://example.gov.cn/a/b.html?id=1&amp;x=2" rel="noopener noreferrer nofollow">'
            in html), html
    assert "</a>。" in html                       # Chinese punctuation is not part of the address
    assert "<code>http://not.a/link</code>" in html
    assert html.count("<a ") == 2 and 'href="javascript' not in html


def test_source_kind_facet_and_links_that_filter_by_source_title(client):
    html = client.get("/search?q=VOCs").get_data(as_text=True)
    assert 'data-facet="source"' not in html               # one article per title: no use as a facet
    facet = html.split('data-facet="source_kind"')[1].split("</section>")[0]
    assert "来源类型" in facet and ">标准</a>" in facet and "source_kind=%E6%A0%87%E5%87%86" in facet
    assert "案例报道" in facet
    only = client.get("/search?q=VOCs&source_kind=标准").get_data(as_text=True)
    assert only.count('class="hit"') == 1 and "case-coating-vocs" not in only
    # a link that filters by the full source title keeps working
    titled = client.get("/search?q=VOCs&source=吸附法工业有机废气治理工程技术规范").get_data(as_text=True)
    assert titled.count('class="hit"') == 1


def test_long_facet_label_is_shortened_but_filters_by_the_full_value(content, tmp_path):
    from kb.config import load_settings
    from web import create_app

    from conftest import technology

    long_tag = "超长标签用于测试分面标签截断显示效果"
    write(content, "technologies", "general-long-tag", technology("general-long-tag", "冷凝水回收利用", tags=f"[{long_tag}]"))
    settings = load_settings(tmp_path / "instance", bundled_content=content, editable_content=tmp_path / "editable")
    client = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client()
    html = client.get("/search?q=冷凝水回收").get_data(as_text=True)
    facet = html.split('data-facet="tag"')[1].split("</section>")[0]
    assert f'title="{long_tag}"' in facet and f">{long_tag[:15]}…</a>" in facet
    from urllib.parse import quote

    assert "tag=" + quote(long_tag) in facet


def test_case_options_the_source_did_not_class_or_list_are_shown_as_such(content, tmp_path):
    from kb.config import load_settings
    from web import create_app

    from conftest import case

    unclassed = case("case-coating-unclassed").replace("cost_class: 无/低费", "cost_class: 未分类")
    unlisted = case("case-coating-unlisted").replace(
        "options:\n  - name: 无/低费方案（来源未列名称）\n    cost_class: 无/低费\n    count: 3\n", "options: []\n")
    assert "options: []" in unlisted
    write(content, "cases", "case-coating-unclassed", unclassed)
    write(content, "cases", "case-coating-unlisted", unlisted)
    settings = load_settings(tmp_path / "instance", bundled_content=content, editable_content=tmp_path / "editable")
    client = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client()
    page = client.get("/documents/case-coating-unclassed").get_data(as_text=True)
    assert "[来源未分类] 无/低费方案（来源未列名称）" in page
    page = client.get("/documents/case-coating-unlisted").get_data(as_text=True)
    assert "来源未列出方案清单" in page
    coverage = client.get("/coverage").get_data(as_text=True).split('<ul class="gaps">')[1].split("</ul>")[0]
    assert "方案清单 1" in coverage


def test_filters_alone_browse_newest_first(client, content, kb):
    from conftest import case

    write(content, "cases", "case-coating-zj-2019", case("case-coating-zj-2019").replace(
        "region: 江苏省常州市", "region: 浙江省湖州市").replace("year: 2022", "year: 2019"))
    kb.build()
    html = client.get("/search?type=case").get_data(as_text=True)
    assert "按所选条件共 <strong id=\"total\">2</strong> 条结果" in html and "按年份排列" in html
    order = re.findall(r'href="/documents/(case-[a-z0-9-]+)"', html.split('<ol')[1].split("</ol>")[0])
    assert order == ["case-coating-vocs", "case-coating-zj-2019"]                 # 2022 before 2019
    jiangsu = client.get("/search?type=case&province=江苏").get_data(as_text=True)
    assert "case-coating-vocs" in jiangsu and "case-coating-zj-2019" not in jiangsu
    browse = client.get("/search").get_data(as_text=True)                    # no dead end: ways to browse
    assert "浏览知识库" in browse and 'href="/search?type=case&amp;kind=' in browse and 'href="/search?sector=' in browse
    api = client.get("/api/search?type=case").get_json()                    # the API browses too (issue 17)
    assert [r["id"] for r in api["results"]] == ["case-coating-vocs", "case-coating-zj-2019"]
    home = client.get("/").get_data(as_text=True)
    assert "/search?type=case&amp;province=%E6%B1%9F%E8%8B%8F" in home


# -- reliability as data, editor notes (issue 15) ------------------------------------------------------

def test_origin_and_kind_facets_filter_and_badges(client):
    data = client.get("/api/search?q=VOCs").get_json()
    assert data["facets"]["origin"].get("企业/政府公开") == 1 and data["facets"]["kind"] == {"清洁生产审核": 1}
    hit = next(r for r in data["results"] if r["id"] == "case-coating-vocs")
    assert (hit["origin"], hit["confidence"], hit["kind"], hit["audit"]) == ("企业/政府公开", "高", "清洁生产审核", "强制性")
    only_cases = client.get("/api/search?q=VOCs&kind=清洁生产审核").get_json()
    assert [r["id"] for r in only_cases["results"]] == ["case-coating-vocs"]
    assert client.get("/api/search?q=VOCs&kind=技改项目").get_json()["total"] == 0
    assert client.get("/api/search?q=余热&origin=标准").get_json()["total"] == 2
    bad = client.get("/api/search?q=VOCs&origin=小道消息")
    assert bad.status_code == 400 and bad.get_json()["details"][0]["field"] == "origin"
    page = client.get("/search?q=VOCs").get_data(as_text=True)
    assert "清洁生产审核·强制性" in page and "可信度高" in page and "来源性质" in page and "案例类型" in page
    doc = client.get("/documents/case-coating-vocs").get_data(as_text=True)
    assert 'class="badge origin"' in doc and "企业/政府公开" in doc and "案例类型" in doc


@pytest.fixture
def noted(tmp_path, content):
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase
    from web import create_app

    text = case("case-coating-noted").replace(
        "results: [VOCs 排放量下降]\n", 'results: [VOCs 排放量下降]\neditor_notes:\n  - "甲乙丙核对记录：投资为约数"\n')
    write(content, "cases", "case-coating-noted", text)
    settings = load_settings(tmp_path / "inst", bundled_content=content, editable_content=tmp_path / "ed",
                             editor_token="tok-123")
    KnowledgeBase(settings).build()
    return create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client()


def test_editor_notes_are_for_editors_only(noted):
    assert "甲乙丙核对记录" not in noted.get("/documents/case-coating-noted").get_data(as_text=True)
    assert "editor_notes" not in noted.get("/api/documents/case-coating-noted").get_json()
    # notes are not indexed: searching for them finds nothing, so no snippet can show them
    assert noted.get("/api/search?q=甲乙丙核对记录").get_json()["total"] == 0
    authed = noted.get("/api/documents/case-coating-noted", headers={"Authorization": "Bearer tok-123"}).get_json()
    assert authed["editor_notes"] == ["甲乙丙核对记录：投资为约数"]
    assert noted.get("/api/documents/case-coating-noted", headers={"Authorization": "Bearer wrong"}).status_code == 401
    from test_editing import csrf_token

    token = csrf_token(noted.get("/edit").get_data(as_text=True))
    noted.post("/edit", data={"action": "signin", "token": "tok-123", "csrf_token": token})
    page = noted.get("/documents/case-coating-noted").get_data(as_text=True)
    assert "核实说明" in page and "甲乙丙核对记录" in page and "<details" in page


def test_home_lists_audit_cases_before_newer_retrofit_reports(tmp_path, content):
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase
    from web import create_app

    write(content, "cases", "case-coating-newer", case("case-coating-newer").replace("kind: 清洁生产审核", "kind: 技改项目")
          .replace("year: 2022", "year: 2025").replace("title: 测试用涂装企业VOCs治理案例", "title: 较新的涂装技改报道"))
    settings = load_settings(tmp_path / "inst", bundled_content=content, editable_content=tmp_path / "ed")
    KnowledgeBase(settings).build()
    page = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client().get("/").get_data(as_text=True)
    assert page.index("/documents/case-coating-vocs") < page.index("/documents/case-coating-newer")
    assert "清洁生产审核·强制性" in page and "kind=%E6%B8%85" in page


def test_search_says_which_technical_words_a_colloquial_phrase_also_searched(client):
    data = client.get("/api/search?q=车间异味").get_json()
    assert data["expanded"] == [{"phrase": "异味", "terms": ["VOCs", "恶臭", "有机废气"],
                                 "note": "按“异味”也检索了：VOCs、恶臭、有机废气"}]
    assert data["results"][0]["id"] == "general-activated-carbon"
    assert client.get("/api/search?q=余热").get_json()["expanded"] == []
    page = client.get("/search?q=车间异味").get_data(as_text=True)
    assert "按“异味”也检索了：VOCs、恶臭、有机废气" in page


def test_homophone_typed_with_pinyin_is_corrected_or_offered(client):
    # 干息焦: no entry has 息焦, so the search runs for 干熄焦 and says so
    data = client.get("/api/search?q=干息焦").get_json()
    assert data["spelling"] == {"text": "干熄焦", "applied": True, "words": {"干息焦": "干熄焦"}, "note": "已按“干熄焦”检索"}
    assert data["query"] == "干息焦" and data["results"][0]["id"] == "coking-cdq"
    page = client.get("/search?q=干息焦").get_data(as_text=True)
    assert "已按“<strong>干熄焦</strong>”检索" in page and "exact=1" in page
    # exact=1: the words as typed, no correction
    exact = client.get("/api/search?q=干息焦&exact=1").get_json()
    assert exact["spelling"] is None and exact["query"] == "干息焦"
    assert client.get("/api/search?q=干熄焦").get_json()["spelling"] is None
    bad = client.get("/api/search?q=干息焦&exact=yes")
    assert bad.status_code == 400 and bad.get_json()["details"][0]["field"] == "exact"
