"""审核工作台: the shortlist (备选方案), side-by-side comparison, audit-report exports and the API docs page.

The shortlist lives in the reader's browser (web/static/shortlist.js keeps it in localStorage); the server
only ever sees it as ids in a URL, so a shortlist is shareable and every page works from its URL alone.
Tables are built by `kb.report` and written by `kb.report_files`; this module only parses and renders.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, redirect, render_template, request, send_from_directory, url_for

from kb.report import (COMPARE_FIELDS, COMPARE_MAX, COMPARE_MIN, MAX_IDS, MISSING, ReportError, build_tables,
                       cell_text, load_documents, parse_ids, source_line)

from .context import _NOT_BLANK, BadRequest, check_utf8, json_object, knowledge
from .errors import error_json
from .render import render_markdown

bp = Blueprint("workbench", __name__)

FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
MAX_TITLE = 60
# Swagger UI as the flask-swagger-ui package ships it: served from the installed package, nothing from the net.
# The package's own blueprint is not used: its page configures Swagger UI in an inline script, which a strict
# Content-Security-Policy forbids; web/static/api-docs.js does that job as a file.
_SWAGGER_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@bp.errorhandler(ReportError)
def _report_error(exc: ReportError):
    if request.path.startswith("/api/"):
        return error_json(400, exc.message, exc.details)
    return render_template("error.html", status=exc.status, message=exc.message, details=exc.details), exc.status


def _url_of(doc_id: str) -> str:
    return url_for("pages.document", doc_id=doc_id)


def _external_url_of(doc_id: str) -> str:
    return url_for("pages.document", doc_id=doc_id, _external=True)


def _query_ids(limit: int = MAX_IDS) -> list[str]:
    check_utf8()
    return parse_ids(request.args.getlist("ids"), limit=limit)


def _clean_title(raw: str) -> str:
    """A title fit for a file name and for XML: control characters and lone surrogates dropped."""
    from kb.report_files import xml_text

    return xml_text(raw).strip()[:MAX_TITLE] or "备选方案"


def _title() -> str:
    return _clean_title(request.args.get("title") or "")


@bp.get("/shortlist")
def shortlist():
    """The shortlist of the ids in the URL (shortlist.js redirects an empty URL to the stored list).
    `add`/`remove` edit the URL's list, so the buttons work without JavaScript too."""
    ids = _query_ids(limit=MAX_IDS + 1)[:MAX_IDS]
    add, remove = request.args.get("add", "").strip(), request.args.get("remove", "").strip()
    if add or remove:
        changed = [i for i in ids if i != remove] + ([add] if add and add not in ids else [])
        parse_ids(changed)                       # a malformed id in add/remove is a 400 like any other
        return redirect(url_for("workbench.shortlist", ids=",".join(changed)[:5000]) if changed
                        else url_for("workbench.shortlist"))
    kb = knowledge()
    rows = kb.store.get_many(ids)
    known = [rows[i] for i in ids if i in rows]
    missing = [i for i in ids if i not in rows]
    technologies = [r.id for r in known if r.type == "technology"]
    share = url_for("workbench.shortlist", ids=",".join(r.id for r in known), _external=True) if known else None
    return render_template("shortlist.html", items=known, missing=missing, technologies=technologies,
                           share_url=share, ids=",".join(r.id for r in known), from_url=bool(ids),
                           COMPARE_MAX=COMPARE_MAX, COMPARE_MIN=COMPARE_MIN, MAX_IDS=MAX_IDS)


@bp.get("/compare")
def compare():
    """2–6 technologies side by side on the fields that decide; a phone gets one card per technology."""
    ids = _query_ids(limit=COMPARE_MAX + 50)
    if not COMPARE_MIN <= len(ids) <= COMPARE_MAX:
        raise ReportError(f"请选择 {COMPARE_MIN}–{COMPARE_MAX} 项技术进行对比（收到 {len(ids)} 项）",
                          [{"field": "ids", "message": f"对比需要 {COMPARE_MIN} 到 {COMPARE_MAX} 个技术 id"}])
    kb = knowledge()
    docs = load_documents(kb, ids, status_unknown=404)
    not_tech = [d for d in docs if d["type"] != "technology"]
    if not_tech:
        raise ReportError("只能对比技术条目", [{"field": "ids", "message": f"「{d['title']}」（{d['id']}）不是技术条目"}
                                          for d in not_tech])
    tables = build_tables(kb, docs, url_of=_url_of)
    principles = {p.id: render_markdown(p.principle) if p.principle else None for p in tables.comparison}
    return render_template("compare.html", tables=tables, profiles=tables.comparison, fields=COMPARE_FIELDS,
                           cell=cell_text, source_line=source_line, principles=principles, MISSING=MISSING, ids=",".join(ids))


def _file_response(tables, fmt: str) -> Response:
    from kb.report_files import to_docx, to_xlsx

    body = to_xlsx(tables) if fmt == "xlsx" else to_docx(tables)
    name = f"{tables.title}-审核报告方案表.{fmt}"
    disposition = f"attachment; filename=kb-shortlist.{fmt}; filename*=UTF-8''{quote(name)}"
    return Response(body, mimetype=FORMATS[fmt], headers={"Content-Disposition": disposition})


@bp.get("/shortlist/export.<fmt>")
def export(fmt: str):
    """The audit tables of the ids in the URL: from the shortlist, a recommendation or an assessment's gaps."""
    if fmt not in FORMATS:
        raise ReportError("不支持的导出格式", [{"field": "format", "message": "格式必须是 xlsx 或 docx"}], status=404)
    ids = _query_ids()
    if not ids:
        raise ReportError("没有要导出的条目", [{"field": "ids", "message": "请至少给出一个 id"}])
    kb = knowledge()
    return _file_response(build_tables(kb, load_documents(kb, ids), _title(), _external_url_of), fmt)


@bp.post("/api/shortlist/export")
def api_export():
    """JSON twin of the shortlist exports: {"ids": [...], "format": "json"|"xlsx"|"docx", "title": "..."}."""
    data = json_object()
    details = [{"field": k, "message": "未知字段"} for k in data if k not in ("ids", "format", "title")]
    fmt = data.get("format", "json")
    if fmt not in ("json", *FORMATS):
        details.append({"field": "format", "message": "format 必须是 json、xlsx 或 docx"})
    title = data.get("title", "备选方案")
    if not isinstance(title, str) or not _NOT_BLANK.search(title) or len(title) > MAX_TITLE:
        details.append({"field": "title", "message": f"title 必须是 1–{MAX_TITLE} 字的字符串"})
    raw = data.get("ids")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_IDS:       # repeats count: the contract caps the list
        details.append({"field": "ids", "message": f"ids 必须是 1–{MAX_IDS} 个 id 组成的数组"})
    if details:
        raise BadRequest("导出请求参数有误", details)
    kb = knowledge()
    tables = build_tables(kb, load_documents(kb, parse_ids(raw, split=False)), _clean_title(title), _external_url_of)
    if fmt == "json":
        return jsonify(tables.as_json())
    return _file_response(tables, fmt)


# ------------------------------------------------------------------------------------ API docs


def _swagger_dist() -> Path:
    import flask_swagger_ui

    return Path(flask_swagger_ui.__file__).resolve().parent / "dist"


@bp.get("/api/docs")
def api_docs():
    response = Response(render_template("api_docs.html"))
    response.headers.setdefault("Content-Security-Policy", _SWAGGER_CSP)
    return response


@bp.get("/api/docs/assets/<path:filename>")
def api_docs_asset(filename: str):
    if filename not in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                        "favicon-32x32.png", "favicon-16x16.png"):
        return error_json(404, "找不到该文件")
    return send_from_directory(_swagger_dist(), filename, max_age=86400)
