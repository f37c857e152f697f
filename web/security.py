"""Browser-facing protections, set up in one place.

- Security headers on every response with flask-talisman: a Content-Security-Policy with no inline
  script or style (the templates load everything from /static), X-Content-Type-Options: nosniff,
  frame-ancestors 'none' plus X-Frame-Options: DENY, a Referrer-Policy, and HSTS over HTTPS.
- CSRF tokens (Flask-WTF) and a same-origin check (Origin, else Referer) on every cookie-authenticated
  write, i.e. every unsafe request outside /api/. The JSON API is exempt: its writes need the
  Authorization: Bearer token, which a browser never attaches on its own, and its reads write nothing.
- The session cookie is HttpOnly and SameSite=Lax, and Secure whenever the request came over HTTPS.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with Secure set per request: on over HTTPS, off on plain local HTTP."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def is_cookie_write() -> bool:
    """An unsafe request that only a session cookie could authorise (the API uses Bearer tokens)."""
    return request.method not in SAFE_METHODS and not request.path.startswith("/api/")


def same_origin() -> bool:
    """Origin (or, without it, Referer) names this host and port; a request with neither relies on the token.

    The scheme is not compared: behind a reverse proxy that ends TLS the app sees http while the
    browser says https, and the host and port are what tell another site apart."""
    here = request.host.lower()
    origin = request.headers.get("Origin")
    if origin is not None:
        return urlsplit(origin).netloc.lower() == here
    referer = request.headers.get("Referer")
    if referer:
        return urlsplit(referer).netloc.lower() == here
    return True


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)   # checked below, for cookie writes only
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)       # the token lives as long as the session
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.session_interface = SessionInterface()
    csrf = CSRFProtect(app)
    Talisman(
        app,
        force_https=False,            # TLS ends at the reverse proxy; local use is plain HTTP
        session_cookie_secure=False,  # set per request by SessionInterface instead
        session_cookie_samesite="Lax",
        frame_options="DENY",
        content_security_policy=CONTENT_SECURITY_POLICY,
        referrer_policy="same-origin",
    )

    @app.before_request
    def protect_cookie_writes():
        if not is_cookie_write():
            return None
        if not same_origin():
            raise CSRFError("请求来自其他网站")
        csrf.protect()
        return None

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        details = [{"field": "csrf_token", "message": "表单已过期或来自其他网站，请刷新页面后重新提交"}]
        return render_template("error.html", status=403, message="请求被拒绝：无法确认来自本站的表单",
                               details=details), 403
