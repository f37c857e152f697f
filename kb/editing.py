"""Editors' writes: publish, replace and restore documents in the editable content folder.

Files stay the one source of truth: a publish is an atomic file write (temp file + rename) plus a
history entry, followed by a batch of the background index writer that the caller waits for, so the
document is searchable when the call returns. Concurrent publishes share batches instead of queueing
one build each. Versions are checked against the file on disk under the write lock, never against the
database (which a build updates later), so of N concurrent replaces of one version exactly one wins.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .build import current_generation, read_meta
from .checks import CASE_LINK_FIELDS
from .documents import TYPE_FOLDERS, Document, Problem
from .frontmatter import FrontMatterError, parse
from .loader import content_files, load_text
from .files import atomic_write, file_lock
from .index_writer import IndexWriter
from .schemas import ID_RE

MAX_BYTES = 1024 * 1024


@dataclass
class EditError(Exception):
    status: int
    message: str
    details: list[dict] = field(default_factory=list)
    current_version: str | None = None
    retry_after: int | None = None


def token_label(token: str) -> str:
    """How history names an editor without storing the secret itself."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:8]


_SEQUENCE = itertools.count()

# The editors' writes and the file watcher share one background writer (kept under its old name too).
Rebuilder = IndexWriter


def file_version(path: Path) -> str:
    """A document's version: the hash of its file as it is on disk now (what a build will index)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unindexed_files(settings, generation_hashes: dict[str, str]) -> list[Path]:
    """Files in the editable folder that the served generation does not hold as they are on disk
    (a crash between a write and its build leaves one)."""
    return [path for path in content_files(settings.editable_content)
            if generation_hashes.get(path.stem) != file_version(path)]


class Editor:
    def __init__(self, knowledge, rebuilder: Rebuilder | None = None):
        self.knowledge = knowledge
        self.settings = knowledge.settings
        self.rebuilder = rebuilder or Rebuilder(knowledge)
        self.root = self.settings.editable_content

    # -- validation ---------------------------------------------------------------------------
    def validate(self, text: str, expected_type: str | None = None) -> Document:
        if len(text.encode("utf-8")) > MAX_BYTES:
            raise EditError(413, "文档超过 1 MiB", [{"field": "body", "message": "正文不能超过 1 MiB"}])
        try:
            parsed = parse(text)
        except FrontMatterError as exc:
            raise EditError(400, "文档有误", [{"line": exc.line, "field": exc.field, "message": exc.message}])
        doc_id = parsed.data.get("id")
        if not isinstance(doc_id, str) or not ID_RE.match(doc_id):
            raise EditError(400, "文档有误", [{"line": parsed.line_of(("id",)), "field": "id",
                                               "message": "id 只能用小写字母、数字和连字符（2–100 个字符）"}])
        doc_type = parsed.data.get("type")
        if expected_type and doc_type != expected_type:
            raise EditError(400, "文档有误", [{"line": parsed.line_of(("type",)), "field": "type",
                                               "message": f"此处只接受 type: {expected_type}"}])
        folder = TYPE_FOLDERS.get(doc_type, "technologies")
        path = self.root / folder / f"{doc_id}.md"
        doc, problems = load_text(text, path, self.knowledge.taxonomy)
        if doc is not None and doc.type == "case":
            for link in CASE_LINK_FIELDS:
                for i, tech_id in enumerate(doc.meta.get(link, [])):
                    row = self.knowledge.store.get(tech_id)
                    if row is None or row.type != "technology":
                        problems.append(Problem(str(path), doc.lines.get(link, 2), f"{link}[{i}]",
                                                f"技术条目「{tech_id}」不存在"))
        if problems:
            raise EditError(400, "文档有误", [{"line": p.line, "field": p.field, "message": p.message} for p in problems])
        return doc

    # -- writes -------------------------------------------------------------------------------
    def _locked(self):
        return file_lock(self.root / ".write.lock")

    def _publish(self, doc: Document) -> Document:
        """Wait until the batch holding this write is indexed (the file itself is already durable)."""
        self.rebuilder.rebuild()
        return doc

    def readiness(self) -> dict:
        """What a load balancer's health check reads (GET /api/ready): a single node is ready once it serves."""
        return {"ready": True, "revision": None, "database_revision": None}

    def reconcile(self) -> list[Path]:
        """Index every editable file the served generation lacks (on start, and when a write meets one)."""
        orphans = unindexed_files(self.settings, read_meta(current_generation(self.settings)).get("hashes", {}))
        if orphans:
            self.rebuilder.rebuild()
        return orphans

    def _current_file(self, doc_id: str, doc: Document) -> Path | None:
        """The file that holds the document now: the editable copy, else the bundled one the store names."""
        if Path(doc.path).is_file():
            return Path(doc.path)
        row = self.knowledge.store.get(doc_id)
        if row is not None and Path(row.path).is_file():
            return Path(row.path)
        return None

    def current_version(self, doc: Document) -> str | None:
        """The version a replace of this document must name (None: the document does not exist yet)."""
        path = self._current_file(doc.id, doc)
        return file_version(path) if path is not None else None

    def current_file_text(self, doc_id: str) -> tuple[str, str] | None:
        """The file a replace of this document edits (the editable copy, else the bundled one) and its
        version (the If-Match a PUT names), or None when the document has no file here."""
        row = self.knowledge.store.get(doc_id)
        if row is None:
            return None
        editable = self.root / TYPE_FOLDERS.get(row.type, "technologies") / f"{doc_id}.md"
        for path in (editable, Path(row.path)):
            if path.is_file():
                data = path.read_bytes()
                return data.decode("utf-8"), hashlib.sha256(data).hexdigest()
        return None

    def create(self, text: str, who: str, expected_type: str | None = None) -> Document:
        doc = self.validate(text, expected_type)
        with self._locked():
            path = Path(doc.path)
            if path.is_file():
                # the same text again is a retried create (its answer was lost, or the server stopped
                # before indexing it): the write is already there, so finish it instead of a 409
                outcome = "retried" if file_version(path) == doc.content_hash else (
                    "orphan" if self.knowledge.store.get(doc.id) is None else "taken")
            elif self.knowledge.store.get(doc.id) is not None:
                outcome = "taken"
            else:
                self._write(doc, text, who, "create")
                outcome = "written"
        # the lock is released before waiting for the index batch, so writers share batches
        if outcome in ("written", "retried"):
            return self._publish(doc)
        if outcome == "orphan":
            self.reconcile()
        raise EditError(409, f"id「{doc.id}」已存在", [{"field": "id", "message": "请换一个 id，或用 PUT 修改已有文档"}])

    def replace(self, doc_id: str, text: str, version: str | None, who: str) -> Document:
        doc = self.validate(text)
        if doc.id != doc_id:
            raise EditError(400, "文档有误", [{"line": doc.lines.get("id", 2), "field": "id",
                                               "message": f"文件中的 id「{doc.id}」与地址中的「{doc_id}」不一致"}])
        with self._locked():
            path = self._current_file(doc_id, doc)
            if path is None:
                raise EditError(404, f"没有 id 为「{doc_id}」的文档")
            current_version = file_version(path)
            if not version:
                raise EditError(400, "缺少版本号", [{"field": "version", "message": "请在 If-Match 头或 version 参数中给出所修改的版本"}],
                                current_version=current_version)
            if version != current_version:
                raise EditError(409, "文档已被他人修改", [{"field": "version", "message": "所依据的版本已过期，请基于当前版本重新修改"}],
                                current_version=current_version)
            row = self.knowledge.store.get(doc_id)
            if row is not None and row.type != doc.type:
                raise EditError(400, "文档有误", [{"line": doc.lines.get("type", 2), "field": "type", "message": "不能修改文档类型"}])
            self._write(doc, text, who, "replace")
        return self._publish(doc)

    def history(self, doc_id: str) -> list[dict]:
        folder = self.root / ".history" / doc_id
        if not ID_RE.match(doc_id) or not folder.is_dir():
            return []
        entries = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
        return entries

    def restore(self, doc_id: str, version: str, who: str) -> Document:
        entry = next((e for e in self.history(doc_id) if e["version"] == version), None)
        if entry is None:
            raise EditError(404, f"「{doc_id}」没有版本 {version}")
        text = (self.root / ".history" / doc_id / entry["file"]).read_text(encoding="utf-8")
        doc = self.validate(text)
        with self._locked():
            self._write(doc, text, who, f"restore {version[:12]}")
        return self._publish(doc)

    def _write(self, doc: Document, text: str, who: str, action: str) -> None:
        atomic_write(Path(doc.path), text.encode("utf-8"))
        self._record(doc, text, who, action)

    def _record(self, doc: Document, text: str, who: str, action: str) -> None:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if (self.root / ".git").exists():
            rel = Path(doc.path).relative_to(self.root)
            subprocess.run(["git", "-C", str(self.root), "add", str(rel)], check=True, capture_output=True)
            subprocess.run(["git", "-C", str(self.root), "-c", "user.name=kb", "-c", "user.email=kb@localhost",
                            "commit", "-q", "-m", f"{action} {doc.id} by {who}", "--author", f"{who} <kb@localhost>"],
                           check=True, capture_output=True)
        folder = self.root / ".history" / doc.id
        folder.mkdir(parents=True, exist_ok=True)
        # file names sort in the order the versions were written: one clock reading gives both the
        # second and its fraction (a monotonic counter's fraction wraps independently of the second)
        now = time.time_ns()
        second = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9))
        stem = f"{second}-{now % 10**9:09d}-{next(_SEQUENCE):06d}-{doc.content_hash[:8]}"
        (folder / f"{stem}.md").write_text(text, encoding="utf-8")
        (folder / f"{stem}.json").write_text(json.dumps(
            {"id": doc.id, "version": doc.content_hash, "who": who, "when": when, "action": action, "file": f"{stem}.md"},
            ensure_ascii=False), encoding="utf-8")
