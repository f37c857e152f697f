"""The knowledge base's life in the app (as flaskr's db.py is the connection's): attached by `init_app`,
closed when the app goes away (process exit, or a test's app being collected).

`KB_BUILD_IF_MISSING` (off unless asked for) makes `init_app` build an instance that has no index yet —
an explicit step for tests and embedders; `kb serve` builds through the CLI before it makes the app.
`KB_INDEX_WRITER` picks who publishes editors' writes: a function of the knowledge base (`kb serve
--workers N` passes one that returns the node's shared writer); by default this process's own writer.
"""
from __future__ import annotations

import weakref
from typing import Callable

from flask import Flask

from kb.config import load_settings
from kb.shared import make_editor
from kb.index_writer import IndexWriter
from kb.knowledge import KnowledgeBase


def init_app(app: Flask) -> KnowledgeBase:
    settings = app.config["KB_SETTINGS"] or load_settings()
    knowledge = KnowledgeBase(settings)
    if app.config["KB_BUILD_IF_MISSING"]:
        knowledge.ensure_built()
    make_writer: Callable = app.config.get("KB_INDEX_WRITER") or IndexWriter
    writer = make_writer(knowledge)
    editor = make_editor(knowledge, writer)      # files, or the shared database (KB_SHARED=1)
    app.extensions["kb"] = knowledge
    app.extensions["kb_rebuilder"] = writer
    app.extensions["kb_editor"] = editor
    if knowledge.is_built():
        editor.reconcile()      # a write acknowledged (or not) before a crash is indexed before serving
    weakref.finalize(app, close, knowledge, writer)
    return knowledge


def close(knowledge: KnowledgeBase, writer) -> None:
    """Finish the writes asked for, then release the index and the database connections."""
    writer.close()
    knowledge.close()
