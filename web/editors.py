"""Editors' writes over HTTP: token sign-in, POST /api/cases, PUT /api/documents/<id>, and the 编辑 page.

The API is authorised by the Bearer token on each request; the 编辑 page by a session cookie set at
sign-in, so its forms carry CSRF tokens (web/security.py checks them and the origin)."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for

from kb.editing import EditError, Editor, token_label
from kb.render import TYPE_NAMES

from .context import knowledge
from .render import render_markdown
from .throttle import FailedAttempts

bp = Blueprint("editors", __name__)

FAILED_SIGNINS_PER_MINUTE = 10


@bp.record_once
def _setup(state) -> None:
    state.app.extensions["kb_failed_signins"] = FailedAttempts(limit=FAILED_SIGNINS_PER_MINUTE, window=60.0)


def editor() -> Editor:
    return current_app.extensions["kb_editor"]


def failed_signins() -> FailedAttempts:
    return current_app.extensions["kb_failed_signins"]


def check_token(given: str | None) -> str:
    """Who is writing (a label of the token), or an EditError with the right status.

    The valid token is accepted whatever came before it; only wrong ones are counted and throttled."""
    configured = knowledge().settings.editor_token
    if not given:
        raise EditError(401, "缺少编辑令牌", [{"field": "Authorization", "message": "使用 Authorization: Bearer <令牌>"}])
    if not configured:
        raise EditError(403, "编辑功能未开启：请设置 KB_EDITOR_TOKEN 或在实例目录放置 editor_token 文件")
    if hmac.compare_digest(given.encode(), configured.encode()):
        return token_label(configured)
    address = request.remote_addr or "?"
    attempts = failed_signins()
    attempts.record(address)
    if attempts.blocked(address):
        raise EditError(429, "错误令牌尝试次数过多，请一分钟后再试", [{"field": "Authorization", "message": "正确的令牌仍可使用"}],
                        retry_after=attempts.retry_after(address))
    raise EditError(401, "编辑令牌缺失或错误", [{"field": "Authorization", "message": "使用 Authorization: Bearer <令牌>"}])


def signed_in_editor() -> bool:
    """Whether the browser session signed in on the 编辑 page with the current token."""
    configured = knowledge().settings.editor_token
    return bool(configured) and session.get("editor") == token_label(configured)


def is_editor() -> bool:
    """Whether this request comes from an editor: signed in on the 编辑 page, or a valid bearer token
    (a wrong token is a 401, as on the write endpoints). Editor-only data (editor_notes) depends on it."""
    if not knowledge().settings.editor_token:
        return False                    # editing is off: every reader gets the public view
    if signed_in_editor():
        return True
    given = _bearer()
    return bool(given) and bool(check_token(given))


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _body_text() -> str:
    if request.content_length and request.content_length > 1024 * 1024:
        raise EditError(413, "文档超过 1 MiB", [{"field": "body", "message": "正文不能超过 1 MiB"}])
    raw = request.get_data(cache=False)
    if len(raw) > 1024 * 1024:
        raise EditError(413, "文档超过 1 MiB", [{"field": "body", "message": "正文不能超过 1 MiB"}])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EditError(400, "正文不是有效的 UTF-8", [{"field": "body", "message": "请使用 UTF-8 编码"}])


def edit_error_response(exc: EditError):
    payload = {"error": exc.message, "details": exc.details}
    if exc.current_version:
        payload["current_version"] = exc.current_version
    response = jsonify(payload)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="kb"'
    if exc.retry_after:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.post("/api/cases")
def create_case():
    try:
        who = check_token(_bearer())
        doc = editor().create(_body_text(), who, expected_type="case")
    except EditError as exc:
        return edit_error_response(exc)
    response = jsonify({"id": doc.id, "url": url_for("pages.document", doc_id=doc.id), "version": doc.content_hash})
    response.status_code = 201
    return response


@bp.put("/api/documents/<doc_id>")
def replace_document(doc_id: str):
    try:
        who = check_token(_bearer())
        version = (request.headers.get("If-Match") or request.args.get("version") or "").strip('"') or None
        doc = editor().replace(doc_id, _body_text(), version, who)
    except EditError as exc:
        return edit_error_response(exc)
    return jsonify({"id": doc.id, "url": url_for("pages.document", doc_id=doc.id), "version": doc.content_hash})


# -- the 编辑 page --------------------------------------------------------------------------------
@bp.route("/edit", methods=["GET", "POST"])
def edit_page():
    kb = knowledge()
    enabled = bool(kb.settings.editor_token)
    signed_in = enabled and session.get("editor") == token_label(kb.settings.editor_token or "")
    message, errors, preview, text, status = None, [], None, "", 200
    if request.method == "GET" and signed_in:
        text, status, message = _starting_text(kb)
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "signin":
                who = check_token(request.form.get("token"))
                session.clear()          # a fresh session (and CSRF token) for the signed-in editor
                session["editor"] = who
                return redirect(url_for("editors.edit_page"))
            if not signed_in:
                raise EditError(401, "请先登录")
            upload = request.files.get("file")
            text = upload.read().decode("utf-8") if upload and upload.filename else request.form.get("text", "")
            doc = editor().validate(text)
            if action == "publish":
                # the version the editor previewed: empty means "new document", so a stale or
                # missing version can never silently overwrite someone else's edit
                version = request.form.get("version") or None
                if version is None:
                    doc = editor().create(text, session["editor"])
                else:
                    doc = editor().replace(doc.id, text, version, session["editor"])
                return redirect(url_for("pages.document", doc_id=doc.id))
            preview = {"doc": doc, "html": render_markdown(doc.body), "version": editor().current_version(doc) or ""}
        except EditError as exc:
            message, errors, status = exc.message, exc.details, exc.status
        except UnicodeDecodeError:
            message, status = "上传的文件不是 UTF-8 编码", 400
    rebuilder = current_app.extensions["kb_rebuilder"]
    return render_template("edit.html", enabled=enabled, signed_in=signed_in, message=message, errors=errors,
                           preview=preview, text=text, problems=rebuilder.problems, build_error=rebuilder.last_error,
                           template_types=TYPE_NAMES), status


def _starting_text(kb) -> tuple[str, int, str | None]:
    """What the editor's text box starts with: ?id= the document's current file (the 编辑 link on its
    page), ?template= a blank entry of that type with every field the schema asks for."""
    from kb.templates import new_id, render

    doc_id, template = request.args.get("id"), request.args.get("template")
    if doc_id:
        current = editor().current_file_text(doc_id[:100])
        if current is None:
            return "", 404, f"没有 id 为「{doc_id[:100]}」的文档"
        return current[0], 200, None
    if template:
        if template not in TYPE_NAMES:
            return "", 400, f"模板类型必须是 {'、'.join(TYPE_NAMES)} 之一"
        general = kb.taxonomy.get("通用")
        return render(template, new_id(template, general.prefix), "待填写标题", general.name), 200, None
    return "", 200, None


@bp.get("/edit/rules")
def content_rules():
    """CONTENT.md (the content rules editors follow), rendered; linked from the 编辑 page."""
    from pathlib import Path

    from flask import abort

    path = Path(__file__).resolve().parent.parent / "CONTENT.md"
    if not path.is_file():
        abort(404)
    return render_template("rules.html", body_html=render_markdown(path.read_text(encoding="utf-8")))


@bp.post("/edit/signout")
def sign_out():
    session.clear()
    return redirect(url_for("editors.edit_page"))
