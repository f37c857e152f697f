"""The document store: one table of validated documents, on SQLite by default or PostgreSQL.

Pages, the API and the recommender read documents from here; the index only answers "which ids".
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import JSON, DateTime, Integer, String, Text, create_engine, delete, event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .documents import Document


class Base(DeclarativeBase):
    pass


class DocumentRow(Base):
    __tablename__ = "documents"

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


class Store:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)

    def hashes(self) -> dict[str, str]:
        with Session(self.engine) as session:
            return dict(session.execute(select(DocumentRow.id, DocumentRow.content_hash)).all())

    def sync(self, documents: Iterable[Document]) -> tuple[list[str], list[str]]:
        """Make the table equal to documents in one transaction; returns (changed ids, removed ids)."""
        documents = {d.id: d for d in documents}
        now = datetime.now(timezone.utc)
        changed, removed = [], []
        with Session(self.engine) as session, session.begin():
            existing = dict(session.execute(select(DocumentRow.id, DocumentRow.content_hash)).all())
            removed = sorted(set(existing) - set(documents))
            rows = []
            for doc in documents.values():
                if existing.get(doc.id) == doc.content_hash:
                    continue
                changed.append(doc.id)
                rows.append(dict(id=doc.id, type=doc.type, title=doc.title, sectors=doc.sectors, year=doc.year,
                                 meta=doc.meta, body=doc.body, path=doc.path, content_hash=doc.content_hash,
                                 updated_at=now))
            # delete + one executemany insert: a full build of 20k entries is one statement batch,
            # not 20k merge round trips
            stale = removed + [i for i in changed if i in existing]
            for start in range(0, len(stale), 500):
                session.execute(delete(DocumentRow).where(DocumentRow.id.in_(stale[start:start + 500])))
            if rows:
                session.execute(insert(DocumentRow), rows)
        return changed, removed

    def get(self, doc_id: str) -> DocumentRow | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(DocumentRow, doc_id)

    def get_many(self, ids: Iterable[str]) -> dict[str, DocumentRow]:
        ids = list(ids)
        found: dict[str, DocumentRow] = {}
        with Session(self.engine, expire_on_commit=False) as session:
            for start in range(0, len(ids), 900):      # under SQLite's old 999-parameter limit
                chunk = ids[start:start + 900]
                found.update((r.id, r) for r in session.scalars(select(DocumentRow).where(DocumentRow.id.in_(chunk))))
        return found

    def all(self, type: str | None = None) -> list[DocumentRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            stmt = select(DocumentRow).order_by(DocumentRow.type, DocumentRow.id)
            if type:
                stmt = stmt.where(DocumentRow.type == type)
            return list(session.scalars(stmt).all())

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(DocumentRow)) or 0

    def dispose(self) -> None:
        self.engine.dispose()
