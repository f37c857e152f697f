"""The store on SQLite everywhere and on a real PostgreSQL server when one is configured."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from kb.loader import load_content
from kb.store import Store

from conftest import postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        yield s
        s.dispose()
        return
    base = postgres_url()
    schema = "kb_test_" + uuid.uuid4().hex[:8]
    admin = Store.__new__(Store)
    from kb.store import make_engine

    engine = make_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    s = Store(f"{base}{sep}options=-csearch_path%3D{schema}")
    yield s
    s.dispose()
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def test_sync_insert_update_delete_round_trip(store, content):
    docs = load_content([content]).documents
    changed, removed = store.sync(docs.values())
    assert sorted(changed) == sorted(docs) and removed == []
    row = store.get("coking-cdq")
    assert row.title == "干熄焦" and row.sectors == ["焦化", "钢铁"]
    assert row.as_dict()["source"]["number"] == "HJ 2026-2013"
    assert store.sync(docs.values()) == ([], [])

    cdq = docs["coking-cdq"]
    cdq.content_hash = "changed"
    cdq.meta["summary"] = "更新后的摘要，含中文与 Unicode ≤ ≥ ℃。"
    del docs["plating-countercurrent-rinse"]
    assert store.sync(docs.values()) == (["coking-cdq"], ["plating-countercurrent-rinse"])
    assert store.get("coking-cdq").meta["summary"].endswith("≤ ≥ ℃。")
    assert store.get("plating-countercurrent-rinse") is None
    assert store.count() == len(docs)
    assert [r.id for r in store.all("case")] == ["case-coating-vocs"]
    assert set(store.get_many(["coking-cdq", "nope"])) == {"coking-cdq"}
    # an export asks for thousands at once: more ids than SQLite's old parameter limit
    many = [f"missing-{i}" for i in range(2500)] + ["case-coating-vocs", "coking-cdq"]
    assert set(store.get_many(many)) == {"case-coating-vocs", "coking-cdq"}
    # a search response's front matter per hit: the rows' meta, nothing else, the same over the parameter limit
    metas = store.meta_many(many + ["../bad id"])
    assert metas == {i: r.meta for i, r in store.get_many(many).items()}
    assert metas["coking-cdq"]["summary"].endswith("≤ ≥ ℃。")


def test_failed_sync_rolls_back(store, content):
    docs = load_content([content]).documents
    store.sync(docs.values())
    bad = docs["coking-cdq"]
    bad.content_hash = "x"
    bad.meta = {"unserialisable": object()}
    with pytest.raises(Exception):
        store.sync(docs.values())
    assert store.get("coking-cdq").title == "干熄焦"
    assert store.count() == len(docs)


def test_rows_without_bodies_hold_everything_else_and_refuse_the_body(store, content):
    """Lists and counts (home page, sector pages, audit tables) read rows without their bodies: at 20k
    entries the bodies were most of the memory the home page's statistics took."""
    from sqlalchemy.exc import SQLAlchemyError

    docs = load_content([content]).documents
    store.sync(docs.values())
    full, light = store.all(), store.all(body=False)
    assert [(r.id, r.type, r.title, r.sectors, r.year, r.meta) for r in light] == \
        [(r.id, r.type, r.title, r.sectors, r.year, r.meta) for r in full]
    assert [r.id for r in store.all("case", body=False)] == ["case-coating-vocs"]
    with pytest.raises(SQLAlchemyError):
        light[0].body                    # never a silent lazy load of what was left out


def test_a_sync_of_thousands_is_inserted_in_batches_and_still_one_transaction(store, content):
    """A full build writes its rows 500 at a time (so only one batch's parameters are in memory); the batches
    are one transaction: a row that cannot be written in the last batch leaves the table as it was."""
    import copy

    docs = load_content([content]).documents
    template = docs["coking-cdq"]
    many = dict(docs)
    for i in range(1203):
        doc = copy.copy(template)
        doc.id, doc.content_hash, doc.meta = f"coking-copy-{i:04d}", f"hash-{i}", dict(template.meta)
        many[doc.id] = doc
    changed, removed = store.sync(many.values())
    assert len(changed) == len(many) and removed == [] and store.count() == len(many)
    assert store.get("coking-copy-1202").title == "干熄焦"

    for i in range(1203):
        many[f"coking-copy-{i:04d}"].content_hash = f"changed-{i}"
    many["coking-copy-1202"].meta = {"unserialisable": object()}     # in the third batch
    with pytest.raises(Exception):
        store.sync(many.values())
    assert store.count() == len(many) and store.get("coking-copy-0000").content_hash == "hash-0"
