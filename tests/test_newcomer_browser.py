"""Issue 17 in a real browser (setup and skipping rules as in test_browser.py): the phone layouts (facets
folded above results, sector cards two a row, the indicator table as cards, recommendations before the form),
the wide-screen facets, numbered pages and the page-size choice."""
from __future__ import annotations

import re

import pytest

from test_browser import TIMEOUT_MS, QUERY, assess_url, base_url, browser, page  # noqa: F401

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def _no_sideways_scroll(pg) -> None:
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 4, f"{pg.url} scrolls sideways on a phone: scrollWidth {width}px"


def test_phone_facets_fold_above_results_and_open_on_tap(phone, base_url):
    phone.goto(f"{base_url}/search?q={QUERY}")
    facet = phone.locator('section.facet[data-facet="sector"]')
    assert not facet.is_visible()
    phone.locator("details.facet-panel > summary").click()
    assert facet.is_visible()
    facet.locator("li a").first.click()
    phone.wait_for_url(re.compile(r"sector="))
    # with a filter chosen the panel stays open, so the choice is in sight
    assert phone.locator('section.facet[data-facet="sector"] a.selected').is_visible()
    _no_sideways_scroll(phone)


def test_wide_screen_shows_facets_without_a_toggle(page, base_url):
    page.goto(f"{base_url}/search?q={QUERY}")
    assert page.locator('section.facet[data-facet="sector"]').is_visible()
    assert not page.locator("details.facet-panel > summary").is_visible()
    facets = page.locator("aside.facets").bounding_box()
    results = page.locator("section.results").bounding_box()
    assert facets["x"] < results["x"] and abs(facets["y"] - results["y"]) < 40      # side by side


def test_numbered_pages_and_page_size(page, base_url):
    page.goto(f"{base_url}/search?q={QUERY}")
    pager = page.locator("nav.pager")
    assert pager.locator("strong[aria-current=page]").inner_text() == "1"
    pager.locator(".pages a", has_text="2").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator("nav.pager strong[aria-current=page]").inner_text() == "2"
    page.locator("p.per-page a", has_text="20").click()
    page.wait_for_url(re.compile(r"per_page=20"))
    assert not re.search(r"[?&]page=", page.url) and page.locator("nav.pager").count() == 0     # 13 hits: one page of 20
    assert page.locator("li.hit").count() == int(page.locator("#total").inner_text())


def test_empty_search_offers_browsing_in_a_browser(page, base_url):
    page.goto(f"{base_url}/search")
    page.locator(".browse a", has_text="全部技术").click()
    page.wait_for_url(re.compile(r"type=technology"))
    assert int(page.locator("#total").inner_text()) >= 10


def test_phone_home_sector_cards_two_a_row(phone, base_url):
    phone.goto(base_url + "/")
    cards = phone.locator("ul.sectors li")
    first, second, third = (cards.nth(i).bounding_box() for i in range(3))
    assert abs(first["y"] - second["y"]) < 2 and third["y"] > first["y"] + 10
    assert first["width"] > 120
    _no_sideways_scroll(phone)


def test_phone_indicator_table_is_readable(phone, assess_url):
    phone.goto(assess_url + "/documents/spec-plating-2015")
    row = phone.locator("table.indicators tbody tr").first
    name = row.locator("td.name")
    # a card per indicator: the name takes the card's width (7 columns left it 2-4 characters a line)
    assert name.bounding_box()["width"] > 300
    assert "Ⅰ级：" in row.inner_text().replace("\n", "") or "Ⅰ级" in row.locator("td[data-label]").nth(2).evaluate(
        "el => getComputedStyle(el, '::before').content")
    assert "L/m²" in phone.locator("table.indicators").inner_text()
    _no_sideways_scroll(phone)


def test_phone_recommendations_come_before_the_form(phone, base_url):
    phone.goto(f"{base_url}/recommend?sector=工业涂装&problem=喷涂VOCs废气治理")
    results = phone.locator("section.recommend-results").bounding_box()
    form = phone.locator("form.recommend").bounding_box()
    assert results["y"] < form["y"] and results["y"] < 844
    assert "得分" not in phone.locator("section.recommend-results").inner_text()
    _no_sideways_scroll(phone)


def test_unknown_sector_page_in_a_browser(page, base_url):
    response = page.goto(f"{base_url}/sectors/汽车")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "没有「汽车」这个行业"
    page.locator("main ul.browse-links a", has_text="电镀").click()
    page.wait_for_url(re.compile(r"/sectors/"))
    assert page.locator("h1").inner_text() == "电镀"
