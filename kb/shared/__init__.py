"""Shared (multi-node) mode: several `kb serve` nodes on one PostgreSQL database (KB_SHARED=1).

The database holds the truth for every document (its Markdown text, version and history, in
`kb/shared/database.py`); each node derives its own Markdown mirror, document table and search index from
it (`follower.py`) and is told of changes by LISTEN/NOTIFY, with a periodic check as a fallback.
Editors' writes are one database transaction with the version check in it (`editor.py`).
Design, measurements and the alternatives weighed: docs/deploy/multinode.md.
"""
