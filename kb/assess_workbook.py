"""An assessment as an Excel workbook (openpyxl): what a consultant files with the audit report.

Sheets: 指标 (values, levels reached, Level Ⅰ/Ⅱ/Ⅲ values, weights), 覆盖度与结论 (overall result, coverage,
reasons, rule), 差距 (gaps and technologies with their reasons), 来源 (the standard and the notes).
"""
from __future__ import annotations

import io
from typing import Any

from .assess import LEVEL_NAMES, fmt

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    """Numbers stay numbers; everything else as text (a leading = never becomes a formula)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else ("是" if value else "否")
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _sheet(workbook, title: str, header: list[str], rows: list[list[Any]], widths: list[int]) -> None:
    from openpyxl.styles import Alignment, Font

    sheet = workbook.create_sheet(title)
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_cell(v) for v in row])
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[chr(64 + index)].width = width
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"


def _level(level: Any) -> str:
    return "—" if level is None else LEVEL_NAMES.get(level, str(level))


def _indicator_rows(spec_doc: dict, result: dict) -> list[list[Any]]:
    by_id = {i["id"]: i for i in spec_doc.get("indicators") or []}
    rows = []
    for row in result["indicators"]:
        indicator = by_id.get(row["id"], {})
        t = row["targets"]
        rows.append([indicator.get("group") or "", indicator.get("group_weight"), row["name"], row["id"], row["unit"],
                     indicator.get("weight"), indicator.get("direction"), "是" if indicator.get("limiting") else "",
                     t["1"], t["2"], t["3"], "未填写" if row["value"] is None else row["value"],
                     _level(row["level"]) if row["value"] is not None else "—"])
    return rows


def _summary_rows(result: dict) -> list[list[Any]]:
    overall, coverage, spec = result["overall"], result.get("coverage") or {}, result["spec"]
    rows: list[list[Any]] = [
        ["总体级别", overall.get("level_name") or _level(overall["level"])],
        ["判定状态", overall.get("status", "")],
        ["综合评价指数", "" if overall["score"] is None else overall["score"]],
    ]
    for reason in overall.get("reasons") or []:
        rows.append(["数据不足的原因", reason])
    if overall.get("at_least"):
        rows.append(["已确定至少达到", LEVEL_NAMES[overall["at_least"]]])
    if overall.get("scores"):
        label = "部分得分（只按已填写指标归一化）" if overall.get("partial") else "综合评价指数"
        for k, name in (("1", "Ⅰ"), ("2", "Ⅱ"), ("3", "Ⅲ")):
            rows.append([f"{label} Y{name}", overall["scores"][k]])
    for k, name in (("1", "Ⅰ"), ("2", "Ⅱ"), ("3", "Ⅲ")):
        if overall.get("bounds"):
            low, high = overall["bounds"][k]
            rows.append([f"按整个指标体系 Y{name} 的范围", f"{fmt(low)}–{fmt(high)}"])
    rows += [
        ["覆盖度", coverage.get("text", "")],
        ["标准条目收录的比例（%）", "" if coverage.get("entry_pct") is None else coverage["entry_pct"]],
        ["已填写的比例（%）", "" if coverage.get("entered_pct") is None else coverage["entered_pct"]],
        ["计算依据", {"weight": "按权重", "count": "按指标项数"}.get(coverage.get("basis"), "")],
        ["未填写的限定性指标", "、".join(coverage.get("missing_limiting") or []) or "无"],
        ["条目未收录的指标", "、".join(coverage.get("missing_in_entry") or []) or "（未列出）"],
        ["标准是否现行", {True: "现行", False: "已废止或被替代"}.get(spec.get("in_force"), "未注明")],
        ["判定规则", result["rule"]["text"]],
        ["注意", result["rule"]["verify"]],
    ]
    return rows


def _gap_rows(result: dict) -> list[list[Any]]:
    names = {r["id"]: r["name"] for r in result["indicators"]}
    rows = []
    for gap in result["gaps"]:
        technologies = gap["technologies"] or [{"id": "", "title": "知识库中暂无对应的技术条目", "reasons": []}]
        for technology in technologies:
            rows.append([names.get(gap["indicator"], gap["indicator"]), _level(gap["target_level"]), gap["needed"],
                         technology["title"], technology["id"], "；".join(technology["reasons"])])
    return rows


def _source_rows(spec_doc: dict, result: dict, url_of) -> list[list[Any]]:
    source = spec_doc.get("source") or {}
    rows = [
        ["标准", spec_doc.get("standard")], ["编号", spec_doc.get("number") or ""], ["条目", spec_doc.get("id")],
        ["条目地址", url_of(spec_doc["id"]) if url_of else ""],
        ["官方地址", spec_doc.get("official_url") or ""],
        ["替代标准", spec_doc.get("superseded_by") or ""],
        ["数值来源", source.get("title", "")], ["发布单位", source.get("issuer", "")], ["年份", source.get("year", "")],
        ["来源地址", source.get("url") or ""],
    ]
    rows += [["提示", note] for note in result.get("notes") or []]
    return rows


def assessment_workbook(spec_doc: dict, result: dict, *, sector: str, url_of=None) -> bytes:
    """The workbook's bytes; `url_of(doc_id)` gives an entry's address for the 来源 sheet."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    _sheet(workbook, "指标", ["一级指标", "一级权重", "二级指标", "指标 id", "单位", "二级权重", "方向", "限定性",
                             "Ⅰ级基准值", "Ⅱ级基准值", "Ⅲ级基准值", "企业取值", "达到级别"],
           _indicator_rows(spec_doc, result), [16, 8, 24, 22, 8, 8, 6, 6, 30, 30, 30, 12, 10])
    _sheet(workbook, "覆盖度与结论", ["项目", "内容"], [["行业", sector]] + _summary_rows(result), [28, 90])
    _sheet(workbook, "差距", ["指标", "目标级别", "需达到", "可考察的技术", "技术 id", "理由"],
           _gap_rows(result), [20, 8, 30, 30, 28, 80])
    _sheet(workbook, "来源", ["项目", "内容"], _source_rows(spec_doc, result, url_of), [14, 90])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
