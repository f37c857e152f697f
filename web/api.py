"""The JSON API: the same result objects the pages render, in the shapes the issues fixed."""
from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, jsonify, request, url_for
from markupsafe import Markup

from kb.render import API_FACETS, search_json

from .context import TYPES, BadRequest, json_object, knowledge, search_request
from kb.editing import EditError

from .editors import edit_error_response, editor as editor_of_app, is_editor
from .errors import error_json
from .openapi import openapi_document
from .render import render_markdown

bp = Blueprint("api", __name__, url_prefix="/api")


def plain_text(snippet_html: str) -> str:
    """The HTML snippet as text: <mark> dropped, entities decoded (for a spreadsheet or a terminal)."""
    return Markup(snippet_html).striptags()


def search_payload(response) -> dict:
    data = search_json(response)
    # what citing a hit needs (its source, year, region), so a consultant does not fetch every document
    metas = knowledge().store.meta_many(h.id for h in response.hits)
    for item, hit in zip(data["results"], response.hits):
        meta = metas.get(hit.id) or {}
        source = meta.get("source") or {}
        item.update(url=url_for("pages.document", doc_id=hit.id), year=hit.year, category=hit.category,
                    province=hit.province, region=meta.get("region"), source_title=source.get("title"),
                    source_issuer=source.get("issuer"), snippet_text=plain_text(hit.snippet))
    data.update(page=response.page, per_page=response.per_page,
                matched_all_words=response.matched_all_words,
                words=list(response.words),
                facets={name: response.facets[name] for name in API_FACETS})
    data["expanded"] = expansion_notes(response)
    data["spelling"] = spelling_note(response)
    return {k: data[k] for k in ("query", "total", "page", "per_page", "matched_all_words", "words",
                                 "results", "facets", "expanded", "spelling")}


def spelling_note(response) -> dict | None:
    """The typo/homophone correction: applied (these results are for it) or offered (您是不是要找)."""
    correction = getattr(response, "correction", None)
    if correction is None:
        return None
    return {"text": correction.text, "applied": correction.applied, "words": dict(correction.words),
            "note": correction.note}


def expansion_notes(response) -> list[dict]:
    """The colloquial phrases of the query and the technical words also searched for, with the
    sentence the search page shows (按“异味”也检索了：VOCs、恶臭)."""
    return [{"phrase": phrase, "terms": list(terms), "note": f"按“{phrase}”也检索了：{'、'.join(terms)}"}
            for phrase, terms in (getattr(response, "expansions", None) or {}).items()]


@bp.get("/search")
def search():
    # an empty q browses (every entry, or those the filters select, newest first), as the search page does
    req = search_request(require_query=False)
    if not req.text and not has_filters(req):
        req = replace(req, types=list(TYPES))       # no filter at all: every entry
    return jsonify(search_payload(knowledge().search(req)))


def has_filters(req) -> bool:
    return any((req.sectors, req.types, req.provinces, req.categories, req.tags, req.sources, req.source_kinds,
                req.origins, req.kinds, req.years))


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    data = knowledge().document(doc_id)
    if data is None:
        return error_json(404, f"没有 id 为「{doc_id[:100]}」的文档")
    try:
        editor = is_editor()
    except EditError as exc:
        return edit_error_response(exc)
    has_notes = bool(data.get("editor_notes"))
    if not editor:
        # verification notes are for editors; the public API shows what the pages show
        data.pop("editor_notes", None)
    data["body_html"] = render_markdown(data["body_markdown"])
    # the file as it is now (front matter + body) and its version: GET → edit → PUT with If-Match
    current = editor_of_app().current_file_text(doc_id)
    text, version = current if current else (None, None)
    if has_notes and not editor:
        text = None                     # the raw file would show the editors' notes
    data.update(version=version, markdown=text)
    response = jsonify(data)
    if version:
        response.set_etag(version)
        response.make_conditional(request)
    return response


@bp.get("/ready")
def ready():
    """For a load balancer's health check: 200 when this node serves the database's latest change (shared
    mode; or within a batch's time of it), 503 when it lags or cannot reach the database."""
    status = editor_of_app().readiness()
    response = jsonify(status)
    response.status_code = 200 if status["ready"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/sectors")
def sectors():
    kb = knowledge()
    overview = kb.overview()
    return jsonify({
        "sectors": [
            {"name": s.name, "subsectors": list(s.subsectors), "aliases": list(s.aliases),
             "counts": overview.counts.get(s.name, {})}
            for s in kb.taxonomy.sectors
        ],
        "totals": overview.totals,
    })


@bp.post("/recommend")
def recommend():
    from kb.recommend.profile import ProfileError, parse_profile

    try:
        profile = parse_profile(json_object(), knowledge().taxonomy)
    except ProfileError as exc:
        raise BadRequest("推荐请求参数有误", exc.details)
    return jsonify(with_case_details(knowledge().recommender().recommend(profile, url_of=document_url)))


def document_url(doc_id: str) -> str:
    """An entry's page, for library code that links to entries (the recommender takes it as a callback)."""
    return url_for("pages.document", doc_id=doc_id)


def with_case_details(result: dict) -> dict:
    """Each recommended case with what citing it needs: its page, region, year and kind."""
    cases = [c for item in result.get("results", []) for c in item.get("cases", [])]
    rows = knowledge().store.get_many({c["id"] for c in cases})
    for case in cases:
        row = rows.get(case["id"])
        meta = row.meta if row is not None else {}
        case.update(url=url_for("pages.document", doc_id=case["id"]), region=meta.get("region"),
                    year=row.year if row is not None else None, kind=meta.get("kind"))
    return result


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
