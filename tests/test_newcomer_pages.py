"""Issue 17, pages through Flask's test client: what a newcomer meets on the home, search, sector, document,
recommend and editor pages. tests/test_browser.py checks the same pages' layout in a real browser."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from conftest import technology, write

TOKEN = "e" * 32


@pytest.fixture
def rich(content, settings):
    """conftest's knowledge base plus two 工业涂装 VOCs technologies with stated investments (for the
    recommend page) and a spec with an indicator table."""
    from kb.knowledge import KnowledgeBase
    from web import create_app

    write(content, "technologies", "coating-rto", technology(
        "coating-rto", "蓄热式热力焚烧（RTO）", sectors="[工业涂装]", tags="[VOCs, 余热]", category="末端治理",
        summary="陶瓷蓄热体回收焚烧热量，处理喷涂VOCs废气。", body="喷涂废气中的VOCs在高温下氧化分解。",
        extra="investment_wan: 800\ninvestment_source: {kind: 案例报道, title: RTO项目报道, issuer: 某日报, year: 2020, "
              "origin: 新闻转载, confidence: 中}\n"))
    write(content, "technologies", "coating-waterborne", technology(
        "coating-waterborne", "水性涂料替代溶剂型涂料", sectors="[工业涂装]", tags="[VOCs]", category="源头替代",
        summary="用水性涂料替代溶剂型涂料，从源头减少喷涂VOCs。", body="水性涂料以水为分散介质，喷涂VOCs产生量少。"))
    knowledge = KnowledgeBase(settings)
    knowledge.build()
    knowledge.close()
    return create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client()


def test_unknown_sector_is_404_listing_the_sectors_once(client):
    response = client.get("/sectors/汽车")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert html.count("汽车") == 2                      # the <title> and the heading, not the list again
    assert 'href="/sectors/%E7%94%B5%E9%95%80"' in html and html.count(">电镀</a>") == 1


def test_technology_page_lists_a_case_once(client):
    html = client.get("/documents/general-activated-carbon").get_data(as_text=True)
    assert "采用本技术的案例" in html
    assert html.count('href="/documents/case-coating-vocs"') == 1


def test_favicon(client):
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 301 and redirect.headers["Location"].endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert 'rel="icon"' in client.get("/").get_data(as_text=True)


def test_zero_results_hide_sort_and_export_and_suggest(client):
    html = client.get("/search?q=绝无此词语&type=case").get_data(as_text=True)
    assert "没有找到" in html and "导出全部结果" not in html and "排序：" not in html and "按年份排列" not in html
    assert "去掉「类型：案例」" in html


def test_year_facet_is_ordered_by_year_and_pages_are_numbered(client):
    html = client.get("/search?type=technology&type=case&per_page=1").get_data(as_text=True)
    facet = html.split('data-facet="year"')[1].split("</section>")[0]
    years = [int(y) for y in re.findall(r">(\d{4})</a>", facet)]
    assert len(years) >= 2 and years == sorted(years, reverse=True)
    pager = html.split('class="pager"')[1].split("</nav>")[0]
    assert '<strong aria-current="page">1</strong>' in pager and ">2</a>" in pager and ">5</a>" in pager
    per_page = html.split('class="per-page"')[1].split("</p>")[0]
    assert "per_page=20" in per_page and "per_page=50" in per_page


def test_empty_search_offers_browsing(client):
    html = client.get("/search?q=").get_data(as_text=True)
    assert "请输入检索词。" not in html
    for link in ("/search?type=technology", "/search?type=case&amp;kind=%E6%B8%85%E6%B4%81%E7%94%9F%E4%BA%A7%E5%AE%A1%E6%A0%B8",
                 "/search?sector=%E7%94%B5%E9%95%80"):
        assert f'href="{link}"' in html, link


def test_units_are_written_one_way(client, content, kb):
    from test_assess import SPECS

    write(content, "specs", "spec-plating-2015", (SPECS / "spec-plating-2015.md").read_text(encoding="utf-8"))
    kb.build()
    html = client.get("/documents/spec-plating-2015").get_data(as_text=True)
    assert "L/m²" in html and "L/m2" not in html
    assert 'data-label="Ⅰ级"' in html           # each cell names its column for the phone layout


def test_recommend_page_reads_well(rich):
    html = rich.get("/recommend?sector=工业涂装&problem=喷涂vocs废气治理&max_investment_wan=100&focus=vocs").get_data(as_text=True)
    results = html.split('class="recommend-results"')[1]
    assert "得分" not in results and "匹配度：" in results
    reasons = " ".join(re.findall(r'<ul class="reasons">(.*?)</ul>', results, re.S))
    assert "共同涉及" in reasons and "vocs" not in reasons and "VOCs" in reasons   # as the entries write it
    assert "针对关注点：VOCs" in results and "针对关注点：vocs" not in results
    # the excluded RTO is named, with why
    excluded = results.split('class="excluded"')[1].split("</details>")[0]
    assert "蓄热式热力焚烧（RTO）" in excluded and "800" in excluded and "100" in excluded
    # a reason true of every item is said once, above the list
    common = results.split('class="common-reasons"')[1].split("</p>")[0]
    assert "来源未给出投资额" in common
    assert results.split("<ol")[1].split("</ol>")[0].count("来源未给出投资额") == 0


def test_recommend_page_errors_are_chinese_and_said_once(rich):
    response = rich.get("/recommend?sector=工业涂装&problem=%20")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = html.split('class="errors recommend-errors"')[1].split("</div>")[0]
    assert "problem：" not in errors and "问题描述" in errors
    unknown = rich.get("/recommend?sector=工业涂装&problem=喷涂废气&focus=省钱").get_data(as_text=True)
    errors = unknown.split('class="errors recommend-errors"')[1].split("</div>")[0]
    assert "省钱" in errors and "可选：" in errors and "VOCs" in errors and "源头替代" in errors
    assert 'class="recommend-results"' not in unknown


@pytest.fixture
def editing(settings):
    from web import create_app

    return create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": replace(settings, editor_token=TOKEN)}).test_client()


def _signed_in(client):
    page = client.get("/edit").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/edit", data={"action": "signin", "token": TOKEN, "csrf_token": token})
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/edit").get_data(as_text=True)).group(1)


def test_edit_nav_item_only_when_editing_is_on(client, editing):
    assert 'href="/edit"' not in client.get("/").get_data(as_text=True)
    assert 'href="/edit"' in editing.get("/").get_data(as_text=True)


def test_document_edit_link_loads_the_current_text_and_templates(editing):
    assert 'href="/edit?id=coking-cdq"' not in editing.get("/documents/coking-cdq").get_data(as_text=True)
    _signed_in(editing)
    page = editing.get("/documents/coking-cdq").get_data(as_text=True)
    assert 'href="/edit?id=coking-cdq"' in page
    form = editing.get("/edit?id=coking-cdq").get_data(as_text=True)
    assert "id: coking-cdq" in form.split("<textarea")[1] and "title: 干熄焦" in form
    assert editing.get("/edit?id=no-such-doc").status_code == 404
    template = editing.get("/edit?template=case").get_data(as_text=True)
    assert "type: case" in template and "kind:" in template
    assert editing.get("/edit?template=video").status_code == 400
    rules = editing.get("/edit/rules")
    assert rules.status_code == 200 and "source" in rules.get_data(as_text=True)


def test_editor_validation_errors_have_no_pydantic_prefix_and_the_right_status(editing):
    token = _signed_in(editing)
    from conftest import case

    text = case("case-coating-bad", technologies="[]")          # a case must name a technology (a model check)
    bad = editing.post("/edit", data={"action": "preview", "text": text, "csrf_token": token})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "Value error" not in html and "案例至少关联一个技术条目" in html


def test_content_errors_are_chinese_with_bounds(tmp_path):
    from pathlib import Path

    from kb.loader import load_text
    from kb.taxonomy import load_taxonomy

    from conftest import case

    text = case("case-coating-old").replace("year: 2022", "year: 1800")
    _, problems = load_text(text, Path("cases/case-coating-old.md"), load_taxonomy())
    assert {(p.field, p.message) for p in problems} == {("year", "不能小于 1990"), ("source.year", "不能小于 1949")}
