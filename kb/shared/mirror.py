"""A node's Markdown mirror of the shared database: the folder its index is built from.

In shared mode a node indexes exactly what single-node kb indexes, Markdown files, but the files are a
copy it pulls from the database (rows changed after the revision it last pulled; everything on its first
pull), written atomically, so the build, the incremental hashes and the lenient last-good-version rules stay
one code path for both modes. `applied` is the revision the served index reflects (set by the knowledge
base after a build of a pull), which readiness compares with the database's counter.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path

from ..build import BuildError, current_generation, read_meta
from ..files import atomic_write
from ..documents import TYPE_FOLDERS
from ..loader import content_files, load_content
from .database import SharedDatabase

log = logging.getLogger("kb.shared")
# how long a node may stay behind the database's counter and still call itself ready (a batch being built)
BEHIND_GRACE_SECONDS = 10.0


class Mirror:
    def __init__(self, settings, database: SharedDatabase | None = None):
        self.settings = settings
        self.root: Path = settings.editable_content
        self._database = database
        self._lock = threading.Lock()
        self.pulled = -1          # the revision the files reflect (-1: never pulled: the next pull is full)
        self._behind_since: float | None = None

    @property
    def applied(self) -> int:
        """The revision the served index reflects (-1: none yet): the build stamps it into the generation's
        meta.json, so it changes in the same rename of index/CURRENT that makes the pull serve, and every
        process serving this folder (`kb serve --workers N`) reads the same one."""
        revision = read_meta(current_generation(self.settings)).get("shared_revision", -1)
        return revision if isinstance(revision, int) else -1

    @property
    def database(self) -> SharedDatabase:
        if self._database is None:
            self._database = SharedDatabase(self.settings.shared_url)
        return self._database

    def close(self) -> None:
        """Release the database connections, if this mirror ever opened them."""
        if self._database is not None:
            self._database.dispose()

    def path_of(self, doc_id: str, doc_type: str) -> Path:
        return self.root / TYPE_FOLDERS.get(doc_type, "technologies") / f"{doc_id}.md"

    def pull(self) -> int:
        """Write the rows changed since the last pull into the folder; returns the revision pulled.
        A database without any content yet (nobody ran `kb build`) gets this release's bundled content."""
        with self._lock:
            if self.pulled < 0 and self.database.release() is None:
                publish_release(self.settings, self.database, only_if_none=True)
            changes = self.database.changes_since(max(self.pulled, 0))
            if changes.revision < self.pulled:     # the database was restored from an older backup: start over
                self.pulled = -1
                changes = self.database.changes_since(0)
            live: set[Path] = set()
            for row in changes.rows:
                path = self.path_of(row.id, row.type)
                if row.deleted:
                    path.unlink(missing_ok=True)
                    continue
                live.add(path)
                if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != row.version:
                    atomic_write(path, row.text.encode("utf-8"))
            if self.pulled < 0:        # first pull: files the database does not hold (any more) go
                for path in content_files(self.root):
                    if path not in live:
                        path.unlink(missing_ok=True)
            self.pulled = changes.revision
            return changes.revision

    def status(self) -> dict:
        """Readiness: caught up with the database's counter, or behind it only for the moment a batch takes."""
        database_revision = self.database.revision()
        applied = self.applied
        now = time.monotonic()
        if applied >= database_revision:
            self._behind_since = None
        elif self._behind_since is None:
            self._behind_since = now
        ready = applied >= 0 and (self._behind_since is None or now - self._behind_since < BEHIND_GRACE_SECONDS)
        return {"ready": ready, "revision": applied, "database_revision": database_revision}


def release_documents(folders) -> dict[str, tuple[str, str]]:
    """This release's bundled documents, {id: (type, Markdown text)}; content problems stop the load
    (BuildError, as `kb build` reports them)."""
    content = load_content(list(folders))
    if content.problems:
        raise BuildError(content.problems)
    return {d.id: (d.type, Path(d.path).read_bytes().decode("utf-8")) for d in content.documents.values()}


def publish_release(settings, database: SharedDatabase, only_if_none: bool = False) -> tuple[int, int]:
    """Load the bundled content into the shared database once per release (see SharedDatabase.load_release)."""
    written, revision = database.load_release(release_documents(settings.release_content), only_if_none)
    if written:
        log.info("随附内容已载入共享数据库：%d 篇，修订号 %d", written, revision)
    return written, revision


def release_and_pull(settings) -> int:
    """What `kb build` does first in shared mode: load this release's bundled content (once per release,
    whichever node gets there first) and pull the database's documents into this node's mirror."""
    mirror = Mirror(settings)
    try:
        publish_release(settings, mirror.database)
        return mirror.pull()
    finally:
        mirror.database.dispose()
