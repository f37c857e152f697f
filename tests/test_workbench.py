"""审核工作台: the shortlist, the comparison and the audit-report files, from the tables to the endpoints.

The tables are checked against the entries' own front matter; the Excel and Word files are read back with
openpyxl and python-docx (and converted to PDF by LibreOffice when it is installed).
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import case, technology, write

WATERBORNE_SOURCE = "  number: HJ 2026-2013\n  url: https://www.example.gov.cn/waterborne-2020"
WATERBORNE_BENEFITS = """benefits:
  - indicator: VOCs排放量
    value: 降低80
    unit: "%"
    basis: 与溶剂型涂料相比
  - indicator: 烘干电耗
    value: 12
    unit: kWh/t
  - indicator: 年节约费用
    value: 30
    unit: 万元/a
investment_wan: 120
payback_years: 2
maturity: 推广应用
"""
WATERBORNE_BODY = """水性涂料以水为分散介质，<script>window.pwned = 1</script>**溶剂含量低**。

## 主要技术指标

- 喷漆室需控制温湿度，运行费用约5万元/年。

## 跨介质影响

喷枪清洗产生含漆废水，需要配套预处理。"""


def _content(root: Path) -> None:
    write(root, "technologies", "coating-waterborne", technology(
        "coating-waterborne", "水性涂料替代溶剂型涂料", sectors="[工业涂装]", tags="[VOCs, 源头替代]",
        process="喷涂", category="源头替代", summary="用水性涂料替代溶剂型涂料，从源头降低VOCs产生量。",
        body=WATERBORNE_BODY, extra=WATERBORNE_BENEFITS).replace("  number: HJ 2026-2013", WATERBORNE_SOURCE)
        .replace("  kind: 标准", "  kind: 目录").replace("  origin: 标准", "  origin: 官方目录"))
    write(root, "technologies", "coating-rto", technology(
        "coating-rto", "蓄热式热力焚烧（RTO）", sectors="[工业涂装]", tags="[VOCs]",
        summary="陶瓷蓄热体回收焚烧热量，有机废气浓度足够时可自持燃烧。", body="有机废气在高温下氧化。"))
    write(root, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        summary="用循环惰性气体冷却红焦，回收显热产生蒸汽发电，并省去湿法熄焦用水。", body="红焦与循环气体换热。"))
    write(root, "cases", "case-coating-waterborne", case("case-coating-waterborne", technologies="[coating-waterborne]")
          .replace("""options:
  - name: 无/低费方案（来源未列名称）
    cost_class: 无/低费
    count: 3""", """options:
  - name: 加强喷枪清洗管理
    cost_class: 无/低费
  - name: 水性涂料替代油性涂料
    cost_class: 中/高费
    investment_wan: 80""").replace("results: [VOCs 排放量下降]", "results: [VOCs 排放量下降, 年节约涂料费用 20 万元]")
          .replace("title: 测试来源", "title: 测试涂装企业水性漆改造报道"))
    write(root, "cases", "case-other", case("case-other", technologies="[coking-cdq]", sectors="[焦化]")
          .replace("title: 测试用涂装企业VOCs治理案例", "title: 测试用焦化企业干熄焦案例"))


@pytest.fixture(scope="module")
def wb(tmp_path_factory):
    """A knowledge base of two coating technologies, 干熄焦 and two cases, built once for the module."""
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase

    tmp = tmp_path_factory.mktemp("workbench")
    _content(tmp / "content")
    settings = load_settings(tmp / "instance", bundled_content=tmp / "content", editable_content=tmp / "editable",
                             database_url=f"sqlite:///{tmp / 'instance' / 'kb.sqlite3'}")
    knowledge = KnowledgeBase(settings)
    knowledge.build()
    yield knowledge, settings
    knowledge.close()


@pytest.fixture(scope="module")
def wb_client(wb):
    from web import create_app

    return create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": wb[1], "TESTING": False}).test_client()


def _tables(wb, ids):
    from kb.report import build_tables, load_documents

    return build_tables(wb[0], load_documents(wb[0], ids), "测试方案", url_of=lambda i: f"https://kb.test/documents/{i}")


# ------------------------------------------------------------------------------------ tables


def test_parse_ids_keeps_order_drops_repeats_and_names_bad_ids():
    from kb.report import ReportError, parse_ids

    assert parse_ids(["b-1,a-1", "b-1", " c-1 "]) == ["b-1", "a-1", "c-1"]
    assert parse_ids("a-1，b-2") == ["a-1", "b-2"]
    with pytest.raises(ReportError) as exc:
        parse_ids("good-id,Bad/Id")
    assert exc.value.details == [{"field": "ids", "message": "「Bad/Id」不是有效的 id（小写字母、数字和连字符）"}]
    with pytest.raises(ReportError) as exc:
        parse_ids([f"id-{n}" for n in range(51)])
    assert "最多 50 个" in exc.value.details[0]["message"]
    with pytest.raises(ReportError):
        parse_ids(["a-1,b-2"], split=False)           # a JSON list holds single ids


def test_unknown_ids_are_named(wb):
    from kb.report import ReportError, load_documents

    with pytest.raises(ReportError) as exc:
        load_documents(wb[0], ["coating-rto", "no-such-id", "gone-too"])
    assert [d["message"] for d in exc.value.details] == ["没有 id 为「no-such-id」的条目", "没有 id 为「gone-too」的条目"]


def test_profile_reads_every_field_from_the_entry(wb):
    tables = _tables(wb, ["coating-waterborne", "coating-rto"])
    full, bare = tables.comparison
    assert full.principle.startswith("水性涂料以水为分散介质") and "## 主要技术指标" not in full.principle
    assert full.environmental == ["VOCs排放量：降低80 %（与溶剂型涂料相比）"]
    assert full.resources == ["烘干电耗：12 kWh/t"]
    assert full.economic == ["年节约费用：30 万元/a"]
    assert (full.investment, full.payback, full.maturity) == ("120 万元", "2 年", "推广应用")
    assert full.operating_cost == "运行费用约5万元/年"
    assert full.cross_media == "喷枪清洗产生含漆废水，需要配套预处理。"
    # the case's option named after the technology is 中/高费; its unrelated 无/低费 option is not counted
    assert full.cost_class == "中/高费（1 个案例）"
    assert [c["id"] for c in full.cases] == ["case-coating-waterborne"]
    assert full.source["origin"] == "官方目录" and full.source["confidence"] == "高"
    rows = {r["field"]: r["values"] for r in tables.comparison_rows()}
    assert rows["confidence"] == ["高", "高"] and rows["origin"] == ["官方目录", "标准"]
    for field in ("environmental", "resources", "cross_media", "investment", "operating_cost", "payback",
                  "maturity", "cost_class", "cases"):
        assert rows[field][1] == "未给出", field           # never blank, never a guess
    assert all(v for values in rows.values() for v in values)


def test_option_not_named_after_the_technology_gives_no_cost_class():
    from kb.report import cost_class

    tech = {"id": "coating-rto", "title": "蓄热式热力焚烧（RTO）", "tags": ["VOCs"]}
    case_ = {"id": "c", "technologies": ["coating-rto", "other"],
             "options": [{"name": "更换节能灯具", "cost_class": "无/低费"}]}
    assert cost_class(tech, [case_]) is None
    case_["options"].append({"name": "新建蓄热式焚烧装置", "cost_class": "中/高费"})
    assert cost_class(tech, [case_]) == "中/高费（1 个案例）"


def test_summary_table_and_references(wb):
    tables = _tables(wb, ["coating-waterborne", "case-other", "coating-rto", "coking-cdq"])
    assert tables.summary_columns == ("编号", "方案名称", "类型", "主要内容", "投资", "预计年经济效益", "环境效益", "参考案例", "来源")
    first, second, third, _ = tables.summary
    assert [r["编号"] for r in tables.summary] == ["F1", "F2", "F3", "F4"]
    assert first["类型"] == "技术·源头替代（中/高费（1 个案例））" and first["投资"] == "120 万元"
    assert first["预计年经济效益"] == "年节约费用：30 万元/a"
    assert "测试用涂装企业VOCs治理案例" in first["参考案例"]
    assert second["类型"] == "案例（清洁生产审核）：无/低费" and second["参考案例"].startswith("常州某涂装企业")
    assert third["投资"] == "未给出" and third["预计年经济效益"] == "未给出"
    titles = [r["title"] for r in tables.references]
    # each source once (RTO and 干熄焦 cite the same one), plus the source of the case cited for F1
    assert titles.count("吸附法工业有机废气治理工程技术规范") == 2 and "测试涂装企业水性漆改造报道" in titles
    shared_by_two = next(r for r in tables.references if r["url"] == "未给出" and r["number"] == "HJ 2026-2013")
    assert shared_by_two["cited_by"] == ["蓄热式热力焚烧（RTO）", "干熄焦"]
    shared = next(r for r in tables.references if r["url"] == "https://www.example.gov.cn/waterborne-2020")
    assert (shared["issuer"], shared["number"], shared["year"]) == ("环境保护部", "HJ 2026-2013", 2013)
    assert tables.as_json()["comparison"]["technologies"][0]["url"] == "https://kb.test/documents/coating-waterborne"


def test_excel_file_reads_back(wb):
    from openpyxl import load_workbook

    from kb.report_files import to_xlsx

    book = load_workbook(io.BytesIO(to_xlsx(_tables(wb, ["coating-waterborne", "coating-rto", "case-other"]))))
    assert book.sheetnames == ["备选方案汇总表", "技术对比表", "参考文献"]
    summary = list(book["备选方案汇总表"].values)
    assert summary[0] == ("编号", "方案名称", "类型", "主要内容", "投资", "预计年经济效益", "环境效益", "参考案例", "来源")
    assert summary[1][:2] == ("F1", "水性涂料替代溶剂型涂料") and len(summary) == 4
    compare = list(book["技术对比表"].values)
    assert compare[0] == ("比较项", "水性涂料替代溶剂型涂料", "蓄热式热力焚烧（RTO）")
    assert ("费用类别", "中/高费（1 个案例）", "未给出") in compare
    refs = list(book["参考文献"].values)
    assert refs[0][:6] == ("序号", "标题", "发布机构", "文号/标准号", "年份", "网址")
    assert any(r[5] == "https://www.example.gov.cn/waterborne-2020" for r in refs[1:])


def _docx_text(data: bytes):
    from docx import Document

    document = Document(io.BytesIO(data))
    headings = [p.text for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    tables = [[[c.text for c in row.cells] for row in t.rows] for t in document.tables]
    return document, headings, tables


def test_word_file_reads_back(wb):
    from docx.enum.section import WD_ORIENT

    from kb.report_files import to_docx

    ids = ["coating-waterborne", "coating-rto", "coking-cdq", "case-other"]
    document, headings, tables = _docx_text(to_docx(_tables(wb, ids)))
    assert headings == ["测试方案", "备选方案汇总表", "技术对比表", "参考文献"]
    assert document.sections[0].orientation == WD_ORIENT.LANDSCAPE
    summary, compare, refs = tables                   # up to three technologies in one comparison table
    assert summary[0] == ["编号", "方案名称", "类型", "主要内容", "投资", "预计年经济效益", "环境效益", "参考案例", "来源"]
    assert [r[1] for r in summary[1:]] == ["水性涂料替代溶剂型涂料", "蓄热式热力焚烧（RTO）", "干熄焦", "测试用焦化企业干熄焦案例"]
    assert compare[0] == ["比较项", "水性涂料替代溶剂型涂料", "蓄热式热力焚烧（RTO）", "干熄焦"]
    principle = next(r for r in compare if r[0] == "技术原理")
    assert principle[1].startswith("水性涂料以水为分散介质")
    assert refs[0][:6] == ["序号", "标题", "发布机构", "文号/标准号", "年份", "网址"]
    assert all(cell for row in summary for cell in row)


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice is not installed (apt-get install -y libreoffice-writer-nogui)")
def test_word_file_converts_to_pdf_with_libreoffice(wb, tmp_path):
    from kb.report_files import to_docx

    source = tmp_path / "方案表.docx"
    source.write_bytes(to_docx(_tables(wb, ["coating-waterborne", "coating-rto"])))
    result = subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless",
                             "--convert-to", "pdf", "--outdir", str(tmp_path), str(source)],
                            capture_output=True, text=True, timeout=180)
    pdf = tmp_path / "方案表.pdf"
    assert pdf.exists(), result.stderr or result.stdout
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 1
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        assert "备选方案汇总表" in text and "水性涂料替代溶剂型涂料" in text


# ------------------------------------------------------------------------------------ endpoints


def test_compare_page_shows_every_field_and_sanitises_the_principle(wb_client):
    response = wb_client.get("/compare?ids=coating-waterborne,coating-rto")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    table = html.split('<table class="compare">')[1].split("</table>")[0]
    assert len(re.findall(r"<tr data-field=", table)) == 15
    assert "<strong>溶剂含量低</strong>" in table and "<script>" not in html.split("</header>")[1]
    cost = table.split('data-field="cost_class"')[1].split("</tr>")[0]
    assert "中/高费（1 个案例）" in cost and "未给出" in cost
    assert 'class="compare-card"' in html                  # the phone layout is there too
    assert "/documents/case-coating-waterborne" in table


@pytest.mark.parametrize("query, status, message", [
    ("ids=coating-rto", 400, "请选择 2–6 项技术进行对比（收到 1 项）"),
    ("", 400, "请选择 2–6 项技术进行对比（收到 0 项）"),
    ("ids=coating-rto,no-such-tech", 404, "知识库中没有这些条目：no-such-tech"),
    ("ids=coating-rto,case-other", 400, "只能对比技术条目"),
    ("ids=coating-rto,BAD!", 400, "id 有误"),
    ("ids=" + ",".join(f"tech-{n}" for n in range(7)), 400, "收到 7 项"),
])
def test_compare_bad_ids_get_a_chinese_error_page(wb_client, query, status, message):
    response = wb_client.get(f"/compare?{query}")
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert response.mimetype == "text/html"


def test_shortlist_page_from_url_and_without_javascript(wb_client):
    html = wb_client.get("/shortlist?ids=coating-waterborne,case-other,gone-entry").get_data(as_text=True)
    assert 'data-ids="coating-waterborne,case-other"' in html
    assert "以下条目已不在知识库中，已从列表中去掉：gone-entry" in html
    assert "/shortlist?ids=coating-waterborne,case-other" in html.replace("%2C", ",")      # the share link
    assert "/shortlist/export.xlsx?ids=coating-waterborne" in html.replace("%2C", ",")
    added = wb_client.get("/shortlist?ids=coating-rto&add=coking-cdq")
    assert added.status_code == 302 and added.headers["Location"].replace("%2C", ",") == "/shortlist?ids=coating-rto,coking-cdq"
    removed = wb_client.get("/shortlist?ids=coating-rto,coking-cdq&remove=coating-rto")
    assert removed.headers["Location"] == "/shortlist?ids=coking-cdq"
    assert wb_client.get("/shortlist?add=../etc").status_code == 400
    assert "备选方案还是空的" in wb_client.get("/shortlist").get_data(as_text=True)


def test_add_control_on_search_document_and_recommend_pages(wb_client):
    control = 'data-shortlist-id="coating-waterborne"'
    assert control in wb_client.get("/search?q=水性涂料").get_data(as_text=True)
    assert control in wb_client.get("/documents/coating-waterborne").get_data(as_text=True)
    html = wb_client.get("/recommend?sector=工业涂装&problem=喷涂VOCs排放高").get_data(as_text=True)
    assert control in html and "/shortlist/export.docx?ids=" in html
    nav = wb_client.get("/").get_data(as_text=True)
    assert 'href="/shortlist" data-shortlist-nav' in nav and 'href="/api/docs"' in nav


@pytest.mark.parametrize("fmt, mime, magic", [
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK"),
])
def test_export_downloads(wb_client, fmt, mime, magic):
    response = wb_client.get(f"/shortlist/export.{fmt}?ids=coating-waterborne,case-other&title=技术推荐结果")
    assert response.status_code == 200 and response.mimetype == mime and response.data.startswith(magic)
    assert "attachment" in response.headers["Content-Disposition"]
    posted = wb_client.post("/api/shortlist/export", json={"ids": ["coating-waterborne"], "format": fmt})
    assert posted.status_code == 200 and posted.mimetype == mime
    assert wb_client.get(f"/shortlist/export.{fmt}?ids=coating-rto,nope-id").status_code == 400


def test_api_export_json_twin(wb_client):
    data = wb_client.post("/api/shortlist/export", json={"ids": ["coating-waterborne", "coating-rto"]}).get_json()
    assert set(data) == {"title", "summary", "comparison", "references", "notes"}
    assert data["summary"]["columns"][:3] == ["编号", "方案名称", "类型"]
    assert [t["id"] for t in data["comparison"]["technologies"]] == ["coating-waterborne", "coating-rto"]
    assert data["comparison"]["technologies"][0]["url"] == "http://localhost/documents/coating-waterborne"
    row = next(r for r in data["comparison"]["rows"] if r["field"] == "payback")
    assert row == {"field": "payback", "label": "投资回收期", "values": ["2 年", "未给出"]}


@pytest.mark.parametrize("body, field, text", [
    ({"ids": ["coating-rto", "no-such-id"]}, "ids", "没有 id 为「no-such-id」的条目"),
    ({"ids": []}, "ids", "ids 必须是"),
    ({"ids": "coating-rto"}, "ids", "ids 必须是"),
    ({"ids": [f"id-{n}" for n in range(51)]}, "ids", "ids 必须是 1–50 个"),
    ({"ids": ["coating-rto"] * 51}, "ids", "ids 必须是 1–50 个"),          # found by schemathesis
    ({"ids": ["coating-rto"], "format": "pdf"}, "format", "format 必须是"),
    ({"ids": ["coating-rto"], "title": ""}, "title", "title 必须是"),
    ({"ids": ["coating-rto"], "extra": 1}, "extra", "未知字段"),
])
def test_api_export_rejects_bad_requests(wb_client, body, field, text):
    response = wb_client.post("/api/shortlist/export", json=body)
    assert response.status_code == 400
    details = response.get_json()["details"]
    assert any(d["field"] == field and text in d["message"] for d in details), details


def test_api_docs_served_from_the_package_under_a_strict_csp(wb_client):
    response = wb_client.get("/api/docs")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html and " on" not in html.split("<body")[1].split(">")[0]
    assert not re.search(r"(?:src|href)=\"https?://", html)       # nothing from the internet
    for asset in re.findall(r"(?:src|href)=\"(/[^\"]+)\"", html):
        assert wb_client.get(asset).status_code == 200, asset
    assert wb_client.get("/api/docs/assets/../__init__.py").status_code == 404
    paths = wb_client.get("/api/openapi.json").get_json()["paths"]
    assert "/api/shortlist/export" in paths


def test_excel_never_writes_an_entry_text_as_a_formula():
    from openpyxl import load_workbook

    from kb.report import SUMMARY_COLUMNS, AuditTables
    from kb.report_files import to_xlsx

    row = {c: "未给出" for c in SUMMARY_COLUMNS} | {"编号": "F1", "主要内容": '=HYPERLINK("http://evil.example","点我")'}
    tables = AuditTables("测试", SUMMARY_COLUMNS, [row], [], [])
    cell = load_workbook(io.BytesIO(to_xlsx(tables)))["备选方案汇总表"]["D2"]
    assert cell.data_type == "s" and cell.value.startswith("'=")


@pytest.fixture
def content(content):
    """conftest's knowledge base plus the real 电镀 2015 evaluation system, so an assessment has gaps."""
    spec = Path(__file__).resolve().parent.parent / "kb" / "content" / "specs" / "spec-plating-2015.md"
    (content / "specs").mkdir(exist_ok=True)
    (content / "specs" / spec.name).write_text(spec.read_text(encoding="utf-8"), encoding="utf-8")
    return content


def test_assessment_gaps_offer_the_shortlist_and_export(client):
    query = ("/assess?sector=电镀&run=1&v.clean-process=1&v.process-control=1&v.line-requirements=2"
             "&v.water-saving-facilities=2&v.rinse-water-per-area=30&v.zinc-utilization=85&v.nickel-utilization=90")
    html = client.get(query).get_data(as_text=True)
    gaps = html.split("差距与可考察的技术")[1]
    assert 'data-shortlist-id="plating-countercurrent-rinse"' in gaps
    link = re.search(r'href="(/shortlist/export\.docx\?[^"]+)"', gaps).group(1).replace("&amp;", "&")
    assert "plating-countercurrent-rinse" in link
    response = client.get(link)
    assert response.status_code == 200 and response.data.startswith(b"PK")


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
def test_titles_with_control_characters_still_export(wb_client, fmt):
    # found by schemathesis: lxml refused a title holding U+0002 and a lone surrogate (a 500)
    title = "\u0002方案\u001e表\udaa5"
    body = json.dumps({"ids": ["coating-rto"], "format": fmt, "title": title})      # escapes the lone surrogate
    response = wb_client.post("/api/shortlist/export", data=body, content_type="application/json")
    assert response.status_code == 200 and response.data.startswith(b"PK")
    if fmt == "docx":
        assert _docx_text(response.data)[1][0] == "方案表"
