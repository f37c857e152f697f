"""The tables a cleaner-production audit report needs in its 方案产生和筛选 chapter, built from stored entries.

A consultant shortlists technologies and cases, compares them on the fields that decide, and pastes
备选方案汇总表, the comparison table and the reference list into the report. This module builds those
tables as plain data (`AuditTables`), shared by the compare page, the JSON API and the Excel/Word writers
in `kb/report_files.py`. Missing values are the word 未给出, never a blank or a guess.

Nothing here knows about the web: links come from a `url_of(doc_id)` callback.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .schemas import ID_RE

MISSING = "未给出"
MAX_IDS = 50                       # a shortlist longer than this is a search result, not a shortlist
COMPARE_MIN, COMPARE_MAX = 2, 6
MAX_CASES = 5                      # cases cited per technology in the tables

# Benefits about energy, water or materials (what the plant saves), as against emissions (what it stops
# releasing). Read from the indicator name and unit; everything else counts as environmental benefit.
_RESOURCE = re.compile(r"节能|节电|节煤|节汽|节水|电耗|能耗|煤耗|气耗|汽耗|水耗|用水|耗水|取水|新鲜水|回用|"
                       r"蒸汽|发电|余热|标煤|标准煤|tce|kWh|kwh|千瓦时|原料|物料|材料|药剂|利用率|回收率|回收量|"
                       r"节约|降耗|消耗|燃料")
_ECONOMIC = re.compile(r"效益|收益|利润|节约|节省|节支|创效|降本|费用|成本")
_MONEY_UNIT = re.compile(r"元")
_OPERATING = re.compile(r"[^，,。；;\n]*(?:运行费用|运行成本|运行费|运营成本|运行电耗费)[^，,。；;\n]*")
_CASE_ECONOMIC = re.compile(r"(?:效益|节约|节省|节支|收益|创效|增收|降本|减少.*费用)[^。；]*元|元[^。；]*(?:效益|收益)")
_CROSS_MEDIA_HEADINGS = ("跨介质影响", "跨介质效应", "二次污染", "环境副作用")
_GENERIC_BIGRAMS = {"技术", "系统", "改造", "工艺", "装置", "设备", "方案", "项目", "工程", "利用", "回收", "处理"}


class ReportError(ValueError):
    """Bad ids for a shortlist, comparison or export; `details` name the field and the id."""

    def __init__(self, message: str, details: list[dict], status: int = 400):
        super().__init__(message)
        self.message, self.details, self.status = message, details, status


# ------------------------------------------------------------------------------------ ids


def parse_ids(raw: str | Iterable[Any] | None, field_name: str = "ids", limit: int = MAX_IDS,
              split: bool = True) -> list[str]:
    """Ids from "a,b,c" (or repeated parameters; with split=False a JSON list of single ids), in order,
    without repeats. Every malformed id and the limit are reported with the field, never silently dropped."""
    if raw is None:
        items: list[Any] = []
    elif isinstance(raw, str):
        items = [raw]
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        raise ReportError("ids 必须是 id 列表", [{"field": field_name, "message": "应为字符串数组或逗号分隔的 id"}])
    ids: list[str] = []
    details: list[dict] = []
    for item in items:
        if not isinstance(item, str):
            details.append({"field": field_name, "message": f"id 必须是字符串，收到 {type(item).__name__}"})
            continue
        for part in (re.split(r"[,，\s]+", item) if split else [item]):
            if not part and split:
                continue
            if not ID_RE.match(part):
                details.append({"field": field_name, "message": f"「{part[:60]}」不是有效的 id（小写字母、数字和连字符）"})
            elif part not in ids:
                ids.append(part)
    if len(ids) > limit:
        details.append({"field": field_name, "message": f"最多 {limit} 个 id，收到 {len(ids)} 个"})
    if details:
        raise ReportError("id 有误", details)
    return ids


def load_documents(kb, ids: list[str], field_name: str = "ids", status_unknown: int = 400) -> list[dict]:
    """The stored entries for `ids`, in order; unknown ids are an error that names each of them."""
    rows = kb.store.get_many(ids)
    unknown = [i for i in ids if i not in rows]
    if unknown:
        raise ReportError(f"知识库中没有这些条目：{'、'.join(unknown)}",
                          [{"field": field_name, "message": f"没有 id 为「{i}」的条目"} for i in unknown],
                          status=status_unknown)
    docs = []
    for doc_id in ids:
        data = rows[doc_id].as_dict()
        data["body_markdown"] = rows[doc_id].body
        docs.append(data)
    return docs


# ------------------------------------------------------------------------------------ fields


def body_section(markdown: str, heading: str) -> str | None:
    """The text under `## heading` in an entry's body, up to the next `## `; None when absent or empty."""
    match = re.search(rf"^##\s*{re.escape(heading)}\s*$(.*?)(?=^##\s|\Z)", markdown or "", re.M | re.S)
    text = match.group(1).strip() if match else ""
    return text or None


def benefit_text(b: dict) -> str:
    text = f"{b.get('indicator')}：{b.get('value')}{(' ' + b['unit']) if b.get('unit') else ''}"
    return f"{text}（{b['basis']}）" if b.get("basis") else text


def is_resource_benefit(b: dict) -> bool:
    return bool(_RESOURCE.search(f"{b.get('indicator', '')} {b.get('unit', '')}"))


def is_economic_benefit(b: dict) -> bool:
    return bool(_ECONOMIC.search(str(b.get("indicator", ""))) and _MONEY_UNIT.search(f"{b.get('unit', '')}{b.get('value', '')}"))


def _bigrams(text: str) -> set[str]:
    han = re.sub(r"[^\u4e00-\u9fff]", " ", text)
    return {w[i:i + 2] for w in han.split() for i in range(len(w) - 1)} - _GENERIC_BIGRAMS


def linked_options(technology: dict, case: dict) -> list[dict]:
    """The options of a case that put `technology` in place: the case names the technology as used, and
    the option's name shares at least two characteristic two-character words with the technology's title
    (or the case used only this technology and reported one classified option)."""
    if technology["id"] not in (case.get("technologies") or []):
        return []
    options = [o for o in case.get("options") or [] if o.get("cost_class") in ("无/低费", "中/高费")]
    title = _bigrams(technology.get("title", "") + " " + " ".join(technology.get("tags") or []))
    linked = [o for o in options if len(_bigrams(o.get("name", "")) & title) >= 2]
    if not linked and len(case.get("technologies") or []) == 1:
        named = [o for o in options if "未列名称" not in o.get("name", "")]
        if len(named) == 1:
            linked = named
    return linked


def cost_class(technology: dict, cases: list[dict]) -> str | None:
    """无/低费 or 中/高费 as the cases that used the technology classed it; both when they disagree."""
    found: dict[str, list[str]] = {}
    for case in cases:
        for option in linked_options(technology, case):
            found.setdefault(option["cost_class"], []).append(case["id"])
    if not found:
        return None
    return "；".join(f"{cls}（{len(set(ids))} 个案例）" for cls, ids in sorted(found.items()))


def source_of(meta: dict | None) -> dict[str, Any]:
    meta = meta or {}
    return {k: meta.get(k) for k in ("kind", "title", "issuer", "year", "number", "url", "origin", "confidence", "via")}


def source_line(source: dict) -> str:
    parts = [source.get("title"), source.get("issuer"), source.get("number"), source.get("year")]
    return "，".join(str(p) for p in parts if p not in (None, "")) or MISSING


def _amount(text: str | None, number: Any, unit: str) -> str | None:
    if text:
        return str(text)
    if number is not None:
        return f"{number} {unit}"
    return None


@dataclass
class TechnologyProfile:
    """One technology on the fields that decide, as the compare page and the exports show them."""
    id: str
    title: str
    type: str
    principle: str | None                 # Markdown of the body section 技术原理 (render it sanitised)
    processes: str | None
    applicability: str | None
    environmental: list[str]
    resources: list[str]
    economic: list[str]
    cross_media: str | None
    investment: str | None
    operating_cost: str | None
    payback: str | None
    maturity: str | None
    cost_class: str | None
    cases: list[dict]
    source: dict[str, Any]
    summary: str | None
    category: str | None
    url: str | None = None


def technology_profile(doc: dict, cases: list[dict], url_of: Callable[[str], str] | None = None) -> TechnologyProfile:
    """`cases`: every case in the knowledge base that names this technology as used."""
    benefits = doc.get("benefits") or []
    body = doc.get("body_markdown") or ""
    cross = next((s for s in (body_section(body, h) for h in _CROSS_MEDIA_HEADINGS) if s), None)
    texts = [doc.get("investment") or "", doc.get("payback") or "",
             *(b.get("basis") or "" for b in benefits), body_section(body, "主要技术指标") or ""]
    operating = [m.group(0).strip(" -*，,") for t in texts for m in _OPERATING.finditer(t)]
    used = [c for c in cases if doc["id"] in (c.get("technologies") or [])]
    return TechnologyProfile(
        id=doc["id"], title=doc["title"], type=doc.get("type", "technology"),
        principle=body_section(body, "技术原理"),
        processes=doc.get("process"), applicability=doc.get("applicability"),
        environmental=[benefit_text(b) for b in benefits if not is_resource_benefit(b) and not is_economic_benefit(b)],
        resources=[benefit_text(b) for b in benefits if is_resource_benefit(b) and not is_economic_benefit(b)],
        economic=[benefit_text(b) for b in benefits if is_economic_benefit(b)],
        cross_media=cross,
        investment=_amount(doc.get("investment"), doc.get("investment_wan"), "万元"),
        operating_cost="；".join(dict.fromkeys(operating)) or None,
        payback=_amount(doc.get("payback"), doc.get("payback_years"), "年"),
        maturity=doc.get("maturity"),
        cost_class=cost_class(doc, used),
        cases=[{"id": c["id"], "title": c["title"], "region": c.get("region"), "year": c.get("year"),
                "url": url_of(c["id"]) if url_of else None} for c in sorted(used, key=lambda c: -(c.get("year") or 0))],
        source=source_of(doc.get("source")), summary=doc.get("summary"), category=doc.get("category"),
        url=url_of(doc["id"]) if url_of else None,
    )


# The comparison's rows: (key, label). The page, the API and both files use this one list.
COMPARE_FIELDS: tuple[tuple[str, str], ...] = (
    ("principle", "技术原理"), ("processes", "适用工序/环节"), ("applicability", "适用范围"),
    ("environmental", "环境效益"), ("resources", "能源/水/物料效果"), ("cross_media", "跨介质影响"),
    ("investment", "投资"), ("operating_cost", "运行费用"), ("payback", "投资回收期"), ("maturity", "成熟度"),
    ("cost_class", "费用类别"), ("cases", "应用案例"), ("source", "来源"), ("origin", "来源类型"),
    ("confidence", "可信度"),
)


def cell_text(profile: TechnologyProfile, key: str) -> str:
    """A comparison cell as plain text; 未给出 when the entry does not say."""
    if key == "cases":
        value = "；".join(f"{c['title']}（{c['region'] or ''}{c['year'] or ''}）" for c in profile.cases[:MAX_CASES])
        if len(profile.cases) > MAX_CASES:
            value += f" 等 {len(profile.cases)} 个"
    elif key == "source":
        value = source_line(profile.source)
        if profile.source.get("url"):
            value += f"，{profile.source['url']}"
    elif key in ("origin", "confidence"):
        value = profile.source.get(key)
    else:
        value = getattr(profile, key)
        if isinstance(value, list):
            value = "；".join(value)
    return str(value) if value not in (None, "", [], MISSING) else MISSING


# ------------------------------------------------------------------------------------ tables


@dataclass
class AuditTables:
    """What an export holds: 备选方案汇总表, the comparison of its technologies and the reference list."""
    title: str
    summary_columns: tuple[str, ...]
    summary: list[dict[str, str]]
    comparison: list[TechnologyProfile]
    references: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def comparison_rows(self) -> list[dict[str, Any]]:
        """The comparison with one row per field: {"field", "label", "values": [one per technology]}."""
        return [{"field": key, "label": label, "values": [cell_text(p, key) for p in self.comparison]}
                for key, label in COMPARE_FIELDS]

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "summary": {"columns": list(self.summary_columns), "rows": self.summary},
            "comparison": {"technologies": [{"id": p.id, "title": p.title, "url": p.url} for p in self.comparison],
                           "rows": self.comparison_rows()},
            "references": self.references,
            "notes": self.notes,
        }


SUMMARY_COLUMNS = ("编号", "方案名称", "类型", "主要内容", "投资", "预计年经济效益", "环境效益", "参考案例", "来源")


def _case_row(doc: dict) -> dict[str, str]:
    options = doc.get("options") or []
    classes = sorted({o["cost_class"] for o in options if o.get("cost_class") in ("无/低费", "中/高费")})
    content = doc.get("summary") or "；".join(o["name"] for o in options[:5]) or "；".join(doc.get("results") or [])
    money = [r for r in doc.get("results") or [] if _CASE_ECONOMIC.search(r)]
    environmental = [r for r in doc.get("results") or [] if r not in money]
    return {
        "方案名称": doc["title"],
        "类型": "案例" + (f"（{doc['kind']}）" if doc.get("kind") else "") + (f"：{'、'.join(classes)}" if classes else ""),
        "主要内容": content or MISSING,
        "投资": f"{doc['investment_wan']} 万元" if doc.get("investment_wan") is not None else MISSING,
        "预计年经济效益": "；".join(money) or MISSING,
        "环境效益": "；".join(environmental) or MISSING,
        "参考案例": f"{doc.get('enterprise', '')}（{doc.get('region', '')}，{doc.get('year', '')}）",
    }


def _technology_row(p: TechnologyProfile) -> dict[str, str]:
    kind = f"技术·{p.category}" if p.category else "技术"
    return {
        "方案名称": p.title,
        "类型": f"{kind}（{p.cost_class or '费用类别' + MISSING}）",
        "主要内容": p.summary or MISSING,
        "投资": p.investment or MISSING,
        "预计年经济效益": "；".join(p.economic) or MISSING,
        "环境效益": "；".join(p.environmental + p.resources) or MISSING,
        "参考案例": cell_text(p, "cases"),
    }


def _spec_row(doc: dict) -> dict[str, str]:
    return {"方案名称": doc["title"], "类型": "标准（对标依据）",
            "主要内容": doc.get("summary") or f"{doc.get('standard', '')} {doc.get('number') or ''}".strip(),
            "投资": MISSING, "预计年经济效益": MISSING, "环境效益": MISSING, "参考案例": MISSING}


def _reference(source: dict, cited_by: str) -> dict[str, Any]:
    return {"title": source.get("title") or MISSING, "issuer": source.get("issuer") or MISSING,
            "number": source.get("number") or MISSING, "year": source.get("year") or MISSING,
            "url": source.get("url") or MISSING, "origin": source.get("origin") or MISSING,
            "confidence": source.get("confidence") or MISSING, "cited_by": [cited_by]}


def _sources_of(doc: dict) -> list[dict]:
    """Every place an entry's figures were read: its source, per-benefit, investment and payback sources."""
    found = [doc.get("source")] + [b.get("source") for b in doc.get("benefits") or []]
    found += [doc.get("investment_source"), doc.get("payback_source")]
    return [s for s in found if s]


def build_tables(kb, docs: list[dict], title: str = "备选方案", url_of: Callable[[str], str] | None = None) -> AuditTables:
    """The audit tables for the entries `docs` (as `load_documents` returns them), in their order."""
    technologies = [d for d in docs if d.get("type") == "technology"]
    using: dict[str, list[dict]] = {}
    if technologies:
        wanted = {d["id"] for d in technologies}
        for row in kb.store.all("case", body=False):
            meta = row.as_dict()
            for tech_id in set(meta.get("technologies") or []) & wanted:
                using.setdefault(tech_id, []).append(meta)
    profiles = {d["id"]: technology_profile(d, using.get(d["id"], []), url_of) for d in technologies}

    summary, references = [], {}

    def cite(source: dict, by: str) -> None:
        ref = _reference(source, by)
        key = (ref["title"], ref["issuer"], ref["number"], ref["year"], ref["url"])
        if key in references:
            if by not in references[key]["cited_by"]:
                references[key]["cited_by"].append(by)
        else:
            references[key] = ref

    for n, doc in enumerate(docs, start=1):
        if doc["type"] == "technology":
            row = _technology_row(profiles[doc["id"]])
        elif doc["type"] == "case":
            row = _case_row(doc)
        else:
            row = _spec_row(doc)
        sources = _sources_of(doc)
        row = {"编号": f"F{n}", **row, "来源": "；".join(dict.fromkeys(source_line(s) for s in sources)) or MISSING,
               "id": doc["id"], "url": url_of(doc["id"]) if url_of else None}
        summary.append(row)
        for s in sources:
            cite(s, doc["title"])
    cited_cases = {c["id"] for p in profiles.values() for c in p.cases[:MAX_CASES]} - {d["id"] for d in docs}
    if cited_cases:
        for case_id, case_row in sorted(kb.store.get_many(sorted(cited_cases)).items()):
            cite(source_of(case_row.meta.get("source")), case_row.title)
    notes = []
    if not technologies:
        notes.append("所选条目中没有技术，比较表为空。")
    return AuditTables(title=title, summary_columns=SUMMARY_COLUMNS, summary=summary,
                       comparison=list(profiles.values()), references=list(references.values()), notes=notes)
