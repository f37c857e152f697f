"""Real-browser tests: Playwright drives Debian's headless Chromium against the app on a real server thread.

Each test asserts what a reader sees: highlighted results, facets and filter chips, paging, document pages,
sanitised bodies and a layout that fits a phone. Three tests also take the README screenshots.

Skipped when /usr/bin/chromium (or Playwright) is missing, unless KB_REQUIRE_BROWSER is set: then they fail.
Never `playwright install`: Debian's package is the browser (apt-get install chromium fonts-noto-cjk).
Each test guards a promise a user sees; three started as bugs found here (sort by year, phone width, single-character highlights).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import case, technology, write
from test_web import XSS_BODY

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# The README screenshots are rewritten only on request (`make screenshots` sets KB_SCREENSHOTS_DIR);
# an ordinary test run still takes them, into a temporary folder, so a layout that breaks still fails.
SCREENSHOTS_ENV = "KB_SCREENSHOTS_DIR"
CHROMIUM = os.environ.get("KB_CHROMIUM") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 10_000
LONG_URL = "https://www.example.org/kb/articles/Qikan/Article/Detail?id=7002826515&source=steam-trap-survey-2021"
QUERY = "节能"  # every extra entry's summary says 节能: more than one page of results

# Real, widely known technologies; summaries in our own words. (id, title, sectors, category, tags, process, summary)
EXTRA = [
    ("general-vfd-drive", "风机水泵变频调速", "[通用]", "节能", "[电耗]", "动力系统",
     "按实际负荷调节电机转速，避免挡板和阀门节流损失，风机水泵节能效果明显。"),
    ("general-pmsm-motor", "永磁同步电机", "[通用]", "节能", "[电耗]", "动力系统",
     "转子采用永磁体、无励磁损耗，轻载时效率仍高，替换低效异步电机实现节能。"),
    ("general-compressor-heat", "空压机余热回收", "[通用]", "节能", "[余热, 电耗]", "公用工程",
     "回收空压机润滑油和压缩空气的热量加热生活或工艺用水，节能并减少锅炉用汽。"),
    ("general-led-light", "LED照明改造", "[通用]", "节能", "[电耗]", "公用工程",
     "用LED灯具替换高压钠灯和金卤灯，配合分区控制，照明用电节能显著。"),
    ("food-condensate-return", "蒸汽冷凝水回收", "[农副食品加工]", "节能", "[余热, 水耗]", "供汽",
     "把用汽设备排出的高温冷凝水闭式回收进锅炉，利用其余热和软化水，节能又节水。"),
    ("dyeing-heat-pump", "工业热泵供热", "[印染]", "节能", "[余热, 电耗]", "热水制备",
     "以少量电能驱动热泵提取低温废水余热，制取工艺热水，替代蒸汽加热实现节能。"),
    ("coating-rto", "蓄热式热力焚烧（RTO）", "[工业涂装]", "末端治理", "[VOCs, 余热]", "废气治理",
     "陶瓷蓄热体回收焚烧热量，有机废气浓度足够时可自持燃烧，比直燃炉节能。"),
    ("printing-rco", "蓄热式催化燃烧（RCO）", "[包装印刷]", "末端治理", "[VOCs]", "废气治理",
     "在催化剂作用下低温氧化有机废气，起燃温度低、辅助燃料少，运行节能。"),
    ("coating-zeolite-rotor", "沸石转轮吸附浓缩", "[工业涂装, 包装印刷]", "末端治理", "[VOCs]", "废气治理",
     "沸石转轮把大风量低浓度废气浓缩成小风量高浓度气体再焚烧，后端设备小、节能。"),
    ("building-bag-filter", "袋式除尘", "[建材]", "末端治理", "[粉尘]", "除尘",
     "滤袋拦截颗粒物，配合脉冲清灰和低阻滤料，除尘效率高且风机运行节能。"),
    ("dyeing-uf-ro", "超滤反渗透中水回用", "[印染]", "节水", "[水耗]", "废水处理",
     "超滤预处理后经反渗透脱盐，产水回用于生产；选用高效泵和能量回收装置实现节能。"),
    ("chem-mvr", "MVR机械蒸汽再压缩蒸发", "[石化化工]", "节能", "[余热, 蒸汽]", "蒸发浓缩",
     "压缩机提升二次蒸汽的温度后作为加热热源循环利用，回收余热，比多效蒸发节能。"),
]


def _build(settings) -> None:
    from kb.knowledge import KnowledgeBase

    knowledge = KnowledgeBase(settings)
    try:
        knowledge.build()
    finally:
        knowledge.close()


def _write_content(root: Path) -> None:
    write(root, "technologies", "general-activated-carbon", technology(
        "general-activated-carbon", "活性炭吸附法有机废气治理", tags="[溶剂, 危险废物]",
        summary="用活性炭吸附有机废气中的污染物，饱和后脱附再生或更换。",
        body="废气中的挥发性有机物被活性炭孔隙吸附，净化后达标排放；饱和活性炭属于危险废物，须再生或委托处置。"))
    write(root, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        summary="用循环惰性气体冷却红焦，回收显热产生蒸汽发电，节能并省去湿法熄焦用水。",
        body="红焦在干熄炉内与循环气体换热，高温气体进入余热锅炉产生蒸汽，用于发电或供热。\n\n"
             "| 指标 | 湿法熄焦 | 干熄焦 |\n|---|---|---|\n| 熄焦用水 | 有 | 无 |\n| 红焦显热 | 散失 | 回收发电 |"))
    write(root, "cases", "case-coating-vocs", case("case-coating-vocs"))
    for id_, title, sectors, category, tags, process, summary in EXTRA:
        write(root, "technologies", id_, technology(
            id_, title, sectors=sectors, category=category, tags=tags, process=process, summary=summary,
            body=f"{summary}\n\n- 先做能源计量和诊断\n- 再按负荷选型、改造"))
    write(root, "technologies", "general-xss", technology("general-xss", "注入测试条目", body=XSS_BODY))
    # Real entries cite their sources by long URLs, in the source block and in the body's reference list.
    write(root, "technologies", "general-steam-trap", technology(
        "general-steam-trap", "疏水阀定期检测与更换", tags="[蒸汽]", process="供汽", category="过程控制",
        summary="定期检测疏水阀，更换泄漏或堵塞的阀门，减少新鲜蒸汽跑冒。",
        body=f"疏水阀失效会直接排走新鲜蒸汽。\n\n- 参考：{LONG_URL}").replace(
            "  number: HJ 2026-2013", f"  number: HJ 2026-2013\n  url: {LONG_URL}"))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        _missing(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (never `playwright install`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        _missing(f"Playwright for Python is not installed: {exc}")
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        except Exception as exc:
            _missing(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield chromium
        chromium.close()


def _missing(reason: str) -> None:
    if os.environ.get("KB_REQUIRE_BROWSER"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@contextmanager
def _served(settings):
    """The app over these settings on a free local port, stopped when the block ends."""
    from werkzeug.serving import make_server

    from web import create_app

    server = make_server("127.0.0.1", 0, create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings, "TESTING": False}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kb-browser-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    """The test knowledge base, built once per module and served on a free local port: two of conftest's
    technologies, its case, twelve more technologies (13 hits for 节能: two result pages), the XSS entry and an
    entry citing a long source URL."""
    from kb.config import load_settings

    tmp = tmp_path_factory.mktemp("browser-kb")
    _write_content(tmp / "content")
    settings = load_settings(tmp / "instance", bundled_content=tmp / "content", editable_content=tmp / "editable",
                             database_url=f"sqlite:///{tmp / 'instance' / 'kb.sqlite3'}")
    _build(settings)
    with _served(settings) as url:
        yield url


@pytest.fixture(scope="module")
def showcase_url(tmp_path_factory, base_url):
    """For README screenshots: the bundled content if it builds right now, else the test knowledge base."""
    from kb.build import BuildError
    from kb.config import load_settings

    tmp = tmp_path_factory.mktemp("browser-bundled")
    settings = load_settings(tmp / "instance", editable_content=tmp / "editable",
                             database_url=f"sqlite:///{tmp / 'instance' / 'kb.sqlite3'}")
    try:
        _build(settings)
    except BuildError as exc:  # content writers may have a file mid-edit; the screenshots still get taken
        print(f"bundled content does not build ({str(exc).splitlines()[0]}); screenshots use test content")
        yield base_url, False
        return
    with _served(settings) as url:
        yield url, True


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    pg.dialogs = []
    pg.errors = []

    def on_dialog(dialog):
        pg.dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    yield pg
    context.close()


def _require_cjk_font() -> None:
    """README screenshots full of tofu boxes are worse than none: keep the old ones if no Chinese font."""
    fc_list = shutil.which("fc-list")
    found = fc_list and subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True).stdout.strip()
    if not found:
        _missing("no Chinese font for the screenshots (apt-get install -y fonts-noto-cjk)")


def _total(page) -> int:
    return int(page.locator("#total").inner_text())


def _hit_titles(page) -> list[str]:
    return page.locator("li.hit a.title").all_inner_texts()


def _assert_whole_word_marks(page, every: bool = True) -> list[str]:
    """Snippets highlight whole words: at least one <mark> of two or more characters; with every=True, no
    highlight is a lone character cut out of a longer word."""
    marks = [m.strip() for m in page.locator(".snippet mark").all_inner_texts()]
    assert any(len(m) >= 2 for m in marks), f"no whole-word highlight in any snippet: {marks}"
    if every:
        assert all(len(m) >= 2 for m in marks), f"highlights cut words into single characters: {marks}"
    return marks


# ---------------------------------------------------------------- tests


def test_search_from_home_page_highlights_whole_words(page, base_url):
    page.goto(base_url + "/")
    box = page.locator("form.big-search input[name=q]")
    box.fill("余热锅炉")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    assert page.locator("li.hit").count() >= 1 and _total(page) >= 1
    marks = _assert_whole_word_marks(page)
    assert any(m in ("余热锅炉", "余热", "锅炉") for m in marks), marks
    assert "干熄焦" in _hit_titles(page)
    assert page.locator("header input[name=q]").input_value() == "余热锅炉"  # the query stays in the box
    assert not page.errors


def test_facet_narrows_results_and_chip_removes_filter(page, base_url):
    page.goto(f"{base_url}/search?q={QUERY}")
    before = _total(page)
    facet = page.locator('section.facet[data-facet="sector"]')
    assert facet.locator("h3").inner_text() == "行业"
    link = facet.locator("li a").first
    value = link.inner_text().strip()
    expected = int(facet.locator("li .count").first.inner_text())
    link.click()
    page.wait_for_url(re.compile(r"sector="))
    after = _total(page)
    assert after == expected and after < before, (before, after, value)
    chip = page.locator(".active a.chip")
    assert chip.count() == 1
    assert chip.inner_text().startswith(f"行业：{value}")
    selected = page.locator('section.facet[data-facet="sector"] a.selected')
    assert selected.count() == 1 and selected.inner_text().strip() == value
    chip.click()
    page.wait_for_url(lambda url: "sector=" not in url)
    assert _total(page) == before
    assert page.locator(".active a.chip").count() == 0


def test_pager_goes_to_next_page(page, base_url):
    page.goto(f"{base_url}/search?q={QUERY}")
    total = _total(page)
    assert total > 10, f"need more than one page of results, got {total}"
    first = _hit_titles(page)
    pager = page.locator("nav.pager")
    assert "第 1 / 2 页" in pager.inner_text()
    pager.locator("a[rel=next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    second = _hit_titles(page)
    assert second and not set(first) & set(second)
    assert len(first) + len(second) == total
    assert "第 2 / 2 页" in page.locator("nav.pager").inner_text()
    assert page.locator("nav.pager a[rel=next]").count() == 0
    assert page.locator("ol.hits").get_attribute("start") == "11"
    page.locator("nav.pager a[rel=prev]").click()
    page.wait_for_url(re.compile(r"page=1"))
    assert _hit_titles(page) == first


def test_open_document_from_results(page, base_url):
    page.goto(f"{base_url}/search?q=干熄焦")
    page.locator("li.hit a.title", has_text="干熄焦").first.click()
    page.wait_for_url(re.compile(r"/documents/coking-cdq$"))
    assert page.locator("article.doc h1").inner_text() == "干熄焦"
    assert page.title().startswith("干熄焦")
    fields = page.locator("table.fields")
    assert fields.is_visible()
    assert fields.locator("tr", has=page.locator("th", has_text="类别")).locator("td").inner_text() == "节能"
    assert "HJ 2026-2013" in fields.inner_text()
    body = page.locator(".body")
    assert body.locator("h2", has_text="技术原理").is_visible()
    assert "余热锅炉" in body.inner_text()
    assert body.locator("table th", has_text="干熄焦").is_visible()  # the Markdown table is rendered
    assert "## " not in body.inner_text() and "|---" not in body.inner_text()
    assert not page.errors


def test_document_body_cannot_run_script(page, base_url):
    page.goto(f"{base_url}/documents/general-xss")
    assert page.locator("article.doc h1").inner_text() == "注入测试条目"
    text = page.get_by_text("样式注入")
    assert text.is_visible()
    assert text.evaluate("el => getComputedStyle(el).position") != "fixed"
    link = page.locator(".body a", has_text="点我")
    if link.count():
        assert not (link.get_attribute("href") or "").lower().startswith("javascript")
        link.click()
    text.click()
    page.wait_for_timeout(200)
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.dialogs == []
    assert page.locator(".body script, .body img[onerror], .body [onclick], .body [style]").count() == 0


def test_two_character_word_is_not_highlighted_character_by_character(page, base_url):
    page.goto(f"{base_url}/search?q=余热")
    assert _total(page) >= 1
    _assert_whole_word_marks(page)


def test_results_page_fits_a_phone(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        for path in (f"/search?q={QUERY}", "/", "/documents/coking-cdq"):
            page.goto(base_url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 4, f"{path} scrolls sideways on a phone: scrollWidth {width}px"
        page.goto(f"{base_url}/search?q={QUERY}")
        assert page.locator("li.hit").first.is_visible()
        # the facets fold into one line above the results (issue 17: they came after ~3,000 px of results)
        summary = page.locator("details.facet-panel > summary")
        assert summary.is_visible() and not page.locator("section.facet").first.is_visible()
        first_hit = page.locator("li.hit").first.bounding_box()
        assert summary.bounding_box()["y"] < first_hit["y"] < 844, "the first result should be on the first screen"
    finally:
        context.close()


def test_document_with_long_source_url_fits_a_phone(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{base_url}/documents/general-steam-trap")
        assert page.locator("table.fields a", has_text="example.org").count() == 1
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 4, f"the document page scrolls sideways on a phone: scrollWidth {width}px"
    finally:
        context.close()


def test_sort_by_year_link(page, base_url):
    page.goto(f"{base_url}/search?q={QUERY}")
    total = _total(page)
    with page.expect_navigation() as nav:
        page.locator("p.sort a", has_text="年份").click()
    assert nav.value.status == 200, f"clicking 年份 gives HTTP {nav.value.status}"
    assert page.locator("p.sort strong").inner_text() == "年份"
    assert _total(page) == total and page.locator("li.hit").count() == 10


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    target = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_screenshot_search_page(page, showcase_url, screenshots):
    url, bundled = showcase_url
    query = "余热发电" if bundled else "余热"
    page.goto(f"{url}/search?q={query}")
    _require_cjk_font()
    assert page.locator("li.hit").count() >= 1
    _assert_whole_word_marks(page, every=False)
    assert page.locator("section.facet").count() >= 2
    page.screenshot(path=str(screenshots / "search.png"), full_page=True)


def test_screenshot_document_page(page, showcase_url, screenshots):
    url, bundled = showcase_url
    page.goto(f"{url}/documents/coking-cdq")
    _require_cjk_font()
    assert page.locator("article.doc h1").is_visible() and page.locator(".body h2").count() >= 1
    page.screenshot(path=str(screenshots / "document.png"), full_page=True)


def test_screenshot_home_page_with_coverage(page, showcase_url, screenshots):
    url, bundled = showcase_url
    page.goto(f"{url}/")
    _require_cjk_font()
    assert page.locator("ul.sectors li").count() >= 14 and page.locator("table.stats-table").count() == 0
    page.screenshot(path=str(screenshots / "home.png"), full_page=True)
    # the editors' backlog is on 收录情况 (issue 17), linked from the home page
    page.locator("p.stats a", has_text="收录情况").click()
    page.wait_for_url(re.compile(r"/coverage$"))
    table = page.locator("table.stats-table")
    assert table.is_visible() and table.locator("tbody tr").count() >= 14   # 13 key sectors + 通用
    first = table.locator("tbody tr").first
    assert first.locator("th").inner_text() == "能源" and first.locator("td").count() == 3
    page.screenshot(path=str(screenshots / "coverage.png"), full_page=True)


# ---------------------------------------------------------------- 清洁生产水平自评


@pytest.fixture(scope="module")
def assess_url(tmp_path_factory):
    """A knowledge base with two assessable specs (the real spec-plating-2015 and a test-only 焦化 spec from
    test_assess) and a technology per sector, served on a free local port."""
    from kb.config import load_settings
    from test_assess import SPECS, TEST_SPEC

    tmp = tmp_path_factory.mktemp("browser-assess")
    root = tmp / "content"
    write(root, "specs", "spec-plating-2015", (SPECS / "spec-plating-2015.md").read_text(encoding="utf-8"))
    write(root, "specs", "spec-coking-assess-test", TEST_SPEC)
    write(root, "technologies", "plating-countercurrent-rinse", technology(
        "plating-countercurrent-rinse", "多级逆流漂洗", sectors="[电镀]", tags="[水耗]", process="镀后清洗",
        category="节水", summary="多个清洗槽串联、清水逆向流动，减少电镀清洗取水量。"))
    write(root, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        summary="用循环惰性气体冷却红焦，回收显热产生蒸汽发电，节能并省去湿法熄焦用水。"))
    settings = load_settings(tmp / "instance", bundled_content=root, editable_content=tmp / "editable",
                             database_url=f"sqlite:///{tmp / 'instance' / 'kb.sqlite3'}")
    _build(settings)
    with _served(settings) as url:
        yield url


def test_assess_sector_switch_with_javascript(page, assess_url):
    page.goto(f"{assess_url}/assess?sector=电镀")
    assert page.locator('input[name="v.rinse-water-per-area"]').count() == 1
    with page.expect_navigation():
        page.select_option('#sector-form select[name="sector"]', "焦化")   # no click: the script submits
    assert "sector=" in page.url and page.locator('input[name="v.fresh-water"]').count() == 1
    assert page.locator('input[name="v.rinse-water-per-area"]').count() == 0 and page.errors == []


def test_assess_sector_switch_without_javascript(browser, assess_url):
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{assess_url}/assess?sector=焦化")
        page.select_option('#sector-form select[name="sector"]', "电镀")
        with page.expect_navigation():
            page.click("#sector-form button[type=submit]")
        assert page.locator('input[name="v.rinse-water-per-area"]').count() == 1
    finally:
        context.close()


def _boxes_overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def test_assess_result_labels_print_and_download(page, assess_url, tmp_path):
    from openpyxl import load_workbook

    page.goto(f"{assess_url}/assess?sector=电镀")
    page.fill('input[name="v.rinse-water-per-area"]', "30")
    page.fill('input[name="v.zinc-utilization"]', "81")
    with page.expect_navigation():
        page.click(".spec-form button[type=submit]")
    assert page.locator(".overall .level").inner_text() == "数据不足"
    assert "57.4%" in page.locator(".overall .coverage").inner_text()
    # zinc utilisation: Ⅰ 82, Ⅱ 80, Ⅲ 75 — close marks; no label overlaps another or the bar
    row = page.locator(".chart li", has_text="锌利用率")
    labels = [row.locator(f".mark.m{k} span").bounding_box() for k in (1, 2, 3)]
    bar = row.locator(".bar").bounding_box()
    for i, box in enumerate(labels):
        assert not _boxes_overlap(box, bar), (box, bar)
        for other in labels[i + 1:]:
            assert not _boxes_overlap(box, other), (box, other)
    # printed: the result without the forms and the download link
    page.emulate_media(media="print")
    assert page.locator(".overall").is_visible() and page.locator(".chart").is_visible()
    assert not page.locator("#sector-form").is_visible() and not page.locator(".downloads").is_visible()
    page.emulate_media(media="screen")
    with page.expect_download() as info:
        page.click("a.download")
    path = tmp_path / "assess.xlsx"
    info.value.save_as(path)
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["指标", "覆盖度与结论", "差距", "来源"]
    rows = {r[3]: r for r in workbook["指标"].iter_rows(min_row=2, values_only=True)}
    assert rows["rinse-water-per-area"][11] == 30 and rows["rinse-water-per-area"][12] == "Ⅲ级"
    summary = dict(workbook["覆盖度与结论"].iter_rows(min_row=2, values_only=True))
    assert summary["总体级别"] == "数据不足" and summary["标准条目收录的比例（%）"] == 57.4
    assert summary["已填写的比例（%）"] == 24.4   # rinse 0.1 + the metals family 0.18 × 0.8 = 0.244 of 1
    # rinse 30 → Ⅲ (limiting): Ⅰ and Ⅱ out, Ⅲ possible → gaps against Ⅱ: the rinse water, ≤ 24 L/m²
    gaps = list(workbook["差距"].iter_rows(min_row=2, values_only=True))
    assert gaps and all(g[0] == "单位产品每次清洗取水量" and g[2] == "≤ 24 L/m²" for g in gaps)
    assert gaps[0][4] == "plating-countercurrent-rinse" and "针对差距指标" in gaps[0][5]


# ---------------------------------------------------------------- Content-Security-Policy (issue 13)
CSP_PAGES = ["/", f"/search?q={QUERY}", "/documents/coking-cdq", "/documents/general-xss", "/recommend", "/assess",
             "/edit", "/no-such-page", "/coverage", "/search", "/sectors/汽车",
             "/recommend?sector=工业涂装&problem=喷涂VOCs治理&max_investment_wan=1"]
ASSESS_CHART = ("/assess?sector=电镀&run=1&v.clean-process=1&v.process-control=1&v.line-requirements=2"
                "&v.water-saving-facilities=2&v.rinse-water-per-area=30&v.zinc-utilization=85&v.nickel-utilization=90")


def _watch_csp(page) -> list[str]:
    """Collect every CSP violation: Chromium's console reports and the page's securitypolicyviolation events."""
    reports: list[str] = []
    page.on("console", lambda msg: reports.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation',"
                         " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));")
    return reports


def _visit_under_csp(page, url: str) -> None:
    response = page.goto(url)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
    page.wait_for_load_state("load")
    assert page.evaluate("window.__csp") == [], url
    # the stylesheets did load (a blocked one would leave the page unstyled without a script error)
    assert page.evaluate("[...document.styleSheets].every(s => s.cssRules.length > 0)"), url


def test_main_pages_pass_the_content_security_policy(page, base_url):
    reports = _watch_csp(page)
    for path in CSP_PAGES:
        _visit_under_csp(page, base_url + path)
    assert reports == [] and page.errors == []


def test_assessment_chart_is_drawn_under_the_content_security_policy(page, showcase_url):
    url, bundled = showcase_url
    if not bundled:
        pytest.skip("the bundled content (with the 电镀 indicator system) does not build right now")
    reports = _watch_csp(page)
    _visit_under_csp(page, url + ASSESS_CHART)
    widths = page.locator(".chart .bar").evaluate_all("bars => bars.map(b => b.getBoundingClientRect().width)")
    track = page.locator(".chart .track").first.evaluate("t => t.getBoundingClientRect().width")
    assert widths and all(0 < w <= track for w in widths), widths
    assert reports == []


@pytest.fixture(scope="module")
def editor_url(tmp_path_factory):
    """The test knowledge base with editing enabled, on its own server."""
    from kb.config import load_settings

    tmp = tmp_path_factory.mktemp("browser-editor")
    _write_content(tmp / "content")
    settings = load_settings(tmp / "instance", bundled_content=tmp / "content", editable_content=tmp / "editable",
                             database_url=f"sqlite:///{tmp / 'instance' / 'kb.sqlite3'}", editor_token=EDITOR_TOKEN)
    _build(settings)
    with _served(settings) as url:
        yield url


EDITOR_TOKEN = "browser-editor-token-42"


def test_editor_signs_in_publishes_and_signs_out_in_a_real_browser(page, editor_url):
    """The CSRF token, the Origin check and the SameSite cookie let the real form through, under the CSP."""
    reports = _watch_csp(page)
    page.goto(editor_url + "/edit")
    page.fill("input[name=token]", EDITOR_TOKEN)
    page.click("main button[type=submit]")
    page.wait_for_selector("textarea[name=text]")
    page.fill("textarea[name=text]", case("case-coating-browser").replace("测试用涂装企业VOCs治理案例", "浏览器发布的涂装案例"))
    page.click("button[value=preview]")
    page.wait_for_selector("text=校验通过")
    page.click("button[value=publish]")
    page.wait_for_url("**/documents/case-coating-browser")
    assert page.locator("h1").inner_text() == "浏览器发布的涂装案例"
    page.goto(editor_url + "/edit")
    page.click("main button:has-text('退出登录')")
    page.wait_for_selector("input[name=token]")
    assert reports == [] and page.evaluate("window.__csp") == []
