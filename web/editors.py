"""Editors' writes over HTTP: token sign-in, POST /api/cases, PUT /api/documents/<id>, and the 编辑 page."""
from __future__ import annotations

import hmac
import threading
import time
from collections import defaultdict, deque

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for

from kb.editing import EditError, Editor, token_label

from .context import knowledge
from .render import render_markdown

bp = Blueprint("editors", __name__)

FAILED_SIGNINS_PER_MINUTE = 10
_failures: dict[str, deque] = defaultdict(deque)
_failures_lock = threading.Lock()


def editor() -> Editor:
    return current_app.extensions["kb_editor"]


def _rate_limited(address: str) -> bool:
    now = time.monotonic()
    with _failures_lock:
        window = _failures[address]
        while window and now - window[0] > 60:
            window.popleft()
        return len(window) >= FAILED_SIGNINS_PER_MINUTE


def _record_failure(address: str) -> None:
    with _failures_lock:
        _failures[address].append(time.monotonic())


def check_token(given: str | None) -> str:
    """Who is writing (a label of the token), or an EditError with the right status."""
    configured = knowledge().settings.editor_token
    if not given:
        raise EditError(401, "缺少编辑令牌", [{"field": "Authorization", "message": "使用 Authorization: Bearer <令牌>"}])
    if not configured:
        raise EditError(403, "编辑功能未开启：请设置 KB_EDITOR_TOKEN 或在实例目录放置 editor_token 文件")
    address = request.remote_addr or "?"
    if _rate_limited(address):
        raise EditError(429, "尝试次数过多，请一分钟后再试")
    if not given or not hmac.compare_digest(given.encode(), configured.encode()):
        _record_failure(address)
        raise EditError(401, "编辑令牌缺失或错误", [{"field": "Authorization", "message": "使用 Authorization: Bearer <令牌>"}])
    return token_label(configured)


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
    message, errors, preview, text = None, [], None, ""
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "signin":
                session["editor"] = check_token(request.form.get("token"))
                return redirect(url_for("editors.edit_page"))
            if not signed_in:
                raise EditError(401, "请先登录")
            upload = request.files.get("file")
            text = upload.read().decode("utf-8") if upload and upload.filename else request.form.get("text", "")
            doc = editor().validate(text)
            if action == "publish":
                current = kb.store.get(doc.id)
                if current is None:
                    doc = editor().create(text, session["editor"])
                else:
                    doc = editor().replace(doc.id, text, request.form.get("version") or current.content_hash, session["editor"])
                return redirect(url_for("pages.document", doc_id=doc.id))
            preview = {"doc": doc, "html": render_markdown(doc.body), "version": (kb.store.get(doc.id).content_hash
                                                                                  if kb.store.get(doc.id) else "")}
        except EditError as exc:
            message, errors = exc.message, exc.details
        except UnicodeDecodeError:
            message = "上传的文件不是 UTF-8 编码"
    rebuilder = current_app.extensions["kb_rebuilder"]
    return render_template("edit.html", enabled=enabled, signed_in=signed_in, message=message, errors=errors,
                           preview=preview, text=text, problems=rebuilder.problems, build_error=rebuilder.last_error)
