"""The audit tables (`kb.report.AuditTables`) as files a consultant opens in Excel/WPS or Word/LibreOffice.

Excel through openpyxl (as `kb export` already does), Word through python-docx: a well-kept library that
writes valid OOXML, so the file opens cleanly in Word, WPS and LibreOffice; no hand-written XML. Text that
a spreadsheet would run as a formula is stored as text (see `kb.export.safe_cell`).
"""
from __future__ import annotations

import io
import re
from datetime import date

from .export import safe_cell
from .report import AuditTables

REFERENCE_COLUMNS = ("序号", "标题", "发布机构", "文号/标准号", "年份", "网址", "来源类型", "可信度", "引用条目")
COMPARE_PER_TABLE = 3              # technologies side by side per Word table: wider is unreadable on A4
# Characters XML 1.0 cannot hold (C0 controls, lone surrogates, U+FFFE/U+FFFF): lxml and openpyxl refuse them,
# and a user-supplied title may carry them. They are dropped, never written.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value) -> str:
    return _NOT_XML.sub("", str(value))


def _cell(value):
    return safe_cell(xml_text(value)) if isinstance(value, str) else value


def reference_rows(tables: AuditTables) -> list[list[str]]:
    return [[str(n), r["title"], r["issuer"], str(r["number"]), str(r["year"]), r["url"], r["origin"],
             r["confidence"], "、".join(r["cited_by"])] for n, r in enumerate(tables.references, start=1)]


def summary_rows(tables: AuditTables) -> list[list[str]]:
    return [[str(row.get(c, "")) for c in tables.summary_columns] for row in tables.summary]


def to_xlsx(tables: AuditTables) -> bytes:
    """Three sheets: 备选方案汇总表, 技术对比表 (one column per technology), 参考文献."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheets = [
        ("备选方案汇总表", list(tables.summary_columns), summary_rows(tables)),
        ("技术对比表", ["比较项", *[p.title for p in tables.comparison]],
         [[r["label"], *r["values"]] for r in tables.comparison_rows()] if tables.comparison else []),
        ("参考文献", list(REFERENCE_COLUMNS), reference_rows(tables)),
    ]
    book.remove(book.active)
    for name, header, rows in sheets:
        sheet = book.create_sheet(name)
        sheet.append([_cell(h) for h in header])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row, start=1):
                cell = sheet.cell(row=r, column=c, value=_cell(value))
                cell.data_type = "s"
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        for c in range(1, len(header) + 1):
            sheet.column_dimensions[sheet.cell(row=1, column=c).column_letter].width = 8 if c == 1 else 30
        sheet.freeze_panes = "B2"
        if not rows and tables.notes:
            sheet.cell(row=2, column=1, value=_cell(tables.notes[0]))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cjk_font(style, name: str = "宋体") -> None:
    """Word picks the East Asian font from w:eastAsia, which python-docx's font.name does not set."""
    from docx.oxml.ns import qn

    style.font.name = name
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), name)


def _table(document, header: list[str], rows: list[list[str]]):
    from docx.shared import Pt

    table = document.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header):
        cell.text = ""
        run = cell.paragraphs[0].add_run(xml_text(text))
        run.bold = True
    for row in rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, row):
            cell.text = xml_text(text)
    for row in table.rows:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(9)
    return table


def to_docx(tables: AuditTables) -> bytes:
    """A landscape A4 document: 备选方案汇总表, the comparison (three technologies per table) and 参考文献."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm

    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for margin in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, margin, Cm(1.8))
    for name in ("Normal", "Title", "Heading 1", "Heading 2"):
        _cjk_font(document.styles[name], "黑体" if name != "Normal" else "宋体")
    title = xml_text(tables.title) or "备选方案"
    document.core_properties.title = title
    document.core_properties.author = "清洁生产技术知识库"

    document.add_heading(title, level=0)
    document.add_paragraph(f"生成日期：{date.today().isoformat()}。内容摘自清洁生产技术知识库，数字照录所注来源；"
                           "“未给出”表示来源未载明，编写审核报告时请核对原文。")
    for note in tables.notes:
        document.add_paragraph(xml_text(note))

    document.add_heading("备选方案汇总表", level=1)
    _table(document, list(tables.summary_columns), summary_rows(tables))

    document.add_heading("技术对比表", level=1)
    if not tables.comparison:
        document.add_paragraph("所选条目中没有技术。")
    rows = tables.comparison_rows()
    for start in range(0, len(tables.comparison), COMPARE_PER_TABLE):
        chunk = tables.comparison[start:start + COMPARE_PER_TABLE]
        if start:
            document.add_paragraph(f"技术对比表（续，第 {start + 1}–{start + len(chunk)} 项）")
        _table(document, ["比较项", *[p.title for p in chunk]],
               [[r["label"], *r["values"][start:start + COMPARE_PER_TABLE]] for r in rows])

    document.add_heading("参考文献", level=1)
    _table(document, list(REFERENCE_COLUMNS), reference_rows(tables))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
