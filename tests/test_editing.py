"""Editors' workflow: publish and replace over HTTP, history, the watcher and `kb new`."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from kb.config import load_settings
from kb.search.engine import SearchRequest

from conftest import case, eventually, technology, write

TOKEN = "s3cret-editor-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/markdown; charset=utf-8"}


@pytest.fixture
def editor_settings(tmp_path, content):
    return load_settings(tmp_path / "instance", bundled_content=content, editable_content=tmp_path / "editable",
                         editor_token=TOKEN)


@pytest.fixture
def editor_app(editor_settings):
    from web import create_app

    return create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": editor_settings})


@pytest.fixture
def eclient(editor_app):
    return editor_app.test_client()


def search_ids(app, text):
    return [h.id for h in app.extensions["kb"].search(SearchRequest(text=text)).hits]


def new_case(doc_id, title="镇江某化工企业冷凝水回收案例", technologies="[general-activated-carbon]", extra_body=""):
    return case(doc_id, technologies=technologies).replace("测试用涂装企业VOCs治理案例", title) + extra_body


def test_post_case_is_searchable_when_the_call_returns(eclient, editor_app, editor_settings):
    started = time.monotonic()
    response = eclient.post("/api/cases", data=new_case("case-coating-zhenjiang", "镇江某涂装企业喷漆房改造"), headers=AUTH)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["id"] == "case-coating-zhenjiang" and body["url"] == "/documents/case-coating-zhenjiang"
    assert "case-coating-zhenjiang" in search_ids(editor_app, "喷漆房")
    assert time.monotonic() - started < 2.0
    assert (editor_settings.editable_content / "cases" / "case-coating-zhenjiang.md").is_file()
    history = list((editor_settings.editable_content / ".history" / "case-coating-zhenjiang").glob("*.json"))
    assert len(history) == 1 and '"who": "token:' in history[0].read_text(encoding="utf-8")


def test_fifty_concurrent_uploads_all_land(editor_app, editor_settings):
    def upload(i):
        client = editor_app.test_client()
        return client.post("/api/cases", data=new_case(f"case-coating-batch-{i:02d}", f"批量上传涂装案例{i:02d}号"),
                           headers=AUTH).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(upload, range(50)))
    assert statuses == [201] * 50
    files = sorted(p.stem for p in (editor_settings.editable_content / "cases").glob("*.md"))
    assert files == [f"case-coating-batch-{i:02d}" for i in range(50)]
    kb = editor_app.extensions["kb"]
    found = {h.id for h in kb.search(SearchRequest(text="批量上传涂装案例", per_page=50)).hits}
    assert found == set(files)


@pytest.mark.parametrize("text, status, field, line", [
    ("---\nid: case-x\ntype: case\ntitle: [坏\n---\n", 400, "front matter", 5),
    (case("case-coating-bad-sector").replace("sectors: [工业涂装]", "sectors: [火星采矿]"), 400, "sectors", 5),
    (case("../../etc/passwd"), 400, "id", 2),
    (case("case-coating-vocs"), 409, "id", None),
    (case("case-coating-ghost", technologies="[no-such-technology]"), 400, "technologies[0]", 15),
])
def test_bad_uploads_are_rejected_with_located_errors(eclient, text, status, field, line):
    response = eclient.post("/api/cases", data=text, headers=AUTH)
    assert response.status_code == status, response.get_json()
    details = response.get_json()["details"]
    assert any(d["field"] == field and (line is None or d.get("line") == line) for d in details), details


def test_oversize_body_is_refused(eclient):
    body = new_case("case-coating-big") + "\n" + "长" * (400 * 1024)
    assert eclient.post("/api/cases", data=body, headers=AUTH).status_code == 413


def test_tokens_are_required_and_attempts_limited(eclient):
    assert eclient.post("/api/cases", data=new_case("case-coating-a")).status_code == 401
    for _ in range(9):
        assert eclient.post("/api/cases", data=new_case("case-coating-a"),
                            headers={"Authorization": "Bearer wrong"}).status_code == 401
    limited = eclient.post("/api/cases", data=new_case("case-coating-a"), headers={"Authorization": "Bearer wrong"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # throttling slows guessing; it never locks out the editor who has the token
    assert eclient.post("/api/cases", data=new_case("case-coating-a"), headers=AUTH).status_code == 201


def test_editing_disabled_without_token(client):
    response = client.post("/api/cases", data=new_case("case-coating-a"), headers=AUTH)
    assert response.status_code == 403 and "KB_EDITOR_TOKEN" in response.get_json()["error"]


def test_xss_payload_is_stored_but_inert(eclient, editor_settings):
    payload = "\n<script>alert(1)</script><img src=x onerror=alert(2)>\n"
    assert eclient.post("/api/cases", data=new_case("case-coating-xss", extra_body=payload), headers=AUTH).status_code == 201
    stored = (editor_settings.editable_content / "cases" / "case-coating-xss.md").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" in stored
    page = eclient.get("/documents/case-coating-xss").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "onerror" not in page


def test_put_with_stale_version_gets_409_and_current_version(eclient, editor_app):
    created = eclient.post("/api/cases", data=new_case("case-coating-put"), headers=AUTH).get_json()
    first = created["version"]
    edited = new_case("case-coating-put", "镇江某涂装企业第二版")
    ok = eclient.put("/api/documents/case-coating-put", data=edited, headers={**AUTH, "If-Match": first})
    assert ok.status_code == 200, ok.get_json()
    assert "case-coating-put" in search_ids(editor_app, "第二版")
    stale = eclient.put("/api/documents/case-coating-put", data=new_case("case-coating-put", "镇江某涂装企业第三版"),
                        headers={**AUTH, "If-Match": first})
    assert stale.status_code == 409
    assert stale.get_json()["current_version"] == ok.get_json()["version"]
    missing = eclient.put("/api/documents/case-coating-put", data=edited, headers=AUTH)
    assert missing.status_code == 400 and missing.get_json()["details"][0]["field"] == "version"


def test_restore_from_history(editor_app):
    editor = editor_app.extensions["kb_editor"]
    doc = editor.create(new_case("case-coating-restore", "恢复测试第一版"), "token:test")
    editor.replace("case-coating-restore", new_case("case-coating-restore", "恢复测试第二版"), doc.content_hash, "token:test")
    versions = [e["version"] for e in editor.history("case-coating-restore")]
    assert len(versions) == 2
    editor.restore("case-coating-restore", versions[0], "token:test")
    assert editor_app.extensions["kb"].document("case-coating-restore")["title"] == "恢复测试第一版"


def test_git_history_when_content_folder_is_a_repository(editor_app, editor_settings):
    import subprocess

    root = editor_settings.editable_content
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    editor_app.extensions["kb_editor"].create(new_case("case-coating-git"), "token:abcd1234")
    log = subprocess.run(["git", "-C", str(root), "log", "--format=%an %s"], capture_output=True, text=True).stdout
    assert "token:abcd1234 create case-coating-git" in log


def test_watcher_reindexes_changed_file_and_keeps_last_good_version(editor_app, editor_settings):
    from kb.watch import ContentWatcher

    root = editor_settings.editable_content
    root.mkdir(parents=True, exist_ok=True)
    watcher = ContentWatcher(editor_app.extensions["kb_rebuilder"], [root]).start()
    try:
        path = write(root, "technologies", "general-lamp", technology(
            "general-lamp", "高效照明改造", summary="用高光效灯具替换传统灯具，降低照明电耗。"))
        assert eventually(lambda: "general-lamp" in search_ids(editor_app, "照明"))
        path.write_text(path.read_text(encoding="utf-8").replace("sectors: [通用]", "sectors: [火星]"), encoding="utf-8")
        rebuilder = editor_app.extensions["kb_rebuilder"]
        assert eventually(lambda: any("general-lamp.md" in str(p) for p in rebuilder.problems))
        assert "general-lamp" in search_ids(editor_app, "照明")  # previous version still searchable
    finally:
        watcher.stop()



def test_kb_new_writes_a_template_that_check_flags_until_filled(runner, tmp_path):
    from kb.cli import main

    result = runner.invoke(main, ["new", "case", "--sector", "水泥", "--title", "某水泥企业余热发电改造"])
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "cli-instance" / "content" / "cases").glob("case-building-*.md"))
    assert len(files) == 1
    text = files[0].read_text(encoding="utf-8")
    assert f"id: {files[0].stem}" in text and "sectors: [建材]" in text and "## 审核发现" in text
    check = runner.invoke(main, ["check", str(files[0])])
    assert check.exit_code == 1 and "problems: 至少需要一项" in check.output


def csrf_token(html: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_edit_page_sign_in_preview_publish(eclient, editor_app):
    page = eclient.get("/edit").get_data(as_text=True)
    assert "编辑令牌" in page
    token = csrf_token(page)
    wrong = eclient.post("/edit", data={"action": "signin", "token": "wrong", "csrf_token": token})
    assert wrong.status_code == 401 and "编辑令牌缺失或错误" in wrong.get_data(as_text=True)     # the right status (issue 17)
    eclient.post("/edit", data={"action": "signin", "token": TOKEN, "csrf_token": token})
    token = csrf_token(eclient.get("/edit").get_data(as_text=True))
    text = new_case("case-coating-web", "网页发布的涂装案例")
    preview = eclient.post("/edit", data={"action": "preview", "text": text, "csrf_token": token}).get_data(as_text=True)
    assert "校验通过" in preview and "网页发布的涂装案例" in preview
    published = eclient.post("/edit", data={"action": "publish", "text": text, "csrf_token": token})
    assert published.status_code == 302 and published.headers["Location"].endswith("/documents/case-coating-web")
    assert "case-coating-web" in search_ids(editor_app, "网页发布")


def test_cli_history_lists_and_restores(runner, tmp_path, content, monkeypatch):
    from kb.cli import main
    from kb.config import load_settings
    from kb.editing import Editor
    from kb.knowledge import KnowledgeBase

    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", content)
    kb = KnowledgeBase(load_settings())
    kb.build()
    editor = Editor(kb)
    first = editor.create(new_case("case-coating-cli", "命令行恢复第一版"), "token:test")
    editor.replace("case-coating-cli", new_case("case-coating-cli", "命令行恢复第二版"), first.content_hash, "token:test")
    listing = runner.invoke(main, ["history", "case-coating-cli"])
    assert listing.exit_code == 0 and len(listing.output.splitlines()) == 2 and "create" in listing.output
    restored = runner.invoke(main, ["history", "case-coating-cli", first.content_hash[:12]])
    assert restored.exit_code == 0, restored.output
    assert KnowledgeBase(load_settings()).document("case-coating-cli")["title"] == "命令行恢复第一版"


def test_history_lists_versions_in_the_order_they_were_written(editor_app, monkeypatch):
    """Versions written within one second sort by the clock, even when a sub-second counter would wrap."""
    import time as time_mod

    editor = editor_app.extensions["kb_editor"]
    readings = iter([1_700_000_000_999_999_000, 1_700_000_001_000_001_000, 1_700_000_001_000_002_000])
    monkeypatch.setattr(time_mod, "time_ns", lambda: next(readings))
    doc = editor.create(new_case("case-coating-order", "顺序测试第一版"), "token:test")
    second = editor.replace("case-coating-order", new_case("case-coating-order", "顺序测试第二版"), doc.content_hash, "token:test")
    third = editor.replace("case-coating-order", new_case("case-coating-order", "顺序测试第三版"), second.content_hash, "token:test")
    versions = [e["version"] for e in editor.history("case-coating-order")]
    assert versions == [doc.content_hash, second.content_hash, third.content_hash]
