"""Server-rendered pages in Chinese; each renders the same objects its API twin returns."""
from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from kb.render import FACET_LABELS, TYPE_NAMES
from kb.schemas import CASE_KINDS
from kb.search.engine import SearchRequest
from kb.stats import FIELD_NAMES
from kb.taxonomy import UnknownSector

from .context import FILTER_PARAMS, BadRequest, knowledge, search_request
from .editors import signed_in_editor
from .links import SearchLinks
from .render import render_markdown

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def helpers():
    # EDITING_ON: the 编辑 nav item is shown only where editing is configured
    return {"TYPE_NAMES": TYPE_NAMES, "FACET_NAMES": FACET_LABELS,
            "EDITING_ON": bool(knowledge().settings.editor_token)}


def _links() -> SearchLinks:
    return SearchLinks(request.args.items(multi=True), url_for("pages.search"),
                       {fmt: url_for("pages.export", fmt=fmt) for fmt in ("csv", "xlsx")})


def _active_filters() -> list[tuple[str, str]]:
    """The facet filters of this request, as (parameter, value)."""
    return [(k, v) for k, v in request.args.items(multi=True) if k in FILTER_PARAMS and v]


@bp.app_template_filter("unit")
def unit(text: str) -> str:
    """Units written one way on every page: m² and m³, not m2, ㎡ or m3."""
    return str(text).replace("㎡", "m²").replace("m2", "m²").replace("m3", "m³")


@bp.get("/")
def index():
    kb = knowledge()
    overview = kb.overview()
    # real audit cases first (newest first), then retrofit reports and programmes
    cases = sorted(overview.recent_cases, key=lambda c: c.get("kind") != "清洁生产审核")
    return render_template("index.html", sectors=kb.taxonomy.sectors, overview=overview,
                           recent_cases=cases[:8])


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says; the icon is one static SVG."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/coverage")
def coverage():
    """收录情况: entries per sector and what is still missing (for editors and the curious, not the home page)."""
    return render_template("coverage.html", overview=knowledge().overview(), FIELD_NAMES=FIELD_NAMES)


@bp.get("/export.<fmt>")
def export(fmt: str):
    """What /search with the same parameters finds, every page of it, as CSV or Excel."""
    from urllib.parse import quote

    from kb.export import export_rows, to_csv, to_xlsx

    if fmt not in ("csv", "xlsx"):
        abort(404)
    req = search_request(require_query=False)
    if not req.text and not _active_filters():
        raise BadRequest("请给出检索词或筛选条件", [{"field": "q", "message": "导出需要检索词 q 或至少一个筛选条件"}])
    # the address of each entry: KB_BASE_URL + path when configured, else the path alone; never the
    # request's Host header, which any client sets (a forged Host would plant its own links in the file)
    base_url = knowledge().settings.base_url or ""
    rows = export_rows(knowledge(), req, url_of=lambda doc_id: base_url + url_for("pages.document", doc_id=doc_id))
    if fmt == "csv":
        body, content_type = to_csv(rows).encode("utf-8"), "text/csv; charset=utf-8"
    else:
        body, content_type = to_xlsx(rows), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = f"清洁生产技术知识库-{req.text or '筛选'}"[:60] + f".{fmt}"
    disposition = f"attachment; filename=kb-export.{fmt}; filename*=UTF-8''{quote(name)}"
    return Response(body, content_type=content_type, headers={"Content-Disposition": disposition})


@bp.get("/search")
def search():
    req = search_request(require_query=False)
    active = _active_filters()
    links = _links()
    if not req.text and not active:        # filters alone browse (e.g. every 江苏 case, newest first)
        return render_template("search.html", response=None, req=req, active=active, url_with=links.url_with,
                               page_url=links.page_url, pages=0, case_kinds=CASE_KINDS,
                               browse_sectors=knowledge().taxonomy.sectors)
    response = knowledge().search(req)
    pages = (response.total + req.per_page - 1) // req.per_page
    return render_template("search.html", response=response, req=req, active=active, url_with=links.url_with,
                           page_url=links.page_url, pages=pages, export_url=links.export_url)


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    kb = knowledge()
    data = kb.document(doc_id)
    if data is None:
        abort(404)
    overview = kb.overview()
    links = overview.cases_by_technology.get(doc_id, []) if data["type"] == "technology" else []
    used_in = [c for c in links if not c["related"]]
    associated_cases = [c for c in links if c["related"]]
    uses = [{"id": t, "title": overview.titles.get(t, t)} for t in data.get("technologies", [])]
    associated = [{"id": t, "title": overview.titles.get(t, t)} for t in data.get("related_technologies", [])]
    # 相关内容 leaves out what the page already lists (a case under 采用本技术的案例 is not shown twice)
    listed = {doc_id, *(c["id"] for c in links), *(t["id"] for t in uses), *(t["id"] for t in associated)}
    related = [h for h in kb.search(SearchRequest(text=data["title"], per_page=min(6 + len(listed), 50), highlight=False)).hits
               if h.id not in listed][:5]
    notes = data.pop("editor_notes", None)
    if isinstance(notes, str):
        notes = [notes]
    can_edit = signed_in_editor()
    editor_notes = notes if notes and can_edit else None
    return render_template("document.html", doc=data, body_html=render_markdown(data["body_markdown"]),
                           editor_notes=editor_notes, can_edit=can_edit,
                           used_in=used_in, uses=uses, related=related,
                           associated=associated, associated_cases=associated_cases)


@bp.get("/sectors/<name>")
def sector(name: str):
    kb = knowledge()
    try:
        canonical = kb.taxonomy.resolve(name)
    except UnknownSector:
        # an address that names no sector is a missing page (404), with the sectors there are, each once
        return render_template("error.html", status=404, message=f"没有「{name[:40]}」这个行业", details=[],
                               sector_links=kb.taxonomy.sectors), 404
    if canonical != name:
        return redirect(url_for("pages.sector", name=canonical))
    rows = [r for r in kb.store.all(body=False) if canonical in r.sectors]
    groups = {t: [r for r in rows if r.type == t] for t in TYPE_NAMES}
    return render_template("sector.html", sector=kb.taxonomy.get(canonical), groups=groups)


@bp.get("/recommend")
def recommend():
    from kb.recommend.profile import ProfileError, parse_profile

    kb = knowledge()
    form = {k: request.args.get(k, "") for k in ("sector", "problem", "focus", "process", "max_investment_wan",
                                                  "max_payback_years", "province")}
    result, errors = None, []
    if form["sector"] or form["problem"]:
        data = {k: v for k, v in form.items() if v}
        if "focus" in data:
            data["focus"] = [f for f in data["focus"].replace("，", ",").replace("、", ",").split(",") if f.strip()]
        for key in ("max_investment_wan", "max_payback_years"):
            if key in data:
                try:
                    data[key] = float(data[key])
                except ValueError:
                    errors.append({"field": key, "message": "必须是数字"})
        recommender = kb.recommender()
        if not errors and data.get("focus"):
            unknown = recommender.unknown_focus(data["focus"])
            if unknown:
                errors.append({"field": "focus", "message": f"未知的关注点「{'、'.join(unknown)}」；可选："
                                                            f"{'、'.join(recommender.focus_choices())}"})
        if not errors:
            from .api import document_url

            try:
                result = recommender.recommend(parse_profile(data, kb.taxonomy), url_of=document_url)
            except ProfileError as exc:
                errors = exc.details
    view = None
    if result is not None:
        from .api import with_case_details
        from .recommend_view import recommend_view

        result = with_case_details(result)
        view = recommend_view(result, kb.store.get_many(r["id"] for r in result["results"]), form["problem"])
    return render_template("recommend.html", form=form, result=result, view=view, errors=errors,
                           sectors=kb.taxonomy.key_sectors), 400 if errors else 200
