"""Shared (multi-node) mode: several `kb serve` nodes on one PostgreSQL database (KB_SHARED=1).

The database holds the truth for every document (its Markdown text, version and history, in
`kb/shared/database.py`); each node derives its own Markdown mirror, document table and search index from
it (`follower.py`) and is told of changes by LISTEN/NOTIFY, with a periodic check as a fallback.
Editors' writes are one database transaction with the version check in it (`editor.py`).
Design, measurements and the alternatives weighed: docs/deploy/multinode.md.
"""
from __future__ import annotations

from ..editing import Editor, Rebuilder


def make_editor(knowledge, rebuilder: Rebuilder | None = None) -> Editor:
    """The editor of this instance: files (single node) or the shared database (KB_SHARED=1). It lives here, above
    both editors, so that the file editor never imports the shared one that extends it."""
    if knowledge.settings.shared:
        from .editor import SharedEditor

        return SharedEditor(knowledge, rebuilder)
    return Editor(knowledge, rebuilder)
