"""The shared database: every document's Markdown text, version and history, and one change counter.

Each write is one transaction that first takes the counter row (`UPDATE … SET revision = revision + 1`):
writes on any node take turns there, so they commit in counter order and a follower that has seen
revision N has seen every change up to N. Under that row lock the document row is read `FOR UPDATE` and
its version compared with the one the writer based its edit on, so of N concurrent writes of one version
exactly one commits, whichever nodes take them. A version is the SHA-256 of the Markdown text (what a
single-node install uses for its files), so an If-Match works the same way in both modes.
At commit, `pg_notify('kb_changes', revision)` tells every node (the payload is only the number, far
under NOTIFY's 8000-byte limit).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import (BigInteger, Boolean, Column, DateTime, LargeBinary, MetaData, String, Table, Text, insert,
                        select, text, update)
from sqlalchemy.engine import Engine

from ..store import make_engine

CHANNEL = "kb_changes"
SCHEMA_LOCK = 7311400021          # advisory lock: creating the tables
RELEASE_LOCK = 7311400022         # advisory lock: loading a release's bundled content

metadata = MetaData()

documents = Table(
    "kb_shared_documents", metadata,
    Column("id", String(100), primary_key=True),
    Column("type", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("version", String(64), nullable=False),
    Column("revision", BigInteger, nullable=False, index=True),      # the change that last touched the row
    Column("deleted", Boolean, nullable=False, default=False),       # a tombstone, so followers see removals
    Column("origin", String(20), nullable=False),                    # "release" (bundled) or "editor"
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", Text, nullable=False),
)

history = Table(
    "kb_shared_history", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("id", String(100), nullable=False, index=True),
    Column("version", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("who", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

state = Table(
    "kb_shared_state", metadata,
    Column("key", String(20), primary_key=True),
    Column("revision", BigInteger, nullable=False),
    Column("release", String(64), nullable=True),                    # the bundled content loaded last
)

secrets_table = Table(
    "kb_shared_secrets", metadata,
    Column("name", String(50), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

ANY = object()       # expected version of a write that replaces whatever is there (restore, release load)


class _Unchanged(Exception):
    """A commit whose changes were all already there."""


def version_of(text_: str) -> str:
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


@dataclass
class Change:
    """One document written (text) or removed (text None); `expected`: the version the writer based it on
    (None: the document must not exist yet; ANY: no check)."""
    id: str
    type: str
    text: str | None
    expected: object = ANY
    action: str = "replace"

    @property
    def version(self) -> str | None:
        return None if self.text is None else version_of(self.text)


@dataclass
class VersionConflict(Exception):
    """The database holds another version than the writer expected (current None: no such document)."""
    id: str
    expected: object
    current: str | None
    current_type: str | None = None

    def __str__(self) -> str:
        expected = "（新建）" if self.expected is None else str(self.expected)[:12]
        current = "（不存在）" if self.current is None else self.current[:12]
        return f"{self.id}：依据的版本 {expected}，数据库中为 {current}"


@dataclass
class SharedRow:
    id: str
    type: str
    text: str
    version: str
    revision: int
    deleted: bool
    origin: str
    updated_at: datetime | None = None
    updated_by: str = ""


@dataclass
class ChangeSet:
    """What a follower applies: the rows changed after its revision, and the revision they bring it to."""
    revision: int
    rows: list[SharedRow] = field(default_factory=list)


def _row(r) -> SharedRow:
    return SharedRow(r.id, r.type, r.text, r.version, r.revision, r.deleted, r.origin, r.updated_at, r.updated_by)


class SharedDatabase:
    def __init__(self, url: str, engine: Engine | None = None):
        self.url = url
        self.engine = engine or make_engine(url)
        self._prepare()

    def _prepare(self) -> None:
        """Create the tables and the counter row once; concurrent first starts take turns."""
        with self.engine.begin() as conn:
            conn.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
            metadata.create_all(conn)
            conn.execute(text("INSERT INTO kb_shared_state (key, revision) VALUES ('main', 0) "
                              "ON CONFLICT (key) DO NOTHING"))

    # -- reads ----------------------------------------------------------------------------------
    def revision(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(state.c.revision).where(state.c.key == "main")).scalar_one()

    def release(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(state.c.release).where(state.c.key == "main")).scalar_one()

    def get(self, doc_id: str) -> SharedRow | None:
        """The live document (None when it does not exist or was removed)."""
        with self.engine.connect() as conn:
            r = conn.execute(select(documents).where(documents.c.id == doc_id, documents.c.deleted.is_(False))).first()
        return _row(r) if r is not None else None

    def all(self) -> list[SharedRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(documents).where(documents.c.deleted.is_(False)).order_by(documents.c.id))
            return [_row(r) for r in rows]

    def changes_since(self, revision: int) -> ChangeSet:
        """Rows changed after `revision` (tombstones included) and the counter, read in one snapshot."""
        with self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                current = conn.execute(select(state.c.revision).where(state.c.key == "main")).scalar_one()
                rows = conn.execute(select(documents).where(documents.c.revision > revision)
                                    .order_by(documents.c.revision)).all()
        return ChangeSet(current, [_row(r) for r in rows])

    def history(self, doc_id: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(history.c.version, history.c.who, history.c.action, history.c.at,
                                       history.c.revision)
                                .where(history.c.id == doc_id).order_by(history.c.seq)).all()
        return [{"id": doc_id, "version": r.version, "who": r.who, "action": r.action, "revision": r.revision,
                 "when": r.at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")} for r in rows]

    def history_text(self, doc_id: str, version: str) -> str | None:
        with self.engine.connect() as conn:
            if not version:
                return None                      # a deletion's row holds no text to restore
            return conn.execute(select(history.c.text).where(history.c.id == doc_id, history.c.version == version)
                                .order_by(history.c.seq.desc()).limit(1)).scalar()

    def secret_key(self) -> bytes:
        """The session key every node signs /edit cookies and CSRF tokens with (made once, by the first node),
        so an editor signed in through one node stays signed in whichever node answers next."""
        import secrets

        with self.engine.begin() as conn:
            conn.execute(text("INSERT INTO kb_shared_secrets (name, value) VALUES ('session', :value) "
                              "ON CONFLICT (name) DO NOTHING"), {"value": secrets.token_bytes(32)})
            return bytes(conn.execute(select(secrets_table.c.value).where(secrets_table.c.name == "session")).scalar_one())

    # -- writes ---------------------------------------------------------------------------------
    def commit(self, changes: Iterable[Change], who: str) -> int:
        """Apply every change in one transaction, or none (VersionConflict); returns the revision now.
        A change that would write the text already there (a retried create or replace) is not a change."""
        changes = list(changes)
        now = datetime.now(timezone.utc)
        try:
            with self.engine.begin() as conn:
                revision = conn.execute(text("UPDATE kb_shared_state SET revision = revision + 1 "
                                             "WHERE key = 'main' RETURNING revision")).scalar_one()
                wrote = False
                for change in changes:
                    current = conn.execute(select(documents.c.version, documents.c.type, documents.c.deleted,
                                                  documents.c.origin)
                                           .where(documents.c.id == change.id).with_for_update()).first()
                    live = current is not None and not current.deleted
                    current_version = current.version if live else None
                    # already there: a retry (of a create: only of an editor's, a bundled id is taken)
                    if (change.version is not None and change.version == current_version
                            and (change.expected in (ANY, current_version)
                                 or (change.expected is None and current.origin == "editor"))):
                        continue
                    if change.expected is not ANY and change.expected != current_version:
                        raise VersionConflict(change.id, change.expected, current_version,
                                              current.type if live else None)
                    if change.text is None and not live:
                        continue
                    self._write(conn, change, current is not None, revision, who, now)
                    wrote = True
                if not wrote:
                    raise _Unchanged
                conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                             {"channel": CHANNEL, "payload": str(revision)})
        except _Unchanged:             # the transaction rolled back: the counter did not move
            return self.revision()
        return revision

    def _write(self, conn, change: Change, exists: bool, revision: int, who: str, now: datetime,
               origin: str = "editor") -> None:
        values = dict(type=change.type, text=change.text or "", version=change.version or "", revision=revision,
                      deleted=change.text is None, origin=origin, updated_at=now, updated_by=who)
        if exists:
            conn.execute(update(documents).where(documents.c.id == change.id).values(**values))
        else:
            conn.execute(insert(documents).values(id=change.id, **values))
        # a deletion is history too (version and text empty): `kb history` shows who removed the document,
        # and its earlier versions stay there to restore
        conn.execute(insert(history).values(id=change.id, version=values["version"], text=change.text or "",
                                            revision=revision, who=who, action=change.action, at=now))

    def load_release(self, release: dict[str, tuple[str, str]], only_if_none: bool = False) -> tuple[int, int]:
        """Load the bundled content of a release ({id: (type, text)}) once: whichever node runs it first
        takes the advisory lock, the others find the release recorded and do nothing. A document an editor
        changed keeps the editor's text; a bundled document the release no longer has is removed unless an
        editor changed it. Returns (documents written, revision)."""
        fingerprint = hashlib.sha256("\n".join(f"{i}:{version_of(t)}" for i, (_, t) in sorted(release.items()))
                                      .encode("utf-8")).hexdigest()
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            conn.execute(text(f"SELECT pg_advisory_xact_lock({RELEASE_LOCK})"))
            loaded = conn.execute(select(state.c.release).where(state.c.key == "main")).scalar_one()
            if loaded == fingerprint or (only_if_none and loaded is not None):
                return 0, conn.execute(select(state.c.revision).where(state.c.key == "main")).scalar_one()
            revision = conn.execute(text("UPDATE kb_shared_state SET revision = revision + 1, release = :release "
                                         "WHERE key = 'main' RETURNING revision"),
                                    {"release": fingerprint}).scalar_one()
            existing = {r.id: r for r in conn.execute(select(documents.c.id, documents.c.version, documents.c.origin,
                                                             documents.c.deleted).with_for_update())}
            written = 0
            for doc_id, (doc_type, body) in sorted(release.items()):
                row = existing.get(doc_id)
                if row is not None and (row.origin == "editor" or (row.version == version_of(body) and not row.deleted)):
                    continue
                self._write(conn, Change(doc_id, doc_type, body, action="release"), row is not None, revision,
                            "release", now, origin="release")
                written += 1
            for doc_id, row in existing.items():
                if doc_id not in release and row.origin == "release" and not row.deleted:
                    conn.execute(update(documents).where(documents.c.id == doc_id)
                                 .values(deleted=True, revision=revision, updated_at=now, updated_by="release"))
                    conn.execute(insert(history).values(id=doc_id, version="", text="", revision=revision,
                                                        who="release", action="release delete", at=now))
                    written += 1
            conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": str(revision)})
        return written, revision

    def dispose(self) -> None:
        self.engine.dispose()
