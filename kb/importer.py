"""Import an official catalogue table (CSV or XLSX) as technology entries.

Each usable row becomes one Markdown file `<out>/technologies/<id>.md`, validated with the same loader
as `kb check` before it is written. Ids are stable (a hash of the source and the row's 编号 or title),
so importing the same table again updates the entries instead of duplicating them. A manifest
`<out>/.import-manifest.json` remembers the sha256 of every file as the importer wrote it: a file
whose content differs from that hash was edited by hand and is not overwritten unless `force`.

No click here: the command in `kb/cli/importing.py` is a thin wrapper.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from .documents import TYPE_FOLDERS
from .files import atomic_write
from .loader import load_text
from .schemas import CATEGORIES, CONFIDENCES, SOURCE_KINDS, SOURCE_ORIGINS

# What an imported table's source is, by its kind, when --origin / --confidence are not given: a catalogue
# or standard table is an official document the editor holds; other kinds are read with less certainty.
DEFAULT_ORIGIN = {"目录": ("官方目录", "高"), "标准": ("标准", "高"), "文献": ("期刊论文", "中"),
                  "案例报道": ("新闻转载", "中"), "工程实践": ("企业/政府公开", "中")}
from .taxonomy import Taxonomy, load_taxonomy

MANIFEST = ".import-manifest.json"
HAND_EDITED = "已手工修改，未覆盖（用 --force 覆盖）"

# Fields a column can be mapped to (`--map 列名=字段`).
FIELDS = (
    "title", "sectors", "category", "tags", "process", "summary", "applicability", "investment",
    "investment_wan", "payback", "payback_years", "benefits", "maturity", "key", "ignore",
)

# Default mapping of common catalogue headers (compared after normalising spaces and brackets).
DEFAULT_MAP: dict[str, str] = {
    "技术名称": "title", "名称": "title", "技术": "title", "项目名称": "title", "技术装备名称": "title",
    "所属行业": "sectors", "适用行业": "sectors", "行业": "sectors", "行业领域": "sectors", "所属领域": "sectors",
    "类别": "category", "技术类别": "category", "类型": "category", "技术类型": "category",
    "主要技术内容": "summary", "技术原理": "summary", "技术简介": "summary", "技术内容": "summary",
    "技术原理及工艺": "summary", "关键技术及主要技术指标": "summary", "技术说明": "summary",
    "适用范围": "applicability", "适用条件": "applicability", "适用范围及条件": "applicability",
    "工序": "process", "环节": "process", "工艺环节": "process", "应用环节": "process",
    "标签": "tags", "污染物": "tags", "主要污染物": "tags", "针对污染物": "tags",
    "投资": "investment", "投资额": "investment", "投资估算": "investment", "典型投资": "investment",
    "回收期": "payback", "投资回收期": "payback",
    "编号": "key", "技术编号": "key", "序号": "key",
    "成熟度": "maturity", "技术成熟度": "maturity", "推广比例": "maturity", "目前推广比例": "maturity",
    "未来5年推广比例": "maturity",
}
# Headers such as 节能量、年节水量、CO2减排量、节能率、减排能力 → benefits (indicator = column name).
BENEFIT_HEADER = re.compile(
    r"(节能|节水|节电|节煤|节汽|节气|节约标准?煤|节约|减排|降碳|减碳|碳减排|削减|回收|回用|降低|减少).*(量|率|能力)$"
)
# Prefer a 编号 over a 序号 when a table has both.
_KEY_PRIORITY = ("编号", "技术编号")

CATEGORY_ALIASES: tuple[tuple[str, str], ...] = (
    ("资源综合利用", "资源综合利用"), ("综合利用", "资源综合利用"), ("资源化", "资源综合利用"),
    ("源头替代", "源头替代"), ("原料替代", "源头替代"), ("过程控制", "过程控制"), ("末端治理", "末端治理"),
    ("低碳", "降碳"), ("降碳", "降碳"), ("减碳", "降碳"), ("碳减排", "降碳"),
    ("节能", "节能"), ("节水", "节水"),
    ("污染防治", "减污"), ("污染治理", "减污"), ("减排", "减污"), ("减污", "减污"),
    ("清洁生产", "过程控制"),
)

# Tags recognised in the title and text when the table has no tag column (name → words that signal it).
TAG_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("VOCs", ("VOCs", "VOC", "挥发性有机")), ("COD", ("COD", "化学需氧量")), ("氨氮", ("氨氮",)),
    ("SO2", ("SO2", "SO₂", "二氧化硫", "脱硫")), ("NOx", ("NOx", "氮氧化物", "脱硝")),
    ("颗粒物", ("颗粒物", "粉尘", "烟尘", "除尘")), ("重金属", ("重金属", "六价铬", "镍", "铅", "汞", "镉")),
    ("危险废物", ("危险废物", "危废")), ("余热", ("余热", "余压", "余能")), ("固废", ("固废", "固体废物", "废渣", "尾矿")),
    ("水耗", ("节水", "水耗", "用水", "回用水", "中水")), ("能耗", ("节能", "能耗", "电耗", "煤耗", "节电")),
    ("碳排放", ("碳排放", "二氧化碳", "CO2", "降碳", "低碳")),
)
CATEGORY_TAGS = {"节能": "能耗", "节水": "水耗", "降碳": "碳排放", "资源综合利用": "固废"}

# Issuers deducible from well-known catalogue names (anything else needs --issuer).
KNOWN_ISSUERS: tuple[tuple[str, str], ...] = (
    ("国家重点节能低碳技术推广目录", "国家发展和改革委员会"),
    ("国家重点节能技术推广目录", "国家发展和改革委员会"),
    ("国家工业节能技术装备推荐目录", "工业和信息化部"),
    ("国家工业节能技术推荐目录", "工业和信息化部"),
    ("国家工业节能技术应用指南与案例", "工业和信息化部"),
)

_SPLIT = re.compile(r"[、，,；;/／|\n]+")
_NUMBER = re.compile(r"^[约≈]?\s*(\d+(?:\.\d+)?)\s*$")


class TableImportError(ValueError):
    """A problem with the whole import (file, options); the command exits 2."""


@dataclass
class SourceInfo:
    kind: str
    title: str
    issuer: str
    year: int
    number: str | None = None
    url: str | None = None
    origin: str | None = None
    confidence: str | None = None

    def as_yaml(self) -> dict:
        data = {"kind": self.kind, "title": self.title, "issuer": self.issuer, "year": self.year}
        if self.number:
            data["number"] = self.number
        if self.url:
            data["url"] = self.url
        if self.origin:
            data["origin"] = self.origin
        if self.confidence:
            data["confidence"] = self.confidence
        return data


@dataclass
class Column:
    index: int
    header: str          # as written in the table (normalised whitespace)
    name: str            # header without a trailing unit in brackets
    unit: str            # the unit in brackets, if any
    field: str


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "skipped": self.skipped, "rejected": self.rejected,
        }

    def summary(self) -> str:
        text = (f"新增 {len(self.created)}，更新 {len(self.updated)}，未变 {len(self.unchanged)}，"
                f"跳过（手工修改）{len(self.skipped)}，无法使用 {len(self.rejected)}")
        if self.ignored:
            text += f"（另忽略空行或分组标题行 {len(self.ignored)}）"
        return text


# ---------------------------------------------------------------- options


def parse_source(text: str) -> tuple[str, int]:
    """`国家重点节能低碳技术推广目录 (2017)` → (title, 2017). A bracket holding only the year is dropped from
    the title; a bracket with more (「（2017年本，节能部分）」) stays part of it."""
    text = (text or "").strip()
    match = re.search(r"[（(]\s*((?:19|20)\d{2})\s*年?\s*[)）]\s*$", text)
    if match:
        return text[: match.start()].strip(), int(match.group(1))
    years = re.findall(r"(?<!\d)((?:19|20)\d{2})(?!\d)", text)
    if not years:
        raise TableImportError(f"--source 必须写明年份，如「国家重点节能低碳技术推广目录 (2017)」；收到「{text}」")
    return text, int(years[-1])


def deduce_issuer(title: str, year: int) -> str | None:
    for name, issuer in KNOWN_ISSUERS:
        if name in title:
            return issuer
    if "国家先进污染防治技术目录" in title:
        return "环境保护部" if year < 2018 else "生态环境部"
    return None


def make_source(source: str, issuer: str | None = None, kind: str = "目录", number: str | None = None,
                url: str | None = None, origin: str | None = None, confidence: str | None = None) -> SourceInfo:
    title, year = parse_source(source)
    if len(title) < 2:
        raise TableImportError("--source 缺少目录名称")
    if kind not in SOURCE_KINDS:
        raise TableImportError(f"--kind 必须是：{'、'.join(SOURCE_KINDS)}")
    origin = origin or DEFAULT_ORIGIN[kind][0]
    confidence = confidence or DEFAULT_ORIGIN[kind][1]
    if origin not in SOURCE_ORIGINS:
        raise TableImportError(f"--origin 必须是：{'、'.join(SOURCE_ORIGINS)}")
    if confidence not in CONFIDENCES:
        raise TableImportError(f"--confidence 必须是：{'、'.join(CONFIDENCES)}")
    issuer = (issuer or "").strip() or deduce_issuer(title, year)
    if not issuer:
        raise TableImportError(f"无法从来源「{title}」推断发布单位，请用 --issuer 指定（如 --issuer 国家发展和改革委员会）")
    return SourceInfo(kind=kind, title=title, issuer=issuer, year=year, number=number or None, url=url or None,
                      origin=origin, confidence=confidence)


def parse_pairs(pairs: Iterable[str], option: str) -> list[tuple[str, str]]:
    result = []
    for pair in pairs:
        if "=" not in pair:
            raise TableImportError(f"{option} 的格式是 列名=字段，收到「{pair}」")
        left, right = pair.rsplit("=", 1) if option == "--map" else pair.split("=", 1)
        result.append((left.strip(), right.strip()))
    return result


# ---------------------------------------------------------------- reading tables


def _norm_header(text: Any) -> str:
    text = "" if text is None else str(text)
    text = re.sub(r"[\s\u3000]+", "", text)
    return text.replace("（", "(").replace("）", ")")


def _split_unit(header: str) -> tuple[str, str]:
    match = re.match(r"^(.*?)\((.+)\)$", header)
    if match and match.group(1):
        return match.group(1), match.group(2)
    return header, ""


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("\r\n", "\n").replace("\r", "\n").replace("_x000D_", "").strip()


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Header (row 1) and the data rows with their spreadsheet row numbers (header = row 1)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise TableImportError(f"{path}：无法识别编码（支持 UTF-8 与 GB18030/GBK）")
        first_line = text.split("\n", 1)[0]
        dialect = csv.excel_tab if "\t" in first_line and "," not in first_line else csv.excel
        records = list(csv.reader(io.StringIO(text, newline=""), dialect))
    elif suffix in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for damaged files
            raise TableImportError(f"{path}：无法读取 XLSX 文件（{exc}）") from None
        try:
            sheet = workbook.worksheets[0]
            records = [list(row) for row in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
    else:
        raise TableImportError(f"{path}：只支持 .csv 与 .xlsx 文件")
    if not records or not any(_cell_text(c) for c in records[0]):
        raise TableImportError(f"{path}：第 1 行应为表头，但它是空的")
    header = [_norm_header(c) for c in records[0]]
    return header, [(number, list(row)) for number, row in enumerate(records[1:], start=2)]


def map_columns(header: list[str], overrides: list[tuple[str, str]]) -> list[Column]:
    forced: dict[str, str] = {}
    for column, target in overrides:
        name = _norm_header(column)
        if target not in FIELDS:
            raise TableImportError(f"--map {column}={target}：未知字段「{target}」；可选：{'、'.join(FIELDS)}")
        if name not in header:
            # 「--map 节能量=…」 also names the column 「节能量（tce/a）」
            same = [h for h in header if h and _split_unit(h)[0] == name]
            if len(same) != 1:
                raise TableImportError(f"--map {column}={target}：表格中没有列「{column}」；表头：{'、'.join(h for h in header if h)}")
            name = same[0]
        forced[name] = target
    columns = []
    for index, head in enumerate(header):
        if not head:
            continue
        name, unit = _split_unit(head)
        target = forced.get(head) or DEFAULT_MAP.get(head) or DEFAULT_MAP.get(name)
        if target is None and BENEFIT_HEADER.search(name):
            target = "benefits"
        if target is None and name.startswith("投资") and "回收" not in name:
            target = "investment"
        if target is None and "回收期" in name:
            target = "payback"
        if target and target != "ignore":
            columns.append(Column(index, head, name, unit, target))
    return columns


# ---------------------------------------------------------------- rows → entries


def _number(text: str) -> float | int | None:
    match = _NUMBER.match(text)
    if not match:
        return None
    value = float(match.group(1))
    return int(value) if value.is_integer() else value


def _explicit_number(row, field: str, label: str, meta: dict) -> None:
    """A column mapped straight to a numeric field wins over a figure parsed from text; it must be a number."""
    text = row.first(field)
    if text:
        if _number(text) is None:
            raise ValueError(f"{label}「{text}」不是数字")
        meta[field] = _number(text)


def _category(value: str) -> str | None:
    value = value.strip()
    if value in CATEGORIES:
        return value
    for word, category in CATEGORY_ALIASES:
        if word in value:
            return category
    return None


def _shorten(text: str, limit: int = 300) -> str:
    """The first sentences of text, at most limit characters, cut at a sentence end where possible."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = max(text.rfind(mark, 0, limit) for mark in "。；;！？")
    if cut >= 10:
        return text[: cut + 1]
    return text[: limit - 1] + "…"


def _paragraphs(text: str) -> str:
    lines = [re.sub(r"^(\s*)#", r"\1\\#", line.rstrip()) for line in text.split("\n")]
    return "\n".join(lines).strip()


def entry_id(prefix: str, source: SourceInfo, key: str) -> str:
    digest = hashlib.sha1(f"{source.title}\x1f{source.year}\x1f{key}".encode("utf-8")).hexdigest()[:8]
    return f"{prefix}-imp-{digest}"


@dataclass
class Row:
    number: int
    values: dict[str, list[tuple[Column, str]]]

    def first(self, name: str) -> str:
        return next((text for _, text in self.values.get(name, []) if text), "")

    def all(self, name: str) -> list[tuple[Column, str]]:
        return [(c, t) for c, t in self.values.get(name, []) if t]


def _sectors(row: Row, taxonomy: Taxonomy, defaults: dict[str, str]) -> list[str]:
    sector_cells = [t for _, t in row.all("sectors")] or ([defaults["sectors"]] if defaults.get("sectors") else [])
    sectors: list[str] = []
    for name in (n.strip() for cell in sector_cells for n in _SPLIT.split(cell)):
        if not name:
            continue
        canonical = taxonomy.try_resolve(name)
        if canonical is None and name.endswith(("行业", "领域", "工业")):
            canonical = taxonomy.try_resolve(name[:-2])
        if canonical is None:
            raise ValueError(f"未知行业「{name}」；可选：{'、'.join(taxonomy.names)}")
        if canonical not in sectors:
            sectors.append(canonical)
    if not sectors:
        raise ValueError("缺少行业（sectors）；用 --map 列名=sectors 指定列，或 --set sectors=通用")
    return sectors


def _tags(row: Row, defaults: dict[str, str], haystack: str, category: str) -> list[str]:
    """The tag column (or --set tags), else the tags whose words the title and text use."""
    tags: list[str] = []
    for cell in [t for _, t in row.all("tags")] or ([defaults["tags"]] if defaults.get("tags") else []):
        tags += [t.strip() for t in _SPLIT.split(cell) if t.strip() and t.strip() not in tags]
    if not tags:
        tags = [tag for tag, words in TAG_WORDS if any(w in haystack for w in words)]
        if category in CATEGORY_TAGS and CATEGORY_TAGS[category] not in tags:
            tags.insert(0, CATEGORY_TAGS[category])
    if not tags:
        raise ValueError("缺少标签（tags），也无法从标题和技术内容识别；用 --map 列名=tags 或 --set tags=…")
    return tags


def _investment(row: Row, meta: dict) -> None:
    """investment as written, and investment_wan when the unit says 万元 (or 亿元)."""
    investment_cells = row.all("investment")
    if investment_cells:
        column, text = investment_cells[0]
        number = _number(text)
        wan = column.unit == "万元" or (number is None and re.fullmatch(r"[约≈]?\s*\d+(?:\.\d+)?\s*万元", text))
        if number is not None and column.unit:
            meta["investment"] = f"{text}{column.unit}"
        else:
            meta["investment"] = text
        if wan:
            meta["investment_wan"] = number if number is not None else _number(re.sub(r"万元\s*$", "", text))
        elif number is not None and column.unit == "亿元":
            meta["investment_wan"] = round(number * 10000, 2) if not float(number * 10000).is_integer() else int(number * 10000)
    _explicit_number(row, "investment_wan", "投资（万元）", meta)


def _payback(row: Row, meta: dict) -> None:
    """payback as written, and payback_years when it is a number of years or months."""
    payback_cells = row.all("payback")
    if payback_cells:
        column, text = payback_cells[0]
        number = _number(text)
        unit = column.unit or ""
        meta["payback"] = f"{text}{unit or '年'}" if number is not None else text
        if number is not None and unit in ("", "年", "a"):
            meta["payback_years"] = number
        elif number is None:
            match = re.fullmatch(r"[约≈]?\s*(\d+(?:\.\d+)?)\s*(年|个月|月)", text)
            if match:
                value = float(match.group(1)) / (12 if "月" in match.group(2) else 1)
                meta["payback_years"] = int(value) if value.is_integer() else round(value, 2)
    _explicit_number(row, "payback_years", "回收期（年）", meta)


def build_entry(row: Row, source: SourceInfo, taxonomy: Taxonomy, defaults: dict[str, str]) -> tuple[str, dict, str]:
    """(id, front matter, body) for one row; raises ValueError with the reason when it cannot be used.

    The fields are read in the order an editor fixes a table (title, sectors, category, tags, process),
    so the first reason given is the first column to look at."""
    title = _title(row)
    sectors = _sectors(row, taxonomy, defaults)
    category = _row_category(row, defaults)
    principle = _principle(row)
    applicability = re.sub(r"\s+", " ", row.first("applicability") or defaults.get("applicability", ""))
    tags = _tags(row, defaults, f"{title} {principle}", category)
    process = _process(row, defaults)

    meta: dict[str, Any] = {
        "id": "", "type": "technology", "title": title, "sectors": sectors, "category": category,
        "tags": tags, "process": process, "summary": _shorten(principle) if principle else "",
    }
    benefits = _benefits(row, source)
    if benefits:
        meta["benefits"] = benefits
    meta["applicability"] = applicability
    _investment(row, meta)
    _payback(row, meta)
    _maturity(row, defaults, meta)
    meta["source"] = source.as_yaml()
    meta["id"] = entry_id(taxonomy.get(sectors[0]).prefix, source, _row_key(row, title))
    return meta["id"], meta, render_body(meta, principle, source)


def _title(row: Row) -> str:
    title = re.sub(r"\s+", " ", row.first("title"))
    if not title:
        raise ValueError("缺少技术名称（title）")
    return title


def _row_category(row: Row, defaults: dict[str, str]) -> str:
    """The row's category (or --set category) as one of the schema's categories."""
    raw_category = row.first("category") or defaults.get("category", "")
    if not raw_category:
        raise ValueError(f"缺少类别（category）；用 --map 列名=category 指定列，或 --set category=节能（可选：{'、'.join(CATEGORIES)}）")
    category = _category(raw_category)
    if category is None:
        raise ValueError(f"类别「{raw_category}」无法识别；可选：{'、'.join(CATEGORIES)}")
    return category


def _principle(row: Row) -> str:
    """Every summary column's text, each once, as paragraphs: the body's 技术原理 and the summary's source."""
    parts: list[str] = []
    for _, text in row.all("summary"):
        if text not in parts:
            parts.append(text)
    return "\n\n".join(parts)


def _process(row: Row, defaults: dict[str, str]) -> str:
    process = re.sub(r"\s+", " ", row.first("process") or defaults.get("process", ""))
    if not process:
        raise ValueError("缺少工序（process）；用 --map 列名=process 指定列，或 --set process=…")
    return process


def _benefits(row: Row, source: SourceInfo) -> list[dict]:
    """One benefit per figure column (节能量、节水量 …), the column name as the indicator."""
    benefits = []
    for column, text in row.all("benefits"):
        value = _number(text)
        benefit = {"indicator": column.name, "value": value if value is not None else text}
        if column.unit:
            benefit["unit"] = column.unit
        benefit["basis"] = f"{source.title}（{source.year}）所列"
        benefits.append(benefit)
    return benefits


def _maturity(row: Row, defaults: dict[str, str], meta: dict) -> None:
    """maturity as written; a 推广比例 column keeps its header so the figure says what it measures."""
    maturity_cells = row.all("maturity")
    if maturity_cells:
        column, text = maturity_cells[0]
        meta["maturity"] = text if column.name in ("成熟度", "技术成熟度") else f"{column.header}：{text}"
    elif defaults.get("maturity"):
        meta["maturity"] = defaults["maturity"]


def _row_key(row: Row, title: str) -> str:
    """What identifies the row in its source for a stable id: its 编号 (before a 序号), else its title."""
    keys = sorted(row.all("key"), key=lambda item: item[0].name not in _KEY_PRIORITY)
    return keys[0][1] if keys else title


def render_body(meta: dict, principle: str, source: SourceInfo) -> str:
    parts = ["## 技术原理", _paragraphs(principle) or meta["summary"] or "（来源未给出技术内容。）"]
    figures = []
    for benefit in meta.get("benefits", []):
        unit = f" {benefit['unit']}" if benefit.get("unit") else ""
        figures.append(f"- {benefit['indicator']}：{benefit['value']}{unit}")
    if meta.get("investment"):
        figures.append(f"- 投资：{meta['investment']}")
    if meta.get("payback"):
        figures.append(f"- 投资回收期：{meta['payback']}")
    if figures:
        parts += ["## 主要技术指标", "\n".join(figures)]
    parts += ["## 适用范围", _paragraphs(meta.get("applicability") or "") or "（来源未说明。）"]
    reference = f"- {source.title}（{source.issuer}，{source.year}）"
    if source.number:
        reference += f"，{source.number}"
    if source.url:
        reference += f"，{source.url}"
    parts += ["## 参考", reference]
    return "\n\n".join(parts) + "\n"


class _Dumper(yaml.SafeDumper):
    """Lists of plain values in flow style (`sectors: [焦化, 钢铁]`), everything else in block style."""

    def increase_indent(self, flow=False, indentless=False):  # `  - indicator: …` as in CONTENT.md
        return super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list):
    flow = all(not isinstance(item, (dict, list)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def render(meta: dict, body: str) -> str:
    front = yaml.dump(meta, Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False,
                      width=100000, indent=2)
    return f"---\n{front}---\n\n{body}"


# ---------------------------------------------------------------- writing


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()



def load_manifest(out: Path) -> dict[str, str]:
    path = out / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save_manifest(out: Path, manifest: dict[str, str]) -> None:
    text = json.dumps(dict(sorted(manifest.items())), ensure_ascii=False, indent=2) + "\n"
    atomic_write(out / MANIFEST, text.encode("utf-8"))


def _row(number: int, texts: list[str], columns: list[Column]) -> Row:
    row = Row(number, {})
    for column in columns:
        text = texts[column.index] if column.index < len(texts) else ""
        row.values.setdefault(column.field, []).append((column, text))
    return row


def _write_checked(text: str, target: Path, number: int, taxonomy: Taxonomy, manifest: dict[str, str],
                   report: ImportReport, *, force: bool, dry_run: bool) -> None:
    """Validate the entry as `kb check` would, then create, update or leave it (hand-edited files stay)."""
    doc_id = target.stem
    doc, problems = load_text(text, target, taxonomy, "technology")
    if doc is None:
        report.rejected.append({"row": number, "reason": "；".join(f"{p.field}: {p.message}" for p in problems)})
        return
    data = text.encode("utf-8")
    new_hash = sha256(data)
    if target.is_file():
        current = target.read_bytes()
        if current == data:
            report.unchanged.append(doc_id)
            manifest[doc_id] = new_hash
            return
        if manifest.get(doc_id) != sha256(current) and not force:
            report.skipped.append({"id": doc_id, "reason": HAND_EDITED})
            return
        report.updated.append(doc_id)
    else:
        report.created.append(doc_id)
    if not dry_run:
        atomic_write(target, data)
        manifest[doc_id] = new_hash


# Fields `--set` may give a default for (a technology row's own cell wins).
SETTABLE = ("sectors", "category", "tags", "process", "applicability", "maturity")


@dataclass
class ImportOptions:
    """How a catalogue table is read and written: column overrides, defaults, and what may be overwritten."""

    mapping: list[tuple[str, str]] = field(default_factory=list)     # --map 列名=字段
    defaults: dict[str, str] = field(default_factory=dict)           # --set 字段=值
    force: bool = False          # overwrite hand-edited entries
    dry_run: bool = False        # report only, write nothing
    progress: bool = False       # a progress bar on a terminal

    def __post_init__(self) -> None:
        for name in self.defaults:
            if name not in SETTABLE:
                raise TableImportError(f"--set 只能用于 {'、'.join(SETTABLE)}，收到「{name}」")


def import_table(path: Path, source: SourceInfo, out: Path, options: ImportOptions | None = None,
                 taxonomy: Taxonomy | None = None) -> ImportReport:
    """Every usable row of a technology catalogue table → an entry file under `<out>/technologies/`."""
    options = options or ImportOptions()
    taxonomy = taxonomy or load_taxonomy()
    header, records = read_table(path)
    columns = map_columns(header, list(options.mapping))
    if not any(c.field == "title" for c in columns):
        raise TableImportError(f"表格中找不到技术名称列；表头：{'、'.join(h for h in header if h)}；用 --map 列名=title 指定")

    out = Path(out)
    folder = out / TYPE_FOLDERS["technology"]
    manifest = load_manifest(out)
    report = ImportReport()
    seen: dict[str, int] = {}

    from tqdm import tqdm

    bar = tqdm(records, desc="导入", unit="行", file=sys.stderr, disable=not (options.progress and sys.stderr.isatty()))
    try:
        for number, cells in bar:
            entry = _row_entry(number, cells, columns, source, taxonomy, options.defaults, report, seen)
            if entry is not None:
                _write_checked(render(*entry), folder / f"{entry[0]['id']}.md", number, taxonomy, manifest, report,
                               force=options.force, dry_run=options.dry_run)
    finally:
        bar.close()
        if not options.dry_run and (report.created or report.updated or report.unchanged):
            save_manifest(out, manifest)
    return report


def _row_entry(number: int, cells: list, columns: list[Column], source: SourceInfo, taxonomy: Taxonomy,
               defaults: dict[str, str], report: ImportReport, seen: dict[str, int]) -> tuple[dict, str] | None:
    """(front matter, body) of one table row, or None when the row is blank, a heading, unusable or a repeat
    (each noted in the report)."""
    texts = [_cell_text(c) for c in cells]
    if not any(texts):
        report.ignored.append(number)
        return None
    row = _row(number, texts, columns)
    if not row.first("title") and sum(1 for t in texts if t) == 1:
        report.ignored.append(number)          # a group heading such as 「一、钢铁行业」
        return None
    try:
        doc_id, meta, body = build_entry(row, source, taxonomy, defaults)
    except ValueError as exc:
        report.rejected.append({"row": number, "reason": str(exc)})
        return None
    digest = doc_id.rsplit("-", 1)[-1]        # same 编号 (or title) under another sector is still the same row
    if digest in seen:
        report.rejected.append({"row": number, "reason": f"与第 {seen[digest]} 行的编号或名称相同（id {doc_id}）"})
        return None
    seen[digest] = number
    return meta, body
