"""`python -m bench.stress`: attack a served instance on 127.0.0.1 the way issue 13 did, print a table.

Starts `kb serve`'s own server (kb.serving.serve, the same waitress limits) in a subprocess on a temp
KB_HOME with a small copy of the bundled technologies and an editor token, then checks:

- concurrent PUTs of one document with the same version: exactly one 200, the rest 409;
- a forged cross-origin POST to /edit (a signed-in editor's cookie, no CSRF token, Origin elsewhere):
  refused, the document unchanged;
- repeated parameters (2,000 `year=`): 400, fast, small;
- slow clients: N half-open connections (a request line and no end of headers), then a normal search
  timed while they hang on.

`--nginx` runs the slow-client check again through nginx configured from docs/deploy/nginx-kb.conf
(needs the nginx binary). `--slow-clients 120,500` measures several N. Runs in well under a minute.
"""
from __future__ import annotations

import argparse
import http.client
import http.cookies
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
TECHNOLOGIES = ROOT / "kb" / "content" / "technologies"
NGINX_SITE = ROOT / "docs" / "deploy" / "nginx-kb.conf"
TOKEN = "stress-editor-token-0123456789"
CASE_ID = "case-stress-put"


@dataclass
class Check:
    name: str
    expected: str
    observed: str
    passed: bool


# -- the instance -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_home(folder: Path, technologies: int = 12) -> Path:
    """A temp instance: a few real bundled technologies as its content, an editable folder, a token."""
    bundled = folder / "bundled" / "technologies"
    bundled.mkdir(parents=True)
    for path in sorted(TECHNOLOGIES.glob("general-*.md"))[:technologies]:
        shutil.copy(path, bundled)
    home = folder / "instance"
    home.mkdir()
    (home / "editor_token").write_text(TOKEN, encoding="utf-8")
    return home


SERVER = """
import sys
from kb.config import load_settings
from kb.knowledge import KnowledgeBase
from kb.serving import ServeLimits, serve
from web import create_app

home, bundled, port, connection_limit, channel_timeout = sys.argv[1:6]
settings = load_settings(home, bundled_content=bundled, database_url=f"sqlite:///{home}/kb.sqlite3")
kb = KnowledgeBase(settings)
kb.ensure_built()
kb.close()
app = create_app({"KB_SETTINGS": settings})
serve(app, "127.0.0.1", int(port), ServeLimits(connection_limit=int(connection_limit),
                                               channel_timeout=int(channel_timeout)))
"""


class Server:
    """The app under kb.serving.serve in its own process (so the clients here do not share its GIL)."""

    def __init__(self, home: Path, connection_limit: int, channel_timeout: int):
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("KB_DATABASE_URL", None)
        env.pop("KB_CONTENT_DIR", None)
        self.log = open(home.parent / "server.log", "w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(home), str(home.parent / "bundled"), str(self.port),
             str(connection_limit), str(channel_timeout)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log.name}")
            try:
                if request("127.0.0.1", self.port, "GET", "/api/sectors", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start in 60 s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def request(host: str, port: int, method: str, path: str, body: bytes | str | None = None,
            headers: dict | None = None, timeout: float = 30) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body.encode("utf-8") if isinstance(body, str) else body,
                     headers=headers or {})
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        headers["set-cookie"] = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
        return response.status, headers, response.read()
    finally:
        conn.close()


def case_text(title: str) -> str:
    technology = sorted(TECHNOLOGIES.glob("general-*.md"))[0].stem
    return textwrap.dedent(f"""\
        ---
        id: {CASE_ID}
        type: case
        title: {title}
        sectors: [工业涂装]
        region: 江苏省常州市
        year: 2022
        audit: 强制性
        enterprise: 常州某涂装企业
        problems: [喷涂废气收集效率低]
        options:
          - name: 无/低费方案（来源未列名称）
            cost_class: 无/低费
            count: 3
        technologies: [{technology}]
        results: [VOCs 排放量下降]
        source:
          kind: 案例报道
          title: 压力测试用来源
          issuer: 常州市生态环境局
          year: 2022
        ---

        ## 企业概况

        压力测试写入的条目。

        ## 审核发现

        发现。

        ## 方案实施

        实施。

        ## 成效

        成效。
        """)


# -- the checks -----------------------------------------------------------------------------------

AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/markdown; charset=utf-8"}


def check_concurrent_puts(port: int, writers: int) -> Check:
    status, _, body = request("127.0.0.1", port, "POST", "/api/cases", case_text("压力测试案例 初版"), AUTH)
    if status != 201:
        return Check(f"{writers} 个并发 PUT（同一版本）", "恰好 1 个 200", f"建立条目失败：{status}", False)
    version = json.loads(body)["version"]
    statuses: list[int] = []
    barrier = threading.Barrier(writers)

    def put(i: int) -> None:
        barrier.wait()
        code, _, _ = request("127.0.0.1", port, "PUT", f"/api/documents/{CASE_ID}", case_text(f"压力测试案例 第 {i} 版"),
                             {**AUTH, "If-Match": version}, timeout=120)
        statuses.append(code)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = statuses.count(200)
    counts = "，".join(f"{code}×{statuses.count(code)}" for code in sorted(set(statuses)))
    return Check(f"{writers} 个并发 PUT（同一版本）", "恰好 1 个 200，其余 409", counts,
                 ok == 1 and statuses.count(409) == writers - 1)


def _cookie(headers: dict) -> str:
    """The Cookie header a browser would send back after this response (every Set-Cookie of it)."""
    jar = http.cookies.SimpleCookie()
    for value in headers.get("set-cookie", []):
        jar.load(value)
    return "; ".join(f"{k}={m.value}" for k, m in jar.items())


def _csrf_token(page: bytes) -> str:
    match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(rb'value="([^"]+)"[^>]*name="csrf_token"', page)
    return match.group(1).decode() if match else ""


def check_forged_edit(port: int) -> Check:
    """A signed-in editor visits another site, whose page posts a publish to /edit without a token."""
    origin = f"http://127.0.0.1:{port}"
    status, headers, page = request("127.0.0.1", port, "GET", "/edit")
    cookie = _cookie(headers)
    form = {"action": "signin", "token": TOKEN}
    if _csrf_token(page):
        form["csrf_token"] = _csrf_token(page)
    status, headers, _ = request("127.0.0.1", port, "POST", "/edit", urlencode(form), {
        "Content-Type": "application/x-www-form-urlencoded", "Origin": origin, "Referer": origin + "/edit",
        "Cookie": cookie})
    cookie = _cookie(headers) or cookie
    before = json.loads(request("127.0.0.1", port, "GET", f"/api/documents/{CASE_ID}")[2]).get("title")
    forged = urlencode({"action": "publish", "text": case_text("被跨站伪造改写的标题")})
    status, _, _ = request("127.0.0.1", port, "POST", "/edit", forged, {
        "Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example",
        "Referer": "http://evil.example/page", "Cookie": cookie}, timeout=120)
    after = json.loads(request("127.0.0.1", port, "GET", f"/api/documents/{CASE_ID}")[2]).get("title")
    refused = status in (400, 403) and after == before
    return Check("跨站伪造 POST /edit（无 CSRF 令牌）", "拒绝（400/403），文档不变",
                 f"{status}，标题{'不变' if after == before else '被改为「' + str(after) + '」'}", refused)


def check_repeated_parameters(port: int, repeats: int = 2000) -> Check:
    path = "/search?" + urlencode([("q", "余热")] + [("year", str(2000 + i % 20)) for i in range(repeats)])
    started = time.perf_counter()
    status, _, body = request("127.0.0.1", port, "GET", path)
    seconds = time.perf_counter() - started
    return Check(f"重复参数（{repeats} 个 year=）", "400，< 1 秒", f"{status}，{seconds:.3f} 秒，{len(body)} 字节",
                 status == 400 and seconds < 1.0)


def slow_clients_then_search(host: str, port: int, clients: int, wait: float = 10.0) -> tuple[int, float | None, int]:
    """Open `clients` half-open connections (headers never finished), then time one normal search.
    Returns (connections opened, seconds for the search or None when it did not answer in `wait` s, status)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(clients):
            try:
                sock = socket.create_connection((host, port), timeout=5)
                sock.sendall(b"GET /api/search?q=%E4%BD%99%E7%83%AD HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                sockets.append(sock)
            except OSError:
                break
        time.sleep(0.5)       # let the server accept them
        started = time.perf_counter()
        try:
            status, _, _ = request(host, port, "GET", "/api/search?q=%E4%BD%99%E7%83%AD", timeout=wait)
            return len(sockets), time.perf_counter() - started, status
        except OSError:
            return len(sockets), None, 0
    finally:
        for sock in sockets:
            sock.close()


def check_slow_clients(host: str, port: int, clients: int, label: str = "") -> Check:
    opened, seconds, status = slow_clients_then_search(host, port, clients)
    observed = f"{opened} 个连接；" + (f"{status}，{seconds:.3f} 秒" if seconds is not None else "10 秒内无应答")
    return Check(f"{clients} 个慢速客户端后检索{label}", "200，< 2 秒", observed,
                 seconds is not None and status == 200 and seconds < 2.0)


# -- nginx in front (optional) --------------------------------------------------------------------

class Nginx:
    """nginx with the shipped site file, its upstream pointed at the test server, on a free port."""

    def __init__(self, folder: Path, upstream_port: int):
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if binary is None:
            raise RuntimeError("nginx not installed (apt-get install nginx)")
        self.port = free_port()
        prefix = folder / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        site = NGINX_SITE.read_text(encoding="utf-8")
        site = site.replace("127.0.0.1:5000", f"127.0.0.1:{upstream_port}")
        site = re.sub(r"listen\s+80;", f"listen 127.0.0.1:{self.port};", site)
        site = re.sub(r"\n\s*listen\s+\[::\]:80;", "", site)
        (prefix / "kb-site.conf").write_text(site, encoding="utf-8")
        (prefix / "nginx.conf").write_text(textwrap.dedent(f"""\
            daemon off;
            worker_processes 1;
            pid {prefix}/nginx.pid;
            error_log {prefix}/logs/error.log warn;
            events {{ worker_connections 4096; }}
            http {{
                access_log off;
                client_body_temp_path {prefix}/body;
                proxy_temp_path {prefix}/proxy;
                fastcgi_temp_path {prefix}/fastcgi;
                uwsgi_temp_path {prefix}/uwsgi;
                scgi_temp_path {prefix}/scgi;
                include {prefix}/kb-site.conf;
            }}
            """), encoding="utf-8")
        self.process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if request("127.0.0.1", self.port, "GET", "/api/sectors", timeout=2)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not start: see {prefix}/logs/error.log")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the run --------------------------------------------------------------------------------------

def run(writers: int = 8, slow_clients: tuple[int, ...] = (120,), nginx: bool = False,
        connection_limit: int | None = None, channel_timeout: int | None = None) -> list[Check]:
    from kb.serving import ServeLimits

    limits = ServeLimits()
    folder = Path(tempfile.mkdtemp(prefix="kb-stress-"))
    server = None
    proxy = None
    try:
        home = make_home(folder)
        server = Server(home, connection_limit or limits.connection_limit, channel_timeout or limits.channel_timeout)
        checks = [check_concurrent_puts(server.port, writers), check_forged_edit(server.port),
                  check_repeated_parameters(server.port)]
        for n in slow_clients:
            checks.append(check_slow_clients("127.0.0.1", server.port, n, "（直连 waitress）"))
        if nginx:
            proxy = Nginx(folder, server.port)
            for n in slow_clients:
                checks.append(check_slow_clients("127.0.0.1", proxy.port, n, "（经 nginx）"))
        return checks
    finally:
        if proxy is not None:
            proxy.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def table(checks: list[Check]) -> str:
    rows = [("检查", "预期", "实测", "通过")] + [(c.name, c.expected, c.observed, "是" if c.passed else "否")
                                              for c in checks]
    return "\n".join("| " + " | ".join(row) + " |" + ("\n| --- | --- | --- | --- |" if i == 0 else "")
                     for i, row in enumerate(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stress", description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8, help="并发 PUT 的数量")
    parser.add_argument("--slow-clients", default="120", help="慢速客户端数，逗号分隔可测多个，如 120,500")
    parser.add_argument("--nginx", action="store_true", help="另经 nginx（docs/deploy/nginx-kb.conf）测慢速客户端")
    parser.add_argument("--connection-limit", type=int, default=None, help="waitress connection_limit（默认同 kb serve）")
    parser.add_argument("--channel-timeout", type=int, default=None, help="waitress channel_timeout（默认同 kb serve）")
    parser.add_argument("--json", action="store_true", help="输出 JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    checks = run(args.writers, tuple(int(n) for n in args.slow_clients.split(",") if n), args.nginx,
                 args.connection_limit, args.channel_timeout)
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], ensure_ascii=False, indent=2))
    else:
        print(table(checks))
        print(f"\n用时 {time.perf_counter() - started:.1f} 秒")
    return 0 if all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
