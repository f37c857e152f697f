"""`kb serve --workers N` (issue 19): pre-forked gunicorn workers, one index writer and one watcher per node.

The server runs in its own process group through `kb.serving.run` (what `kb serve` calls after building;
the CLI would build the whole bundled content, the test instance is conftest's five entries). A write
acknowledged by any worker is searchable through every worker at once, a write that the writer worker
dies under is taken over by another worker, and killing the master leaves no worker behind.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from kb.config import load_settings
from kb.knowledge import KnowledgeBase

from conftest import case, eventually, technology, write

TOKEN = "workers-editor-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/markdown; charset=utf-8"}
ROOT = Path(__file__).resolve().parent.parent

SERVER = """
import logging, sys
from kb import serving
from kb.config import load_settings
from web import create_app

logging.basicConfig(level=logging.INFO)
home, bundled, editable, token, port, workers = sys.argv[1:7]
settings = load_settings(home, bundled_content=bundled, editable_content=editable, editor_token=token)
serving.run(lambda config=None: create_app({**(config or {}), "KB_SETTINGS": settings}), settings,
            "127.0.0.1", int(port), serving.ServeLimits(threads=8), workers=int(workers), watch=True)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: str | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body.encode("utf-8") if body else None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def search_total(port: int, text: str) -> int:
    status, body = request(port, "GET", "/api/search?q=" + quote(text))
    assert status == 200, body
    return json.loads(body)["total"]


def children(pid: int) -> set[int]:
    """The live processes whose parent is pid (read from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False



@pytest.fixture
def served(request, tmp_path, content):
    workers = getattr(request, "param", 2)
    settings = load_settings(tmp_path / "instance", bundled_content=content, editable_content=tmp_path / "editable",
                             editor_token=TOKEN)
    knowledge = KnowledgeBase(settings)
    knowledge.build()                   # `kb serve` builds through the CLI before it forks
    knowledge.close()
    port = free_port()
    log = open(tmp_path / "server.log", "w+", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(settings.home), str(content), str(settings.editable_content), TOKEN, str(port),
         str(workers)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        # the serving workers (gunicorn's; none with one process: it serves itself) and the writer process
        expected = (workers if workers > 1 else 0) + 1
        assert eventually(lambda: len(children(process.pid)) == expected and _answers(port), 60), _log(log)
        yield port, process, settings, log
    finally:
        workers = children(process.pid)
        process.kill()
        process.wait(10)
        for pid in workers:               # only if the test failed before proving they die with the master
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _answers(port: int) -> bool:
    try:
        return request(port, "GET", "/api/search?q=" + quote("余热"))[0] == 200
    except OSError:
        return False


def _log(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def elected(log) -> list[int]:
    """The pids the log names as the node's writer, in order."""
    return [int(line.split("进程 ")[1].split()[0]) for line in _log(log).splitlines() if "成为本节点的索引写入器" in line]


def maps(pid: int) -> str:
    """The files a process has mapped (its loaded extension modules among them)."""
    return Path(f"/proc/{pid}/maps").read_text()


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_a_write_through_any_worker_is_searchable_through_both(served):
    port, process, settings, log = served
    assert eventually(lambda: len(elected(log)) == 1, 15), _log(log)
    writer = elected(log)[0]
    # the node's writer is a process of its own (kb/writer_process.py), beside the two serving workers
    assert "kb.writer_process" in cmdline(writer)
    workers = children(process.pid) - {writer}
    assert len(workers) == 2 and writer in children(process.pid)
    assert [search_total(port, "冷凝水回收") for _ in range(10)] == [0] * 10      # both workers warm
    for i in range(4):                  # 4 writes over new connections: the kernel spreads them over the workers
        body = case(f"case-workers-{i}").replace("测试用涂装企业VOCs治理案例", f"冷凝水回收第{i}号案例")
        status, answer = request(port, "POST", "/api/cases", body, AUTH)
        assert status == 201, answer
        totals = [search_total(port, "冷凝水回收") for _ in range(12)]
        assert totals == [i + 1] * 12, totals      # acknowledged → searchable on every worker
    # one writer and one watcher for the node, in the writer process, never in a serving worker
    assert elected(log) == [writer], _log(log)
    assert int((settings.home / "writer.lock").read_text()) == writer
    # a file dropped into the content folder is indexed once, by the watcher, and served by both workers
    write(settings.editable_content, "technologies", "general-steam-trap", technology(
        "general-steam-trap", "疏水阀更换与蒸汽冷凝水回收", summary="更换失效疏水阀，回收蒸汽冷凝水。"))
    assert eventually(lambda: search_total(port, "疏水阀") > 0, 15), _log(log)
    assert [search_total(port, "疏水阀") > 0 for _ in range(12)] == [True] * 12
    # killing the master leaves no worker and no writer behind (PR_SET_PDEATHSIG)
    process.kill()
    process.wait(10)
    left = workers | {writer}
    assert eventually(lambda: not any(alive(pid) for pid in left), 5), [p for p in left if alive(p)]


@pytest.mark.slow
def test_when_the_writer_dies_a_worker_takes_over(served):
    port, process, settings, log = served
    assert eventually(lambda: len(elected(log)) == 1, 15)
    first = elected(log)[0]
    workers = children(process.pid) - {first}
    os.kill(first, signal.SIGKILL)          # the writer process: a serving worker standing by takes the lock
    assert eventually(lambda: len(elected(log)) == 2, 30), _log(log)
    assert elected(log)[1] in workers
    body = case("case-workers-after").replace("测试用涂装企业VOCs治理案例", "接管之后的冷凝水回收案例")
    status, answer = request(port, "POST", "/api/cases", body, AUTH)
    assert status == 201, answer
    assert [search_total(port, "接管之后") for _ in range(12)] == [1] * 12


@pytest.mark.parametrize("served", [1], indirect=True)
def test_one_serving_process_writes_through_the_writer_process(served):
    """`kb serve --workers 1` (waitress, one process) on Linux: the writer is a process of its own, so a batch's
    memory and CPU stay out of the process that serves (issue 19: 1 GB with edits at 20k), and a write is
    still searchable when acknowledged."""
    port, process, settings, log = served
    assert eventually(lambda: len(elected(log)) == 1, 15), _log(log)
    writer = elected(log)[0]
    assert children(process.pid) == {writer} and "kb.writer_process" in cmdline(writer)
    # the writer loads scikit-learn at start, not at an editor's first publish (~1 s of it)
    assert eventually(lambda: "/sklearn/" in maps(writer), 30)
    for i in range(3):
        body = case(f"case-single-{i}").replace("测试用涂装企业VOCs治理案例", f"单进程冷凝水回收第{i}号案例")
        status, answer = request(port, "POST", "/api/cases", body, AUTH)
        assert status == 201, answer
        assert search_total(port, "单进程冷凝水回收") == i + 1
    status, _ = request(port, "POST", "/api/cases", case("case-single-0"), AUTH)
    assert status == 409            # the writer's answers (a taken id) reach the client as before
    assert elected(log) == [writer]
    assert "/sklearn/" not in maps(process.pid)     # the serving process never fits a model
    process.terminate()             # stopping the server stops its writer, which finishes first
    process.wait(30)
    assert eventually(lambda: not alive(writer), 10)


def test_kb_serve_workers_flag_reaches_the_server_with_every_limit(runner, monkeypatch, settings, kb):
    """`kb serve --workers 2` keeps every option: gunicorn gets the threads, connection limit, keep-alive
    timeout and trusted proxy (and nothing trusted by default, where gunicorn trusts 127.0.0.1)."""
    from kb import serving
    from kb.cli import main
    from kb.cli.common import CliContext

    seen = {}
    monkeypatch.setattr(serving, "run", lambda factory, s, host, port, limits, workers, watch: seen.update(
        limits=limits, workers=workers, watch=watch, port=port))
    result = runner.invoke(main, ["serve", "--workers", "2", "--no-watch", "--port", "5998", "--threads", "16",
                                  "--connection-limit", "300", "--channel-timeout", "15",
                                  "--trusted-proxy", "127.0.0.1"], obj=CliContext(settings))
    assert result.exit_code == 0, result.output
    assert (seen["workers"], seen["watch"], seen["port"]) == (2, False, 5998)
    options = serving.gunicorn_options("127.0.0.1", 5998, 2, seen["limits"])
    assert (options["workers"], options["threads"], options["worker_connections"], options["keepalive"]) == (2, 16, 300, 15)
    assert options["forwarded_allow_ips"] == "127.0.0.1" and options["bind"] == ["127.0.0.1:5998"]
    assert serving.gunicorn_options("::1", 80, 2, serving.ServeLimits())["forwarded_allow_ips"] == ""
    assert serving.gunicorn_options("::1", 80, 2, serving.ServeLimits())["bind"] == ["[::1]:80"]


def test_a_taken_port_is_named_in_chinese_with_workers(runner, monkeypatch, settings, kb):
    from kb.cli import main
    from kb.cli.common import CliContext

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["serve", "--workers", "2", "--no-watch", "--port", str(port)],
                               obj=CliContext(settings))
    assert result.exit_code == 2 and f"端口 {port} 已被占用" in result.output


def test_forwarded_headers_count_only_from_the_trusted_proxy():
    from kb.serving import TrustedProxyFix

    def app(environ, start_response):
        start_response("200 OK", [])
        return [f"{environ['REMOTE_ADDR']} {environ['wsgi.url_scheme']}".encode()]

    fixed = TrustedProxyFix(app, "127.0.0.1")
    headers = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_FORWARDED_PROTO": "https", "wsgi.url_scheme": "http"}
    assert fixed({**headers, "REMOTE_ADDR": "127.0.0.1"}, lambda *a: None) == [b"203.0.113.7 https"]
    assert fixed({**headers, "REMOTE_ADDR": "198.51.100.9"}, lambda *a: None) == [b"198.51.100.9 http"]
