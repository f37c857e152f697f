"""Editors' writes in shared mode: one database transaction each, with the version check inside it.

Validation is the single-node editor's (same messages, same statuses); what changes is where a write goes
and where its version is checked: the shared database, not a file on this node (kb/shared/database.py).
After the commit the write is durable whichever node dies; the request then waits for this node's next
index batch, so what an editor was told is published is searchable here, and on the other nodes as soon as
their followers see the notification.
"""
from __future__ import annotations

import hashlib

from sqlalchemy.exc import SQLAlchemyError

from ..documents import Document
from ..editing import EditError, Editor
from .database import ANY, Change, VersionConflict
from .follower import Follower


def _unavailable(exc: Exception) -> EditError:
    return EditError(503, "共享数据库暂时不可用，本次写入未完成", [{"field": "database", "message": "请稍后重试"}],
                     retry_after=5)


class SharedEditor(Editor):
    def __init__(self, knowledge, rebuilder=None):
        super().__init__(knowledge, rebuilder)
        self.mirror = knowledge.mirror
        self.database = self.mirror.database
        self.follower = Follower(self.mirror, self.rebuilder)

    def _commit(self, change: Change, who: str) -> int:
        try:
            return self.database.commit([change], who)
        except VersionConflict:
            raise
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    def _row(self, doc_id: str):
        try:
            return self.database.get(doc_id)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    def create(self, text: str, who: str, expected_type: str | None = None) -> Document:
        doc = self.validate(text, expected_type)
        try:
            self._commit(Change(doc.id, doc.type, text, expected=None, action="create"), who)
        except VersionConflict:
            raise EditError(409, f"id「{doc.id}」已存在", [{"field": "id", "message": "请换一个 id，或用 PUT 修改已有文档"}])
        return self._publish(doc)

    def replace(self, doc_id: str, text: str, version: str | None, who: str) -> Document:
        doc = self.validate(text)
        if doc.id != doc_id:
            raise EditError(400, "文档有误", [{"line": doc.lines.get("id", 2), "field": "id",
                                               "message": f"文件中的 id「{doc.id}」与地址中的「{doc_id}」不一致"}])
        row = self._row(doc_id)
        if row is None:
            raise EditError(404, f"没有 id 为「{doc_id}」的文档")
        if not version:
            raise EditError(400, "缺少版本号", [{"field": "version", "message": "请在 If-Match 头或 version 参数中给出所修改的版本"}],
                            current_version=row.version)
        if row.type != doc.type:
            raise EditError(400, "文档有误", [{"line": doc.lines.get("type", 2), "field": "type", "message": "不能修改文档类型"}])
        try:
            self._commit(Change(doc_id, doc.type, text, expected=version, action="replace"), who)
        except VersionConflict as conflict:
            if conflict.current is None:
                raise EditError(404, f"没有 id 为「{doc_id}」的文档")
            raise EditError(409, "文档已被他人修改", [{"field": "version", "message": "所依据的版本已过期，请基于当前版本重新修改"}],
                            current_version=conflict.current)
        return self._publish(doc)

    def restore(self, doc_id: str, version: str, who: str) -> Document:
        text = self.database.history_text(doc_id, version)
        if text is None:
            raise EditError(404, f"「{doc_id}」没有版本 {version}")
        doc = self.validate(text)
        self._commit(Change(doc_id, doc.type, text, expected=ANY, action=f"restore {version[:12]}"), who)
        return self._publish(doc)

    def history(self, doc_id: str) -> list[dict]:
        return self.database.history(doc_id)

    def current_file_text(self, doc_id: str) -> tuple[str, str] | None:
        """The document's text and version in the database; while the database cannot be reached, the copy
        this node serves (a page or GET /api/documents/<id> never fails for want of the database)."""
        try:
            row = self.database.get(doc_id)
        except SQLAlchemyError:
            local = self.knowledge.store.get(doc_id)
            path = self.mirror.path_of(doc_id, local.type) if local is not None else None
            if path is None or not path.is_file():
                return None
            data = path.read_bytes()
            return data.decode("utf-8"), hashlib.sha256(data).hexdigest()
        return (row.text, row.version) if row is not None else None

    def current_version(self, doc: Document) -> str | None:
        current = self.current_file_text(doc.id)
        return current[1] if current is not None else None

    def readiness(self) -> dict:
        try:
            return self.mirror.status()
        except SQLAlchemyError:
            return {"ready": False, "revision": self.mirror.applied, "database_revision": None}

    def reconcile(self) -> list:
        """Catch up with the database (a full pull on this process's first batch, then a build) and start
        following it; the app factory calls this before the node serves."""
        self.rebuilder.rebuild()
        self.follower.start()
        return []

    def close(self) -> None:
        self.follower.stop()
