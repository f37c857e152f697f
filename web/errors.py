"""One JSON error shape for the API, friendly pages elsewhere; never a traceback for bad input."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from .context import BadRequest

MESSAGES = {400: "请求有误", 401: "需要编辑令牌", 404: "找不到该页面或文档", 405: "不支持该请求方法",
            409: "冲突", 413: "请求内容过大", 429: "请求过于频繁"}


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
        message = MESSAGES.get(status, exc.name)
        allow = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        if _wants_json():
            response = error_json(status, message, [{"field": "request", "message": exc.description or message}]
                                  if status not in (404,) else [])
            response.headers.update(allow)
            return response
        return render_template("error.html", status=status, message=message, details=[]), status, allow

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        if _wants_json():
            return error_json(500, "服务器内部错误")
        return render_template("error.html", status=500, message="服务器内部错误", details=[]), 500
