"""The enterprise profile a consultant sends to the recommender, validated with Chinese messages.

`parse_profile` is the one entry point for the CLI and the web API: it returns a `Profile` whose
`sector` is already the canonical sector name, or raises `ProfileError` whose `details` list
{"field", "message"} pairs ready to show next to the form fields or return as a 400 body.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError, ValidationInfo, field_validator

from ..regions import resolve_province
from ..taxonomy import Taxonomy, UnknownSector, load_taxonomy

MAX_PROBLEM_CHARS = 2000
MAX_LIMIT = 50
MAX_FOCUS = 20

FIELD_LABELS = {
    "sector": "行业",
    "problem": "问题描述",
    "focus": "关注点",
    "process": "工序",
    "max_investment_wan": "投资上限（万元）",
    "max_payback_years": "回收期上限（年）",
    "limit": "返回条数",
    "province": "所在省份",
}

_FOCUS_SPLIT = re.compile(r"[,，、;；\s]+")
_CHINESE = re.compile(r"[\u4e00-\u9fff]")


class ProfileError(ValueError):
    """Bad input: `details` is a list of {"field", "message"} with Chinese messages."""

    def __init__(self, details: list[dict[str, str]]):
        self.details = details
        super().__init__("；".join(f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details))


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sector: StrictStr
    problem: StrictStr = Field(min_length=1, max_length=MAX_PROBLEM_CHARS)
    focus: list[StrictStr] = Field(default_factory=list)   # more than MAX_FOCUS tags: the first ones count
    process: StrictStr | None = None
    max_investment_wan: StrictFloat | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_payback_years: StrictFloat | None = Field(default=None, ge=0, allow_inf_nan=False)
    limit: StrictInt = Field(default=10, ge=1, le=MAX_LIMIT)
    # the enterprise's province: its cases are cited first (a Jiangsu auditor cites a Jiangsu enterprise)
    province: StrictStr | None = None

    @field_validator("sector")
    @classmethod
    def _resolve_sector(cls, value: str, info: ValidationInfo) -> str:
        # the caller's taxonomy (the served generation's), read from sectors.yaml only when none is given;
        # UnknownSector is a ValueError: reported on the field
        taxonomy = (info.context or {}).get("taxonomy") or load_taxonomy()
        return taxonomy.resolve(value)

    @field_validator("problem")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not _CHINESE.search(value):
            raise ValueError("请用中文写明企业面临的问题，如「印染废水量大、回用率低」")
        return value

    @field_validator("focus", mode="before")
    @classmethod
    def _split_focus(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):  # "节能,节水" from a form field or a query string
            return [part for part in _FOCUS_SPLIT.split(value) if part]
        if isinstance(value, (list, tuple)):  # ["节能,节水"] from repeated CLI options or form fields
            return [part for item in value for part in (_FOCUS_SPLIT.split(item) if isinstance(item, str) else [item])
                    if part != ""]
        return value

    @field_validator("focus")
    @classmethod
    def _clean_focus(cls, value: list[str]) -> list[str]:
        cleaned: list[str] = []
        for tag in value:
            tag = tag.strip()
            if tag and tag.lower() not in {t.lower() for t in cleaned}:
                cleaned.append(tag)
        return cleaned[:MAX_FOCUS]

    @field_validator("province")
    @classmethod
    def _resolve_province(cls, value: str | None) -> str | None:
        return resolve_province(value) if value else None   # UnknownProvince is a ValueError

    @field_validator("process")
    @classmethod
    def _blank_process(cls, value: str | None) -> str | None:
        return value or None

    def normalised(self) -> dict[str, Any]:
        return self.model_dump()


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _label(name: str) -> str:
    """投资上限（万元）→ 投资上限（max_investment_wan，万元）: the Chinese name and the key the caller sent."""
    if name not in FIELD_LABELS:
        return name
    text = FIELD_LABELS[name]
    if text.endswith("）"):
        head, unit = text[:-1].split("（", 1)
        return f"{head}（{name}，{unit}）"
    return f"{text}（{name}）"


def _message(error: dict[str, Any]) -> str:
    loc = error.get("loc") or ()
    name = str(loc[0]) if loc else ""
    label = _label(name)
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"缺少必填字段：{label}"
    if kind == "extra_forbidden":
        return f"不支持的字段「{name}」；可用字段：{'、'.join(FIELD_LABELS)}"
    if kind == "value_error":
        cause = ctx.get("error")
        if isinstance(cause, UnknownSector):
            return f"未知行业「{cause.name}」；可选：{'、'.join(cause.valid)}"
        return f"{label}：{cause if cause is not None else error.get('msg', '')}"
    if kind in ("string_type", "string_sub_type"):
        if name == "focus":
            return f"{label}的每一项应为文字"
        return f"{label}应为文字"
    if kind == "string_too_short":
        return f"{label}不能为空"
    if kind == "string_too_long":
        return f"{label}不能超过 {ctx.get('max_length')} 个字"
    if kind in ("list_type", "too_long"):
        if kind == "too_long":
            return f"{label}最多 {ctx.get('max_length')} 项"
        return f"{label}应为标签列表，如 [\"节能\", \"节水\"]"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{label}应为整数"
    if kind in ("float_type", "float_parsing", "int_type_or_float_type"):
        return f"{label}应为数字"
    if kind == "greater_than_equal":
        return f"{label}不能小于 {_num(ctx.get('ge'))}"
    if kind == "less_than_equal":
        return f"{label}不能大于 {_num(ctx.get('le'))}"
    if kind in ("finite_number",):
        return f"{label}应为有限数字"
    return f"{label}：{error.get('msg', '取值无效')}"


def parse_profile(data: Any, taxonomy: Taxonomy | None = None) -> Profile:
    """Validate a profile dict (from JSON, a form or the CLI); raise ProfileError with every problem.
    Sectors resolve against `taxonomy` (the knowledge base's) when given."""
    if not isinstance(data, dict):
        raise ProfileError([{"field": "", "message": "请求内容应为 JSON 对象，如 {\"sector\": \"印染\", \"problem\": \"…\"}"}])
    try:
        return Profile.model_validate(data, context={"taxonomy": taxonomy})
    except ValidationError as exc:
        details: list[dict[str, str]] = []
        seen: set[str] = set()
        for error in exc.errors():
            loc = error.get("loc") or ()
            field = str(loc[0]) if loc else ""
            # One message per field is enough (a list reports one error per bad item).
            if field in seen:
                continue
            seen.add(field)
            details.append({"field": field, "message": _message(error)})
        raise ProfileError(details) from None
