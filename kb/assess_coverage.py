"""How much of the whole indicator system an assessment rests on, and whether that is enough for a level.

The official formula scores the whole system: Y_k = 100 · Σ_i w_i Σ_j ω_ij · [indicator ij reaches k], with
Σ_i w_i = the system's total first-level weight (`system_weight` of the spec entry; 1 in the 2015 series).
An indicator without a value may reach the level or not, so what the enterprise entered bounds Y_k:
    lower_k = 100 · (weight entered and reaching k) / system_weight
    upper_k = lower_k + 100 · (weight not entered, including what the entry itself lacks) / system_weight
Level k is awarded only when lower_k ≥ t_k, every limiting indicator of the system is known (all entered, and
the entry holds the whole system) and reaches k. When a better level is still possible (upper_k ≥ t_k, the
limiting indicators entered reach k) the result is 数据不足. 未达到Ⅲ级 is awarded when no level is possible
whatever the missing values are (they could only lower Y_k).

Specs without weights (HJ/T standards, level = the lowest level of all indicators) are counted by indicators:
the level is known only when every indicator of the standard is entered, unless one already fails Ⅲ.
"""
from __future__ import annotations

import re
from typing import Any

from .assess_values import BELOW, LEVELS

INSUFFICIENT = "数据不足"
_PER_N = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*n\s*$", re.I)
_EPS = 1e-9
_ROMAN = {1: "Ⅰ", 2: "Ⅱ", 3: "Ⅲ"}


def per_n(raw: Any) -> float | None:
    """The family total c of a "c/n" weight, else None."""
    match = _PER_N.match(raw) if isinstance(raw, str) else None
    return float(match.group(1)) if match else None


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return None
    return None


def _at_least(level: Any, k: int) -> bool:
    return isinstance(level, int) and not isinstance(level, bool) and level <= k


def _group_key(indicator: dict) -> str:
    return indicator.get("group") or ""


def _not_applicable_inner(indicators: list[dict], families: dict[tuple[str, str], list[str]],
                          not_applicable: set[str]) -> dict[str, float]:
    """Per group, the second-level weight of indicators that do not apply (a "c/n" family only when none of
    its members applies)."""
    inner: dict[str, float] = {}
    for indicator in indicators:
        if indicator["id"] in not_applicable and per_n(indicator.get("weight")) is None:
            key = _group_key(indicator)
            inner[key] = inner.get(key, 0.0) + (_number(indicator.get("weight")) or 0.0)
    for (group, raw), members in families.items():
        if all(member in not_applicable for member in members):
            inner[group] = inner.get(group, 0.0) + (per_n(raw) or 0.0)
    return inner


def absolute_weights(indicators: list[dict], entered: set[str],
                     not_applicable: set[str] = frozenset()) -> tuple[dict[str, float], float, float]:
    """Each entered indicator's share of the system's weight (w_i · ω_ij, "c/n" divided among the n entered
    members of its family), the weight the entry holds in all (a "c/n" family counts c), and the first-level
    weight of groups none of whose indicators applies. Indicators that do not apply (不涉及) leave the
    calculation and their weight goes to the rest of their group in proportion (ω' = ω / (1 − Σ ω不涉及)),
    as the indicator systems do for second-level indicators an enterprise does not have."""
    families: dict[tuple[str, str], list[str]] = {}
    for indicator in indicators:
        if per_n(indicator.get("weight")) is not None:
            families.setdefault((_group_key(indicator), indicator["weight"].strip()), []).append(indicator["id"])
    removed = _not_applicable_inner(indicators, families, set(not_applicable))
    weights: dict[str, float] = {}
    held = dropped = 0.0
    counted: set[tuple[str, str]] = set()
    dropped_groups: set[str] = set()
    for indicator in indicators:
        group_weight = _number(indicator.get("group_weight"))
        group_weight = 1.0 if group_weight is None else group_weight
        share = 1.0 - removed.get(_group_key(indicator), 0.0)
        if share <= _EPS:
            if _group_key(indicator) not in dropped_groups:
                dropped_groups.add(_group_key(indicator))
                dropped += group_weight
            continue
        group_weight /= share
        family_total = per_n(indicator.get("weight"))
        if family_total is None:
            inner = _number(indicator.get("weight")) or 0.0
            if indicator["id"] not in not_applicable:
                held += group_weight * inner
        else:
            key = (_group_key(indicator), indicator["weight"].strip())
            if key not in counted:
                counted.add(key)
                if not all(member in not_applicable for member in families[key]):
                    held += group_weight * family_total
            n = sum(1 for member in families[key] if member in entered)
            inner = family_total / n if n else 0.0
        if indicator["id"] in entered:
            weights[indicator["id"]] = group_weight * inner
    return weights, held, dropped


def _pct(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 1)


def weighted_coverage(spec_doc: dict, assessed: list[tuple[dict, Any]], thresholds: dict[int, float],
                      not_applicable: set[str] = frozenset()) -> dict:
    """Coverage and the decision for a weighted system; see the module docstring."""
    indicators = list(spec_doc.get("indicators") or [])
    entered_ids = {indicator["id"] for indicator, _ in assessed}
    weights, held, dropped = absolute_weights(indicators, entered_ids, not_applicable)
    system = _number(spec_doc.get("system_weight"))
    if system is not None:
        system -= dropped
    complete = spec_doc.get("complete")
    if system is None and complete is True:
        system = held
    if system is not None and complete is None:
        complete = held >= system - _EPS
    entered = sum(weights.values())
    coverage = _coverage_block("weight", spec_doc, assessed, complete, not_applicable,
                               entry_pct=_pct(held, system), entered_pct=_pct(entered, system))
    coverage["system_weight"] = system
    if system is None or system <= 0:
        coverage["limitations"].append("标准条目未给出整个指标体系的一级权重合计（system_weight），也未说明是否收录了完整指标表，"
                                   "无法知道已填写的指标占多少")
        return {"coverage": coverage, "level": None, "bounds": None, "possible": None, "at_least": None}

    bounds: dict[str, list[float]] = {}
    for k in LEVELS:
        reached = sum(weights[i["id"]] for i, lv in assessed if _at_least(lv, k))
        lower = 100.0 * reached / system
        bounds[str(k)] = [lower, min(lower + 100.0 * max(system - entered, 0.0) / system, 100.0)]
    level: Any = BELOW
    possible = None
    known = not coverage["limitations"]     # every limiting indicator of the system entered
    at_least = next((k for k in LEVELS if known and bounds[str(k)][0] >= thresholds[k] - _EPS
                     and all(_at_least(lv, k) for i, lv in assessed if i.get("limiting"))), None)
    for k in LEVELS:
        lower, upper = bounds[str(k)]
        limiting_ok = all(_at_least(lv, k) for i, lv in assessed if i.get("limiting"))
        if not limiting_ok or upper < thresholds[k] - _EPS:
            continue        # level k is out of reach whatever the missing values are
        if lower >= thresholds[k] - _EPS and not coverage["limitations"]:
            level = k
            break
        level, possible = None, k
        coverage["limitations"].append(_undecided_reason(k, lower, upper, thresholds[k], coverage))
        break
    bounds = {k: [round(lo, 2), round(hi, 2)] for k, (lo, hi) in bounds.items()}
    return {"coverage": coverage, "level": level, "bounds": bounds, "possible": possible,
            "at_least": at_least if level is None else None}


def _undecided_reason(k: int, lower: float, upper: float, threshold: float, coverage: dict) -> str:
    name = _ROMAN[k]
    if lower >= threshold - _EPS:
        return f"已填写指标的 Y{name} 已达 {lower:.2f}，但限定性指标未全部确知，不能判定为{name}级"
    return (f"按已填写的指标，Y{name} 在 {lower:.2f}–{min(upper, 100):.2f} 之间（判定{name}级需 ≥ {threshold:g}），"
            f"取决于未填写或条目未收录的指标")


def unweighted_coverage(spec_doc: dict, assessed: list[tuple[dict, Any]],
                        not_applicable: set[str] = frozenset()) -> dict:
    """Coverage and the decision for a standard compared indicator by indicator (lowest level counts);
    indicators that do not apply (不涉及) leave the count."""
    indicators = [i for i in spec_doc.get("indicators") or [] if i["id"] not in not_applicable]
    known_missing = list(spec_doc.get("missing_indicators") or [])
    complete = spec_doc.get("complete")
    if complete is None and spec_doc.get("missing_indicators"):
        complete = False
    system_count = len(indicators) + len(known_missing) if (complete is True or known_missing) else None
    coverage = _coverage_block("count", spec_doc, assessed, complete, not_applicable,
                               entry_pct=_pct(len(indicators), system_count),
                               entered_pct=_pct(len(assessed), system_count))
    coverage["system_indicators"] = system_count
    levels = [lv for _, lv in assessed]
    if not levels:
        return {"coverage": coverage, "level": None, "bounds": None, "possible": None, "at_least": None}
    if BELOW in levels:
        return {"coverage": coverage, "level": BELOW, "bounds": None, "possible": None, "at_least": None}
    worst = max(levels)
    if len(assessed) < len(indicators):
        coverage["limitations"].append(f"逐项对照的标准取所有指标中最低的级别：已填写的指标最高可能为"
                                   f"{_ROMAN[worst]}级，未填写的指标可能更低")
    if coverage["limitations"]:
        return {"coverage": coverage, "level": None, "bounds": None, "possible": worst, "at_least": None}
    return {"coverage": coverage, "level": worst, "bounds": None, "possible": None, "at_least": None}


def _coverage_block(basis: str, spec_doc: dict, assessed: list[tuple[dict, Any]], complete: bool | None,
                    not_applicable: set[str], *, entry_pct: float | None, entered_pct: float | None) -> dict:
    indicators = list(spec_doc.get("indicators") or [])
    entered = {indicator["id"] for indicator, _ in assessed} | set(not_applicable)
    missing_limiting = [i["name"] for i in indicators if i.get("limiting") and i["id"] not in entered]
    reasons: list[str] = []
    if missing_limiting:
        reasons.append(f"限定性指标未填写：{'、'.join(missing_limiting)}")
    if complete is not True:
        held = f"约 {entry_pct:g}%" if entry_pct is not None else "一部分"
        reasons.append(f"本标准条目只收录了该指标体系的{held}"
                       f"{'（按权重）' if basis == 'weight' else '（按指标项数）'}，未收录的指标"
                       f"{'（可能含限定性指标）' if basis == 'weight' else ''}无法填写")
    return {
        "basis": basis,
        "entry_complete": complete,
        "entry_pct": entry_pct,
        "entered_pct": entered_pct,
        "missing_limiting": missing_limiting,
        "missing_in_entry": list(spec_doc.get("missing_indicators") or []),
        "limitations": reasons,
    }


def coverage_text(coverage: dict) -> str:
    """One sentence for every result: how much of the system the entry holds and the enterprise entered."""
    unit = "权重" if coverage["basis"] == "weight" else "指标项数"
    if coverage["entry_pct"] is None:
        held = "标准条目收录了该指标体系的一部分（比例未知）"
    elif coverage["entry_complete"]:
        held = "标准条目收录了完整指标体系"
    else:
        held = f"标准条目只收录了该指标体系{unit}的 {coverage['entry_pct']:g}%"
    entered = ("" if coverage["entered_pct"] is None
               else f"；已填写并可判定的指标占整个指标体系{unit}的 {coverage['entered_pct']:g}%")
    return held + entered + "。"
