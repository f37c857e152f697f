"""The kb web app: pages for enterprises, a JSON API for consultants, one KnowledgeBase per process."""
from __future__ import annotations

from typing import Any

from flask import Flask

from kb.config import load_settings
from kb.knowledge import KnowledgeBase


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=1024 * 1024 + 4096,
        KB_SETTINGS=None,
        KB_BUILD_IF_MISSING=True,
    )
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    settings = app.config["KB_SETTINGS"] or load_settings()
    knowledge = KnowledgeBase(settings)
    if app.config["KB_BUILD_IF_MISSING"]:
        knowledge.ensure_built()
    app.extensions["kb"] = knowledge
    from kb.editing import Rebuilder, make_editor

    app.extensions["kb_rebuilder"] = rebuilder = Rebuilder(knowledge)
    app.extensions["kb_editor"] = editor = make_editor(knowledge, rebuilder)
    if knowledge.is_built():
        editor.reconcile()      # a write acknowledged (or not) before a crash is indexed before serving
    if not app.config.get("SECRET_KEY"):
        # shared mode: one key for all nodes (in the shared database), or a session would hold on one node only
        app.config["SECRET_KEY"] = knowledge.mirror.database.secret_key() if settings.shared else _secret_key(settings.home)

    from . import api, editors, errors, pages, security
    from . import assess

    security.init_app(app)
    _allow_cross_origin_reads(app, settings.cors_origins)

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(editors.bp)
    app.register_blueprint(assess.bp)
    from . import workbench; app.register_blueprint(workbench.bp)
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


def _secret_key(home) -> bytes:
    """Per-instance session key, made once and kept in the instance folder."""
    import secrets

    path = home / "secret_key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()
