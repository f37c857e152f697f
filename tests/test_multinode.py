"""Shared (multi-node) mode on a real PostgreSQL (issue 21): several nodes, one database, nothing acknowledged lost.

Every test runs on a throwaway database created for it on the server KB_TEST_POSTGRES_URL names (skipped
without one; KB_REQUIRE_POSTGRES=1 makes that a failure). The fast tests run two nodes in this process; the
slow ones start real `kb serve` processes on loopback ports, send them concurrent writes and kill one with
SIGKILL in the middle of a burst.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from kb.config import ConfigError, load_settings

from conftest import case, eventually, postgres_url, technology, write

pytestmark = pytest.mark.postgres

TOKEN = "multinode-editor-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/markdown; charset=utf-8"}
ROOT = Path(__file__).resolve().parent.parent


# -- a throwaway database -----------------------------------------------------------------------
def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin(url: str):
    import psycopg

    from kb.shared.follower import libpq_url

    return psycopg.connect(libpq_url(_with_database(url, "postgres")), autocommit=True)


@contextmanager
def throwaway_database():
    """A new database beside the configured one (named after it, e.g. kb_h21_mn_1a2b3c4d), dropped afterwards."""
    base = postgres_url()
    name = (urlsplit(base).path.lstrip("/") or "kb") + "_mn_" + uuid.uuid4().hex[:8]
    with _admin(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(base, name)
    finally:
        with _admin(base) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def shared_url():
    with throwaway_database() as url:
        yield url


def node_settings(tmp_path: Path, content: Path, url: str, name: str):
    return load_settings(tmp_path / name, bundled_content=content, database_url=url, shared=True, editor_token=TOKEN)


def with_word(markdown: str, word: str) -> str:
    changed = markdown.replace("## 技术原理\n\n", f"## 技术原理\n\n{word}。", 1)
    assert changed != markdown
    return changed


# -- configuration ------------------------------------------------------------------------------
def test_shared_mode_needs_postgres(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_SHARED", "1")
    with pytest.raises(ConfigError, match="KB_SHARED=1.*KB_DATABASE_URL=postgresql"):
        load_settings(tmp_path / "instance", database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("KB_SHARED", "maybe")
    with pytest.raises(ConfigError, match="KB_SHARED"):
        load_settings(tmp_path / "instance")
    monkeypatch.setenv("KB_SHARED", "0")
    assert not load_settings(tmp_path / "instance").shared


def test_a_single_node_is_ready_once_it_serves(client):
    response = client.get("/api/ready")
    assert response.status_code == 200 and response.get_json()["ready"] is True
    assert response.headers["Cache-Control"] == "no-store"
    assert "503" in client.get("/api/openapi.json").get_json()["paths"]["/api/ready"]["get"]["responses"]


# -- two nodes in this process ------------------------------------------------------------------
@contextmanager
def running_nodes(root: Path, content: Path, url: str, count: int = 2):
    from web import create_app

    apps = [create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": node_settings(root, content, url, f"node{i}")}) for i in range(count)]
    try:
        yield apps
    finally:
        for app in apps:
            app.extensions["kb_editor"].close()
            app.extensions["kb"].close()


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    """Two nodes in this process on one database, shared by the tests that leave it usable for the next."""
    root = tmp_path_factory.mktemp("two-nodes")
    content = root / "content"
    write(content, "technologies", "general-activated-carbon", technology(
        "general-activated-carbon", "活性炭吸附法有机废气治理", summary="用活性炭吸附有机废气中的污染物，饱和后脱附再生或更换。"))
    write(content, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        summary="用循环惰性气体冷却红焦，回收显热产生蒸汽发电。", body="红焦在干熄炉内与循环气体换热。"))
    write(content, "cases", "case-coating-vocs", case("case-coating-vocs"))
    with throwaway_database() as url, running_nodes(root, content, url) as apps:
        yield apps



def test_a_write_on_one_node_is_checked_and_seen_by_the_other(two_nodes):
    a, b = (app.test_client() for app in two_nodes)
    doc = b.get("/api/documents/coking-cdq").get_json()
    assert doc["version"] and doc["markdown"].startswith("---")
    first = a.put("/api/documents/coking-cdq", data=with_word(doc["markdown"], "氢基竖炉").encode(),
                  headers={**AUTH, "If-Match": doc["version"]})
    assert first.status_code == 200, first.get_json()
    # searchable on the node that took the write when it answers
    assert [h["id"] for h in a.get("/api/search?q=氢基竖炉").get_json()["results"]] == ["coking-cdq"]
    # the other node checks the version in the database, not in its own copy
    stale = b.put("/api/documents/coking-cdq", data=with_word(doc["markdown"], "熔融还原").encode(),
                  headers={**AUTH, "If-Match": doc["version"]})
    assert stale.status_code == 409 and stale.get_json()["current_version"] == first.get_json()["version"]
    assert eventually(lambda: b.get("/api/search?q=氢基竖炉").get_json()["results"], seconds=5.0)
    assert b.get("/api/documents/coking-cdq").get_json()["version"] == first.get_json()["version"]
    ready = b.get("/api/ready")
    assert ready.status_code == 200 and ready.get_json()["revision"] == ready.get_json()["database_revision"]
    # history lives in the database: both nodes list the same entries
    editor_a, editor_b = (app.extensions["kb_editor"] for app in two_nodes)
    assert [e["action"] for e in editor_b.history("coking-cdq")] == ["release", "replace"]
    assert editor_a.history("coking-cdq") == editor_b.history("coking-cdq")


def test_an_editor_signed_in_through_one_node_is_signed_in_on_every_node(two_nodes):
    import re

    def csrf(page) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)

    a, b = (app.test_client() for app in two_nodes)
    assert a.post("/edit", data={"action": "signin", "token": TOKEN, "csrf_token": csrf(a.get("/edit"))}).status_code == 302
    token = csrf(a.get("/edit"))
    b.set_cookie("session", a.get_cookie("session").value)
    assert "/edit/signout" in b.get("/edit").get_data(as_text=True)
    # a form the editor loaded from one node is accepted by another (same session key, same CSRF secret)
    preview = b.post("/edit", data={"action": "preview", "text": case("case-shared-preview"), "csrf_token": token},
                     headers={"Origin": "http://localhost"})
    assert preview.status_code == 200 and "预览" in preview.get_data(as_text=True)


def test_reads_survive_an_unreachable_database_and_writes_say_503(two_nodes, monkeypatch):
    from sqlalchemy.exc import OperationalError

    a = two_nodes[0].test_client()
    before = a.get("/api/documents/coking-cdq").get_json()
    database = two_nodes[0].extensions["kb_editor"].database

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    for name in ("get", "commit", "revision"):
        monkeypatch.setattr(database, name, down)
    during = a.get("/api/documents/coking-cdq")
    assert during.status_code == 200
    assert (during.get_json()["markdown"], during.get_json()["version"]) == (before["markdown"], before["version"])
    assert a.get("/api/search?q=干熄焦").status_code == 200
    put = a.put("/api/documents/coking-cdq", data=with_word(before["markdown"], "断线").encode(),
                headers={**AUTH, "If-Match": before["version"]})
    assert put.status_code == 503 and put.headers["Retry-After"] == "5"
    assert a.get("/api/ready").status_code == 503


def test_a_node_follows_a_database_restored_from_an_older_backup(tmp_path, content, shared_url):
    from sqlalchemy import text

    with running_nodes(tmp_path, content, shared_url) as two_nodes:
        _follows_restored_database(two_nodes, text)


def _follows_restored_database(two_nodes, text) -> None:
    a, b = (app.test_client() for app in two_nodes)
    text_ = case("case-shared-restore").replace("测试用涂装企业VOCs治理案例", "宿迁某涂装企业喷漆房改造案例")
    assert a.post("/api/cases", data=text_.encode(), headers=AUTH).status_code == 201
    assert eventually(lambda: "case-shared-restore" in [h["id"] for h in b.get("/api/search?q=宿迁").get_json()["results"]],
                      seconds=10.0)
    # the backup predates that create: the counter is back at 1 and the row is not there
    database = two_nodes[1].extensions["kb_editor"].database
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM kb_shared_documents WHERE id = 'case-shared-restore'"))
        conn.execute(text("UPDATE kb_shared_state SET revision = 1"))
    assert eventually(lambda: b.get("/api/documents/case-shared-restore").status_code == 404, seconds=10.0)
    assert b.get("/api/search?q=宿迁").get_json()["results"] == []
    assert b.get("/api/ready").get_json() == {"ready": True, "revision": 1, "database_revision": 1}


def test_create_is_refused_for_a_taken_id_and_a_retry_is_not_a_conflict(two_nodes):
    a, b = (app.test_client() for app in two_nodes)
    text = case("case-shared-new").replace("测试用涂装企业VOCs治理案例", "南通某印染企业中水回用案例")
    assert a.post("/api/cases", data=text.encode(), headers=AUTH).status_code == 201
    assert b.post("/api/cases", data=text.encode(), headers=AUTH).status_code == 201       # a retried create
    other = text.replace("南通某印染企业", "盐城某印染企业")
    assert b.post("/api/cases", data=other.encode(), headers=AUTH).status_code == 409
    assert b.post("/api/cases", data=case("case-coating-vocs").encode(), headers=AUTH).status_code == 409


def test_the_follower_is_told_by_notify_not_only_by_its_periodic_check(tmp_path, shared_url):
    from types import SimpleNamespace

    from kb.shared.database import Change, SharedDatabase
    from kb.shared.follower import Follower

    database = SharedDatabase(shared_url)
    told = threading.Event()
    mirror = SimpleNamespace(database=database, applied=database.revision(),
                             settings=SimpleNamespace(shared_url=shared_url))
    follower = Follower(mirror, SimpleNamespace(rebuild=told.set), poll_seconds=60.0).start()
    try:
        time.sleep(1.0)                           # LISTEN is in place (its first check found nothing to do)
        assert not told.is_set()
        database.commit([Change("coking-cdq", "technology", technology("coking-cdq", "干熄焦"), expected=None)], "t")
        assert told.wait(5.0)                     # long before the 60 s check
    finally:
        follower.stop(timeout=1.0)
        database.dispose()


def test_release_is_loaded_once_and_keeps_editors_changes(tmp_path, content, shared_url):
    from kb.shared.database import Change, SharedDatabase
    from kb.shared.mirror import publish_release

    settings = node_settings(tmp_path, content, shared_url, "node1")
    database = SharedDatabase(shared_url)
    try:
        written, revision = publish_release(settings, database)
        assert written == 5 and revision == 1
        assert publish_release(settings, database) == (0, 1)           # the same release: nothing to do
        edited = with_word(database.get("coking-cdq").text, "编辑改过")
        database.commit([Change("coking-cdq", "technology", edited, expected=database.get("coking-cdq").version)],
                        "token:test")
        # the next release changes two bundled entries and drops one
        cdq = content / "technologies" / "coking-cdq.md"
        cdq.write_text(with_word(cdq.read_text(encoding="utf-8"), "新版随附"), encoding="utf-8")
        whr = content / "technologies" / "building-cement-whr.md"
        whr.write_text(with_word(whr.read_text(encoding="utf-8"), "新版随附"), encoding="utf-8")
        (content / "technologies" / "plating-countercurrent-rinse.md").unlink()
        written, revision = publish_release(settings, database)
        assert written == 2 and revision == 3
        assert "编辑改过" in database.get("coking-cdq").text                # the editor's text is kept
        assert "新版随附" in database.get("building-cement-whr").text
        assert database.get("plating-countercurrent-rinse") is None
        assert sorted(r.id for r in database.changes_since(2).rows) == ["building-cement-whr",
                                                                       "plating-countercurrent-rinse"]
    finally:
        database.dispose()


def test_concurrent_releases_on_many_nodes_load_once(tmp_path, content, shared_url):
    from kb.shared.database import SharedDatabase
    from kb.shared.mirror import publish_release

    settings = node_settings(tmp_path, content, shared_url, "node1")
    databases = [SharedDatabase(shared_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda d: publish_release(settings, d), databases))
        assert sorted(w for w, _ in results) == [0, 0, 0, 5] and {r for _, r in results} == {1}
    finally:
        for database in databases:
            database.dispose()


# -- real `kb serve` nodes ----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `kb serve` process with its own instance folder, on a loopback port."""

    def __init__(self, tmp_path: Path, url: str, name: str):
        self.name, self.port = name, free_port()
        self.home = tmp_path / name
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KB_HOME": str(self.home), "KB_SHARED": "1", "KB_DATABASE_URL": url,
               "KB_EDITOR_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
        env.pop("KB_CONTENT_DIR", None)
        self.log = open(self.home / "serve.log", "wb")
        kb = Path(sys.executable).with_name("kb")
        command = [str(kb)] if kb.exists() else [sys.executable, "-c", "from kb.cli import main; main()"]
        self.proc = subprocess.Popen([*command, "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 60.0) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, (json.loads(data) if data[:1] in (b"{", b"[") else {})
        finally:
            conn.close()

    def search(self, word: str) -> list[str]:
        return [h["id"] for h in self.request("GET", f"/api/search?q={quote(word)}&per_page=50")[1]["results"]]

    def wait_ready(self, timeout: float = 240.0) -> float:
        """Seconds until the first answer (the port opens only once the node has caught up)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {(self.home / 'serve.log').read_text(errors='replace')[-2000:]}")
            try:
                if self.request("GET", "/api/ready", timeout=5)[0] == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def cluster(tmp_path, content, shared_url):
    """Three nodes on one database whose content (the test's small release) was loaded first."""
    from kb.shared.database import SharedDatabase
    from kb.shared.mirror import publish_release

    database = SharedDatabase(shared_url)
    publish_release(node_settings(tmp_path, content, shared_url, "loader"), database)
    nodes = [Node(tmp_path, shared_url, f"node{i}") for i in range(3)]
    try:
        for node in nodes:
            node.wait_ready()
        yield nodes, database
    finally:
        for node in nodes:
            node.stop()
        database.dispose()


def new_case(doc_id: str, place: str) -> str:
    return case(doc_id).replace("测试用涂装企业VOCs治理案例", f"{place}某涂装企业VOCs治理案例")


@pytest.mark.slow
def test_three_nodes(tmp_path, cluster):
    nodes, database = cluster

    # 1. a write on one node is searchable on every node within 5 s (three writes, each through another node)
    seen_everywhere = []
    for round_, word in enumerate(("熔融还原", "直接还原铁", "氢基竖炉")):
        writer = nodes[round_ % 3]
        status, doc = writer.request("GET", "/api/documents/coking-cdq")
        status, answer = writer.request("PUT", "/api/documents/coking-cdq",
                                        with_word(doc["markdown"], word).encode("utf-8"),
                                        {**AUTH, "If-Match": doc["version"]})
        acknowledged = time.monotonic()
        assert status == 200, answer
        assert writer.search(word) == ["coking-cdq"]
        for node in nodes:
            assert eventually(lambda: node.search(word) == ["coking-cdq"], seconds=5.0), node.name
        seen_everywhere.append(time.monotonic() - acknowledged)
    assert max(seen_everywhere) < 5.0

    # 2. 50 concurrent PUTs of one version spread over the nodes: exactly one 200, the others 409
    version = answer["version"]

    def put(i: int) -> int:
        body = with_word(doc["markdown"], f"并发修改第{i}次").encode("utf-8")
        return nodes[i % 3].request("PUT", "/api/documents/coking-cdq", body, {**AUTH, "If-Match": version})[0]

    started = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        statuses = Counter(pool.map(put, range(50)))
    puts_seconds = time.monotonic() - started
    assert statuses == Counter({200: 1, 409: 49}), statuses
    assert [e["action"] for e in database.history("coking-cdq")] == ["release"] + ["replace"] * 4

    # 3. kill -9 one node during a burst of creates: every acknowledged write is kept
    acked: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def writer(worker: int) -> None:
        for i in range(6):
            doc_id = f"case-burst-{worker}-{i}"
            node = nodes[(worker + i) % 3]
            try:
                status, _ = node.request("POST", "/api/cases", new_case(doc_id, f"第{worker}-{i}号").encode("utf-8"),
                                         AUTH, timeout=60)
            except OSError:
                continue                           # the killed node: not acknowledged
            if status == 201:
                with lock:
                    acked.append(doc_id)
                    if len(acked) >= 8 and not killed.is_set():
                        killed.set()
                        nodes[2].proc.send_signal(signal.SIGKILL)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(writer, range(6)))
    assert killed.is_set() and nodes[2].proc.wait(10) == -signal.SIGKILL
    assert len(acked) >= 12
    for doc_id in acked:
        assert database.get(doc_id) is not None, doc_id
    survivors = nodes[:2]
    for node in survivors:
        assert eventually(lambda: all(node.request("GET", f"/api/documents/{d}")[0] == 200 for d in acked),
                        seconds=10.0), node.name
        assert set(acked) <= set(node.search("涂装企业VOCs治理案例"))

    # 4. a node started later catches up before it answers
    late = Node(tmp_path, database.url, "late")
    try:
        late.wait_ready()
        assert late.search("氢基竖炉") == [] and late.search("并发修改") == ["coking-cdq"]
        for doc_id in acked:
            assert late.request("GET", f"/api/documents/{doc_id}")[0] == 200, doc_id
        status, ready = late.request("GET", "/api/ready")
        assert status == 200 and ready["revision"] == database.revision()
    finally:
        late.stop()
    print("\nseen on every node " + ", ".join(f"{s:.2f}" for s in seen_everywhere) + " s after the 200; "
          f"50 concurrent PUTs answered in {puts_seconds:.2f} s; {len(acked)} writes acknowledged in the burst")


# -- kb content export / import -----------------------------------------------------------------
@pytest.fixture
def shared_env(tmp_path, content, shared_url, monkeypatch):
    """The CLI's environment for a shared node whose database holds the test content."""
    from kb.shared.database import SharedDatabase
    from kb.shared.mirror import publish_release

    database = SharedDatabase(shared_url)
    publish_release(node_settings(tmp_path, content, shared_url, "loader"), database)
    monkeypatch.setenv("KB_HOME", str(tmp_path / "cli-node"))
    monkeypatch.setenv("KB_SHARED", "1")
    monkeypatch.setenv("KB_DATABASE_URL", shared_url)
    monkeypatch.delenv("KB_CONTENT_DIR", raising=False)
    yield database
    database.dispose()


def test_content_export_and_import_check_versions(tmp_path, shared_env):
    from click.testing import CliRunner

    from kb.cli import main
    from kb.shared.database import Change

    database, runner, out = shared_env, CliRunner(), tmp_path / "review"
    result = runner.invoke(main, ["content", "export", str(out)])
    assert result.exit_code == 0, result.output
    cdq = out / "technologies" / "coking-cdq.md"
    assert cdq.read_text(encoding="utf-8") == database.get("coking-cdq").text
    assert json.loads((out / ".kb-versions.json").read_text())["documents"]["coking-cdq"] == database.get("coking-cdq").version

    # a reviewed edit and a new document go back in one transaction
    cdq.write_text(with_word(cdq.read_text(encoding="utf-8"), "审阅后修改"), encoding="utf-8")
    (out / "cases" / "case-review-new.md").write_text(new_case("case-review-new", "淮安"), encoding="utf-8")
    before = database.revision()
    result = runner.invoke(main, ["content", "import", str(out), "--who", "审阅人"])
    assert result.exit_code == 0, result.output
    assert database.revision() == before + 1
    assert "审阅后修改" in database.get("coking-cdq").text and database.get("case-review-new") is not None
    assert database.history("coking-cdq")[-1]["who"] == "审阅人"
    # importing the same folder again changes nothing
    assert runner.invoke(main, ["content", "import", str(out)]).exit_code == 0 and database.revision() == before + 1

    # someone publishes after the export: the stale file is refused, naming file and versions, nothing written
    current = database.get("coking-cdq")
    database.commit([Change("coking-cdq", "technology", with_word(current.text, "网页上修改"), expected=current.version)],
                    "token:web")
    newer = database.get("coking-cdq").version
    cdq.write_text(with_word(cdq.read_text(encoding="utf-8"), "又一次审阅"), encoding="utf-8")
    rinse = out / "technologies" / "plating-countercurrent-rinse.md"
    rinse.write_text(with_word(rinse.read_text(encoding="utf-8"), "同批修改"), encoding="utf-8")
    result = runner.invoke(main, ["content", "import", str(out)])
    assert result.exit_code == 1
    assert str(cdq) in result.output and current.version[:12] in result.output and newer[:12] in result.output
    assert "同批修改" not in database.get("plating-countercurrent-rinse").text

    # a folder with only a new case may link to a technology it does not hold (the database has it)
    partial = tmp_path / "partial"
    write(partial, "cases", "case-review-partial", new_case("case-review-partial", "连云港"))
    result = runner.invoke(main, ["content", "import", str(partial)])
    assert result.exit_code == 0, result.output
    assert database.get("case-review-partial") is not None
    write(partial, "cases", "case-review-dangling", new_case("case-review-dangling", "徐州").replace(
        "[general-activated-carbon]", "[general-no-such-technology]"))
    result = runner.invoke(main, ["content", "import", str(partial)])
    assert result.exit_code == 1 and "general-no-such-technology" in result.output

    # a file with a content problem is refused with its file and line
    rinse.write_text(rinse.read_text(encoding="utf-8").replace("type: technology", "type: gadget"), encoding="utf-8")
    result = runner.invoke(main, ["content", "import", str(out)])
    assert result.exit_code == 1 and "plating-countercurrent-rinse.md:" in result.output


def test_content_commands_need_shared_mode(runner):
    from kb.cli import main

    result = runner.invoke(main, ["content", "export", "out"])
    assert result.exit_code == 2 and "KB_SHARED=1" in result.output


def test_content_import_delete_removes_only_exported_documents_still_as_exported(tmp_path, shared_env):
    from click.testing import CliRunner

    from kb.cli import main
    from kb.shared.database import Change

    database, runner, out = shared_env, CliRunner(), tmp_path / "review"
    (tmp_path / "new").mkdir()
    write(tmp_path / "new", "cases", "case-review-gone", new_case("case-review-gone", "宿迁"))
    assert runner.invoke(main, ["content", "import", str(tmp_path / "new")]).exit_code == 0
    assert runner.invoke(main, ["content", "export", str(out)]).exit_code == 0
    (out / "cases" / "case-review-gone.md").unlink()

    # without --delete a missing file is not a deletion
    assert runner.invoke(main, ["content", "import", str(out)]).exit_code == 0
    assert database.get("case-review-gone") is not None
    # a document changed in the database since the export is not deleted: nothing is written
    rinse = out / "technologies" / "plating-countercurrent-rinse.md"
    current = database.get("plating-countercurrent-rinse")
    database.commit([Change(current.id, current.type, with_word(current.text, "导出后修改"), expected=current.version)],
                    "token:web")
    rinse.unlink()
    before = database.revision()
    result = runner.invoke(main, ["content", "import", str(out), "--delete"])
    assert result.exit_code == 1 and "plating-countercurrent-rinse" in result.output and "导出后已改为版本" in result.output
    assert database.revision() == before and database.get("case-review-gone") is not None
    # once the review agrees with the database, --dry-run lists the deletion and --delete makes it
    assert runner.invoke(main, ["content", "export", str(out)]).exit_code == 0
    (out / "cases" / "case-review-gone.md").unlink()
    result = runner.invoke(main, ["content", "import", str(out), "--delete", "--dry-run"])
    assert result.exit_code == 0 and "将删除 case-review-gone" in result.output
    assert database.get("case-review-gone") is not None
    before = database.revision()
    result = runner.invoke(main, ["content", "import", str(out), "--delete", "--who", "审阅人"])
    assert result.exit_code == 0, result.output
    assert database.get("case-review-gone") is None and database.get("plating-countercurrent-rinse") is not None
    tombstone = next(r for r in database.changes_since(before).rows if r.id == "case-review-gone")
    assert tombstone.deleted and tombstone.updated_by == "审阅人"
    assert "case-review-gone" not in json.loads((out / ".kb-versions.json").read_text())["documents"]
    # a folder holding only some documents deletes nothing else
    partial = tmp_path / "partial"
    write(partial, "cases", "case-review-partial2", new_case("case-review-partial2", "泰州"))
    assert runner.invoke(main, ["content", "import", str(partial), "--delete"]).exit_code == 0
    assert database.get("coking-cdq") is not None


def test_content_import_delete_keeps_links_whole_and_history_records_the_deletion(tmp_path, shared_env):
    from click.testing import CliRunner

    from kb.cli import main

    database, runner, out = shared_env, CliRunner(), tmp_path / "review"
    assert runner.invoke(main, ["content", "export", str(out)]).exit_code == 0
    linking = sorted(p.name for p in (out / "cases").glob("*.md")
                     if "general-activated-carbon" in p.read_text(encoding="utf-8"))
    assert linking
    # a technology that cases still link to is not deleted: each linking case is named with its line
    (out / "technologies" / "general-activated-carbon.md").unlink()
    before = database.revision()
    result = runner.invoke(main, ["content", "import", str(out), "--delete"])
    assert result.exit_code == 1, result.output
    assert all(f"{name}:" in result.output for name in linking) and "链接到「general-activated-carbon」" in result.output
    assert database.revision() == before and database.get("general-activated-carbon") is not None

    # a deletion is recorded in the history, and the document can be restored from its last version
    assert runner.invoke(main, ["content", "export", str(out)]).exit_code == 0
    exported = database.get(linking[0].removesuffix(".md")).version
    (out / "cases" / linking[0]).unlink()
    result = runner.invoke(main, ["content", "import", str(out), "--delete", "--who", "审阅人"])
    assert result.exit_code == 0, result.output
    doc_id = linking[0].removesuffix(".md")
    assert database.get(doc_id) is None
    last = database.history(doc_id)[-1]
    assert (last["action"], last["who"], last["version"]) == ("import delete", "审阅人", "")
    listed = runner.invoke(main, ["history", doc_id])
    assert listed.exit_code == 0 and "（已删除）" in listed.output and "import delete" in listed.output
    restored = runner.invoke(main, ["history", doc_id, exported[:12]])
    assert restored.exit_code == 0, restored.output
    assert database.get(doc_id).version == exported
