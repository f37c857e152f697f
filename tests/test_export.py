"""Export of search results as CSV / Excel: what a consultant pastes into an audit report."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from conftest import technology, write
from kb.cli import main
from kb.export import safe_cell

FORMULA = "=HYPERLINK(\"http://example.com\",\"点我\") 这条摘要以等号开头，导出时不能变成公式。"


@pytest.fixture
def content(content):
    write(content, "technologies", "general-formula-summary", technology(
        "general-formula-summary", "余热回收公式注入测试", summary=FORMULA, tags="[余热]"))
    return content


def _csv(text: str) -> list[dict]:
    assert text.startswith("\ufeff")                      # Excel needs the BOM to read UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_csv_export_has_every_result_with_source_and_address(client):
    total = client.get("/api/search?q=余热&per_page=1").get_json()["total"]
    response = client.get("/export.csv?q=余热")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv(response.get_data(as_text=True))
    assert len(rows) == total >= 3
    cdq = next(r for r in rows if r["id"] == "coking-cdq")
    assert cdq["类型"] == "技术" and cdq["名称"] == "干熄焦" and cdq["行业"] == "焦化、钢铁"
    assert cdq["来源类型"] == "标准" and cdq["来源"] == "吸附法工业有机废气治理工程技术规范"
    assert cdq["来源性质"] == "标准" and cdq["可信度"] == "高"          # issue 15: reliability travels with the row
    assert cdq["页面"] == "/documents/coking-cdq"     # a path unless KB_BASE_URL is set: never the Host header
    formula = next(r for r in rows if r["id"] == "general-formula-summary")
    assert formula["摘要"] == "'" + FORMULA                # a formula never reaches the spreadsheet


def test_xlsx_export_has_one_sheet_per_type_and_text_stays_text(client):
    response = client.get("/export.xlsx?q=余热 VOCs")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert set(book.sheetnames) <= {"技术", "案例", "标准"} and "技术" in book.sheetnames
    sheet = book["技术"]
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["id", "名称"] and "来源地址" in header and "回收期" in header
    ids = [row[0].value for row in sheet.iter_rows(min_row=2)]
    assert "general-formula-summary" in ids
    row = sheet[ids.index("general-formula-summary") + 2]
    cell = row[header.index("摘要")]
    assert cell.value == FORMULA and cell.data_type == "s"


def test_filters_alone_export_and_bad_requests(client):
    rows = _csv(client.get("/export.csv?type=case&province=江苏").get_data(as_text=True))
    assert [r["id"] for r in rows] == ["case-coating-vocs"]
    assert rows[0]["地区"] == "江苏省常州市" and rows[0]["方案"] == "[无/低费] 无/低费方案（来源未列名称） ×3"
    assert client.get("/export.csv").status_code == 400
    assert client.get("/export.pdf?q=余热").status_code == 404
    assert client.get("/export.csv?q=余热&province=火星").status_code == 400
    page = client.get("/search?q=余热").get_data(as_text=True)
    assert 'href="/export.csv?q=%E4%BD%99%E7%83%AD"' in page


def test_cli_export(runner, settings, monkeypatch, tmp_path, kb):
    monkeypatch.setenv("KB_HOME", str(settings.home))
    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", settings.content_dirs[0])
    out = tmp_path / "cases.xlsx"
    result = runner.invoke(main, ["export", "--type", "case", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [r[0].value for r in load_workbook(out)["案例"].iter_rows(min_row=2)] == ["case-coating-vocs"]
    result = runner.invoke(main, ["export", "-q", "余热", "--type", "technology"])
    rows = _csv(result.stdout)
    assert result.exit_code == 0 and {r["类型"] for r in rows} == {"技术"} and len(rows) >= 3
    result = runner.invoke(main, ["export"])
    assert result.exit_code == 2 and "检索词" in result.output


def test_safe_cell():
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("+86 电话") == "'+86 电话" and safe_cell("@x") == "'@x"
    assert safe_cell("余热发电") == "余热发电" and safe_cell(12.5) == 12.5 and safe_cell(None) is None
