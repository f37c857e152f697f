"""One JSON error shape for the API, friendly pages elsewhere; never a traceback for bad input."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .context import BadRequest

MESSAGES = {400: "请求有误", 401: "需要编辑令牌", 403: "禁止访问", 404: "找不到该页面或文档", 405: "不支持该请求方法",
            406: "无法提供所要求的格式", 408: "请求超时", 409: "冲突", 411: "缺少 Content-Length", 412: "版本不符",
            413: "请求内容过大", 414: "地址过长", 415: "不支持的内容类型", 416: "请求的范围无效",
            428: "缺少版本条件", 429: "请求过于频繁", 431: "请求头过大", 500: "服务器内部错误", 501: "不支持该功能",
            503: "服务暂时不可用"}


def _details(exc: HTTPException, status: int, allowed: str) -> list[dict]:
    """The error's details in Chinese: werkzeug's own English descriptions are replaced."""
    if status == 404:
        return []
    if status == 405:
        return [{"field": "method", "message": f"此地址不接受 {request.method} 请求；可用：{allowed or '无'}"}]
    description = exc.description or ""
    if not description or description == type(exc).description or description.isascii():
        description = MESSAGES.get(status, "请求有误")
    return [{"field": "request", "message": description}]


def error_json(status: int, message: str, details: list[dict] | None = None):
    response = jsonify({"error": message, "details": details or []})
    response.status_code = status
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register(app: Flask) -> None:
    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        if _wants_json():
            return error_json(400, exc.message, exc.details)
        return render_template("error.html", status=400, message=exc.message, details=exc.details), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        message = MESSAGES.get(status, "请求有误" if status < 500 else "服务器错误")
        allow = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        if _wants_json():
            response = error_json(status, message, _details(exc, status, allow.get("Allow", "")))
            response.headers.update(allow)
            return response
        return render_template("error.html", status=status, message=message, details=[]), status, allow

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        if _wants_json():
            return error_json(500, "服务器内部错误")
        return render_template("error.html", status=500, message="服务器内部错误", details=[]), 500
