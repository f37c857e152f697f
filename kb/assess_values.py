"""An enterprise's indicator values as sent to the 自评, checked against what the indicators mean.

Keys are indicator ids or their Chinese names; quantitative values are finite numbers (or unit-free
number strings such as "30"), never negative, percentages within 0–100; 定性 values are a level choice
from the allowed list. Every problem is reported at once as an `AssessError` naming the field.
"""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

LEVELS = (1, 2, 3)
BELOW = "below"
_CHOICES = {
    "1": 1, "i": 1, "Ⅰ": 1, "一级": 1, "ⅰ": 1, "Ⅰ级": 1, "i级": 1,
    "2": 2, "ii": 2, "Ⅱ": 2, "二级": 2, "ⅱ": 2, "Ⅱ级": 2, "ii级": 2,
    "3": 3, "iii": 3, "Ⅲ": 3, "三级": 3, "ⅲ": 3, "Ⅲ级": 3, "iii级": 3,
    "below": BELOW, "未达到": BELOW, "未达标": BELOW, "0": BELOW, "无": BELOW,
}
CHOICE_TEXT = "1、2、3（Ⅰ/Ⅱ/Ⅲ级）或 below（未达到Ⅲ级），或该级别的原文描述；企业没有该项时填「不涉及」"
# An indicator the enterprise does not have (a metal it does not plate, a process it does not run).
NOT_APPLICABLE = "不涉及"
_NOT_APPLICABLE_WORDS = {"不涉及", "不适用", "无此项", "n/a", "na", "not applicable"}
# A number as a person types it: "30", "-5", "1,200.5", "30%" (the % only for percentage indicators).
_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?$")
MAX_NUMBER_CHARS = 40


class AssessError(ValueError):
    """Bad request: `details` is a list of {"field", "message"[, "valid"]}."""

    def __init__(self, message: str, details: list[dict[str, Any]]):
        self.message = message
        self.details = details
        super().__init__(message + "：" + "；".join(f"{d['field']}: {d['message']}" for d in details))


def target_of(indicator: dict, level: int) -> Any:
    """The entry's base value for `level`, None when the entry leaves it empty."""
    value = indicator.get(f"level_{level}")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def is_qualitative(indicator: dict) -> bool:
    return indicator.get("direction") == "定性"


def is_percentage(indicator: dict) -> bool:
    return (indicator.get("unit") or "").strip() in ("%", "％")


def is_number(value: Any) -> bool:
    """A finite int or float (not bool); False for integers too large for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def parse_choice(indicator: dict, value: Any) -> int | str | None:
    """A 定性 indicator's stated level: 1/2/3/"below" (or Ⅰ/Ⅱ/Ⅲ…) or the level text itself; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in LEVELS:
        return value
    if isinstance(value, float) and value.is_integer() and int(value) in LEVELS:
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _CHOICES:
            return _CHOICES[text.lower()]
        if text in _CHOICES:
            return _CHOICES[text]
        for level in LEVELS:
            target = target_of(indicator, level)
            if isinstance(target, str) and text == target.strip():
                return level
    return None


def _name_key(text: str) -> str:
    """Names compared as people type them: full-width folded, spaces and the limiting mark * ignored."""
    return re.sub(r"[\s*＊]", "", unicodedata.normalize("NFKC", text))


def indicator_lookup(spec_doc: dict) -> dict[str, dict]:
    """Indicator id and Chinese name (normalised) → indicator."""
    lookup: dict[str, dict] = {}
    for indicator in spec_doc.get("indicators") or []:
        lookup.setdefault(_name_key(indicator.get("name") or ""), indicator)
    for indicator in spec_doc.get("indicators") or []:
        lookup[indicator["id"]] = indicator
    return lookup


def find_indicator(lookup: dict[str, dict], key: Any) -> dict | None:
    if not isinstance(key, str):
        return None
    return lookup.get(key) or lookup.get(_name_key(key))


def _as_number(indicator: dict, value: Any) -> tuple[float | int | None, str | None]:
    """(number, None) or (None, why not)."""
    unit = indicator.get("unit") or "无"
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if len(text) > MAX_NUMBER_CHARS:
            return None, f"应为数字（单位：{unit}），所填内容过长"
        if is_percentage(indicator) and text.endswith("%"):
            text = text[:-1].strip()
        if not text or not _NUMBER.match(text) or text in "+-":
            return None, f"应为有限数字，只填数字、不带单位（单位：{unit}），如 30；企业没有该项时填「不涉及」"
        value = float(text.replace(",", "")) if ("." in text or "," in text) else int(text)
    if isinstance(value, int) and not isinstance(value, bool) and not is_number(value):
        return None, f"数值过大（单位：{unit}）"
    if not is_number(value):
        return None, f"应为有限数字（单位：{unit}）"
    return value, None


def physical_problem(indicator: dict, value: float) -> str | None:
    """Why a value cannot be a real reading of this indicator, or None: every quantity in the indicator
    systems (consumption, generation, rates) is non-negative; a percentage lies within 0–100."""
    if value < 0:
        return f"不能为负数（{fmt_plain(value)}）：该指标是非负的量"
    if is_percentage(indicator) and value > 100:
        return f"为百分数，应在 0–100 之间（所填 {fmt_plain(value)}）"
    return None


def fmt_plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def check_values(spec_doc: dict, values: Any) -> dict[str, Any]:
    """Validate {indicator id or name: value} → {indicator id: number or level}; raise AssessError listing
    every problem with the field it concerns."""
    ids = [i["id"] for i in spec_doc.get("indicators") or []]
    if not isinstance(values, dict):
        raise AssessError("指标取值有误", [{"field": "values",
                                         "message": "values 应为对象：{指标 id 或指标名称: 数值或级别}", "valid": ids}])
    lookup = indicator_lookup(spec_doc)
    details: list[dict[str, Any]] = []
    clean: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in values.items():
        field = f"values.{str(key)[:80]}"
        indicator = find_indicator(lookup, key)
        if indicator is None:
            details.append({"field": field, "message": f"「{spec_doc.get('id')}」没有 id 或名称为「{str(key)[:80]}」的指标；"
                                                       f"可选：{'、'.join(ids)}", "valid": ids})
            continue
        if indicator["id"] in given_as:
            details.append({"field": field, "message": f"{indicator['name']}已用「{given_as[indicator['id']]}」填写过，"
                                                       "同一指标只能填一次"})
            continue
        given_as[indicator["id"]] = str(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue    # blank = not given
        if isinstance(value, str) and value.strip().lower() in _NOT_APPLICABLE_WORDS:
            clean[indicator["id"]] = NOT_APPLICABLE
            continue
        if is_qualitative(indicator):
            choice = parse_choice(indicator, value)
            if choice is None:
                details.append({"field": field, "message": f"{indicator['name']}为定性指标，应填 {CHOICE_TEXT}",
                                "valid": ["1", "2", "3", BELOW]})
                continue
            clean[indicator["id"]] = choice
            continue
        number, why = _as_number(indicator, value)
        if why is None:
            why = physical_problem(indicator, number)
        if why is not None:
            details.append({"field": field, "message": f"{indicator['name']}{why}"})
            continue
        clean[indicator["id"]] = number
    if details:
        raise AssessError("指标取值有误", details)
    return clean
