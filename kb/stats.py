"""What the knowledge base holds and where it is thin, for `kb stats` and the home page.

Gaps are shown, never filled: a sector with fewer than three sourced cases or without a spec is
listed as such, so editors know where to look and users know what is missing.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Protocol

from .schemas import CASE_KINDS

# Fields a reader of that type looks for but the schema cannot require (sources often omit them).
OPTIONAL_FIELDS = {
    "technology": ("benefits", "investment", "payback", "maturity"),
    "case": ("options", "investment_wan", "outcome"),
}
FIELD_NAMES = {"benefits": "效益指标", "investment": "投资", "payback": "回收期", "maturity": "成熟度",
               "investment_wan": "总投资", "outcome": "审核结论", "options": "方案清单"}
MIN_CASES = 3
UNSET = "未填"


class Entry(Protocol):
    id: str
    type: str
    sectors: list[str]
    meta: dict


@dataclass
class ContentStats:
    counts: dict[str, dict[str, int]]                    # sector → type → entries
    missing_optional: dict[str, list[str]]               # entry id → optional fields it lacks
    few_cases: list[str]                                 # key sectors with fewer than MIN_CASES cases
    no_spec: list[str]                                   # key sectors without a spec entry
    missing_by_field: dict[str, int] = field(default_factory=dict)
    # key sectors whose specs state no Level I/II/III value (题录 or indicator names only): no self-assessment
    citation_only: list[str] = field(default_factory=list)
    # Provenance (issue 15): sector → source.origin / source.confidence → entries (UNSET when missing),
    # sector → case kind → cases, and type → origin → entries over the whole knowledge base.
    by_origin: dict[str, dict[str, int]] = field(default_factory=dict)
    by_confidence: dict[str, dict[str, int]] = field(default_factory=dict)
    case_kinds: dict[str, dict[str, int]] = field(default_factory=dict)
    origin_by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    case_kind_totals: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"counts": self.counts, "missing_optional": self.missing_optional,
                "sectors_with_fewer_than_3_cases": self.few_cases, "sectors_without_spec": self.no_spec,
                "missing_by_field": self.missing_by_field,
                "sectors_with_citation_only_spec": self.citation_only,
                "by_origin": self.by_origin, "by_confidence": self.by_confidence,
                "cases_by_kind": self.case_kinds, "origin_by_type": self.origin_by_type,
                "case_kind_totals": self.case_kind_totals}


def content_stats(entries: Iterable[Entry], sector_names: list[str], key_sectors: list[str]) -> ContentStats:
    from .assess import assessable

    entries = sorted(entries, key=lambda e: e.id)
    counts = {name: {"technology": 0, "case": 0, "spec": 0} for name in sector_names}
    with_values: set[str] = set()
    for entry in entries:
        for sector in entry.sectors:
            counts.setdefault(sector, {"technology": 0, "case": 0, "spec": 0})[entry.type] += 1
            if entry.type == "spec" and assessable(entry.meta):
                with_values.add(sector)
    missing: dict[str, list[str]] = {}
    by_field: dict[str, int] = {}
    for entry in entries:
        lacks = [f for f in OPTIONAL_FIELDS.get(entry.type, ()) if not entry.meta.get(f)]
        if lacks:
            missing[entry.id] = lacks
            for f in lacks:
                by_field[f] = by_field.get(f, 0) + 1
    by_origin: dict[str, dict[str, int]] = {name: {} for name in counts}
    by_confidence: dict[str, dict[str, int]] = {name: {} for name in counts}
    case_kinds: dict[str, dict[str, int]] = {name: {} for name in counts}
    origin_by_type: dict[str, dict[str, int]] = {"technology": {}, "case": {}, "spec": {}}
    kind_totals: dict[str, int] = {}
    for entry in entries:
        source = entry.meta.get("source") or {}
        origin, confidence = source.get("origin") or UNSET, source.get("confidence") or UNSET
        _bump(origin_by_type.setdefault(entry.type, {}), origin)
        kind = entry.meta.get("kind") or UNSET
        if entry.type == "case":
            _bump(kind_totals, kind)
        for sector in entry.sectors:
            _bump(by_origin.setdefault(sector, {}), origin)
            _bump(by_confidence.setdefault(sector, {}), confidence)
            if entry.type == "case":
                _bump(case_kinds.setdefault(sector, {}), kind)
    return ContentStats(
        by_origin=by_origin, by_confidence=by_confidence, case_kinds=case_kinds,
        origin_by_type=origin_by_type,
        case_kind_totals={k: kind_totals[k] for k in (*CASE_KINDS, UNSET) if k in kind_totals},
        counts=counts,
        missing_optional=missing,
        few_cases=[s for s in key_sectors if counts[s]["case"] < MIN_CASES],
        no_spec=[s for s in key_sectors if counts[s]["spec"] == 0],
        missing_by_field=by_field,
        citation_only=[s for s in key_sectors if counts[s]["spec"] and s not in with_values],
    )


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, width: int, right: bool = False) -> str:
    """Pad to a terminal width, counting a Chinese character as two columns."""
    space = " " * max(0, width - display_width(text))
    return space + text if right else text + space


def table(stats: ContentStats) -> str:
    """Counts by sector; a spec count marked * has no Level I/II/III value yet and cannot assess."""
    lines = [pad("行业", 14) + pad("技术", 6, True) + pad("案例", 6, True) + pad("标准", 6, True)]
    for name, row in stats.counts.items():
        spec = f"{row['spec']}{'*' if name in stats.citation_only else ''}"
        lines.append(pad(name, 14) + pad(str(row["technology"]), 6, True) + pad(str(row["case"]), 6, True)
                     + pad(spec, 6, True))
    return "\n".join(lines)


def provenance_table(stats: ContentStats) -> str:
    """Per sector: cases by kind, entries by confidence and by source origin (issue 15)."""
    from .schemas import CONFIDENCES, SOURCE_ORIGINS

    kinds, levels = (*CASE_KINDS, UNSET), (*CONFIDENCES, UNSET)
    short = {"清洁生产审核": "审核", "技改项目": "技改", "园区/集群": "园区", "政策示范": "政策", UNSET: "未填"}
    head = pad("行业", 14) + "".join(pad(short[k], 6, True) for k in kinds) + "  │" + \
        "".join(pad(f"可信度{c}" if c != UNSET else "未填", 9, True) for c in levels) + "  │ 来源性质"
    lines = [head]
    for name in stats.counts:
        kind_row = stats.case_kinds.get(name, {})
        conf_row = stats.by_confidence.get(name, {})
        origins = stats.by_origin.get(name, {})
        shown = "、".join(f"{o} {origins[o]}" for o in (*SOURCE_ORIGINS, UNSET) if origins.get(o))
        lines.append(pad(name, 14) + "".join(pad(str(kind_row.get(k, 0)), 6, True) for k in kinds) + "  │"
                     + "".join(pad(str(conf_row.get(c, 0)), 9, True) for c in levels) + "  │ " + shown)
    return "\n".join(lines)
