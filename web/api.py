"""The JSON API: the same result objects the pages render, in the shapes the issues fixed."""
from __future__ import annotations

from flask import Blueprint, jsonify, url_for

from kb.cli import search_json

from .context import BadRequest, json_object, knowledge, search_request
from kb.editing import EditError

from .editors import edit_error_response, is_editor
from .errors import error_json
from .openapi import openapi_document
from .render import render_markdown

bp = Blueprint("api", __name__, url_prefix="/api")


def search_payload(response) -> dict:
    data = search_json(response)
    for item, hit in zip(data["results"], response.hits):
        item["url"] = url_for("pages.document", doc_id=hit.id)
    data.update(page=response.page, per_page=response.per_page,
                facets={name: response.facets[name]
                        for name in ("type", "sector", "category", "tag", "province", "origin", "kind")})
    data["expanded"] = expansion_notes(response)
    data["spelling"] = spelling_note(response)
    return {k: data[k] for k in ("query", "total", "page", "per_page", "results", "facets", "expanded", "spelling")}


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
    req = search_request(require_query=True)
    return jsonify(search_payload(knowledge().search(req)))


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    data = knowledge().document(doc_id)
    if data is None:
        return error_json(404, f"没有 id 为「{doc_id[:100]}」的文档")
    try:
        editor = is_editor()
    except EditError as exc:
        return edit_error_response(exc)
    if not editor:
        # verification notes are for editors; the public API shows what the pages show
        data.pop("editor_notes", None)
    data["body_html"] = render_markdown(data["body_markdown"])
    return jsonify(data)


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
        profile = parse_profile(json_object())
    except ProfileError as exc:
        raise BadRequest("推荐请求参数有误", exc.details)
    return jsonify(knowledge().recommender().recommend(profile))


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
