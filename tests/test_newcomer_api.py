"""Issue 17, API side: raw UTF-8 in the query string, fields that save a call per hit, browsing without q,
GET → edit → PUT with the version, Chinese errors, CORS for the read endpoints, a usable Excel export."""
from __future__ import annotations

import http.client
import io
import json
import socket
import threading

import pytest

from kb.config import ConfigError, parse_cors_origins

TOKEN = "t" * 32


def test_api_search_carries_what_citing_needs_and_a_text_snippet(client):
    data = client.get("/api/search?q=VOCs&type=case").get_json()
    hit = data["results"][0]
    assert hit["id"] == "case-coating-vocs" and hit["province"] == "江苏" and hit["region"].startswith("江苏")
    assert hit["year"] == 2022 and hit["kind"]
    assert hit["source_title"] and hit["source_issuer"]
    assert "<mark" in hit["snippet"] and "<" not in hit["snippet_text"] and "VOCs" in hit["snippet_text"]
    assert data["matched_all_words"] is True and data["words"]


def test_api_search_says_when_it_fell_back_to_any_word(client):
    data = client.get("/api/search?q=干熄焦 逆流漂洗").get_json()
    assert data["total"] >= 2 and data["matched_all_words"] is False


def test_api_search_browses_by_filters_with_an_empty_query(client):
    data = client.get("/api/search?type=technology&sector=焦化").get_json()
    assert [r["id"] for r in data["results"]] == ["coking-cdq"] and data["query"] == ""
    everything = client.get("/api/search?q=").get_json()
    assert everything["total"] == 5


def test_api_recommend_cases_carry_url_region_year_and_kind(client):
    data = client.post("/api/recommend", json={"sector": "工业涂装", "problem": "喷涂 VOCs 治理"}).get_json()
    cases = [c for r in data["results"] for c in r["cases"]]
    assert cases
    case = cases[0]
    assert case["url"] == f"/documents/{case['id']}" and case["region"] and case["year"] and case["kind"]


@pytest.fixture
def editing_client(settings):
    from dataclasses import replace

    from web import create_app

    app = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": replace(settings, editor_token=TOKEN)})
    return app.test_client()


def test_get_edit_put_with_the_version_and_etag(editing_client):
    client = editing_client
    got = client.get("/api/documents/coking-cdq")
    data = got.get_json()
    assert data["version"] and got.headers["ETag"] == f'"{data["version"]}"'
    assert data["markdown"].startswith("---\n") and "id: coking-cdq" in data["markdown"]
    # the same version: 304 for a conditional GET
    assert client.get("/api/documents/coking-cdq", headers={"If-None-Match": got.headers["ETag"]}).status_code == 304
    edited = data["markdown"].replace("干熄焦", "干熄焦（干法熄焦）", 1)
    put = client.put("/api/documents/coking-cdq", data=edited.encode("utf-8"),
                     headers={"Authorization": f"Bearer {TOKEN}", "If-Match": got.headers["ETag"],
                              "Content-Type": "text/markdown"})
    assert put.status_code == 200, put.get_json()
    again = client.get("/api/documents/coking-cdq").get_json()
    assert again["version"] == put.get_json()["version"] != data["version"]
    assert "干熄焦（干法熄焦）" in again["markdown"]


def test_405_and_other_errors_are_chinese_json(client):
    response = client.post("/api/search?q=a")
    data = response.get_json()
    assert response.status_code == 405 and data["error"] == "不支持该请求方法"
    assert "GET" in response.headers["Allow"] and "POST" in data["details"][0]["message"]
    assert all(not d["message"].isascii() for d in data["details"])
    response = client.put("/api/recommend", json={})
    assert response.status_code == 405 and not response.get_json()["details"][0]["message"].isascii()


def test_cors_origins_setting_is_checked():
    assert parse_cors_origins(None) == ()
    assert parse_cors_origins("*") == ("*",)
    assert parse_cors_origins("https://a.example, http://b.example:8080") == ("https://a.example", "http://b.example:8080")
    with pytest.raises(ConfigError, match="KB_CORS_ORIGINS"):
        parse_cors_origins("a.example")


def test_cors_for_read_endpoints_of_configured_origins_only(settings, client):
    from dataclasses import replace

    from web import create_app

    assert "Access-Control-Allow-Origin" not in client.get("/api/sectors", headers={"Origin": "https://a.example"}).headers
    app = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": replace(settings, cors_origins=("https://a.example",))})
    c = app.test_client()
    ok = c.get("/api/search?q=余热", headers={"Origin": "https://a.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert "Access-Control-Allow-Origin" not in c.get("/api/sectors", headers={"Origin": "https://evil.example"}).headers
    preflight = c.options("/api/documents/coking-cdq", headers={
        "Origin": "https://a.example", "Access-Control-Request-Method": "PUT"})
    assert "PUT" not in preflight.headers.get("Access-Control-Allow-Methods", "")
    assert "Access-Control-Allow-Origin" not in c.post("/api/recommend", json={}, headers={"Origin": "https://a.example"}).headers


def test_excel_export_has_widths_autofilter_and_links(settings):
    from dataclasses import replace

    from openpyxl import load_workbook

    from web import create_app

    app = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": replace(settings, base_url="https://kb.example.cn")})
    body = app.test_client().get("/export.xlsx?q=余热").data
    sheet = load_workbook(io.BytesIO(body))["技术"]
    header = [c.value for c in sheet[1]]
    assert sheet.auto_filter.ref == sheet.dimensions
    name_col = header.index("名称") + 1
    page_col = header.index("页面") + 1
    name = sheet.cell(row=2, column=name_col)
    assert name.hyperlink.target.startswith("https://kb.example.cn/documents/")
    assert sheet.cell(row=2, column=page_col).hyperlink.target == name.hyperlink.target
    letter = sheet.cell(row=1, column=header.index("摘要") + 1).column_letter
    assert 20 < sheet.column_dimensions[letter].width <= 62


def raw_request(port: int, request_line: bytes) -> http.client.HTTPResponse:
    """Send a request line as the given bytes (http.client would percent-encode or refuse them) and read the
    answer with http.client's own response parser."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    response = http.client.HTTPResponse(sock)
    response.begin()
    sock.close()            # the response keeps its own file object
    return response


def test_raw_utf8_in_the_query_string_is_accepted_by_the_server(app):
    """curl sends `?q=喷涂VOCs治理` unencoded; waitress alone answered text/plain 400 Bad URI."""
    from kb.serving import create_server

    server = create_server(app, port=0)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        response = raw_request(server.effective_port, "GET /api/search?q=喷涂VOCs治理 HTTP/1.1".encode("utf-8"))
        body = response.read().decode("utf-8")         # raw bytes in the request line, as curl sends them
        assert response.status == 200, body
        assert response.getheader("Content-Type").startswith("application/json")
        assert '"query":"喷涂VOCs治理"' in body.replace(" ", "")
    finally:
        server.task_dispatcher.shutdown()
        server.close()


def test_raw_non_utf8_query_is_a_json_400_naming_the_query(app):
    from kb.serving import create_server

    server = create_server(app, port=0)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        response = raw_request(server.effective_port, "GET /api/search?q=喷涂 HTTP/1.1".encode("gbk"))
        data = json.loads(response.read())
        assert response.status == 400 and data["details"][0]["field"] == "query"
    finally:
        server.task_dispatcher.shutdown()
        server.close()


def test_raw_markdown_with_editor_notes_only_for_editors(content, settings):
    from conftest import technology, write
    from web import create_app
    from dataclasses import replace

    write(content, "technologies", "general-noted", technology(
        "general-noted", "余热锅炉定期清灰", extra="editor_notes: [投资额待核实]\n"))
    app = create_app({"KB_BUILD_IF_MISSING": True, "KB_SETTINGS": replace(settings, editor_token=TOKEN)})
    client = app.test_client()
    public = client.get("/api/documents/general-noted").get_json()
    assert public["markdown"] is None and public["version"] and "editor_notes" not in public
    editor = client.get("/api/documents/general-noted", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert "投资额待核实" in editor["markdown"]


def test_server_level_errors_are_chinese_json(app):
    """waitress answers some requests itself (headers over the limit, a malformed request line): JSON too."""
    import socket

    from kb.serving import create_server

    server = create_server(app, port=0)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        for raw, status in ((b"GET /api/search?q=a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
                            (b"GET /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400)):
            with socket.create_connection(("127.0.0.1", server.effective_port), timeout=30) as sock:
                sock.sendall(raw)
                sock.shutdown(socket.SHUT_WR)
                answer = b""
                try:
                    while chunk := sock.recv(65536):
                        answer += chunk
                except ConnectionResetError:      # the server closed with our excess header unread
                    pass
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.split(b" ")[1] == str(status).encode(), head
            assert b"application/json" in head
            data = json.loads(body)
            assert data["error"] and not data["details"][0]["message"].isascii()
    finally:
        server.task_dispatcher.shutdown()
        server.close()


def test_request_line_encoding_leaves_ascii_alone():
    from kb.serving import percent_encode_request_line

    assert percent_encode_request_line(b"GET /a?q=b HTTP/1.1\r\nHost: x\r\n") == b"GET /a?q=b HTTP/1.1\r\nHost: x\r\n"
    assert percent_encode_request_line("GET /?q=喷 HTTP/1.1\r\nX: é".encode()) == b"GET /?q=%E5%96%B7 HTTP/1.1\r\nX: \xc3\xa9"


def test_build_progress_off_a_terminal_is_plain_lines(settings, capsys):
    """`kb build` in a log file: two readable lines, not tqdm's carriage-return redraws."""
    from kb.build import build

    build(settings, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and "索引 5 篇……" in err and "索引完成：5 篇" in err
