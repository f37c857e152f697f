"""Import an indicator table (CSV or XLSX) as ONE spec entry: what an agency or consultant holding the official
PDF of an 清洁生产评价指标体系 types into the template to make a sector assessable.

Columns (row 1, names as in the template; `--map 列名=字段` for others): 一级指标, 一级权重, 二级指标, 单位,
二级权重, 方向 (≤/≥/定性), Ⅰ级基准值, Ⅱ级基准值, Ⅲ级基准值, 限定性, and optionally 指标id, 备注. The steps:
read the table → map the columns → read each row into an indicator (every bad cell reported with its row and
column) → check the weights against the rule (Σ first-level = 1 or 100, Σ second-level in a group = 1) →
assemble the entry from `--set` and the source → validate it with `kb check`'s loader → write it.
A table with a bad row writes nothing: half an indicator table would assess wrongly without saying so.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .documents import TYPE_FOLDERS
from .importer import (HAND_EDITED, SourceInfo, TableImportError, _cell_text, _norm_header, load_manifest, read_table,
                       render, save_manifest, sha256)
from .taxonomy import Taxonomy, load_taxonomy

SPEC_FIELDS = ("group", "group_weight", "name", "unit", "weight", "direction", "level_1", "level_2", "level_3",
               "limiting", "id", "note", "ignore")
# Template headers first (TEMPLATE_HEADER keeps their order), then other common spellings.
SPEC_HEADERS: dict[str, str] = {
    "一级指标": "group", "一级权重": "group_weight", "二级指标": "name", "单位": "unit", "二级权重": "weight",
    "方向": "direction", "Ⅰ级基准值": "level_1", "Ⅱ级基准值": "level_2", "Ⅲ级基准值": "level_3",
    "限定性": "limiting", "指标id": "id", "备注": "note",
    "一级指标名称": "group", "一级指标权重": "group_weight", "一级指标权重值": "group_weight",
    "二级指标名称": "name", "指标": "name", "指标名称": "name", "指标项": "name",
    "二级指标权重": "weight", "二级指标权重值": "weight", "权重": "weight", "计量单位": "unit",
    "指标方向": "direction", "比较方向": "direction",
    "I级基准值": "level_1", "II级基准值": "level_2", "III级基准值": "level_3",
    "Ⅰ级": "level_1", "Ⅱ级": "level_2", "Ⅲ级": "level_3", "I级": "level_1", "II级": "level_2", "III级": "level_3",
    "一级基准值": "level_1", "二级基准值": "level_2", "三级基准值": "level_3",
    "限定性指标": "limiting", "是否限定性": "limiting", "是否限定性指标": "limiting",
    "指标编号": "id", "id": "id", "说明": "note",
}
TEMPLATE_HEADER = ["一级指标", "一级权重", "二级指标", "单位", "二级权重", "方向", "Ⅰ级基准值", "Ⅱ级基准值",
                   "Ⅲ级基准值", "限定性", "指标id", "备注"]
LABELS = {f: h for h, f in SPEC_HEADERS.items() if h in TEMPLATE_HEADER}
SPEC_SETTABLE = ("id", "title", "sectors", "standard", "number", "summary", "system_weight", "complete", "in_force",
                 "superseded_by", "official_url")
_DIRECTIONS = {"≤": "≤", "<=": "≤", "＜＝": "≤", "小于等于": "≤", "不大于": "≤", "越小越好": "≤",
               "≥": "≥", ">=": "≥", "＞＝": "≥", "大于等于": "≥", "不小于": "≥", "越大越好": "≥",
               "定性": "定性", "描述": "定性", "定性指标": "定性"}
_YES = {"是", "√", "✓", "*", "＊", "y", "yes", "true", "1", "限定性", "限定"}
_NO = {"", "否", "n", "no", "false", "0", "-", "—", "/"}
_PER_N = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*n\s*$", re.I)
_LEADING_DIRECTION = re.compile(r"^\s*(≤|≥|<=|>=|＜＝|＞＝)\s*")
_EPS = 1e-6


@dataclass
class SpecImportReport:
    """What happened: the entry written (or not), every bad row with row and column, weight warnings."""
    id: str | None = None
    status: str = "rejected"          # created / updated / unchanged / skipped / rejected
    path: Path | None = None
    indicators: int = 0
    rejected: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"id": self.id, "status": self.status, "path": str(self.path) if self.path else None,
                "indicators": self.indicators, "rejected": self.rejected, "warnings": self.warnings}


class RowProblems(ValueError):
    def __init__(self, problems: list[dict]):
        self.problems = problems
        super().__init__("；".join(p["reason"] for p in problems))


# ---------------------------------------------------------------- columns


def map_spec_columns(header: list[str], overrides: list[tuple[str, str]]) -> dict[str, int]:
    """Field → column index (the template's headers, their common spellings, and `--map`)."""
    forced: dict[str, str] = {}
    for column, target in overrides:
        if target not in SPEC_FIELDS:
            raise TableImportError(f"--map {column}={target}：未知字段「{target}」；可选：{'、'.join(SPEC_FIELDS)}")
        if _norm_header(column) not in header:
            raise TableImportError(f"--map {column}={target}：表格中没有列「{column}」；表头：{'、'.join(h for h in header if h)}")
        forced[_norm_header(column)] = target
    columns: dict[str, int] = {}
    for index, head in enumerate(header):
        target = forced.get(head) or SPEC_HEADERS.get(head) or SPEC_HEADERS.get(head.lower())
        if target and target != "ignore" and target not in columns:
            columns[target] = index
    missing = [LABELS[f] for f in ("name", "level_1", "level_2", "level_3") if f not in columns]
    if missing:
        raise TableImportError(f"表格缺少列：{'、'.join(missing)}；表头：{'、'.join(h for h in header if h)}。"
                               "请用 kb import --template spec 取得模板，或用 --map 列名=字段 指定")
    return columns


# ---------------------------------------------------------------- one row → one indicator


def _number(text: str) -> float | int | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


class _RowReader:
    """Reads one row's cells; every problem is kept with its column, so a row reports all of them at once."""

    def __init__(self, number: int, texts: list[str], columns: dict[str, int], header: list[str]):
        self.number, self.texts, self.columns, self.header = number, texts, columns, header
        self.problems: list[dict] = []

    def text(self, name: str) -> str:
        index = self.columns.get(name)
        return self.texts[index] if index is not None and index < len(self.texts) else ""

    def fail(self, name: str, reason: str) -> None:
        index = self.columns.get(name)
        column = self.header[index] if index is not None else LABELS.get(name, name)
        self.problems.append({"row": self.number, "column": column,
                              "reason": f"第 {self.number} 行，列「{column}」：{reason}"})

    def weight(self, name: str, per_n: bool) -> float | str | None:
        text = self.text(name)
        if not text:
            return None
        if per_n and _PER_N.match(text):
            return re.sub(r"\s+", "", text)
        value = _number(text)
        if value is None or value < 0:
            self.fail(name, f"「{text}」不是非负数字{'（或 0.8/n 形式）' if per_n else ''}")
            return None
        return value

    def direction(self) -> str | None:
        text = self.text("direction")
        if text:
            direction = _DIRECTIONS.get(text.replace(" ", ""))
            if direction is None:
                self.fail("direction", f"「{text}」无法识别；应为 ≤、≥ 或 定性")
            return direction
        levels = [self.text(f"level_{k}") for k in (1, 2, 3)]
        marks = {_DIRECTIONS[m.group(1)] for t in levels if (m := _LEADING_DIRECTION.match(t))}
        if len(marks) == 1:
            return marks.pop()             # "≤8", "≤24", "≤40" as printed in the official tables
        if any(levels) and all(_number(t) is None for t in levels if t):
            return "定性"
        self.fail("direction", "缺少方向：请填 ≤（越小越好）、≥（越大越好）或 定性")
        return None

    def level(self, k: int, direction: str | None) -> float | int | str | None:
        name = f"level_{k}"
        text = self.text(name)
        if not text or direction is None:
            return None
        if direction == "定性":
            return text
        mark = _LEADING_DIRECTION.match(text)
        if mark and _DIRECTIONS[mark.group(1)] != direction:
            self.fail(name, f"「{text}」的符号与方向「{direction}」不一致")
            return None
        value = _number(text[mark.end():] if mark else text)
        if value is None:
            self.fail(name, f"「{text}」不是数字（方向为 {direction} 的定量指标）")
        return value

    def limiting(self, name_text: str) -> bool:
        text = self.text("limiting").strip().lower()
        if text in _YES:
            return True
        if text in _NO:
            return name_text.startswith(("*", "＊"))     # the official tables mark limiting indicators with *
        self.fail("limiting", f"「{self.text('limiting')}」无法识别；填 是/否（或 *）")
        return False


def read_indicator(reader: _RowReader, group: dict) -> dict:
    """One row → an indicator dict (schema field names). `group` carries the first-level group and its weight
    down a merged cell; raises RowProblems listing every bad cell."""
    raw_name = re.sub(r"\s+", "", reader.text("name"))
    name = raw_name.lstrip("*＊")
    if len(name) < 2:
        reader.fail("name", "缺少指标名称")
    if reader.text("group"):
        group.update(name=reader.text("group"), weight=None)
    group_weight = reader.weight("group_weight", per_n=False)
    if group_weight is not None:
        group["weight"] = group_weight
    direction = reader.direction()
    indicator: dict[str, Any] = {"id": "", "name": name, "unit": reader.text("unit"), "direction": direction}
    for k in (1, 2, 3):
        indicator[f"level_{k}"] = reader.level(k, direction)
    indicator["weight"] = reader.weight("weight", per_n=True)
    indicator["group"] = group.get("name") or None
    indicator["group_weight"] = group.get("weight")
    indicator["limiting"] = reader.limiting(raw_name)
    if reader.text("note"):
        indicator["note"] = reader.text("note")
    if all(indicator[f"level_{k}"] is None for k in (1, 2, 3)) and not reader.problems:
        reader.fail("level_1", "Ⅰ/Ⅱ/Ⅲ级基准值都为空；至少填一级（原文为空的级别留空）")
    indicator["id"] = reader.text("id") or indicator_id(indicator["group"] or "", name)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,79}", indicator["id"]):
        reader.fail("id", f"「{indicator['id']}」不能作指标 id：只用小写字母、数字、- 和 _")
    if reader.problems:
        raise RowProblems(reader.problems)
    return indicator


def indicator_id(group: str, name: str) -> str:
    """Stable without pinyin: the same group and name always get the same id."""
    return "ind-" + hashlib.sha1(f"{group}\x1f{name}".encode("utf-8")).hexdigest()[:8]


def read_indicators(path: Path, mapping: list[tuple[str, str]]) -> tuple[list[dict], list[dict], list[int]]:
    """(indicators, rejected rows, ignored row numbers)."""
    header, records = read_table(path)
    columns = map_spec_columns(header, mapping)
    indicators: list[dict] = []
    rejected: list[dict] = []
    ignored: list[int] = []
    group: dict[str, Any] = {"name": None, "weight": None}
    seen: dict[str, int] = {}
    for number, cells in records:
        texts = [_cell_text(c) for c in cells]
        if not any(texts):
            ignored.append(number)
            continue
        reader = _RowReader(number, texts, columns, header)
        try:
            indicator = read_indicator(reader, group)
        except RowProblems as exc:
            rejected.extend(exc.problems)
            continue
        if indicator["id"] in seen:
            rejected.append({"row": number, "column": LABELS["name"],
                             "reason": f"第 {number} 行：与第 {seen[indicator['id']]} 行是同一指标（id {indicator['id']}）"})
            continue
        seen[indicator["id"]] = number
        indicators.append(indicator)
    return indicators, rejected, ignored


# ---------------------------------------------------------------- the rule's weights


def weight_problems(indicators: list[dict]) -> tuple[list[str], float | None]:
    """What the rule needs of the weights, said where it is not met; and the first-level total found."""
    weighted = [i for i in indicators if i.get("weight") is not None]
    if not weighted:
        return [], None                  # an HJ/T standard: compared indicator by indicator, no weights
    problems: list[str] = []
    if len(weighted) < len(indicators):
        names = "、".join(i["name"] for i in indicators if i.get("weight") is None)
        problems.append(f"部分指标没有二级权重（{names}）：要么全部填写，要么全部留空（逐项对照的标准）")
    groups: dict[str, list[dict]] = {}
    for indicator in indicators:
        groups.setdefault(indicator.get("group") or "", []).append(indicator)
    total = 0.0
    for name, members in groups.items():
        weights = {m.get("group_weight") for m in members}
        if None in weights:
            problems.append(f"一级指标「{name or '（未填）'}」缺少一级权重")
            continue
        if len(weights) > 1:
            problems.append(f"一级指标「{name}」的一级权重前后不一致：{'、'.join(str(w) for w in weights)}")
            continue
        total += weights.pop()
        inner, families = 0.0, set()
        for member in members:
            raw = member.get("weight")
            match = _PER_N.match(raw) if isinstance(raw, str) else None
            if match and raw not in families:
                families.add(raw)
                inner += float(match.group(1))
            elif isinstance(raw, (int, float)):
                inner += raw
        if abs(inner - 1) > _EPS:
            problems.append(f"一级指标「{name}」的二级权重合计 {inner:g}，规则要求为 1"
                            f"（按 c/n 计权的一组按 c 计）；表格若只收录了该组的一部分，评价时按部分计算覆盖度")
    if abs(total - 1) > _EPS and abs(total - 100) > _EPS:
        problems.append(f"一级权重合计 {total:g}，规则要求为 1（或 100）；表格若只是指标体系的一部分，"
                        "请用 --set system_weight=1 说明整个体系的合计，评价时按此计算覆盖度")
    return problems, total


# ---------------------------------------------------------------- the entry


def _settings(defaults: dict[str, str], taxonomy: Taxonomy) -> dict[str, Any]:
    unknown = [k for k in defaults if k not in SPEC_SETTABLE]
    if unknown:
        raise TableImportError(f"--set 用于标准条目时只能是：{'、'.join(SPEC_SETTABLE)}；收到「{'、'.join(unknown)}」")
    values: dict[str, Any] = dict(defaults)
    if "sectors" not in values:
        raise TableImportError(f"请用 --set sectors=行业 指定标准适用的行业（可选：{'、'.join(taxonomy.names)}）")
    sectors = []
    for name in re.split(r"[、,，;；]+", values["sectors"]):
        canonical = taxonomy.try_resolve(name.strip()) if name.strip() else None
        if name.strip() and canonical is None:
            raise TableImportError(f"--set sectors：未知行业「{name.strip()}」；可选：{'、'.join(taxonomy.names)}")
        if canonical and canonical not in sectors:
            sectors.append(canonical)
    values["sectors"] = sectors
    for key in ("complete", "in_force"):
        if key in values:
            text = values[key].strip().lower()
            if text not in ("true", "false", "是", "否"):
                raise TableImportError(f"--set {key} 应为 true 或 false")
            values[key] = text in ("true", "是")
    if "system_weight" in values:
        number = _number(values["system_weight"])
        if number is None or number <= 0:
            raise TableImportError("--set system_weight 应为正数（整个指标体系的一级权重合计，如 1）")
        values["system_weight"] = number
    return values


def build_spec(indicators: list[dict], source: SourceInfo, settings: dict[str, Any], total: float | None) -> dict:
    """The spec's front matter (fields in the order CONTENT.md shows them)."""
    spec_id = settings.get("id") or "spec-imp-" + hashlib.sha1(
        f"{source.title}\x1f{source.year}".encode("utf-8")).hexdigest()[:8]
    meta: dict[str, Any] = {"id": spec_id, "type": "spec",
                            "title": settings.get("title") or f"{source.title}（{source.year}）",
                            "sectors": settings["sectors"],
                            "standard": settings.get("standard") or f"{source.title} ({source.year})"}
    if settings.get("number") or source.number:
        meta["number"] = settings.get("number") or source.number
    for key in ("in_force", "superseded_by", "official_url"):
        if key in settings:
            meta[key] = settings[key]
    if "system_weight" in settings:
        meta["system_weight"] = settings["system_weight"]
    elif total is not None and (abs(total - 1) <= _EPS or abs(total - 100) <= _EPS):
        meta["system_weight"] = 1 if abs(total - 1) <= _EPS else 100
    if "complete" in settings:
        meta["complete"] = settings["complete"]
    if settings.get("summary"):
        meta["summary"] = settings["summary"]
    meta["indicators"] = [{k: v for k, v in i.items() if v is not None and v != ""} | {"direction": i["direction"]}
                          for i in indicators]
    meta["source"] = source.as_yaml()
    return meta


def render_spec_body(meta: dict, source: SourceInfo, table: str) -> str:
    groups = list(dict.fromkeys(i.get("group") for i in meta["indicators"] if i.get("group")))
    limiting = [i["name"] for i in meta["indicators"] if i.get("limiting")]
    parts = ["## 适用范围",
             f"本条目由指标表（{table}）导入，收录《{source.title}》的 {len(meta['indicators'])} 项指标"
             f"{'，分属' + '、'.join(groups) if groups else ''}。适用行业：{'、'.join(meta['sectors'])}。"
             "请按原文补充适用范围，并与原文逐项核对基准值和权重。",
             "## 评价方法",
             ("- 限定性指标：" + "、".join(limiting)) if limiting else "- 表格未标注限定性指标。",
             "## 参考"]
    reference = f"- {source.title}（{source.issuer}，{source.year}）"
    if source.number:
        reference += f"，{source.number}"
    if source.url:
        reference += f"，{source.url}"
    parts.append(reference)
    return "\n\n".join(parts) + "\n"


def import_spec_table(path: Path, source: SourceInfo, out: Path, *, mapping: list[tuple[str, str]] = (),
                      defaults: dict[str, str] | None = None, force: bool = False, dry_run: bool = False,
                      taxonomy: Taxonomy | None = None) -> SpecImportReport:
    """The steps in the module docstring; nothing is written when a row is bad or the entry fails validation."""
    from .files import atomic_write
    from .loader import load_text

    taxonomy = taxonomy or load_taxonomy()
    settings = _settings(dict(defaults or {}), taxonomy)
    report = SpecImportReport()
    indicators, report.rejected, _ = read_indicators(Path(path), list(mapping))
    report.indicators = len(indicators)
    if not indicators and not report.rejected:
        report.rejected.append({"row": None, "column": None, "reason": "表格中没有指标行"})
    report.warnings, total = weight_problems(indicators)
    if report.rejected:
        return report
    meta = build_spec(indicators, source, settings, total)
    report.id = meta["id"]
    text = render(meta, render_spec_body(meta, source, Path(path).name))
    target = Path(out) / TYPE_FOLDERS["spec"] / f"{meta['id']}.md"
    report.path = target
    doc, problems = load_text(text, target, taxonomy, "spec")
    if doc is None:
        report.rejected += [{"row": None, "column": p.field, "reason": f"{p.field}: {p.message}"} for p in problems]
        return report
    data = text.encode("utf-8")
    manifest = load_manifest(Path(out))
    if target.is_file():
        current = target.read_bytes()
        if current == data:
            report.status = "unchanged"
            return report
        if manifest.get(meta["id"]) != sha256(current) and not force:
            report.status = "skipped"
            report.warnings.append(f"{meta['id']}：{HAND_EDITED}")
            return report
        report.status = "updated"
    else:
        report.status = "created"
    if not dry_run:
        atomic_write(target, data)
        manifest[meta["id"]] = sha256(data)
        save_manifest(Path(out), manifest)
    return report
