"""清洁生产水平自评: POST /api/assess and the /assess page (a GET form, results as server-rendered bars)."""
from __future__ import annotations

import io

from flask import Blueprint, jsonify, redirect, render_template, request, send_file, url_for

from kb.assess import LEVEL_NAMES, AssessError, fmt, is_qualitative, run, specs_for_sector
from kb.assess_values import NOT_APPLICABLE

from .context import BadRequest, json_object, knowledge

bp = Blueprint("assess", __name__)


@bp.app_template_filter("percent_step")
def percent_step(pct: float) -> int:
    """A percentage as the half-percent step of the CSS classes w-N / at-N in static/assess.css
    (positions are classes because the Content-Security-Policy allows no inline style)."""
    return max(0, min(200, round(float(pct) * 2)))


@bp.post("/api/assess")
def api_assess():
    try:
        return jsonify(run(knowledge(), json_object()))
    except AssessError as exc:
        raise BadRequest(exc.message, exc.details)


def _form_value(indicator: dict, raw: str) -> str:
    """A form field → the API value: the text as typed (number strings are read by the validation, which
    names the field when they are not numbers)."""
    return raw.strip()


def _page_state(kb) -> dict:
    """The /assess query (sector, spec, v.<id>, run, target_level) → what the page and the workbook show."""
    from kb.assess import choose_spec

    sector_name = request.args.get("sector", "").strip()
    spec_id = request.args.get("spec", "").strip()
    state: dict = {"sector": None, "sector_name": sector_name, "spec": None, "specs": [], "result": None,
                   "form": {}, "errors": [], "target_level": request.args.get("target_level", "")}
    if sector_name:
        try:
            sector, _ = choose_spec(kb, sector_name)
            specs = specs_for_sector(kb, sector)
            if spec_id and spec_id not in [d["id"] for d in specs]:
                spec_id = ""     # a spec of the sector chosen before: the new sector's default instead
            state.update(sector=sector, specs=specs, spec=choose_spec(kb, sector, spec_id or None)[1])
        except AssessError as exc:
            state["errors"] = exc.details
    spec = state["spec"]
    if spec is not None:
        indicators = spec.get("indicators") or []
        form = {i["id"]: request.args.get(f"v.{i['id']}", "") for i in indicators}
        state["form"] = form
        if request.args.get("run"):
            values = {i["id"]: _form_value(i, form[i["id"]]) for i in indicators if form[i["id"]].strip()}
            data = {"sector": state["sector"], "spec": spec["id"], "values": values}
            target = state["target_level"]
            if target:
                data["target_level"] = int(target) if target in ("1", "2", "3") else target
            try:
                state["result"] = run(kb, data)
            except AssessError as exc:
                state["errors"] = exc.details
    return state


@bp.get("/assess")
def page():
    kb = knowledge()
    state = _page_state(kb)
    download = url_for("assess.workbook", **request.args) if state["result"] else None
    return render_template("assess.html", sectors=_sectors_with_specs(kb), citations=_citation_only_specs(kb),
                           chart=chart_rows, LEVEL_NAMES=LEVEL_NAMES, fmt=fmt, tv=target_text, download=download,
                           **state)


@bp.get("/assess.xlsx")
def workbook():
    """The assessment of the same query as an Excel workbook; without a result, back to the page to show why."""
    from kb.assess_workbook import XLSX_MIME, assessment_workbook

    kb = knowledge()
    state = _page_state(kb)
    if state["result"] is None:
        return redirect(url_for("assess.page", **request.args))
    data = assessment_workbook(state["spec"], state["result"], sector=state["sector"],
                               url_of=lambda doc_id: url_for("pages.document", doc_id=doc_id, _external=True))
    name = f"清洁生产水平自评-{state['sector']}-{state['spec']['id']}.xlsx"
    return send_file(io.BytesIO(data), mimetype=XLSX_MIME, as_attachment=True, download_name=name)


@bp.get("/assess/spec-template.xlsx")
def spec_template():
    """The blank indicator table for `kb import --type spec`, with the 电镀 example sheet from this knowledge base."""
    from kb.spec_template import EXAMPLE_SPEC, TEMPLATE_NAME, XLSX_MIME, template_workbook

    example = knowledge().document(EXAMPLE_SPEC)
    data = template_workbook(example)
    return send_file(io.BytesIO(data), mimetype=XLSX_MIME, as_attachment=True, download_name=TEMPLATE_NAME)


def target_text(indicator: dict, level: int) -> str:
    value = indicator.get(f"level_{level}")
    return "—" if value is None or value == "" else fmt(value)


def _sectors_with_specs(kb) -> list[str]:
    from kb.assess import spec_docs

    have = {s for d in spec_docs(kb) for s in d.get("sectors") or []}
    return [name for name in kb.taxonomy.names if name in have]


def _citation_only_specs(kb) -> list[dict]:
    """Specs listed by name only, so a user of a sector without values learns which standard applies."""
    from kb.assess import assessable, spec_docs

    docs = [d for d in spec_docs(kb, assessable_only=False) if not assessable(d)]
    order = {name: i for i, name in enumerate(kb.taxonomy.names)}
    return sorted(docs, key=lambda d: (min(order.get(s, 99) for s in d.get("sectors") or ["?"]), d["id"]))


def chart_rows(spec: dict, result: dict) -> list[dict]:
    """Each assessed indicator on one scale with its Level I/II/III marks, as percentages for CSS bars.

    The scale runs from 0 to 1.25 × the largest of the value and the three targets, so the marks and
    the bar never touch the edge; 定性 indicators are drawn as steps (Ⅲ = 1 … Ⅰ = 3)."""
    by_id = {i["id"]: i for i in spec.get("indicators") or []}
    rows = []
    for row in result["indicators"]:
        indicator = by_id.get(row["id"], {})
        if row["value"] is None or row["value"] == NOT_APPLICABLE:
            continue
        marks = []
        if is_qualitative(indicator):
            steps = {1: 3, 2: 2, 3: 1, "below": 0}
            top = 3.75
            value = steps.get(row["value"], 0)
            for k in (1, 2, 3):
                marks.append({"level": k, "pct": round(100 * steps[k] / top, 2), "label": LEVEL_NAMES[k]})
            shown = "自评" + LEVEL_NAMES.get(row["value"], str(row["value"]))
        else:
            numbers = [t for t in row["targets"].values() if isinstance(t, (int, float))]
            top = max([row["value"], *numbers, 0]) * 1.25 or 1
            value = row["value"]
            for k in (1, 2, 3):
                t = row["targets"][str(k)]
                if isinstance(t, (int, float)):
                    marks.append({"level": k, "pct": round(100 * max(t, 0) / top, 2), "label": f"{LEVEL_NAMES[k]} {fmt(t)}"})
            shown = f"{fmt(row['value'])} {row['unit'] or ''}".strip()
        rows.append({"id": row["id"], "name": row["name"], "unit": row["unit"], "shown": shown,
                     "direction": indicator.get("direction"), "limiting": bool(indicator.get("limiting")),
                     "pct": round(100 * max(value, 0) / top, 2), "marks": marks, "level": row["level"],
                     "level_name": LEVEL_NAMES.get(row["level"], "无法判定")})
    return rows


def request_schema(kb) -> dict | None:
    """The POST /api/assess body as this knowledge base accepts it: one alternative per spec, listing the
    sector names (with aliases) it answers for and its indicator ids with their value types, so that every
    request the published contract allows is one the endpoint accepts. None when there is no spec at all."""
    from kb.assess import _CHOICES, spec_docs, specs_for_sector
    from kb.assess_values import is_percentage

    docs = spec_docs(kb)
    if not docs:
        return None
    names_of: dict[str, list[str]] = {}
    for sector in kb.taxonomy.sectors:
        names_of[sector.name] = sorted({sector.name, *sector.subsectors, *sector.aliases})
    branches = []
    for doc in sorted(docs, key=lambda d: d["id"]):
        for sector in doc.get("sectors") or []:
            default = specs_for_sector(kb, sector)[0]["id"] == doc["id"]
            values = {}
            for indicator in doc.get("indicators") or []:
                if is_qualitative(indicator):
                    texts = [indicator.get(f"level_{k}") for k in (1, 2, 3)]
                    choices = [1, 2, 3, *_CHOICES, *[t for t in texts if isinstance(t, str) and t.strip()]]
                    values[indicator["id"]] = {"enum": list(dict.fromkeys(choices)),
                                               "description": f"{indicator.get('name')}（定性）：达到的级别或该级别原文"}
                else:
                    bounds = {"minimum": 0, **({"maximum": 100} if is_percentage(indicator) else {})}
                    values[indicator["id"]] = {"type": "number", **bounds,
                                               "description": f"{indicator.get('name')}（{indicator.get('unit') or '无单位'}）"}
            branches.append({
                "type": "object",
                "required": ["sector", "values"] + ([] if default else ["spec"]),
                "properties": {
                    "sector": {"type": "string", "enum": names_of.get(sector, [sector])},
                    "spec": {"type": "string", "enum": [doc["id"]]},
                    "values": {"type": "object", "properties": values, "additionalProperties": False,
                               "minProperties": 1},
                    "target_level": {"type": "integer", "enum": [1, 2, 3]},
                },
                "additionalProperties": False,
            })
    return {"anyOf": branches}
