"""清洁生产水平对标：an enterprise's indicator values against its sector's Level I/II/III values.

`assess(spec_doc, values)` is the calculation; `run(kb, request)` is what the API, the page and the
CLI call (it resolves the sector and spec, validates the values and links gaps to technologies).

The rule (NDRC/MEE/MIIT indicator systems of the 2015 series, as summarised in the spec entries;
CHECK IT AGAINST THE TEXT OF THE SPEC YOU ASSESS AGAINST — several entries could not verify it):

1. Per indicator, the level reached: the best k in (1, 2, 3) whose base value is satisfied —
   direction ≤: value ≤ level_k; ≥: value ≥ level_k; 定性: the enterprise states which level's
   description it fully meets (1/2/3/"below", or the level text itself). A level whose base value the
   entry leaves empty is never claimed for quantitative indicators; an indicator that fails every
   stated level is "below".
2. Weighted score per level, Y_k = Σ_i w_i · Σ_j ω_ij · Y_k(x_ij) with Y_k(x_ij) = 100 when indicator j
   of first-level group i reaches level k or better, else 0. w_i is the group weight (group_weight),
   ω_ij the weight inside the group (weight; "0.8/n" means 0.8 divided by n, n = the number of such
   indicators the enterprise reports — e.g. the metals it actually plates). Because the formula needs
   Σ_j ω_ij = 1 and Σ_i w_i = 1, the weights are re-normalised over the indicators actually assessed:
   inside each group by the sum of its assessed weights (as the indicator systems do for second-level
   indicators that do not apply), then across groups by the sum of the assessed groups' weights. This
   also covers entries that record only part of an official table (spec-plating-2015 records
   groups weighing 0.61 of 1).
3. Overall level (default rule): Ⅰ级 when Y_I ≥ 85 and every limiting (限定性) indicator reaches Ⅰ;
   Ⅱ级 when Y_II ≥ 85 and every limiting indicator reaches Ⅱ or better; Ⅲ级 when Y_III = 100;
   otherwise "below". When the spec has `levels: {1: t1, 2: t2, 3: t3}`, level k needs Y_k ≥ t_k and
   every limiting indicator at k or better.
4. Specs without weights (the HJ/T clean-production standards compare indicator by indicator): no
   composite score; the overall level is the lowest level reached by the assessed indicators.
5. Partial input: indicators without a value are listed in overall.missing and left out of the
   score; a missing limiting indicator makes the overall level provisional (said in notes).
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

LEVELS = (1, 2, 3)
BELOW = "below"
LEVEL_NAMES = {1: "Ⅰ级", 2: "Ⅱ级", 3: "Ⅲ级", BELOW: "未达到Ⅲ级"}
DEFAULT_THRESHOLDS = {1: 85.0, 2: 85.0, 3: 100.0}
DEFAULT_RULE_TEXT = ("默认规则（国家发展改革委、环境保护部、工业和信息化部 2015 年起发布的行业清洁生产评价指标体系）："
                     "YⅠ≥85 且限定性指标全部达到Ⅰ级为Ⅰ级；YⅡ≥85 且限定性指标全部达到Ⅱ级及以上为Ⅱ级；YⅢ=100 为Ⅲ级。")
VERIFY_TEXT = "本默认判定规则须与所用指标体系原文核对；原文另有规定时以原文为准（可在标准条目的 levels 字段写入阈值）。"
UNWEIGHTED_RULE_TEXT = ("该标准未给出权重（HJ/T 清洁生产标准逐项对照）：不计算综合评价指数，"
                        "总体级别取已评价指标中最低的级别。")

_PER_N = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*n\s*$", re.I)
_CHOICES = {
    "1": 1, "i": 1, "Ⅰ": 1, "一级": 1, "ⅰ": 1, "Ⅰ级": 1, "i级": 1,
    "2": 2, "ii": 2, "Ⅱ": 2, "二级": 2, "ⅱ": 2, "Ⅱ级": 2, "ii级": 2,
    "3": 3, "iii": 3, "Ⅲ": 3, "三级": 3, "ⅲ": 3, "Ⅲ级": 3, "iii级": 3,
    "below": BELOW, "未达到": BELOW, "未达标": BELOW, "0": BELOW, "无": BELOW,
}


class AssessError(ValueError):
    """Bad request: `details` is a list of {"field", "message"[, "valid"]}."""

    def __init__(self, message: str, details: list[dict[str, Any]]):
        self.message = message
        self.details = details
        super().__init__(message + "：" + "；".join(f"{d['field']}: {d['message']}" for d in details))


# -- small helpers ------------------------------------------------------------------------------

def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        if float(value).is_integer():
            return str(int(value))
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:     # an int too large for a float (thousands of digits): not a usable value
        return False


def _target(indicator: dict, level: int) -> Any:
    value = indicator.get(f"level_{level}")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def targets(indicator: dict) -> dict[str, Any]:
    return {str(k): _target(indicator, k) for k in LEVELS}


def is_qualitative(indicator: dict) -> bool:
    return indicator.get("direction") == "定性"


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
            target = _target(indicator, level)
            if isinstance(target, str) and text == target.strip():
                return level
    return None


def level_reached(indicator: dict, value: Any) -> int | str | None:
    """1, 2, 3 or "below"; None when the entry states no base value to compare with."""
    if is_qualitative(indicator):
        return parse_choice(indicator, value)
    stated = [(k, _target(indicator, k)) for k in LEVELS]
    stated = [(k, t) for k, t in stated if _is_number(t)]
    if not stated:
        return None
    direction = indicator.get("direction")
    for level, target in stated:   # best level first
        if (direction == "≤" and value <= target) or (direction == "≥" and value >= target):
            return level
    return BELOW


def _at_least(level: int | str | None, k: int) -> bool:
    return isinstance(level, int) and level <= k


def needed(indicator: dict, level: int) -> str:
    """What the indicator must reach, e.g. "≤ 24 L/m²" or the level's description for 定性 indicators."""
    target = _target(indicator, level)
    if is_qualitative(indicator):
        return f"达到{LEVEL_NAMES[level]}要求：{target}" if target else f"达到{LEVEL_NAMES[level]}要求"
    unit = (indicator.get("unit") or "").replace("m2", "m²").replace("m3", "m³")
    if unit == "%":
        return f"{indicator.get('direction')} {fmt(target)}%"
    return f"{indicator.get('direction')} {fmt(target)} {unit}".rstrip()


def _weight(raw: Any, counts: dict[str, int]) -> float | None:
    if _is_number(raw):
        return float(raw)
    if isinstance(raw, str):
        match = _PER_N.match(raw)
        if match:
            n = counts.get(raw.strip(), 0)
            return float(match.group(1)) / n if n else None
        try:
            return float(raw)
        except ValueError:
            return None
    return None


def _weighted(indicators: list[dict]) -> bool:
    """Weighted when every indicator states a weight and either all or none state a group weight."""
    if not indicators or any(i.get("weight") in (None, "") for i in indicators):
        return False
    group_weights = [i.get("group_weight") is not None for i in indicators]
    return all(group_weights) or not any(group_weights)


def thresholds_of(spec_doc: dict) -> tuple[dict[int, float], bool]:
    """Score thresholds per level: the spec's own `levels`, else the default rule (85 / 85 / 100)."""
    levels = spec_doc.get("levels")
    if isinstance(levels, dict) and levels:
        own = {}
        for key, value in levels.items():
            try:
                own[int(key)] = float(value)
            except (TypeError, ValueError):
                continue
        if own:
            return {k: own.get(k, math.inf) for k in LEVELS}, True
    return dict(DEFAULT_THRESHOLDS), False


# -- validation ---------------------------------------------------------------------------------

def check_values(spec_doc: dict, values: Any) -> dict[str, Any]:
    """Validate {indicator id: value}; raise AssessError listing every problem."""
    indicators = {i["id"]: i for i in spec_doc.get("indicators") or []}
    if not isinstance(values, dict):
        raise AssessError("指标取值有误", [{"field": "values",
                                         "message": "values 应为对象：{指标 id: 数值或级别}", "valid": list(indicators)}])
    details: list[dict[str, Any]] = []
    clean: dict[str, Any] = {}
    for key, value in values.items():
        field = f"values.{key}"
        indicator = indicators.get(key)
        if indicator is None:
            details.append({"field": field, "message": f"「{spec_doc.get('id')}」没有 id 为「{str(key)[:80]}」的指标；"
                                                       f"可选：{'、'.join(indicators)}", "valid": list(indicators)})
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue    # blank = not given
        if is_qualitative(indicator):
            choice = parse_choice(indicator, value)
            if choice is None:
                details.append({"field": field, "message": f"{indicator['name']}为定性指标，应填 1、2、3 或 \"below\""
                                                           f"（达到的级别），或该级别的原文描述",
                                "valid": ["1", "2", "3", BELOW]})
                continue
            clean[key] = choice
        else:
            if not _is_number(value):
                details.append({"field": field, "message": f"{indicator['name']}应为有限数字"
                                                           f"（单位：{indicator.get('unit') or '无'}）"})
                continue
            clean[key] = value
    if details:
        raise AssessError("指标取值有误", details)
    return clean


# -- the calculation ----------------------------------------------------------------------------

Recommend = Callable[[dict, str], list[dict]]


def assess(spec_doc: dict, values: dict, *, target_level: int | None = None,
           recommend: Recommend | None = None) -> dict:
    """Assess validated values against one spec (see the module docstring for the rule).

    `recommend(indicator, target_level_text)` returns technologies [{id, title, reasons}] for a gap;
    without it, gaps carry no technologies.
    """
    values = check_values(spec_doc, values)
    indicators = list(spec_doc.get("indicators") or [])
    notes: list[str] = []
    rows: list[dict] = []
    missing: list[str] = []
    assessed: list[tuple[dict, int | str]] = []
    for indicator in indicators:
        value = values.get(indicator["id"])
        level = None if value is None else level_reached(indicator, value)
        if value is None:
            missing.append(indicator["id"])
        elif level is None:
            notes.append(f"「{indicator['name']}」的级别基准值未收录，无法判定，未计入评价。")
        else:
            assessed.append((indicator, level))
            if level == BELOW and not is_qualitative(indicator) and _target(indicator, 3) is None:
                notes.append(f"「{indicator['name']}」未达到条目中收录的最低一级基准值；"
                             f"Ⅲ级基准值未收录，实际可能仍达到Ⅲ级，请查原文。")
        rows.append({"id": indicator["id"], "name": indicator.get("name"), "unit": indicator.get("unit") or "",
                     "value": value, "level": level, "targets": targets(indicator)})

    weighted = _weighted(indicators)
    thresholds, own_rule = thresholds_of(spec_doc)
    scores: dict[str, float] | None = None
    overall_level: int | str | None = None
    if assessed:
        if weighted:
            raw = _scores(assessed)
            limiting = [level for indicator, level in assessed if indicator.get("limiting")]
            overall_level = BELOW
            for k in LEVELS:   # compared unrounded (up to float noise); reported rounded to 2 decimals
                if raw[str(k)] >= thresholds[k] - 1e-9 and all(_at_least(level, k) for level in limiting):
                    overall_level = k
                    break
            scores = {k: round(v, 2) for k, v in raw.items()}
        else:
            levels = [level for _, level in assessed]
            overall_level = BELOW if BELOW in levels else max(levels)
    else:
        notes.append("没有可评价的指标：请至少填写一项有基准值的指标。")

    missing_limiting = [i["name"] for i in indicators if i.get("limiting") and i["id"] in missing]
    if missing_limiting and assessed:
        notes.append(f"未填写限定性指标（{'、'.join(missing_limiting)}），总体级别只是暂定。")
    per_n = [i for i in indicators if isinstance(i.get("weight"), str) and _PER_N.match(i["weight"])]
    absent = [i["name"] for i in per_n if i["id"] in missing]
    if absent and weighted:
        notes.append(f"按「/n」计权的指标只计入填写了的 {len(per_n) - len(absent)} 项，n = {len(per_n) - len(absent)}"
                     f"（未填写的视为不涉及：{'、'.join(absent)}）。")

    score = None
    if scores is not None:
        score = scores[str(overall_level)] if isinstance(overall_level, int) else scores["3"]

    # gaps: indicators below the target level (default: the next level up from the overall level)
    if target_level is None and overall_level is not None:
        target_level = {1: 1, 2: 1, 3: 2}.get(overall_level, 3) if isinstance(overall_level, int) else 3
    gaps: list[dict] = []
    if target_level is not None:
        for indicator, level in assessed:
            if _at_least(level, target_level):
                continue
            goal = target_level
            if _target(indicator, goal) is None and not is_qualitative(indicator):
                better = [k for k in LEVELS if k <= goal and _target(indicator, k) is not None]
                if not better:
                    notes.append(f"「{indicator['name']}」的{LEVEL_NAMES[target_level]}基准值未收录，未列出差距。")
                    continue
                goal = max(better)
                if _at_least(level, goal):
                    continue
            gaps.append({"indicator": indicator["id"], "target_level": goal, "needed": needed(indicator, goal),
                         "technologies": recommend(indicator, LEVEL_NAMES[goal]) if recommend else []})

    rule = _rule(weighted, thresholds, own_rule)
    return {
        "spec": {"id": spec_doc.get("id"), "title": spec_doc.get("title"), "standard": spec_doc.get("standard")},
        "indicators": rows,
        "overall": {"level": overall_level, "score": score, "scores": scores, "missing": missing},
        "gaps": gaps,
        "rule": rule,
        "notes": notes,
    }


def _scores(assessed: list[tuple[dict, int | str]]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for indicator, _ in assessed:
        raw = indicator.get("weight")
        if isinstance(raw, str) and _PER_N.match(raw):
            counts[raw.strip()] = counts.get(raw.strip(), 0) + 1
    groups: dict[str, dict[str, Any]] = {}
    for indicator, level in assessed:
        name = indicator.get("group") or ""
        group = groups.setdefault(name, {"weight": indicator.get("group_weight"), "items": []})
        group["items"].append((_weight(indicator.get("weight"), counts) or 0.0, level))
    result = {}
    group_total = sum(float(g["weight"]) if g["weight"] is not None else 1.0 for g in groups.values())
    for k in LEVELS:
        total = 0.0
        for group in groups.values():
            inner = sum(w for w, _ in group["items"])
            if inner <= 0:
                continue
            reached = sum(w for w, level in group["items"] if _at_least(level, k))
            gw = float(group["weight"]) if group["weight"] is not None else 1.0
            total += gw * reached / inner
        result[str(k)] = 100.0 * total / group_total if group_total > 0 else 0.0
    return result


def _rule(weighted: bool, thresholds: dict[int, float], own: bool) -> dict:
    if not weighted:
        return {"method": "per-indicator", "source": "unweighted", "thresholds": None,
                "text": UNWEIGHTED_RULE_TEXT, "verify": VERIFY_TEXT}
    if own:
        text = "本标准条目给出的判定阈值：" + "；".join(
            f"Y{['Ⅰ', 'Ⅱ', 'Ⅲ'][k - 1]}≥{fmt(thresholds[k])} 且限定性指标全部达到{LEVEL_NAMES[k]}及以上为{LEVEL_NAMES[k]}"
            for k in LEVELS if math.isfinite(thresholds[k])) + "。"
        return {"method": "weighted", "source": "spec", "thresholds": {str(k): thresholds[k] for k in LEVELS
                                                                          if math.isfinite(thresholds[k])},
                "text": text, "verify": "阈值取自标准条目的 levels 字段，请与原文核对。"}
    return {"method": "weighted", "source": "default", "thresholds": {str(k): thresholds[k] for k in LEVELS},
            "text": DEFAULT_RULE_TEXT + "权重按已评价指标归一化（组内按二级权重，组间按一级权重）。",
            "verify": VERIFY_TEXT}


# -- the request: sector, spec, values → assessment with technologies ---------------------------

def spec_docs(kb, *, assessable_only: bool = True) -> list[dict]:
    docs = [row.as_dict() for row in kb.store.all("spec")]
    return [d for d in docs if assessable(d)] if assessable_only else docs


def assessable(spec_doc: dict) -> bool:
    """Whether a spec can assess anything: some indicator states a Level I/II/III value. A citation-only
    entry (题录: the standard is named and described but its table could not be read) cannot."""
    return any(_target(i, k) is not None for i in spec_doc.get("indicators") or [] for k in LEVELS)


def specs_for_sector(kb, sector: str, *, assessable_only: bool = True) -> list[dict]:
    """The sector's specs, newest source year first (then id)."""
    docs = [d for d in spec_docs(kb, assessable_only=assessable_only) if sector in (d.get("sectors") or [])]
    return sorted(docs, key=lambda d: (-int((d.get("source") or {}).get("year") or 0), d["id"]))


def _citation_only(doc: dict) -> str:
    return (f"「{doc['id']}」（{doc.get('standard') or doc.get('title')}）尚未收录Ⅰ/Ⅱ/Ⅲ级基准值"
            "（只有题录或指标名称，数值待从原文核实），不能用于自评；请查阅标准原文")


def choose_spec(kb, sector_name: Any, spec_id: Any = None) -> tuple[str, dict]:
    """Resolve the sector and its spec (given id or the newest that can assess); raise AssessError with
    field details."""
    from .taxonomy import UnknownSector

    if not isinstance(sector_name, str) or not sector_name.strip():
        raise AssessError("缺少行业", [{"field": "sector", "message": "请填写行业名（如 电镀）",
                                     "valid": kb.taxonomy.names}])
    try:
        sector = kb.taxonomy.resolve(sector_name)
    except UnknownSector as exc:
        raise AssessError("未知行业", [{"field": "sector", "message": str(exc), "valid": exc.valid}])
    specs = specs_for_sector(kb, sector)
    listed = specs_for_sector(kb, sector, assessable_only=False)
    if spec_id is not None and spec_id != "":
        if not isinstance(spec_id, str):
            raise AssessError("标准 id 有误", [{"field": "spec", "message": "spec 应为文字（标准条目 id）",
                                            "valid": [d["id"] for d in specs]}])
        chosen = next((d for d in listed if d["id"] == spec_id), None)
        if chosen is not None and not assessable(chosen):
            raise AssessError("该标准尚无分级基准值", [{"field": "spec", "message": _citation_only(chosen),
                                                "valid": [d["id"] for d in specs]}])
        if chosen is None:
            all_ids = [d["id"] for d in spec_docs(kb, assessable_only=False)]
            why = "不属于该行业" if spec_id in all_ids else "不存在"
            raise AssessError("未知标准", [{"field": "spec", "message": f"标准「{spec_id[:100]}」{why}；「{sector}」可选："
                                                                        f"{'、'.join(d['id'] for d in specs) or '（无）'}",
                                         "valid": [d["id"] for d in specs]}])
        return sector, chosen
    if not specs:
        with_specs = sorted({s for d in spec_docs(kb) for s in d.get("sectors") or []})
        others = f"可自评的行业：{'、'.join(with_specs) or '（无）'}"
        if listed:
            message = "；".join(_citation_only(d) for d in listed) + f"。{others}"
        else:
            message = f"知识库中没有「{sector}」的评价指标体系；{others}"
        raise AssessError("该行业没有可用于自评的评价指标体系",
                          [{"field": "sector", "message": message, "valid": with_specs}])
    return sector, specs[0]


def technology_finder(kb, sector: str, limit: int = 3) -> Recommend:
    """Gap → technologies ranked by the recommender (indicator name and group as the problem text)."""
    def find(indicator: dict, level_name: str) -> list[dict]:
        from .recommend.profile import ProfileError, parse_profile

        problem = " ".join(p for p in (indicator.get("name"), indicator.get("group")) if p)
        try:
            profile = parse_profile({"sector": sector, "problem": problem, "limit": limit})
            results = kb.recommender().recommend(profile)["results"]
        except ProfileError:
            return []
        return [{"id": r["id"], "title": r["title"], "reasons": r["reasons"]} for r in results]
    return find


def run(kb, data: Any) -> dict:
    """POST /api/assess and `kb assess`: {"sector", "spec"?, "values", "target_level"?} → assessment."""
    if not isinstance(data, dict):
        raise AssessError("请求体必须是 JSON 对象", [{"field": "body", "message": "内容应为 {\"sector\", \"values\"} 对象"}])
    unknown = [k for k in data if k not in ("sector", "spec", "values", "target_level")]
    details = [{"field": k, "message": f"不支持的字段「{str(k)[:40]}」；可用字段：sector、spec、values、target_level"}
               for k in unknown]
    if details:
        raise AssessError("对标请求参数有误", details)
    sector, spec_doc = choose_spec(kb, data.get("sector"), data.get("spec"))
    target = data.get("target_level")
    if target is not None:
        if isinstance(target, bool) or not isinstance(target, (int, float)) or target not in LEVELS:
            raise AssessError("目标级别有误", [{"field": "target_level", "message": "target_level 应为 1、2 或 3"}])
        target = int(target)
    values = data.get("values")
    if values is None:
        raise AssessError("缺少指标取值", [{"field": "values", "message": "请填写 values：{指标 id: 数值或级别}",
                                       "valid": [i["id"] for i in spec_doc.get("indicators") or []]}])
    clean = check_values(spec_doc, values)
    if not clean:
        raise AssessError("缺少指标取值", [{"field": "values", "message": "请至少填写一项指标",
                                       "valid": [i["id"] for i in spec_doc.get("indicators") or []]}])
    return assess(spec_doc, clean, target_level=target, recommend=technology_finder(kb, sector))
