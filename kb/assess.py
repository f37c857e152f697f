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
   of first-level group i reaches level k or better, else 0, over the WHOLE indicator system (Σ_i w_i =
   the spec's `system_weight`, 1 in the 2015 series; "0.8/n" means 0.8 divided by n, the number of such
   indicators the enterprise reports, e.g. the metals it actually plates).
3. Overall level (default rule): Ⅰ级 when Y_I ≥ 85 and every limiting (限定性) indicator reaches Ⅰ;
   Ⅱ级 when Y_II ≥ 85 and every limiting indicator reaches Ⅱ or better; Ⅲ级 when Y_III = 100;
   otherwise "below". When the spec has `levels: {1: t1, 2: t2, 3: t3}`, level k needs Y_k ≥ t_k and
   every limiting indicator at k or better.
4. Specs without weights (the HJ/T clean-production standards compare indicator by indicator): no
   composite score; the overall level is the lowest level of all indicators.
5. Missing data (kb/assess_coverage.py): indicators without a value, and indicators of the system the
   spec entry does not hold, bound Y_k from below and above; a level is awarded only when it is certain,
   otherwise the overall result is 数据不足 with the reasons. `overall.scores` stays what it always was —
   Y_k re-normalised over the indicators entered — and is labelled partial when they are not the whole system.
6. 不涉及 (the enterprise does not have the indicator): it leaves the calculation and its weight goes to the
   rest of its group in proportion; a group none of whose indicators applies leaves the system.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from .assess_coverage import INSUFFICIENT, coverage_text, per_n, unweighted_coverage, weighted_coverage
from .assess_values import (_CHOICES, BELOW, LEVELS, NOT_APPLICABLE, AssessError, check_values, is_number,
                            is_qualitative, parse_choice, target_of)

__all__ = ["AssessError", "BELOW", "LEVELS", "LEVEL_NAMES", "INSUFFICIENT", "assess", "check_values", "choose_spec",
           "fmt", "is_qualitative", "level_reached", "needed", "parse_choice", "run", "spec_docs", "specs_for_sector",
           "targets", "_CHOICES"]

LEVEL_NAMES = {1: "Ⅰ级", 2: "Ⅱ级", 3: "Ⅲ级", BELOW: "未达到Ⅲ级"}
DEFAULT_THRESHOLDS = {1: 85.0, 2: 85.0, 3: 100.0}
DEFAULT_RULE_TEXT = ("默认规则（国家发展改革委、环境保护部、工业和信息化部 2015 年起发布的行业清洁生产评价指标体系）："
                     "YⅠ≥85 且限定性指标全部达到Ⅰ级为Ⅰ级；YⅡ≥85 且限定性指标全部达到Ⅱ级及以上为Ⅱ级；YⅢ=100 为Ⅲ级。")
VERIFY_TEXT = "本默认判定规则须与所用指标体系原文核对；原文另有规定时以原文为准（可在标准条目的 levels 字段写入阈值）。"
UNWEIGHTED_RULE_TEXT = ("该标准未给出权重（HJ/T 清洁生产标准逐项对照）：不计算综合评价指数，"
                        "总体级别取全部指标中最低的级别。")
PARTIAL_SCORES_TEXT = "部分得分：YⅠ/YⅡ/YⅢ 只按已填写的指标归一化计算，不是整个指标体系的综合评价指数，不能据此定级。"


# -- small helpers ------------------------------------------------------------------------------

def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        if float(value).is_integer():
            return str(int(value))
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def targets(indicator: dict) -> dict[str, Any]:
    return {str(k): target_of(indicator, k) for k in LEVELS}


def level_reached(indicator: dict, value: Any) -> int | str | None:
    """1, 2, 3 or "below"; None when the entry states no base value to compare with."""
    if is_qualitative(indicator):
        return parse_choice(indicator, value)
    stated = [(k, target_of(indicator, k)) for k in LEVELS]
    stated = [(k, t) for k, t in stated if is_number(t)]
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
    target = target_of(indicator, level)
    if is_qualitative(indicator):
        return f"达到{LEVEL_NAMES[level]}要求：{target}" if target else f"达到{LEVEL_NAMES[level]}要求"
    unit = (indicator.get("unit") or "").replace("m2", "m²").replace("m3", "m³")
    if unit == "%":
        return f"{indicator.get('direction')} {fmt(target)}%"
    return f"{indicator.get('direction')} {fmt(target)} {unit}".rstrip()


def _weight(raw: Any, counts: dict[str, int]) -> float | None:
    if is_number(raw):
        return float(raw)
    if isinstance(raw, str):
        total = per_n(raw)
        if total is not None:
            n = counts.get(raw.strip(), 0)
            return total / n if n else None
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


def spec_status(spec_doc: dict) -> dict:
    """What every result says about the spec: which it is, whether it is in force, and whether it is whole."""
    return {"id": spec_doc.get("id"), "title": spec_doc.get("title"), "standard": spec_doc.get("standard"),
            "number": spec_doc.get("number"), "in_force": spec_doc.get("in_force"),
            "superseded_by": spec_doc.get("superseded_by"), "official_url": spec_doc.get("official_url")}


def _status_note(spec_doc: dict) -> str | None:
    name = spec_doc.get("number") or spec_doc.get("standard")
    if spec_doc.get("superseded_by"):
        return f"{name}已被「{spec_doc['superseded_by']}」替代，不再现行；请优先按替代标准自评。"
    if spec_doc.get("in_force") is False:
        return f"{name}已不再现行；结果仅供参考。"
    if spec_doc.get("in_force") is None:
        return f"标准条目未注明{name}是否现行，请核实。"
    return None


# -- the calculation ----------------------------------------------------------------------------

Recommend = Callable[[dict, str], list[dict]]


def _rows(indicators: list[dict], values: dict, notes: list[str]) -> tuple[list[dict], list[str], list[tuple[dict, Any]]]:
    """Per indicator: the row shown, whether it is missing, and (indicator, level) for those assessed."""
    rows: list[dict] = []
    missing: list[str] = []
    assessed: list[tuple[dict, int | str]] = []
    for indicator in indicators:
        value = values.get(indicator["id"])
        level = None if value in (None, NOT_APPLICABLE) else level_reached(indicator, value)
        if value is None:
            missing.append(indicator["id"])
        elif value == NOT_APPLICABLE:
            pass
        elif level is None:
            notes.append(f"「{indicator['name']}」的级别基准值未收录，无法判定，未计入评价。")
        else:
            assessed.append((indicator, level))
            if level == BELOW and not is_qualitative(indicator) and target_of(indicator, 3) is None:
                notes.append(f"「{indicator['name']}」未达到条目中收录的最低一级基准值；"
                             f"Ⅲ级基准值未收录，实际可能仍达到Ⅲ级，请查原文。")
        rows.append({"id": indicator["id"], "name": indicator.get("name"), "unit": indicator.get("unit") or "",
                     "value": value, "level": level, "targets": targets(indicator)})
    return rows, missing, assessed


def _gaps(assessed: list[tuple[dict, Any]], target_level: int, notes: list[str],
          recommend: Recommend | None) -> list[dict]:
    gaps: list[dict] = []
    for indicator, level in assessed:
        if _at_least(level, target_level):
            continue
        goal = target_level
        if target_of(indicator, goal) is None and not is_qualitative(indicator):
            better = [k for k in LEVELS if k <= goal and target_of(indicator, k) is not None]
            if not better:
                notes.append(f"「{indicator['name']}」的{LEVEL_NAMES[target_level]}基准值未收录，未列出差距。")
                continue
            goal = max(better)
            if _at_least(level, goal):
                continue
        gaps.append({"indicator": indicator["id"], "target_level": goal, "needed": needed(indicator, goal),
                     "technologies": recommend(indicator, LEVEL_NAMES[goal]) if recommend else []})
    return gaps


def assess(spec_doc: dict, values: dict, *, target_level: int | None = None,
           recommend: Recommend | None = None) -> dict:
    """Assess values against one spec (see the module docstring for the rule).

    `recommend(indicator, target_level_text)` returns technologies [{id, title, reasons}] for a gap;
    without it, gaps carry no technologies.
    """
    values = check_values(spec_doc, values)
    indicators = list(spec_doc.get("indicators") or [])
    notes: list[str] = []
    rows, missing, assessed = _rows(indicators, values, notes)

    weighted = _weighted(indicators)
    thresholds, own_rule = thresholds_of(spec_doc)
    not_applicable = {key for key, value in values.items() if value == NOT_APPLICABLE}
    decision = _decision(spec_doc, assessed, weighted, thresholds, not_applicable)
    scores = None
    if assessed and weighted:   # compared unrounded (up to float noise); reported rounded to 2 decimals
        scores = {k: round(v, 2) for k, v in _scores(assessed).items()}
    overall = _overall(decision, assessed, scores, missing, indicators, not_applicable)
    _whole_notes(spec_doc, indicators, missing, assessed, weighted, decision["coverage"], notes)

    if target_level is None and assessed:
        target_level = _default_target(overall["level"], decision["possible"])
    gaps = _gaps(assessed, target_level, notes, recommend) if target_level is not None else []
    return {
        "spec": spec_status(spec_doc),
        "indicators": rows,
        "overall": overall,
        "coverage": decision["coverage"],
        "gaps": gaps,
        "rule": _rule(weighted, thresholds, own_rule),
        "notes": notes,
    }


def _decision(spec_doc: dict, assessed: list[tuple[dict, Any]], weighted: bool, thresholds: dict[int, float],
              not_applicable: set[str]) -> dict:
    """The level the data decide (or bound) and the coverage that limits it (kb/assess_coverage.py)."""
    decision = (weighted_coverage(spec_doc, assessed, thresholds, not_applicable) if weighted
                else unweighted_coverage(spec_doc, assessed, not_applicable))
    decision["coverage"]["text"] = coverage_text(decision["coverage"])
    return decision


def _overall(decision: dict, assessed: list[tuple[dict, Any]], scores: dict[str, float] | None,
             missing: list[str], indicators: list[dict], not_applicable: set[str]) -> dict:
    """The overall result: the level when it is certain, else 数据不足 with the reasons and the bounds."""
    coverage = decision["coverage"]
    overall_level = decision["level"] if assessed else None
    decided = overall_level is not None
    partial = coverage["entered_pct"] is None or coverage["entered_pct"] < 100
    score = None
    if scores is not None and decided and not partial:
        score = scores[str(overall_level)] if isinstance(overall_level, int) else scores["3"]
    return {
        "level": overall_level, "score": score, "scores": scores, "missing": missing,
        "not_applicable": [i["id"] for i in indicators if i["id"] in not_applicable],
        "status": "已判定" if decided else INSUFFICIENT,
        "level_name": LEVEL_NAMES[overall_level] if decided else INSUFFICIENT,
        "reasons": [] if decided or not assessed else list(coverage["limitations"]),
        "partial": partial,
        "bounds": decision["bounds"],
        "best_possible": decision["possible"],
        "at_least": decision["at_least"],
        "scores_label": (PARTIAL_SCORES_TEXT if partial else "综合评价指数（整个指标体系）") if scores else None,
    }


def _whole_notes(spec_doc: dict, indicators: list[dict], missing: list[str], assessed: list[tuple[dict, Any]],
                 weighted: bool, coverage: dict, notes: list[str]) -> None:
    """Notes about the assessment as a whole, after the per-indicator ones (an incomplete entry first of all)."""
    if not assessed:
        notes.append("没有可评价的指标：请至少填写一项有基准值的指标。")
    absent = [i["name"] for i in indicators if per_n(i.get("weight")) is not None and i["id"] in missing]
    n_given = sum(1 for i in indicators if per_n(i.get("weight")) is not None) - len(absent)
    if absent and weighted and n_given:
        notes.append(f"按「/n」计权的指标只计入填写了的 {n_given} 项，n = {n_given}"
                     f"（未填写的视为不涉及：{'、'.join(absent)}）。")
    if coverage["entry_complete"] is not True:
        notes.insert(0, "本标准条目只收录了指标体系的一部分：" + coverage["text"])
    status_note = _status_note(spec_doc)
    if status_note:
        notes.append(status_note)


def _default_target(overall_level: int | str | None, possible: int | None) -> int:
    """The level to list gaps for when none is asked: one better than the level reached (Ⅰ stays Ⅰ);
    below Ⅲ: Ⅲ; undecided: one better than the best level still possible."""
    if isinstance(overall_level, int):
        return {1: 1, 2: 1, 3: 2}.get(overall_level, 3)
    return 3 if overall_level == BELOW else {1: 1, 2: 1, 3: 2}.get(possible, 1)


def _scores(assessed: list[tuple[dict, int | str]]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for indicator, _ in assessed:
        raw = indicator.get("weight")
        if per_n(raw) is not None:
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
                "text": text + " Y 按整个指标体系计算，未填写的指标不能算作达到。",
                "verify": "阈值取自标准条目的 levels 字段，请与原文核对。"}
    return {"method": "weighted", "source": "default", "thresholds": {str(k): thresholds[k] for k in LEVELS},
            "text": DEFAULT_RULE_TEXT + "Y 按整个指标体系计算：只有无论未填写的指标取值如何都能确定的级别才给出，否则为数据不足。",
            "verify": VERIFY_TEXT}


# -- the request: sector, spec, values → assessment with technologies ---------------------------

def spec_docs(kb, *, assessable_only: bool = True) -> list[dict]:
    docs = [row.as_dict() for row in kb.store.all("spec")]
    return [d for d in docs if assessable(d)] if assessable_only else docs


def assessable(spec_doc: dict) -> bool:
    """Whether a spec can assess anything: some indicator states a Level I/II/III value. A citation-only
    entry (题录: the standard is named and described but its table could not be read) cannot."""
    return any(target_of(i, k) is not None for i in spec_doc.get("indicators") or [] for k in LEVELS)


def superseded(spec_doc: dict) -> bool:
    return spec_doc.get("in_force") is False or bool(spec_doc.get("superseded_by"))


def _replaced_here(spec_doc: dict, docs: list[dict]) -> bool:
    """A superseded spec whose successor can assess (the spec named by `superseded_by`, or, when the entry names
    none in the knowledge base, any assessable spec of the sector not superseded)."""
    if not superseded(spec_doc):
        return False
    successor = spec_doc.get("superseded_by")
    if successor and any(d["id"] == successor for d in docs):
        return any(d["id"] == successor and assessable(d) for d in docs)
    return any(d is not spec_doc and not superseded(d) and assessable(d) for d in docs)


def specs_for_sector(kb, sector: str, *, assessable_only: bool = True) -> list[dict]:
    """The sector's specs, the default first: superseded specs whose successor has values go last, then the
    newest source year first (then id)."""
    every = [d for d in spec_docs(kb, assessable_only=False) if sector in (d.get("sectors") or [])]
    docs = [d for d in every if assessable(d)] if assessable_only else every
    return sorted(docs, key=lambda d: (_replaced_here(d, every), -int((d.get("source") or {}).get("year") or 0),
                                       d["id"]))


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


GENERIC_OVERLAP = "问题描述与本技术共同涉及："


def gap_reasons(indicator: dict, level_name: str, technology: dict | None, reasons: list[str]) -> list[str]:
    """Why a technology addresses this gap: the indicator (name, group, what it must reach), the technology's
    process, and the words they share — never the generic problem-text overlap, since the user wrote no problem."""
    own = [f"针对差距指标「{indicator.get('name')}」"
           f"{'（' + indicator['group'] + '）' if indicator.get('group') else ''}：目标{level_name}，需 {needed_text(indicator, level_name)}"]
    for reason in reasons:
        if reason.startswith(GENERIC_OVERLAP):
            own.append(f"本技术与该指标共同涉及：{reason[len(GENERIC_OVERLAP):]}")
    process = (technology or {}).get("process")
    if process:
        own.append(f"本技术作用的工序：{process}")
    benefits = [b.get("indicator") for b in (technology or {}).get("benefits") or [] if b.get("indicator")]
    if benefits:
        own.append(f"来源报道的成效指标：{'、'.join(dict.fromkeys(benefits))}")
    return own + [r for r in reasons if not r.startswith(GENERIC_OVERLAP)]


def needed_text(indicator: dict, level_name: str) -> str:
    level = next((k for k, name in LEVEL_NAMES.items() if name == level_name and isinstance(k, int)), None)
    return needed(indicator, level) if level else level_name


def technology_finder(kb, sector: str, limit: int = 3) -> Recommend:
    """Gap → technologies ranked by the recommender (indicator name and group as the problem text), each with
    the reasons it addresses that indicator."""
    def find(indicator: dict, level_name: str) -> list[dict]:
        from .recommend.profile import ProfileError, parse_profile

        group = (indicator.get("group") or "").removesuffix("指标")   # "指标" would match every catalogue text
        problem = " ".join(p for p in (indicator.get("name"), group) if p)
        try:
            profile = parse_profile({"sector": sector, "problem": problem, "limit": limit}, kb.taxonomy)
            results = kb.recommender().recommend(profile)["results"]
        except ProfileError:
            return []
        return [{"id": r["id"], "title": r["title"],
                 "reasons": gap_reasons(indicator, level_name, kb.document(r["id"]), r["reasons"])} for r in results]
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
