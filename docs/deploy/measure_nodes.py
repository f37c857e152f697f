"""Measure /api/search throughput of 1, 2 and 3 shared-mode nodes behind nginx (docs/deploy/multinode.md).

Starts a throwaway database on the PostgreSQL server given, loads the bundled content into it, starts three
`kb serve` nodes (KB_SHARED=1) on loopback ports and one nginx with three upstreams (the first node, the first
two, all three; `least_conn`, keep-alive to the nodes as in docs/deploy/nginx-multinode.conf), then drives
each upstream with the same closed-loop load: C keep-alive connections from a threaded Python client (wrk
when installed), each sending the judged queries of bench/queries.yaml in turn for D seconds.

    python docs/deploy/measure_nodes.py postgresql://postgres@127.0.0.1:54329/postgres [--seconds 10] [--connections 8]

The database is created beside the one in the URL (its name + `_nodes_<random>`) and dropped at the end.
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

NGINX = """worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
{upstreams}
}}
"""
UPSTREAM = """    upstream kb{n} {{ least_conn; {servers} keepalive 32; }}
    server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://kb{n}; proxy_http_version 1.1;
        proxy_set_header Connection ""; proxy_set_header Host $host; }} }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node on port {port} exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"node on port {port} not ready")


def load(port: int, paths: list[str], seconds: float, connections: int) -> dict:
    stop = time.monotonic() + seconds
    counts, errors, latencies = [0] * connections, [0] * connections, [[] for _ in range(connections)]

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = n
        while time.monotonic() < stop:
            started = time.perf_counter()
            conn.request("GET", paths[i % len(paths)])
            response = conn.getresponse()
            response.read()
            latencies[n].append(time.perf_counter() - started)
            counts[n] += 1
            errors[n] += response.status != 200
            i += connections
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    all_latencies = sorted(x for part in latencies for x in part)
    return {"req_per_s": round(sum(counts) / elapsed, 1), "requests": sum(counts), "non_200": sum(errors),
            "p50_ms": round(1000 * all_latencies[len(all_latencies) // 2], 1),
            "p95_ms": round(1000 * all_latencies[int(0.95 * len(all_latencies))], 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()

    import psycopg
    import yaml

    from kb.config import load_settings
    from kb.shared.database import SharedDatabase
    from kb.shared.mirror import publish_release

    base = urlsplit(args.url)
    name = (base.path.lstrip("/") or "kb") + "_nodes_" + uuid.uuid4().hex[:6]
    admin = urlunsplit(base._replace(path="/postgres"))
    url = urlunsplit(base._replace(path="/" + name))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    work = Path(tempfile.mkdtemp(prefix="kb-nodes-"))
    nodes: list[tuple[int, subprocess.Popen]] = []
    nginx = None
    try:
        database = SharedDatabase(url)
        publish_release(load_settings(work / "loader", database_url=url, shared=True), database)
        database.dispose()
        kb = Path(sys.executable).with_name("kb")
        for i in range(args.nodes):
            port = free_port()
            env = {**os.environ, "KB_HOME": str(work / f"node{i}"), "KB_SHARED": "1", "KB_DATABASE_URL": url}
            log = open(work / f"node{i}.log", "wb")
            nodes.append((port, subprocess.Popen([str(kb), "serve", "--port", str(port)], env=env, stdout=log,
                                                 stderr=subprocess.STDOUT)))
            wait_ready(port, nodes[-1][1])       # one at a time: three builds at once would only thrash 2 cores
        prefix = work / "nginx"
        prefix.mkdir()
        fronts = [free_port() for _ in nodes]
        upstreams = "".join(UPSTREAM.format(n=n + 1, port=fronts[n], servers=" ".join(
            f"server 127.0.0.1:{p};" for p, _ in nodes[:n + 1])) for n in range(len(nodes)))
        (prefix / "nginx.conf").write_text(NGINX.format(prefix=prefix, upstreams=upstreams))
        nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(prefix), "-c",
                                  str(prefix / "nginx.conf"), "-g", "daemon off;"])
        time.sleep(1)
        queries = [q["q"] for q in yaml.safe_load((ROOT / "bench" / "queries.yaml").read_text(encoding="utf-8"))["queries"]]
        paths = ["/api/search?q=" + quote(q) for q in queries]
        print(f"tool: python threads, {args.connections} keep-alive connections, {args.seconds:g} s per run, "
              f"{len(paths)} judged queries in turn; cores: {os.cpu_count()}; load before: {os.getloadavg()[0]:.1f}")
        load(fronts[0], paths, 2.0, args.connections)                     # warm every node's caches
        load(fronts[-1], paths, 2.0, args.connections)
        results = {"direct, 1 node": load(nodes[0][0], paths, args.seconds, args.connections)}
        for n, port in enumerate(fronts):
            results[f"nginx, {n + 1} node{'s' if n else ''}"] = load(port, paths, args.seconds, args.connections)
        for label, r in results.items():
            print(f"{label:18s} {r['req_per_s']:7.1f} req/s  p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  "
                  f"({r['requests']} requests, non-200 {r['non_200']})")
        print(f"load after: {os.getloadavg()[0]:.1f}")
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(10)
        for _, proc in nodes:
            proc.terminate()
            proc.wait(20)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
