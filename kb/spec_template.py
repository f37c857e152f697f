"""The blank indicator-table workbook that `kb import --type spec` reads, with a filled example sheet taken from
a real spec entry (电镀 2015) and a sheet explaining the columns. Served by the 自评 page and written by
`kb import --template spec`."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from .spec_import import TEMPLATE_HEADER

EXAMPLE_SPEC = "spec-plating-2015"
TEMPLATE_NAME = "清洁生产评价指标表模板.xlsx"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

EXPLANATION = [
    ("一级指标", "一级指标名称（如 资源消耗指标）；合并单元格或只在该组第一行填写均可，下面的行沿用。"),
    ("一级权重", "该一级指标的权重；全部一级权重合计应为 1（或 100）。只录入部分指标时，导入时用 --set system_weight=1 说明整个体系的合计。"),
    ("二级指标", "指标名称；原表以 * 标注的限定性指标可保留 *。"),
    ("单位", "如 L/m²、%、kgce/t；百分数写 %。"),
    ("二级权重", "该指标在一级指标内的权重，组内合计应为 1；原表写 0.8/n 的照写。逐项对照的 HJ/T 标准全部留空。"),
    ("方向", "≤（越小越好）、≥（越大越好）或 定性；留空时按基准值前的 ≤/≥ 判断。"),
    ("Ⅰ级基准值", "定量指标填数字（可带 ≤/≥），定性指标填原文描述；原文为空的级别留空，不要推算。"),
    ("Ⅱ级基准值", "同上。"),
    ("Ⅲ级基准值", "同上。"),
    ("限定性", "限定性指标填 是（或 *），其余留空。"),
    ("指标id", "可选：小写字母、数字和 -，如 rinse-water-per-area；留空时按名称自动生成。"),
    ("备注", "可选。"),
    ("", ""),
    ("导入", 'kb import 指标表.xlsx --type spec --source "电镀行业清洁生产评价指标体系 (2015)" --issuer 国家发展和改革委员会 '
            "--set sectors=电镀 --set id=spec-plating-2015-full"),
    ("", "只读第一个工作表（指标表）；示例工作表仅供对照。导入后运行 kb check 与 kb build，即可在自评页面和 kb assess 中使用。"),
]


def example_rows(spec_doc: dict) -> list[list[Any]]:
    """The spec's indicators as template rows."""
    rows = []
    for indicator in spec_doc.get("indicators") or []:
        rows.append([indicator.get("group") or "", indicator.get("group_weight"), indicator.get("name"),
                     indicator.get("unit") or "", indicator.get("weight"), indicator.get("direction"),
                     indicator.get("level_1"), indicator.get("level_2"), indicator.get("level_3"),
                     "是" if indicator.get("limiting") else "", indicator.get("id"), indicator.get("note") or ""])
    return rows


def bundled_example() -> dict:
    """The example spec as shipped with the package (the template does not depend on a built knowledge base)."""
    from .config import BUNDLED_CONTENT
    from .frontmatter import parse

    path = Path(BUNDLED_CONTENT) / "specs" / f"{EXAMPLE_SPEC}.md"
    return parse(path.read_text(encoding="utf-8")).data


def template_workbook(example: dict | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    example = example or bundled_example()
    workbook = Workbook()
    blank = workbook.active
    blank.title = "指标表"
    blank.append(TEMPLATE_HEADER)
    filled = workbook.create_sheet(f"示例-{example.get('id')}")
    filled.append(TEMPLATE_HEADER)
    for row in example_rows(example):
        filled.append(["" if v is None else v for v in row])
    for sheet in (blank, filled):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for letter, width in zip("ABCDEFGHIJKL", (18, 8, 24, 8, 8, 6, 36, 36, 36, 6, 24, 16)):
            sheet.column_dimensions[letter].width = width
        sheet.freeze_panes = "A2"
    for row in filled.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    notes = workbook.create_sheet("说明")
    notes.append(["列", "怎么填"])
    notes.append(["示例来源", f"{example.get('title')}（{(example.get('source') or {}).get('title', '')}）"])
    for row in EXPLANATION:
        notes.append(list(row))
    notes.column_dimensions["A"].width = 14
    notes.column_dimensions["B"].width = 110
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
