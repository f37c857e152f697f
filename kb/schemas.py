"""Front-matter schemas of the three document types.

Strict on purpose (unknown fields are errors): a typo such as `sector:` for `sectors:` must fail
`kb check` instead of silently dropping the sector filter of an entry.
"""
from __future__ import annotations

import re
from typing import Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,99}$"
ID_RE = re.compile(ID_PATTERN)

# Each closed list once, as the Literal type the schema validates with; the tuple of its values is
# derived from it for everything else (CLI choices, facets, the OpenAPI document, the importer).
Category = Literal["节能", "节水", "减污", "降碳", "资源综合利用", "源头替代", "过程控制", "末端治理"]
SourceKind = Literal["目录", "标准", "案例报道", "文献", "工程实践"]
# 未分类: the source reports the option but not its cost class; an editor does not guess one.
CostClass = Literal["无/低费", "中/高费", "未分类"]
AuditKind = Literal["强制性", "自愿性", "未说明"]
# What kind of event a case reports: a cleaner-production audit (强制性/自愿性 in `audit`), a retrofit
# project reported on its own, a park or cluster programme, or a policy demonstration.
CaseKind = Literal["清洁生产审核", "技改项目", "园区/集群", "政策示范"]
# Who published the page the figures were read from: how far a consultant can lean on it.
SourceOrigin = Literal["官方目录", "标准", "期刊论文", "企业/政府公开", "行业协会", "新闻转载", "厂商资料"]
Confidence = Literal["高", "中", "低"]
# How a reference (not the source of figures) relates to an entry.
ReferenceRole = Literal["依据", "要求", "目录收录", "原始出处", "延伸阅读"]
Direction = Literal["≤", "≥", "定性"]

CATEGORIES: tuple[str, ...] = get_args(Category)
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)
COST_CLASSES: tuple[str, ...] = get_args(CostClass)
AUDIT_KINDS: tuple[str, ...] = get_args(AuditKind)
CASE_KINDS: tuple[str, ...] = get_args(CaseKind)
SOURCE_ORIGINS: tuple[str, ...] = get_args(SourceOrigin)
CONFIDENCES: tuple[str, ...] = get_args(Confidence)
REFERENCE_ROLES: tuple[str, ...] = get_args(ReferenceRole)
DIRECTIONS: tuple[str, ...] = get_args(Direction)

Number = Union[int, float]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _as_list(value):
    if isinstance(value, str):
        return [value]
    return value


class Source(Strict):
    kind: SourceKind
    title: str = Field(min_length=2)
    issuer: str = Field(min_length=2)
    year: int = Field(ge=1949, le=2100)
    number: str | None = None
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # Reliability as data (never prose in the body): who published it, and how sure the editors are.
    origin: SourceOrigin | None = None
    confidence: Confidence | None = None
    # A secondary compilation the figures were read through (转引), e.g. a research group's database.
    via: str | None = None


class Reference(Strict):
    """A document that names, requires or lists the technology but is not where its figures were read."""
    title: str = Field(min_length=2)
    role: ReferenceRole
    issuer: str | None = None
    number: str | None = None
    year: int | None = Field(default=None, ge=1949, le=2100)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")


class Benefit(Strict):
    indicator: str = Field(min_length=1)
    value: Number | str
    unit: str = ""
    basis: str | None = None
    # Where this figure was read when that is not the entry's own `source`.
    source: Source | None = None


class Common(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=2, max_length=120)
    sectors: list[str] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    source: Source
    references: list[Reference] = Field(default_factory=list)
    # For editors only (verification notes, why a field is empty); never rendered on public pages.
    editor_notes: str | list[str] | None = None

    _as_list_sectors = field_validator("sectors", "tags", mode="before")(_as_list)


class Technology(Common):
    type: Literal["technology"]
    category: Category
    tags: list[str] = Field(min_length=1)
    process: str = Field(min_length=1)
    summary: str = Field(min_length=10, max_length=300)
    benefits: list[Benefit] = Field(default_factory=list)
    investment: str | None = None
    investment_wan: Number | None = Field(default=None, ge=0)
    payback: str | None = None
    payback_years: Number | None = Field(default=None, ge=0)
    # Where investment / payback were read when that is not the entry's `source`.
    investment_source: Source | None = None
    payback_source: Source | None = None
    maturity: str | None = None
    applicability: str = Field(min_length=2)

    _str_fields = field_validator("investment", "payback", mode="before")(
        lambda v: str(v) if isinstance(v, (int, float)) else v
    )


class Option(Strict):
    name: str = Field(min_length=2)
    cost_class: CostClass
    investment_wan: Number | None = Field(default=None, ge=0)
    benefits: str | None = None
    count: int | None = Field(default=None, ge=1)


class Case(Common):
    type: Literal["case"]
    region: str = Field(min_length=2)
    year: int = Field(ge=1990, le=2100)
    audit: AuditKind
    kind: CaseKind | None = None
    enterprise: str = Field(min_length=2)
    problems: list[str] = Field(min_length=1)
    # Empty only when the source reports results but lists no options; `kb stats` shows it as a gap.
    options: list[Option] = Field(default_factory=list)
    # Declared before `technologies` so its validator can see it. `technologies`: what the source says was
    # used; `related_technologies`: entries an editor associates when the source names none. Kept apart so a
    # consultant never cites an editorial link as the enterprise's own measure.
    related_technologies: list[str] = Field(default_factory=list)
    technologies: list[str] = Field(default_factory=list, validate_default=True)
    results: list[str] = Field(min_length=1)
    investment_wan: Number | None = Field(default=None, ge=0)
    outcome: str | None = None
    summary: str | None = Field(default=None, max_length=300)

    _as_list_results = field_validator("results", "problems", mode="before")(_as_list)

    @field_validator("technologies")
    @classmethod
    def _linked(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if not value and not info.data.get("related_technologies"):
            raise ValueError("案例至少关联一个技术条目：来源点名的写 technologies，编辑关联的写 related_technologies")
        return value


class Indicator(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")
    name: str = Field(min_length=2)
    unit: str | None = None
    direction: Direction
    level_1: Number | str | None = None
    level_2: Number | str | None = None
    level_3: Number | str | None = None
    weight: Number | str | None = None      # some systems state "0.8/n" (n = metals plated)
    group: str | None = None
    group_weight: Number | None = Field(default=None, ge=0, le=100)
    limiting: bool = False
    note: str | None = None


class Spec(Common):
    type: Literal["spec"]
    standard: str = Field(min_length=4)
    number: str | None = None
    # Empty for a citation-only entry (题录): the standard is real and applies, but its indicator table
    # could not be read in a source, so it is listed for what it is and never used to assess.
    indicators: list[Indicator] = Field(default_factory=list)
    levels: dict[int, Number] | None = None
    summary: str | None = Field(default=None, max_length=300)
    # Standards registry: whether the standard is in force, what it replaces or was replaced by (spec ids
    # where the successor is in the knowledge base, else the standard's name), and its official page.
    in_force: bool | None = None
    superseded_by: str | None = None
    supersedes: list[str] = Field(default_factory=list)
    official_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # Coverage, so that every assessment can say how much of the whole indicator system it rests on:
    # system_weight is the total first-level weight of the official system (1 in the 2015 series, whose formula
    # needs Σ w_i = 1); complete says whether the entry holds the whole table (None: not known, treated as
    # partial); missing_indicators names the system's indicators the entry lacks, where the source names them.
    system_weight: Number | None = Field(default=None, gt=0)
    complete: bool | None = None
    missing_indicators: list[str] = Field(default_factory=list)


SCHEMAS: dict[str, type[Common]] = {"technology": Technology, "case": Case, "spec": Spec}

# Body sections each type must have (as `## ` headings); the others in CONTENT.md are recommended.
REQUIRED_SECTIONS: dict[str, tuple[str, ...]] = {
    "technology": ("技术原理", "适用范围", "参考"),
    "case": ("企业概况", "审核发现", "方案实施", "成效"),
    "spec": ("适用范围",),
}
# A case that is not an audit (技改项目, 园区/集群, 政策示范) has no audit findings to report: its
# 审核发现 section may be headed by one of these instead (审核发现 stays accepted for every kind).
NON_AUDIT_SECTION_ALTERNATIVES: dict[str, tuple[str, ...]] = {"审核发现": ("问题", "改造前状况")}
