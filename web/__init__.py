"""The kb web app: pages for enterprises, a JSON API for consultants, one KnowledgeBase per process.

`create_app` only configures and registers (as flaskr's does): the knowledge base is attached by
`web.knowledge.init_app`, the session key is read from the instance folder (made there on first need),
and building is a step of its own (`kb build`, `kb serve`, or `KB_BUILD_IF_MISSING=True`).
"""
from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=1024 * 1024 + 4096,
        KB_SETTINGS=None,
        KB_BUILD_IF_MISSING=False,
        KB_INDEX_WRITER=None,
    )
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    from . import api, assess, editors, errors, knowledge, pages, security, session_key, workbench

    attached = knowledge.init_app(app)
    settings = attached.settings
    if settings.shared and not app.config.get("SECRET_KEY"):
        # shared mode: one key for all nodes (in the shared database), or a session would hold on one node only
        app.config["SECRET_KEY"] = attached.mirror.database.secret_key()
    session_key.init_app(app, settings.home)
    security.init_app(app)
    _allow_cross_origin_reads(app, settings.cors_origins)

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(editors.bp)
    app.register_blueprint(assess.bp)
    app.register_blueprint(workbench.bp)
    errors.register(app)
    return app


# the read endpoints other sites' pages may call (KB_CORS_ORIGINS); writes stay same-origin or Bearer-only
CORS_READ_PATHS = r"^/api/(search|sectors|openapi\.json|documents/[^/]+)$"


def _allow_cross_origin_reads(app: Flask, origins: tuple[str, ...]) -> None:
    """CORS (flask-cors) for the API's GET endpoints, for the configured origins only; none by default.
    No credentials: a cross-site page reads what any anonymous reader may read."""
    if not origins:
        return
    from flask_cors import CORS

    CORS(app, resources={CORS_READ_PATHS: {"origins": list(origins)}}, methods=["GET", "HEAD", "OPTIONS"],
         expose_headers=["ETag"], supports_credentials=False, max_age=600)
