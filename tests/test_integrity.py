"""Integrity of editors' writes (issue 13): no acknowledged edit lost, no forged write, no cheap denial.

Each test reproduces a failure found against main before the fix: concurrent PUTs of one version all
winning, a cross-site form signing an editor in and publishing, an orphan file left by a crash, a
burst of publishes starving searches, the valid token locked out by wrong ones, API files at 0600,
and responses without security headers.
"""
from __future__ import annotations

import http.client
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from kb.config import load_settings
from kb.search.engine import SearchRequest

from conftest import case

TOKEN = "integrity-editor-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/markdown; charset=utf-8"}
ROOT = Path(__file__).resolve().parent.parent


def new_case(doc_id: str, title: str = "镇江某化工企业冷凝水回收案例", technologies: str = "[general-activated-carbon]") -> str:
    return case(doc_id, technologies=technologies).replace("测试用涂装企业VOCs治理案例", title)


@pytest.fixture
def settings(tmp_path, content):
    return load_settings(tmp_path / "instance", bundled_content=content, editable_content=tmp_path / "editable",
                         editor_token=TOKEN)


@pytest.fixture
def app(settings):
    from web import create_app

    return create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings})


@pytest.fixture
def client(app):
    return app.test_client()


def search_ids(app, text: str) -> list[str]:
    return [h.id for h in app.extensions["kb"].search(SearchRequest(text=text, per_page=50)).hits]


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def signed_in_client(app):
    """A browser-like client signed in through the form; returns it with a fresh CSRF token."""
    browser = app.test_client()
    token = csrf_token(browser.get("/edit").get_data(as_text=True))
    response = browser.post("/edit", data={"action": "signin", "token": TOKEN, "csrf_token": token})
    assert response.status_code == 302
    return browser, csrf_token(browser.get("/edit").get_data(as_text=True))


# ------------------------------------------------------------------ lost update
def test_concurrent_puts_of_one_version_have_exactly_one_winner(app, client, settings):
    created = client.post("/api/cases", data=new_case("case-coating-race", "并发修改测试第一版"), headers=AUTH)
    version = created.get_json()["version"]
    writers = 8
    start = threading.Barrier(writers)

    def put(i: int):
        start.wait()
        response = app.test_client().put("/api/documents/case-coating-race", headers={**AUTH, "If-Match": f'"{version}"'},
                                         data=new_case("case-coating-race", f"并发修改测试第{i}号稿"))
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=writers) as pool:
        results = list(pool.map(put, range(writers)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (writers - 1), statuses
    winner = next(body for status, body in results if status == 200)
    on_disk = (settings.editable_content / "cases" / "case-coating-race.md").read_text(encoding="utf-8")
    assert all(body["current_version"] == winner["version"] for status, body in results if status == 409)
    title = re.search(r"title: (.+)", on_disk).group(1)
    assert app.extensions["kb"].document("case-coating-race")["title"] == title
    assert len(app.extensions["kb_editor"].history("case-coating-race")) == 2     # the create and the one winner


def test_version_is_the_file_on_disk_not_the_database_row(app, client, settings):
    """A change on disk that no build has indexed yet still makes an older version stale."""
    created = client.post("/api/cases", data=new_case("case-coating-disk", "磁盘版本第一版"), headers=AUTH).get_json()
    path = settings.editable_content / "cases" / "case-coating-disk.md"
    path.write_text(new_case("case-coating-disk", "磁盘上直接修改的第二版"), encoding="utf-8")   # no rebuild
    stale = client.put("/api/documents/case-coating-disk", data=new_case("case-coating-disk", "第三版"),
                       headers={**AUTH, "If-Match": created["version"]})
    assert stale.status_code == 409
    assert "第二版" in path.read_text(encoding="utf-8")


# ------------------------------------------------------------------ the /edit form
def test_edit_form_refuses_a_post_without_csrf_token(app):
    browser = app.test_client()
    response = browser.post("/edit", data={"action": "signin", "token": TOKEN})
    assert response.status_code == 403 and "无法确认来自本站的表单" in response.get_data(as_text=True)
    assert "编辑令牌" in browser.get("/edit").get_data(as_text=True)          # still signed out


def test_cross_site_form_cannot_sign_in_or_publish(app, settings):
    browser, token = signed_in_client(app)
    text = new_case("case-coating-forged", "跨站伪造发布")
    for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page.html"},
                   {"Origin": "null"}):
        response = browser.post("/edit", data={"action": "publish", "text": text, "csrf_token": token}, headers=header)
        assert response.status_code == 403, header
    assert not (settings.editable_content / "cases" / "case-coating-forged.md").exists()
    same_site = browser.post("/edit", data={"action": "publish", "text": text, "csrf_token": token},
                             headers={"Origin": "http://localhost"})
    assert same_site.status_code == 302


def test_publish_without_version_never_overwrites(app, client, settings):
    client.post("/api/cases", data=new_case("case-coating-form", "表单发布第一版"), headers=AUTH)
    browser, token = signed_in_client(app)
    page = browser.post("/edit", data={"action": "publish", "text": new_case("case-coating-form", "无版本号的覆盖"),
                                       "csrf_token": token}).get_data(as_text=True)
    assert "已存在" in page
    assert "表单发布第一版" in (settings.editable_content / "cases" / "case-coating-form.md").read_text(encoding="utf-8")
    preview = browser.post("/edit", data={"action": "preview", "text": new_case("case-coating-form", "预览后的第二版"),
                                          "csrf_token": token}).get_data(as_text=True)
    version = re.search(r'name="version" value="([0-9a-f]{64})"', preview).group(1)
    published = browser.post("/edit", data={"action": "publish", "text": new_case("case-coating-form", "预览后的第二版"),
                                            "version": version, "csrf_token": token})
    assert published.status_code == 302
    assert "case-coating-form" in search_ids(app, "预览后的第二版")


def test_session_cookie_is_lax_httponly_and_secure_over_https(app):
    for base, secure in (("http://localhost", False), ("https://localhost", True)):
        browser = app.test_client()
        token = csrf_token(browser.get("/edit", base_url=base).get_data(as_text=True))
        response = browser.post("/edit", base_url=base, data={"action": "signin", "token": TOKEN, "csrf_token": token},
                                headers={"Referer": base + "/edit"})      # Flask-WTF requires it over HTTPS
        assert response.status_code == 302
        cookie = response.headers["Set-Cookie"]
        assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
        assert ("Secure" in cookie) is secure, cookie


def test_sign_out_is_a_protected_post(app):
    browser, token = signed_in_client(app)
    assert browser.get("/edit/signout").status_code == 405
    assert browser.post("/edit/signout").status_code == 403                # no CSRF token: still signed in
    assert "退出登录" in browser.get("/edit").get_data(as_text=True)
    assert browser.post("/edit/signout", data={"csrf_token": token}).status_code == 302
    assert "编辑令牌" in browser.get("/edit").get_data(as_text=True)


def test_editor_cannot_be_framed(client):
    response = client.get("/edit")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# ------------------------------------------------------------------ crash between write and build
def simulate_crash(settings, doc_id: str, text: str) -> Path:
    """What a publish leaves when the process dies after the file write, before the rebuild."""
    path = settings.editable_content / "cases" / f"{doc_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_orphan_file_is_indexed_when_the_server_starts(settings, app):
    simulate_crash(settings, "case-coating-orphan", new_case("case-coating-orphan", "崩溃前写入的案例"))
    from web import create_app

    restarted = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings})
    response = restarted.test_client().get("/api/documents/case-coating-orphan")
    assert response.status_code == 200 and response.get_json()["title"] == "崩溃前写入的案例"


def test_retried_create_after_a_crash_is_not_a_conflict(app, client, settings):
    text = new_case("case-coating-retry", "重试发布的案例")
    simulate_crash(settings, "case-coating-retry", text)
    assert client.get("/api/documents/case-coating-retry").status_code == 404
    retried = client.post("/api/cases", data=text, headers=AUTH)
    assert retried.status_code == 201, retried.get_json()
    assert "case-coating-retry" in search_ids(app, "重试发布")
    # another text under the orphan's id is a conflict, and the orphan is served from then on
    simulate_crash(settings, "case-coating-ghost", new_case("case-coating-ghost", "另一个孤儿文件"))
    other = client.post("/api/cases", data=new_case("case-coating-ghost", "不同的正文"), headers=AUTH)
    assert other.status_code == 409
    assert client.get("/api/documents/case-coating-ghost").get_json()["title"] == "另一个孤儿文件"


# ------------------------------------------------------------------ group commit
def test_concurrent_writes_share_batches(app):
    """Twenty writers waiting at once cost a few builds, and each returns only after a build that
    started after its request (its write is searchable)."""
    writer = app.extensions["kb_rebuilder"]
    knowledge = app.extensions["kb"]
    build = knowledge.build
    started: list[float] = []

    def counted_build(**kwargs):
        started.append(time.monotonic())
        return build(**kwargs)

    knowledge.build = counted_build
    before = writer.stats.batches
    requested: dict[int, float] = {}
    together = threading.Barrier(20)

    def write(i: int) -> float:
        together.wait()
        requested[i] = time.monotonic()
        writer.rebuild()
        return time.monotonic()

    with ThreadPoolExecutor(max_workers=20) as pool:
        finished = list(pool.map(write, range(20)))
    batches = writer.stats.batches - before
    assert 1 <= batches <= 4, batches            # one build per request would be 20
    for i, done in enumerate(finished):
        assert any(requested[i] <= s <= done for s in started)
    assert writer.stats.largest_batch >= 10


def test_reads_take_a_cpu_slot_and_waiting_writes_do_not(app):
    """kb serve's middleware: with every slot busy, a publish still goes straight through."""
    from kb.serving import CpuSlots

    slots = CpuSlots(app.wsgi_app, slots=1)
    taken = threading.Event()
    release = threading.Event()

    def busy(environ, start_response):          # holds the only slot, as a long search would
        taken.set()
        release.wait(10)
        start_response("200 OK", [])
        return [b""]

    slots.app = busy
    holder = threading.Thread(target=slots, args=({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *a: None))
    holder.start()
    assert taken.wait(10)
    slots.app = app.wsgi_app
    from werkzeug.test import Client

    client = Client(slots)
    finished = []
    reader = threading.Thread(target=lambda: finished.append(client.get("/api/search?q=活性炭").status_code))
    reader.start()
    response = client.post("/api/cases", data=new_case("case-coating-slot"), headers=AUTH)
    assert response.status_code == 201 and finished == []     # the write did not wait for the slot
    release.set()
    holder.join(10)
    reader.join(10)
    assert finished == [200]


# ------------------------------------------------------------------ throttling
def test_wrong_tokens_never_lock_out_the_valid_one(client):
    for attempt in range(15):
        response = client.post("/api/cases", data=new_case("case-coating-lock"), headers={**AUTH, "Authorization": "Bearer guess"})
        assert response.status_code == (401 if attempt < 9 else 429)
    assert client.post("/api/cases", data=new_case("case-coating-lock"), headers=AUTH).status_code == 201


def test_failed_attempts_table_is_pruned_and_bounded():
    from web.throttle import FailedAttempts

    now = [0.0]
    attempts = FailedAttempts(limit=3, window=60.0, max_addresses=100, clock=lambda: now[0])
    for _ in range(5):
        attempts.record("10.0.0.1")
    assert attempts.blocked("10.0.0.1")
    now[0] = 61.0
    assert not attempts.blocked("10.0.0.1") and len(attempts) == 0       # idle addresses are dropped
    for i in range(1000):
        attempts.record(f"10.1.{i // 250}.{i % 250}")
    assert len(attempts) == 100                                          # never more than max_addresses


# ------------------------------------------------------------------ file modes
def test_files_written_through_the_api_have_the_usual_mode(client, settings, tmp_path):
    from kb.files import new_file_mode

    client.post("/api/cases", data=new_case("case-coating-mode"), headers=AUTH)
    written = settings.editable_content / "cases" / "case-coating-mode.md"
    plain = tmp_path / "plain.md"
    plain.write_text("x", encoding="utf-8")
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == new_file_mode()


# ------------------------------------------------------------------ security headers
HEADER_PATHS = ["/", "/search?q=活性炭", "/documents/coking-cdq", "/recommend", "/assess", "/edit", "/api/search?q=活性炭",
                "/api/documents/no-such", "/api/openapi.json", "/static/style.css", "/no-such-page"]


def test_every_response_carries_security_headers(client):
    for path in HEADER_PATHS:
        headers = client.get(path).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert "Strict-Transport-Security" not in headers, path          # plain HTTP: no HSTS
    assert "max-age=" in client.get("/", base_url="https://localhost").headers["Strict-Transport-Security"]


def test_templates_have_no_inline_script_or_style():
    """The CSP allows no inline code, so no template may carry any (the browser test checks the result)."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
    found = [f"{p.name}: {m.group(0)}" for p in sorted((ROOT / "web" / "templates").glob("**/*.html"))
             for m in inline.finditer(p.read_text(encoding="utf-8"))]
    assert found == []


# ------------------------------------------------------------------ a burst against a served instance
def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
             timeout: float = 60.0) -> tuple[int, float]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


@pytest.fixture
def served(app):
    """The app under waitress as `kb serve --trusted-proxy 127.0.0.1` runs it behind a local reverse proxy."""
    from kb.serving import ServeLimits, create_server

    server = create_server(app, port=0, limits=ServeLimits(trusted_proxy="127.0.0.1"))
    threading.Thread(target=server.run, daemon=True).start()
    yield server.effective_port
    server.task_dispatcher.shutdown()
    server.close()


def test_behind_a_trusted_proxy_cookies_are_secure_and_clients_counted_apart(served):
    port = served
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/edit", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
    response = connection.getresponse()
    response.read()
    assert "Secure" in response.getheader("Set-Cookie") and response.getheader("Strict-Transport-Security")
    connection.close()

    def wrong_token(client: str) -> int:
        return _request(port, "POST", "/api/cases", new_case("case-coating-proxy").encode("utf-8"),
                        {**AUTH, "Authorization": "Bearer guess", "X-Forwarded-For": client})[0]

    assert [wrong_token("203.0.113.7") for _ in range(10)][-1] == 429
    assert wrong_token("198.51.100.9") == 401                    # another client behind the same proxy


@pytest.mark.slow
def test_a_burst_of_publishes_does_not_starve_searches(tmp_path):
    """100 concurrent POSTs against `kb serve`'s server set-up over the bundled content: all
    acknowledged and searchable within 15 s, and a search sent during the burst answered within 1 s."""
    from web import create_app
    from kb.serving import create_server

    settings = load_settings(tmp_path / "instance", editable_content=tmp_path / "editable", editor_token=TOKEN)
    app = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": settings})
    knowledge = app.extensions["kb"]
    technology = next(r.id for r in knowledge.store.all() if r.type == "technology")
    server = create_server(app, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    port = server.effective_port
    try:
        assert _request(port, "GET", "/api/search?q=" + quote("余热"))[0] == 200
        count = 100

        def publish(i: int) -> tuple[int, float]:
            body = new_case(f"case-burst-{i:03d}", f"突发写入压力测试{i:03d}号", technologies=f"[{technology}]")
            return _request(port, "POST", "/api/cases", body.encode("utf-8"), AUTH)

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(publish, i) for i in range(count)]
            time.sleep(0.3)                                   # the burst is under way
            search_status, search_seconds = _request(port, "GET", "/api/search?q=" + quote("干熄焦"))
            results = [f.result() for f in futures]
        burst_seconds = time.monotonic() - started
        statuses = [status for status, _ in results]
        assert statuses == [201] * count
        found = {h.id for h in knowledge.search(SearchRequest(text="突发写入压力测试", per_page=50, page=1)).hits} | {
            h.id for h in knowledge.search(SearchRequest(text="突发写入压力测试", per_page=50, page=2)).hits}
        assert found == {f"case-burst-{i:03d}" for i in range(count)}
        stats = app.extensions["kb_rebuilder"].stats
        print(json.dumps({"burst_seconds": round(burst_seconds, 2), "slowest_post": round(max(s for _, s in results), 2),
                          "search_during_burst": round(search_seconds, 3), "batches": stats.batches,
                          "largest_batch": stats.largest_batch}))
        assert search_status == 200 and search_seconds <= 1.0, search_seconds
        assert burst_seconds <= 15.0, burst_seconds
    finally:
        server.task_dispatcher.shutdown()
        server.close()
