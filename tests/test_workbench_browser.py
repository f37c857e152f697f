"""审核工作台 in a real browser: the shortlist kept in localStorage, its share URL, the comparison at desktop
and phone width, both downloads, and Swagger UI under a strict CSP. Two tests take the README screenshots
(`make screenshots` writes them to docs/screenshots/). Setup and skipping rules as in test_browser.py."""
from __future__ import annotations

import io

import pytest

from test_browser import (_require_cjk_font, base_url, browser, page, screenshots, showcase_url,  # noqa: F401
                          TIMEOUT_MS)

pytestmark = pytest.mark.browser

TECHS = ["general-vfd-drive", "coating-rto", "general-pmsm-motor"]


def _new_page(browser, width=1280, height=900):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    return context, pg


def _stored(pg) -> list[str]:
    return pg.evaluate("JSON.parse(localStorage.getItem('kb.shortlist') || '[]')")


def _add(pg, doc_id: str) -> None:
    button = pg.locator(f"button[data-shortlist-id='{doc_id}']").first
    button.click()
    pg.wait_for_function(f"JSON.parse(localStorage.getItem('kb.shortlist') || '[]').includes('{doc_id}')")
    assert "已加入备选方案" in button.inner_text()


def test_shortlist_from_three_places_survives_reload_and_shares(browser, base_url):
    context, pg = _new_page(browser)
    pg.goto(f"{base_url}/search?q=节能")
    _add(pg, "general-vfd-drive")                                    # 1. a search result
    pg.goto(f"{base_url}/documents/coating-rto")
    _add(pg, "coating-rto")                                          # 2. a document page
    pg.goto(f"{base_url}/recommend?sector=工业涂装&problem=喷涂有机废气VOCs浓度低风量大")
    first = pg.locator("ol.recs button[data-shortlist-id]").first    # 3. a recommendation
    rec_id = first.get_attribute("data-shortlist-id")
    if rec_id in _stored(pg):
        first = pg.locator("ol.recs button[data-shortlist-id]").nth(1)
        rec_id = first.get_attribute("data-shortlist-id")
    first.click()
    pg.wait_for_function(f"JSON.parse(localStorage.getItem('kb.shortlist') || '[]').includes('{rec_id}')")
    expected = ["general-vfd-drive", "coating-rto", rec_id]
    assert _stored(pg) == expected
    assert pg.locator("[data-shortlist-count]").inner_text() == "（3）"

    pg.reload()                                                      # survives a reload
    assert _stored(pg) == expected
    pg.locator("a[data-shortlist-nav]").click()
    pg.wait_for_url("**/shortlist?ids=*")
    assert pg.locator("li.hit").evaluate_all("els => els.map(e => e.dataset.id)") == expected
    share = pg.locator("#shortlist-share").input_value()
    assert share.endswith("/shortlist?ids=" + "%2C".join(expected)) or share.endswith("/shortlist?ids=" + ",".join(expected))
    assert pg.errors == []
    context.close()

    other, colleague = _new_page(browser)                            # a colleague opens the shared link
    colleague.goto(share)
    assert colleague.locator("li.hit").evaluate_all("els => els.map(e => e.dataset.id)") == expected
    colleague.wait_for_function("JSON.parse(localStorage.getItem('kb.shortlist') || '[]').length === 3")
    assert _stored(colleague) == expected                            # and it becomes theirs
    colleague.locator("a[data-shortlist-remove='coating-rto']").click()
    colleague.wait_for_url("**/shortlist?ids=*")
    assert _stored(colleague) == ["general-vfd-drive", rec_id]
    assert colleague.locator("li.hit").count() == 2
    other.close()


def test_shared_link_does_not_overwrite_a_different_list_without_asking(browser, base_url):
    context, pg = _new_page(browser)
    pg.goto(f"{base_url}/documents/coking-cdq")
    _add(pg, "coking-cdq")
    pg.goto(f"{base_url}/shortlist?ids=general-led-light,general-vfd-drive")
    notice = pg.locator("#shortlist-shared")
    assert notice.is_visible() and _stored(pg) == ["coking-cdq"]
    pg.locator("#shortlist-adopt").click()
    assert _stored(pg) == ["general-led-light", "general-vfd-drive"] and not notice.is_visible()
    context.close()


def test_compare_on_desktop_and_phone(browser, base_url):
    url = f"{base_url}/compare?ids={','.join(TECHS)}"
    context, pg = _new_page(browser)
    pg.goto(url)
    table = pg.locator("table.compare")
    assert table.is_visible() and not pg.locator(".compare-cards").is_visible()
    assert table.locator("thead th").count() == 1 + len(TECHS)
    assert table.locator("tbody tr").count() == 15
    missing = table.locator("tr[data-field='payback'] td")
    assert missing.all_inner_texts() == ["未给出"] * len(TECHS)     # never blank
    context.close()

    context, phone = _new_page(browser, 390, 844)
    phone.goto(url)
    assert not phone.locator("table.compare").is_visible()
    cards = phone.locator(".compare-card")
    assert cards.count() == len(TECHS) and cards.first.is_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    box = cards.nth(1).bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390        # stacked, one card per row
    assert phone.errors == []
    context.close()


@pytest.mark.parametrize("label, suffix", [("Excel", ".xlsx"), ("Word", ".docx")])
def test_download_from_the_shortlist(browser, base_url, tmp_path, label, suffix):
    context, pg = _new_page(browser)
    pg.goto(f"{base_url}/shortlist?ids={','.join(TECHS)},case-coating-vocs")
    with pg.expect_download() as info:
        pg.locator(".shortlist-export a", has_text=label).click()
    path = tmp_path / f"download{suffix}"
    info.value.save_as(path)
    assert info.value.suggested_filename.endswith(suffix)
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path)
        assert book.sheetnames == ["备选方案汇总表", "技术对比表", "参考文献"]
        assert [r[1] for r in list(book["备选方案汇总表"].values)[1:]][:1] == ["风机水泵变频调速"]
    else:
        from docx import Document

        document = Document(io.BytesIO(path.read_bytes()))
        assert document.tables[0].rows[1].cells[1].text == "风机水泵变频调速"
    context.close()


def test_compare_from_the_shortlist_checkboxes(browser, base_url):
    context, pg = _new_page(browser)
    pg.goto(f"{base_url}/shortlist?ids={','.join(TECHS)},case-coating-vocs")
    pg.locator("input[name=ids][value='general-pmsm-motor']").uncheck()
    pg.locator("form.compare-form button[type=submit]").click()
    pg.wait_for_url("**/compare?*")
    assert pg.locator("table.compare thead th").count() == 3
    context.close()


def test_api_docs_render_swagger_ui_under_strict_csp(browser, base_url):
    context, pg = _new_page(browser)
    violations = []
    pg.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    requests = []
    pg.on("request", lambda req: requests.append(req.url))
    pg.goto(f"{base_url}/api/docs")
    pg.locator(".swagger-ui .info .title").wait_for()
    assert "清洁生产技术知识库 API" in pg.locator(".swagger-ui .info .title").inner_text()
    assert pg.locator(".opblock-summary-path", has_text="/api/shortlist/export").count() == 1
    assert violations == [] and pg.errors == []
    assert all(u.startswith(base_url) or u.startswith("data:") for u in requests), requests
    context.close()


def test_screenshot_compare_page(page, showcase_url, screenshots):
    url, bundled = showcase_url
    ids = ["building-cement-sncr", "building-cement-hot-esp-scr", "coating-waterborne-coatings"] if bundled else TECHS
    page.goto(f"{url}/compare?ids={','.join(ids)}")
    _require_cjk_font()
    assert page.locator("table.compare tbody tr").count() == 15
    page.screenshot(path=str(screenshots / "compare.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator(".compare-card").first.is_visible()
    page.screenshot(path=str(screenshots / "compare-phone.png"))          # the first screen on a phone


def test_screenshot_shortlist_page(page, showcase_url, screenshots):
    url, bundled = showcase_url
    ids = (["building-cement-sncr", "building-cement-hot-esp-scr", "coating-waterborne-coatings",
            "case-building-changli-hannan-glass-flue-gas"] if bundled else TECHS + ["case-coating-vocs"])
    page.goto(f"{url}/shortlist?ids={','.join(ids)}")
    _require_cjk_font()
    assert page.locator("li.hit").count() == len(ids)
    page.screenshot(path=str(screenshots / "shortlist.png"), full_page=True)
