"""Search results as a table (CSV or Excel) for audit reports: consultants paste technologies, cases
and their figures into 方案汇总表 and 技术筛选表, so every row keeps its source and address.

One sheet per entry type, because technologies, cases and specs have different columns. Cells that a
spreadsheet would run as a formula (=, +, -, @ and control characters at the start) get a leading
apostrophe: an entry's text must never execute in a user's Excel.
"""
from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any, Callable, Iterable

from .render import TYPE_NAMES
from .search.engine import SearchRequest

MAX_ROWS = 5000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _join(values: Iterable[Any], sep: str = "；") -> str:
    return sep.join(str(v) for v in values if v not in (None, ""))


def _source(meta: dict) -> dict[str, Any]:
    source = meta.get("source") or {}
    return {"来源类型": source.get("kind"), "来源": source.get("title"), "发布/出处": source.get("issuer"),
            "来源年份": source.get("year"), "文号/标准号": source.get("number"), "来源地址": source.get("url"),
            "来源性质": source.get("origin"), "可信度": source.get("confidence")}


def _benefit(b: dict) -> str:
    text = f"{b.get('indicator')}：{b.get('value')}{b.get('unit') or ''}"
    return f"{text}（{b['basis']}）" if b.get("basis") else text


def _option(o: dict) -> str:
    text = f"[{o.get('cost_class')}] {o.get('name')}"
    if o.get("count"):
        text += f" ×{o['count']}"
    if o.get("investment_wan") is not None:
        text += f"，投资 {o['investment_wan']} 万元"
    return text


def _technology(d: dict) -> dict[str, Any]:
    return {"id": d["id"], "名称": d["title"], "行业": _join(d.get("sectors", []), "、"), "类别": d.get("category"),
            "针对": _join(d.get("tags", []), "、"), "工序": d.get("process"), "摘要": d.get("summary"),
            "适用范围": d.get("applicability"), "效益指标": _join(_benefit(b) for b in d.get("benefits") or []),
            "投资": d.get("investment"), "投资（万元）": d.get("investment_wan"), "回收期": d.get("payback"),
            "回收期（年）": d.get("payback_years"), "成熟度": d.get("maturity"), **_source(d)}


def _case(d: dict) -> dict[str, Any]:
    return {"id": d["id"], "名称": d["title"], "行业": _join(d.get("sectors", []), "、"), "地区": d.get("region"),
            "年份": d.get("year"), "案例类型": d.get("kind"), "审核类型": d.get("audit"), "企业": d.get("enterprise"),
            "审核发现": _join(d.get("problems") or []), "方案": _join(_option(o) for o in d.get("options") or []),
            "成效": _join(d.get("results") or []), "总投资（万元）": d.get("investment_wan"), "结论": d.get("outcome"),
            "来源点名的技术": _join(d.get("technologies") or [], "、"),
            "编辑关联的技术": _join(d.get("related_technologies") or [], "、"), **_source(d)}


def _spec(d: dict) -> dict[str, Any]:
    indicators = d.get("indicators") or []
    levels = sum(1 for i in indicators if any(i.get(f"level_{k}") not in (None, "") for k in (1, 2, 3)))
    return {"id": d["id"], "名称": d["title"], "行业": _join(d.get("sectors", []), "、"), "标准": d.get("standard"),
            "编号": d.get("number"), "指标数": len(indicators), "有分级基准值的指标数": levels, **_source(d)}


ROW_OF: dict[str, Callable[[dict], dict[str, Any]]] = {"technology": _technology, "case": _case, "spec": _spec}


def export_rows(kb, request: SearchRequest, url_of: Callable[[str], str] | None = None) -> dict[str, list[dict]]:
    """Every entry the request finds (in its order, at most MAX_ROWS), as rows per type."""
    response = kb.search(replace(request, page=1, per_page=MAX_ROWS, highlight=False))
    stored = kb.store.get_many(h.id for h in response.hits)        # one query, not one per row
    rows: dict[str, list[dict]] = {t: [] for t in ROW_OF}
    for hit in response.hits:
        row_of = stored.get(hit.id)
        data = row_of.as_dict() if row_of is not None else None
        if data is None or data.get("type") not in ROW_OF:
            continue
        row = ROW_OF[data["type"]](data)
        if url_of is not None:
            row["页面"] = url_of(hit.id)
        rows[data["type"]].append(row)
    return {t: r for t, r in rows.items() if r}


def safe_cell(value: Any) -> Any:
    """A value as a spreadsheet cell that cannot start a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: dict[str, list[dict]]) -> str:
    """One CSV with a 类型 column first (types share the common columns, the rest stay blank)."""
    columns: list[str] = ["类型"]
    for table in rows.values():
        for row in table:
            columns += [c for c in row if c not in columns]
    out = io.StringIO()
    out.write("\ufeff")                       # Excel reads UTF-8 only with the byte-order mark
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for type_, table in rows.items():
        for row in table:
            writer.writerow({"类型": TYPE_NAMES[type_], **{k: safe_cell(v) for k, v in row.items()}})
    return out.getvalue()


MAX_COLUMN_WIDTH = 60
LINKED_COLUMNS = ("页面", "来源地址")      # addresses made clickable (http/https only)


def display_width(value: Any) -> int:
    """Columns a value takes in a spreadsheet: a CJK or full-width character counts two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(value))


def _is_web_address(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def to_xlsx(rows: dict[str, list[dict]]) -> bytes:
    """One sheet per type, header row frozen and filterable, columns as wide as their text (capped); every
    text cell is stored as text, never as a formula. 页面 (with KB_BASE_URL set, an absolute address) and
    来源地址 are links, and so is each 名称, to its entry's page."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    for type_, table in rows.items() or {"technology": []}.items():
        sheet = book.create_sheet(TYPE_NAMES[type_])
        columns = list(table[0]) if table else ["id"]
        sheet.append(columns)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        widths = [display_width(c) for c in columns]
        link_font = Font(color="0563C1", underline="single")
        for r, row in enumerate(table, start=2):
            page = row.get("页面")
            for c, column in enumerate(columns, start=1):
                cell = sheet.cell(row=r, column=c, value=row.get(column))
                if isinstance(cell.value, str):
                    cell.data_type = "s"       # text stays text: "=…" is not written as a formula
                    widths[c - 1] = max(widths[c - 1], display_width(cell.value))
                target = cell.value if column in LINKED_COLUMNS else page if column == "名称" else None
                if _is_web_address(target):
                    cell.hyperlink = target
                    cell.font = link_font
        for c, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(c)].width = min(width + 2, MAX_COLUMN_WIDTH)
        sheet.auto_filter.ref = sheet.dimensions
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
