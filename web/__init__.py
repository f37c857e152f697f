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

    from . import api, pages, errors

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    errors.register(app)
    return app
