"""The document store: one table of validated documents, on SQLite by default or PostgreSQL.

Pages, the API and the recommender read documents from here; the index only answers "which ids".
Every row belongs to a namespace (one per instance, `Settings.namespace`): several instances can share
one database, and each one's sync and reads touch only its own rows.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from sqlalchemy import (JSON, DateTime, Integer, String, Text, create_engine, delete, event, func, insert, inspect,
                        select, text)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, defer, mapped_column

from .documents import Document


DEFAULT_NAMESPACE = "default"


class Base(DeclarativeBase):
    pass


class DocumentRow(Base):
    __tablename__ = "documents"

    namespace: Mapped[str] = mapped_column(String(100), primary_key=True, default=DEFAULT_NAMESPACE)
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(Text)
    sectors: Mapped[list] = mapped_column(JSON)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    meta: Mapped[dict] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.meta)
        data.update(id=self.id, type=self.type, title=self.title, sectors=list(self.sectors))
        return data


def _id_chunks(ids: Iterable[str], size: int = 900) -> Iterator[list[str]]:
    """The ids a row can have, in lists under SQLite's old 999-parameter limit."""
    ids = [i for i in ids if _storable(i)]
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _):
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True)


def _unscoped(conn: Connection) -> bool:
    """True when `documents` is the table of kb before namespaces (no namespace column)."""
    inspector = inspect(conn)
    if not inspector.has_table(DocumentRow.__tablename__):
        return False
    return "namespace" not in {c["name"] for c in inspector.get_columns(DocumentRow.__tablename__)}


def _prepare_schema(engine: Engine, namespace: str) -> None:
    """Create the table, or migrate one from before namespaces: its rows move to this namespace
    (the first instance to open it after the upgrade; any other instance refills its own at its next build).
    On PostgreSQL an advisory lock makes concurrent first opens take turns."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7311400013)"))
        if _unscoped(conn):
            conn.execute(text("ALTER TABLE documents RENAME TO documents_unscoped"))
            if conn.dialect.name == "postgresql":     # constraint names are schema-wide there
                conn.execute(text("ALTER TABLE documents_unscoped RENAME CONSTRAINT documents_pkey "
                                  "TO documents_unscoped_pkey"))
            conn.execute(text("DROP INDEX IF EXISTS ix_documents_type"))
            Base.metadata.create_all(conn)
            columns = "id, type, title, sectors, year, meta, body, path, content_hash, updated_at"
            conn.execute(text(f"INSERT INTO documents (namespace, {columns}) SELECT :namespace, {columns} "
                              f"FROM documents_unscoped"), {"namespace": namespace})
            conn.execute(text("DROP TABLE documents_unscoped"))
        else:
            Base.metadata.create_all(conn)


def _storable(doc_id: str) -> bool:
    """Ids a row can have: PostgreSQL text holds no NUL, so such an id is simply not found."""
    return isinstance(doc_id, str) and "\x00" not in doc_id


class Store:
    def __init__(self, url: str, namespace: str = DEFAULT_NAMESPACE):
        self.url = url
        self.namespace = namespace
        self.engine = make_engine(url)
        _prepare_schema(self.engine, namespace)

    @classmethod
    def for_settings(cls, settings) -> "Store":
        """The store of one instance: its database, its namespace."""
        return cls(settings.database_url, settings.namespace)

    def _mine(self):
        return DocumentRow.namespace == self.namespace

    def sync(self, documents: Iterable[Document]) -> tuple[list[str], list[str]]:
        """Make this namespace's rows equal to documents in one transaction; returns (changed ids, removed ids).
        Rows of other namespaces (other instances on the same database) are never read or touched."""
        documents = {d.id: d for d in documents}
        now = datetime.now(timezone.utc)
        # a Core connection, not an ORM session: the 20k (id, hash) pairs read on every build of a running
        # server come back as plain tuples
        with self.engine.begin() as session:
            existing = dict(session.execute(
                select(DocumentRow.id, DocumentRow.content_hash).where(self._mine())).all())
            removed = sorted(set(existing) - set(documents))
            changed = [doc.id for doc in documents.values() if existing.get(doc.id) != doc.content_hash]
            # delete + executemany inserts of 500 rows: a full build of 20k entries is 40 statement batches,
            # not 20k merge round trips, and only 500 rows' parameters (meta as JSON, bodies) exist at a time
            stale = removed + [i for i in changed if i in existing]
            for start in range(0, len(stale), 500):
                session.execute(delete(DocumentRow).where(self._mine(),
                                                          DocumentRow.id.in_(stale[start:start + 500])))
            for start in range(0, len(changed), 500):
                session.execute(insert(DocumentRow), [
                    dict(namespace=self.namespace, id=doc.id, type=doc.type, title=doc.title, sectors=doc.sectors,
                         year=doc.year, meta=doc.meta, body=doc.body, path=doc.path, content_hash=doc.content_hash,
                         updated_at=now)
                    for doc in map(documents.__getitem__, changed[start:start + 500])])
        return changed, removed

    def get(self, doc_id: str) -> DocumentRow | None:
        if not _storable(doc_id):
            return None
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(DocumentRow, (self.namespace, doc_id))

    def get_many(self, ids: Iterable[str]) -> dict[str, DocumentRow]:
        found: dict[str, DocumentRow] = {}
        with Session(self.engine, expire_on_commit=False) as session:
            for chunk in _id_chunks(ids):
                found.update((r.id, r) for r in session.scalars(
                    select(DocumentRow).where(self._mine(), DocumentRow.id.in_(chunk))))
        return found

    def meta_many(self, ids: Iterable[str]) -> dict[str, dict]:
        """id → front matter of these documents: one Core query of two columns, no ORM rows and no bodies
        (what a search response adds to each hit; get_many's full rows were a third of /api/search's CPU)."""
        found: dict[str, dict] = {}
        with self.engine.connect() as conn:
            for chunk in _id_chunks(ids):
                rows = conn.execute(select(DocumentRow.id, DocumentRow.meta)
                                    .where(self._mine(), DocumentRow.id.in_(chunk)))
                found.update((doc_id, meta) for doc_id, meta in rows)     # a Result has keys(): not a mapping
        return found

    def all(self, type: str | None = None, body: bool = True) -> list[DocumentRow]:
        """Every row (of one type). body=False leaves the Markdown body and path unread (reading them then
        raises): what lists and counts need, without holding 20k bodies in memory for it."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(self._rows(type, body)).all())

    def each(self, type: str | None = None, batch: int = 500) -> Iterator[DocumentRow]:
        """Every row without its body, read `batch` at a time: for a pass over the whole table (the home page's
        statistics) that keeps only what it needs of each row, so 20k rows are never all in memory at once."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield from session.scalars(self._rows(type, body=False).execution_options(yield_per=batch))

    def _rows(self, type: str | None, body: bool):
        """This instance's rows (of one type) in (type, id) order, with or without their bodies."""
        stmt = select(DocumentRow).where(self._mine()).order_by(DocumentRow.type, DocumentRow.id)
        if type:
            stmt = stmt.where(DocumentRow.type == type)
        if not body:
            stmt = stmt.options(defer(DocumentRow.body, raiseload=True), defer(DocumentRow.path, raiseload=True))
        return stmt

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(DocumentRow).where(self._mine())) or 0

    def dispose(self) -> None:
        self.engine.dispose()
