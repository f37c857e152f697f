"""Issue 13 (requests, builds and stores): each failure found by an attacker's or a load test's hand,
reproduced here against what a user or an operator sees.

PostgreSQL cases run against the real server named by KB_TEST_POSTGRES_URL (as tests/test_store.py does).
"""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from conftest import postgres_url, write
from kb.config import load_settings
from kb.knowledge import KnowledgeBase
from kb.store import Store, make_engine
from web.context import MAX_FILTER_VALUES, MAX_JSON_DEPTH, MAX_VALUES_PER_FILTER

SPECS = Path(__file__).resolve().parent.parent / "kb" / "content" / "specs"


@pytest.fixture
def content(content):
    # the real 电镀 2015 table: an assessable spec, so /api/assess reaches the value checks
    (content / "specs").mkdir(exist_ok=True)
    (content / "specs" / "spec-plating-2015.md").write_text(
        (SPECS / "spec-plating-2015.md").read_text(encoding="utf-8"), encoding="utf-8")
    return content


@pytest.fixture
def postgres_schema_url():
    """A database URL whose search_path is a fresh schema on the real PostgreSQL server (dropped afterwards)."""
    base = postgres_url()
    schema = "kb_test_" + uuid.uuid4().hex[:8]
    engine = make_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


# -- repeated parameters ------------------------------------------------------------------------

def test_repeated_filter_values_are_refused_fast_with_the_field_named(client):
    query = "q=余热&" + "&".join(f"year={2000 + i % 20}" for i in range(2000))
    for path in ("/search", "/api/search"):
        started = time.perf_counter()
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert time.perf_counter() - started < 1.0
        assert len(response.data) < 20_000          # was 58 MB for the page
    details = client.get(f"/api/search?{query}").get_json()["details"]
    assert any(d["field"] == "year" and str(MAX_VALUES_PER_FILTER) in d["message"] for d in details)
    # the total over all filters is capped as well, each filter under its own cap
    spread = "&".join(f"{name}={i}" for name in ("tag", "category", "source") for i in range(15))
    details = client.get(f"/api/search?q=余热&{spread}").get_json()["details"]
    assert any(d["field"] == "query" and str(MAX_FILTER_VALUES) in d["message"] for d in details)
    # any parameter repeated beyond the total cap
    assert client.get("/search?q=余热&" + "&".join(f"utm={i}" for i in range(500))).status_code == 400


def test_search_page_size_grows_linearly_within_the_caps(client):
    def size(n: int) -> int:
        response = client.get("/search?q=余热&" + "&".join(f"tag=t{i}" for i in range(n)))
        assert response.status_code == 200
        return len(response.data)
    # every chip links the search without itself: n chips × n parameters; within the caps the page stays small
    assert size(MAX_VALUES_PER_FILTER) < 150_000
    # unknown parameters are not echoed into every link
    page = client.get("/search?q=余热&tag=余热&" + "&".join(f"junk{i}=x" for i in range(30))).get_data(as_text=True)
    assert "junk" not in page


def test_facet_links_still_toggle_filters(client):
    page = client.get("/search?q=余热&tag=余热&sort=year&page=2").get_data(as_text=True)
    # the chip removes its own filter, keeps the rest, and resets to page 1
    assert 'href="/search?q=%E4%BD%99%E7%83%AD&amp;sort=year" title="移除"' in page
    assert "/export.csv?q=%E4%BD%99%E7%83%AD&amp;tag=%E4%BD%99%E7%83%AD&amp;sort=year" in page


# -- JSON bodies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/recommend", "/api/assess"])
def test_deeply_nested_json_is_a_400_naming_the_body(client, path):
    deep = "[" * 1000 + "]" * 1000
    response = client.post(path, data='{"sector": "电镀", "problem": "废水", "values": %s}' % deep,
                           content_type="application/json")
    assert response.status_code == 400
    body = response.get_json()
    assert body["details"] == [{"field": "body", "message": f"数组和对象最多嵌套 {MAX_JSON_DEPTH} 层"}]
    # a body just under the limit still goes through to the field checks
    shallow = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    response = client.post(path, data='{"sector": "电镀", "problem": "废水", "values": %s}' % shallow,
                            content_type="application/json")
    assert response.status_code == 400 and response.get_json()["details"][0]["field"] != "body"


@pytest.mark.parametrize("digits", [400, 4000, 5000])
def test_huge_integers_are_a_400_naming_the_field(client, digits):
    big = "9" * digits
    response = client.post("/api/assess", data='{"sector": "电镀", "values": {"rinse-water-per-area": %s}}' % big,
                           content_type="application/json")
    assert response.status_code == 400
    assert [d["field"] for d in response.get_json()["details"]] == ["values.rinse-water-per-area"]
    response = client.post("/api/recommend", data='{"sector": "电镀", "problem": "废水", "limit": %s}' % big,
                           content_type="application/json")
    assert response.status_code == 400
    assert [d["field"] for d in response.get_json()["details"]] == ["limit"]
    # ordinary values still assess
    ok = client.post("/api/assess", json={"sector": "电镀", "values": {"rinse-water-per-area": 20}})
    assert ok.status_code == 200


def test_non_json_and_bad_utf8_bodies_stay_400(client):
    assert client.post("/api/assess", data=b"\xff\xfe{", content_type="application/json").status_code == 400
    assert client.post("/api/recommend", data="[1]", content_type="application/json").status_code == 400
    assert client.post("/api/recommend", data="{}", content_type="text/plain").status_code == 400


# -- NUL in an id --------------------------------------------------------------------------------

def test_nul_id_is_a_404_on_sqlite(client):
    response = client.get("/api/documents/%00")
    assert response.status_code == 404 and response.is_json
    assert client.get("/documents/a%00b").status_code == 404


@pytest.mark.postgres
def test_nul_id_is_a_404_on_postgresql(tmp_path, content, postgres_schema_url):
    from web import create_app

    settings = load_settings(tmp_path / "pg-instance", bundled_content=content, editable_content=tmp_path / "ed",
                             database_url=postgres_schema_url)
    kb = KnowledgeBase(settings)
    kb.build()
    kb.close()
    client = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client()
    assert client.get("/api/documents/coking-cdq").status_code == 200
    for path in ("/api/documents/%00", "/api/documents/coking-cdq%00", "/documents/%00x"):
        response = client.get(path)
        assert response.status_code == 404, path
    assert client.get("/api/documents/%00").get_json()["error"]
    client.application.extensions["kb"].close()


# -- export --------------------------------------------------------------------------------------

def test_csv_export_has_one_charset_and_never_links_to_the_host_header(client, tmp_path, settings):
    response = client.get("/export.csv?q=余热", headers={"Host": "evil.example"})
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    data = response.get_data(as_text=True)
    assert "evil.example" not in data and ",/documents/coking-cdq" in data
    page = client.get("/search?q=余热", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in page


def test_export_links_use_kb_base_url(kb, settings, monkeypatch):
    from dataclasses import replace

    from kb.config import ConfigError, parse_base_url
    from web import create_app

    kb.close()
    monkeypatch.setenv("KB_BASE_URL", "https://kb.example.org/cp/")
    assert load_settings(settings.home).base_url == "https://kb.example.org/cp"
    client = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": replace(settings, base_url="https://kb.example.org/cp")}).test_client()
    data = client.get("/export.csv?q=余热", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "https://kb.example.org/cp/documents/coking-cdq" in data and "evil" not in data
    for bad in ("kb.example.org", "ftp://x", "https://x/?a=1"):
        with pytest.raises(ConfigError, match="KB_BASE_URL"):
            parse_base_url(bad)


# -- two instances on one database ---------------------------------------------------------------

def _instance(tmp_path: Path, name: str, url: str, ids: list[str], namespace: str | None = None):
    """An instance folder with its own content (technologies with the given ids) on a shared database."""
    from conftest import technology

    root = tmp_path / f"{name}-content"
    for doc_id in ids:
        write(root, "technologies", doc_id, technology(doc_id, f"{name} 的技术 {doc_id}", tags="[余热]"))
    return load_settings(tmp_path / name, bundled_content=root, editable_content=tmp_path / f"{name}-editable",
                         database_url=url, **({"namespace": namespace} if namespace else {}))


def _two_instances_share_one_database(tmp_path: Path, url: str) -> None:
    a = _instance(tmp_path, "alpha", url, ["general-shared-id", "general-alpha-only"])
    b = _instance(tmp_path, "beta", url, ["general-shared-id", "general-beta-only"])
    assert a.namespace != b.namespace
    kb_a, kb_b = KnowledgeBase(a), KnowledgeBase(b)
    try:
        kb_a.build()
        kb_b.build()
        kb_a.build(full=True)       # a full build of one instance syncs everything it has…
        # …and touches nothing of the other
        assert sorted(r.id for r in kb_b.store.all()) == ["general-beta-only", "general-shared-id"]
        assert sorted(r.id for r in kb_a.store.all()) == ["general-alpha-only", "general-shared-id"]
        assert kb_a.document("general-shared-id")["title"].startswith("alpha")
        assert kb_b.document("general-shared-id")["title"].startswith("beta")
        assert kb_a.document("general-beta-only") is None
        assert kb_a.store.count() == kb_b.store.count() == 2
        # a removal in one instance removes only its row
        (a.content_dirs[0] / "technologies" / "general-shared-id.md").unlink()
        kb_a.build()
        assert kb_a.document("general-shared-id") is None
        assert kb_b.document("general-shared-id")["title"].startswith("beta")
    finally:
        kb_a.close()
        kb_b.close()
    # KB_NAMESPACE overrides the derived name: a moved instance folder keeps its rows
    c = _instance(tmp_path, "moved", url, ["general-alpha-only"], namespace=a.namespace)
    store = Store.for_settings(c)
    try:
        assert store.get("general-alpha-only") is not None
    finally:
        store.dispose()


def test_two_instances_share_one_sqlite_database(tmp_path):
    _two_instances_share_one_database(tmp_path, f"sqlite:///{tmp_path / 'shared.sqlite3'}")


@pytest.mark.postgres
def test_two_instances_share_one_postgresql_database(tmp_path, postgres_schema_url):
    _two_instances_share_one_database(tmp_path, postgres_schema_url)


def test_namespace_is_derived_from_kb_home_and_overridable(tmp_path, monkeypatch):
    from kb.config import ConfigError

    monkeypatch.delenv("KB_NAMESPACE", raising=False)
    one, two = load_settings(tmp_path / "x" / "instance"), load_settings(tmp_path / "y" / "instance")
    assert one.namespace != two.namespace and one.namespace == load_settings(tmp_path / "x" / "instance").namespace
    monkeypatch.setenv("KB_NAMESPACE", "jiangsu-prod")
    assert load_settings(tmp_path / "x" / "instance").namespace == "jiangsu-prod"
    monkeypatch.setenv("KB_NAMESPACE", "n" * 101)
    with pytest.raises(ConfigError, match="KB_NAMESPACE"):
        load_settings(tmp_path)


def _old_table_migrates(url: str) -> None:
    """A `documents` table from before namespaces: its rows become the first opener's, nothing is lost."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE documents (id VARCHAR(100) PRIMARY KEY, type VARCHAR(20), title TEXT, "
                          "sectors JSON, year INTEGER, meta JSON, body TEXT, path TEXT, content_hash VARCHAR(64), "
                          "updated_at TIMESTAMP WITH TIME ZONE)"))
        conn.execute(text("CREATE INDEX ix_documents_type ON documents (type)"))
        conn.execute(text("INSERT INTO documents VALUES ('coking-cdq', 'technology', '干熄焦', :sectors, NULL, "
                          ":meta, '正文', '/x/coking-cdq.md', 'h1', CURRENT_TIMESTAMP)"),
                     {"sectors": json.dumps(["焦化"]), "meta": json.dumps({"summary": "摘要"}, ensure_ascii=False)})
    engine.dispose()
    first = Store(url, "first")
    try:
        row = first.get("coking-cdq")
        assert row is not None and row.title == "干熄焦" and row.sectors == ["焦化"] and row.meta["summary"] == "摘要"
        assert {r.id: r.content_hash for r in first.all()} == {"coking-cdq": "h1"}
    finally:
        first.dispose()
    second = Store(url, "second")           # opening again migrates nothing twice
    try:
        assert second.count() == 0 and second.get("coking-cdq") is None
    finally:
        second.dispose()


def test_old_table_migrates_on_sqlite(tmp_path):
    _old_table_migrates(f"sqlite:///{tmp_path / 'old.sqlite3'}")


@pytest.mark.postgres
def test_old_table_migrates_on_postgresql(postgres_schema_url):
    _old_table_migrates(postgres_schema_url)


# -- dictionaries: every input fingerprinted, a running server follows the generation ---------------

@pytest.fixture
def dictionaries(tmp_path, monkeypatch):
    """Copies of sectors.yaml and glossary.yaml the test may edit (the packaged ones stay untouched)."""
    bundled = Path(__file__).resolve().parent.parent / "kb" / "content"
    folder = tmp_path / "dictionaries"
    folder.mkdir()
    for name in ("sectors.yaml", "glossary.yaml"):
        (folder / name).write_text((bundled / name).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr("kb.taxonomy.BUNDLED_CONTENT", folder)
    monkeypatch.setattr("kb.glossary.BUNDLED_CONTENT", folder)
    return folder


def _rename_alias(folder: Path, old: str, new: str) -> None:
    """An alias renamed: the number of sector terms stays the same, their content does not."""
    path = folder / "sectors.yaml"
    source = path.read_text(encoding="utf-8")
    assert old in source
    path.write_text(source.replace(old, new), encoding="utf-8")


def test_an_alias_change_in_sectors_yaml_rebuilds_the_index(dictionaries, settings):
    kb = KnowledgeBase(settings)
    try:
        kb.build()
        assert not kb.build().full           # nothing changed: incremental, nothing re-indexed
        _rename_alias(dictionaries, "电镀集中区", "表面精饰区")
        report = kb.build()
        assert report.full and sorted(report.changed) == sorted(r.id for r in kb.store.all())
        assert "表面精饰区" in kb.analysis.taxonomy.terms()
    finally:
        kb.close()


def test_a_running_server_follows_sectors_yaml_at_the_next_generation(dictionaries, settings):
    from web import create_app

    KnowledgeBase(settings).build()
    client = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings}).test_client()
    assert client.get("/api/search?q=漂洗&sector=表面精饰区").status_code == 400
    _rename_alias(dictionaries, "电镀集中区", "表面精饰区")
    builder = KnowledgeBase(settings)      # `kb build` after the edit (the server process is not restarted)
    builder.build()
    builder.close()
    response = client.get("/api/search?q=漂洗&sector=表面精饰区")
    assert response.status_code == 200
    assert [r["id"] for r in response.get_json()["results"]] == ["plating-countercurrent-rinse"]
    assert client.get("/sectors/表面精饰区").status_code == 302
    client.application.extensions["kb"].close()


# -- killed builds: no half-written generation kept, no orphan worker -------------------------------

def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            state = next(line for line in fh if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "Z" not in state.split()[1]       # a zombie has exited (waiting for init to reap it)


def _survivors_after_killing(proc, workers: list[int]) -> list[int]:
    """kill -9 the parent, wait up to 5 s for its workers to go; the ones still alive (killed here too,
    so a failing test leaves nothing behind)."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    return survivors


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to list child processes")
def test_a_killed_parallel_build_leaves_no_worker_processes(kb, settings):
    import subprocess
    import sys

    # the segmenting pool is forked for large builds only: here for any size, each text slow to segment,
    # so the workers are busy when the build is killed
    script = (
        "import time\n"
        "import kb.prepare as prepare\n"
        "from kb.config import load_settings\n"
        "from kb.build import build\n"
        "def slow(text):\n"
        "    time.sleep(60)\n"
        "prepare._segment, prepare.PARALLEL_MIN_TEXTS = slow, 1\n"
        f"s = load_settings({str(settings.home)!r}, bundled_content={str(settings.content_dirs[0])!r}, "
        f"editable_content={str(settings.editable_content)!r})\n"
        "build(s, full=True, procs=2)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    assert len(workers) >= 2                 # the pool's workers, each busy with a text
    time.sleep(0.3)                          # past the after-fork setup of both
    assert _survivors_after_killing(proc, workers) == []


def test_a_build_with_nothing_to_do_removes_what_a_killed_build_left(kb, settings):
    import subprocess
    import sys

    from kb.build import current_generation

    live = current_generation(settings)
    script = (
        "import time\n"
        "from kb.config import load_settings\n"
        "from kb.build import build\n"
        f"s = load_settings({str(settings.home)!r}, bundled_content={str(settings.content_dirs[0])!r}, "
        f"editable_content={str(settings.editable_content)!r})\n"
        "build(s, full=True, on_document=lambda d: (print('indexing', flush=True), time.sleep(60)))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "indexing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    half_written = [p for p in settings.index_root.glob("gen-*") if p != live]
    assert len(half_written) == 1 and not (half_written[0] / "meta.json").exists()
    report = kb.build()                      # no file changed: nothing re-indexed, the leftover removed
    assert report.changed == [] and current_generation(settings) == live
    assert [p for p in settings.index_root.glob("gen-*") if p != live] == []


# -- the stress script --------------------------------------------------------------------------------

def test_stress_script_runs_against_a_served_instance():
    """bench.stress with small numbers: a real waitress server in a subprocess, real sockets; every check passes."""
    from bench import stress

    started = time.perf_counter()
    checks = stress.run(writers=3, slow_clients=(150,))
    assert time.perf_counter() - started < 60
    by_name = {c.name.split("（")[0]: c for c in checks}
    assert set(by_name) >= {"3 个并发 PUT", "跨站伪造 POST /edit", "重复参数", "150 个慢速客户端后检索"}
    for check in checks:
        assert check.passed, check
    table = stress.table(checks)
    assert table.splitlines()[0] == "| 检查 | 预期 | 实测 | 通过 |" and len(table.splitlines()) == len(checks) + 2


def test_kb_serve_runs_waitress_with_the_limits(runner, monkeypatch, settings, kb):
    """`kb serve` hands waitress limits that keep 120 idle sockets from filling it (default was 100)."""
    import web
    from kb import serving, writer_process
    from kb.cli import main
    from kb.cli.common import CliContext
    from kb.serving import ServeLimits

    options = ServeLimits(trusted_proxy="127.0.0.1").waitress_options()
    assert options["connection_limit"] >= 1000 and options["channel_timeout"] <= 30
    assert options["asyncore_use_poll"] is True         # select() stops at 1,024 descriptors
    assert options["max_request_body_size"] <= 4 * 1024 * 1024
    assert options["trusted_proxy_headers"] == {"x-forwarded-for", "x-forwarded-proto"}   # never X-Forwarded-Host
    seen = {}
    monkeypatch.setattr(serving, "serve", lambda app, host, port, limits: seen.update(limits=limits, port=port))
    # the writer in this process, as on systems without the writer process (tests/test_serve_workers.py runs one)
    monkeypatch.setattr(writer_process, "supported", lambda: False)
    # the app of the test instance (the CLI would build the whole bundled content for its own)
    app = web.create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings})
    monkeypatch.setattr(web, "create_app", lambda config=None: app)
    result = runner.invoke(main, ["serve", "--no-watch", "--port", "5999", "--connection-limit", "300",
                                  "--channel-timeout", "15", "--trusted-proxy", "127.0.0.1"], obj=CliContext(settings))
    assert result.exit_code == 0, result.output
    assert seen["port"] == 5999
    assert (seen["limits"].connection_limit, seen["limits"].channel_timeout, seen["limits"].trusted_proxy) == \
        (300, 15, "127.0.0.1")


def test_kb_serve_serves_the_settings_it_was_given(runner, monkeypatch, tmp_path, settings, kb):
    """An embedder's CliContext settings reach the app `kb serve` makes (the app read KB_* again and put the
    bundled content back, so the bench's `kb serve` served 528 bundled entries instead of its corpus)."""
    import web
    from kb import serving, writer_process
    from kb.cli import main
    from kb.cli.common import CliContext

    made = []
    monkeypatch.setattr(writer_process, "supported", lambda: False)
    monkeypatch.setattr(serving, "serve", lambda app, host, port, limits: None)
    monkeypatch.setenv("KB_HOME", str(tmp_path / "elsewhere"))
    make_app = web.create_app
    monkeypatch.setattr(web, "create_app", lambda config=None: made.append(config) or make_app(config))
    result = runner.invoke(main, ["serve", "--no-watch", "--port", "5998"], obj=CliContext(settings))
    assert result.exit_code == 0, result.output
    assert made and made[0]["KB_SETTINGS"] == settings
    assert not (tmp_path / "elsewhere").exists()


def test_cli_names_a_bad_setting_and_exports_with_kb_base_url(runner, monkeypatch, settings, kb):
    from kb.cli import main
    from kb.cli.common import CliContext

    monkeypatch.setenv("KB_BASE_URL", "kb.example.org")
    result = runner.invoke(main, ["stats"])
    assert result.exit_code == 2 and "KB_BASE_URL" in result.output
    monkeypatch.setenv("KB_BASE_URL", "https://kb.example.org")
    from dataclasses import replace

    result = runner.invoke(main, ["export", "-q", "余热"], obj=CliContext(replace(settings, base_url="https://kb.example.org")))
    assert result.exit_code == 0, result.output
    assert "https://kb.example.org/documents/coking-cdq" in result.output


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to list child processes")
def test_a_killed_parallel_build_leaves_no_whoosh_writer_processes(tmp_path):
    """A full build forks one index-writing process per slice of documents (kb/search/whoosh/segments.py)."""
    import subprocess
    import sys

    from conftest import technology

    root = tmp_path / "many"
    for i in range(110):       # titles far apart, or the duplicate-title check stops the build
        title = "".join(chr(0x4E00 + (i * 7919 + k * 104729) % 20000) for k in range(5))
        write(root, "technologies", f"general-stress-{i:03d}", technology(f"general-stress-{i:03d}", title))
    script = (
        "import os, time\n"
        "from kb.config import load_settings\n"
        "from kb.build import build\n"
        "import kb.search.whoosh.segments as segments\n"
        "original = segments._write_one_segment\n"
        "def slow(*args):\n"
        "    os.write(1, f'{os.getpid()}\\n'.encode())     # in each forked writer process, one write per line\n"
        "    time.sleep(60)\n"
        "    original(*args)\n"
        "segments._write_one_segment = slow\n"
        f"s = load_settings({str(tmp_path / 'instance')!r}, bundled_content={str(root)!r}, "
        f"editable_content={str(tmp_path / 'editable')!r})\n"
        "build(s, full=True, procs=2)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    workers = [int(proc.stdout.readline()) for _ in range(2)]
    assert len(set(workers)) == 2 and proc.pid not in workers      # both writer processes, waiting
    assert _survivors_after_killing(proc, workers) == []
