"""Requests per second on loopback, and what the server process tree spent on them.

Three kinds of server, each in its own process tree, started and stopped here:

- `kb_waitress`: the app under `kb.serving.create_server` (what `kb serve` runs by default);
- `kb_serve`: the `kb serve` command itself (its own code, on the bench's settings), with `--workers N` when
  the command has that option;
- `peer_fts5`: the minimal Flask app over the FTS5 peer (bench/peer_app.py), under the same server set-up.

The load is wrk when it is installed, else 8 client threads spread over one forked process per core (the
same tool for every server in a run). Besides req/s each run records the CPU the server's processes spent per request (from /proc, so a
slow load generator does not hide a costly server) and each server process's peak RSS (VmHWM).

Every server must serve the bench's corpus: before its load (waiting, bounded, for its warm writer batch)
and again after it, the totals it answers for a few probe searches must equal what the in-process engine
answers on the same data; otherwise the run is recorded as skipped ("served a different corpus: …").
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 8


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None = None


def search_calls(queries: list[str]) -> list[Call]:
    import urllib.parse

    return [Call("GET", "/api/search?q=" + urllib.parse.quote(q)) for q in queries]


def recommend_calls(profiles: list[dict]) -> list[Call]:
    return [Call("POST", "/api/recommend", json.dumps(p, ensure_ascii=False).encode("utf-8")) for p in profiles]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the process tree's CPU and memory, from /proc ------------------------------------------------------
def _tree(pid: int) -> list[int]:
    """pid and all its descendants alive now."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(parents.get(current, []))
    return out


def tree_cpu_s(pid: int) -> float | None:
    """CPU seconds of the process tree (utime+stime of each, plus its reaped children's)."""
    total = 0
    try:
        for member in _tree(pid):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])       # utime stime cutime cstime
    except (OSError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def writer_peak_rss_mb(pid: int) -> float | None:
    """Peak RSS of the tree's index-writer process (`python -m kb.writer_process`, kb serve on Linux), if any."""
    for member in _tree(pid):
        try:
            if b"kb.writer_process" in Path(f"/proc/{member}/cmdline").read_bytes():
                for line in Path(f"/proc/{member}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            continue
    return None


def tree_peak_rss_mb(pid: int) -> list[float]:
    """Peak RSS (VmHWM) of each process of the tree, in MB, largest first."""
    out = []
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out.append(round(int(line.split()[1]) / 1024, 1))
        except OSError:
            continue
    return sorted(out, reverse=True)


# -- servers ----------------------------------------------------------------------------------------
KB_WAITRESS = (
    "import sys; from kb.config import load_settings; from web import create_app; "
    "from kb.serving import create_server; "
    "s = load_settings(sys.argv[1], bundled_content=None, editable_content=sys.argv[1] + '/content'); "
    "app = create_app({'KB_SETTINGS': s, 'KB_BUILD_IF_MISSING': False}); "
    "create_server(app, host='127.0.0.1', port=int(sys.argv[2])).run()")

# `kb serve` itself (kb/cli/serve.py through kb.cli.main) on the bench's settings: the home's content folder
# only, as the in-process phases and KB_WAITRESS use, not the bundled content the plain CLI adds (its warm
# writer batch then rebuilt the index to the bundled entries, and the runs measured that corpus). The CLI
# takes an embedder's CliContext and makes its app with the same settings.
KB_SERVE = (
    "import sys; from kb.config import load_settings; from kb.cli import main; "
    "from kb.cli.common import CliContext; "
    "s = load_settings(sys.argv[1], bundled_content=None, editable_content=sys.argv[1] + '/content'); "
    "main(sys.argv[2:], obj=CliContext(s), prog_name='kb')")


def kb_command() -> list[str]:
    script = Path(sys.executable).with_name("kb")
    return [str(script)] if script.exists() else [sys.executable, "-c", "import sys; from kb.cli import main; sys.exit(main())"]


def serve_has_workers() -> bool:
    """Whether `kb serve` takes --workers (pre-forked processes)."""
    out = subprocess.run([*kb_command(), "serve", "--help"], capture_output=True, text=True, cwd=ROOT)
    return "--workers" in out.stdout


def server_env(home: Path | None = None) -> dict:
    """The environment a measured server runs in: this checkout on the path, no KB_* settings of the caller's."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for name in ("KB_DATABASE_URL", "KB_CONTENT_DIR", "KB_NAMESPACE", "KB_TRUSTED_PROXY"):
        env.pop(name, None)
    if home is not None:
        env["KB_HOME"] = str(home)
    return env


def server_command(kind: str, port: int, home: Path | None = None, workers: int | None = None,
                   db: Path | None = None, cache: Path | None = None) -> list[str]:
    if kind == "kb_waitress":
        return [sys.executable, "-c", KB_WAITRESS, str(home), str(port)]
    if kind == "kb_serve":
        command = [sys.executable, "-c", KB_SERVE, str(home), "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--no-watch"]
        return command + (["--workers", str(workers)] if workers else [])
    if kind == "peer_fts5":
        return [sys.executable, "-m", "bench.peer_app", str(db), str(port), str(cache)]
    raise ValueError(kind)


class Server:
    """A server process tree on a free loopback port; stopped (whole group) on exit."""

    def __init__(self, command_for_port, env: dict, probe: Call):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command_for_port(self.port), cwd=ROOT, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while True:
            try:
                status = request(self.port, probe)
                break
            except OSError:
                if time.time() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"server did not start: {self.output()[-2000:]}")
                time.sleep(0.2)
        if status != 200:
            output = self.output()
            self.stop()
            raise RuntimeError(f"{probe.method} {probe.path} answered {status}: {output[-2000:]}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def exchange(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
             timeout: float = 30) -> tuple[int, bytes]:
    """One request on a new loopback connection: the status and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def request(port: int, call: Call) -> int:
    return exchange(port, call.method, call.path, call.body,
                    {"Content-Type": "application/json"} if call.body else {})[0]


def search_total(port: int, q: str) -> int | None:
    """The `total` the server's /api/search answers for q (None: not a 200 JSON answer with a total)."""
    import urllib.parse

    status, body = exchange(port, "GET", "/api/search?q=" + urllib.parse.quote(q))
    if status != 200:
        return None
    try:
        total = json.loads(body).get("total")
    except (ValueError, AttributeError):
        return None
    return total if isinstance(total, int) else None


def served_totals(port: int, probes) -> dict[str, int | None]:
    return {q: search_total(port, q) for q in probes}


def corpus_difference(served: dict[str, int | None], expected: dict[str, int]) -> str | None:
    """None when the server answered every probe's expected total, else the reason the run is skipped."""
    wrong = [f"q={q!r} total {served.get(q)} (expected {total})" for q, total in expected.items()
             if served.get(q) != total]
    return f"served a different corpus: {'; '.join(wrong)}" if wrong else None


CORPUS_WAIT_S = 120
IDLE_CPU_S = 0.1        # CPU seconds of the server's tree over one second below which its start-up is over


def settle(server: "Server", expected: dict[str, int], timeout: float = CORPUS_WAIT_S) -> dict:
    """Wait (bounded) until the server answers the expected totals with its process tree idle, asking again
    once it is: its warm writer batch runs in the background at start (and reads every file even when it
    changes nothing), so the totals before the batch ends prove nothing and the load must not share the
    machine with it. Returns what it saw last: `served` totals and `problem` (None when they match)."""
    started = time.time()
    deadline = started + timeout
    idle = False
    while True:
        served = served_totals(server.port, expected)
        problem = corpus_difference(served, expected)
        if problem is None and idle:
            break
        if time.time() > deadline:
            break
        before = tree_cpu_s(server.process.pid)
        time.sleep(1)
        after = tree_cpu_s(server.process.pid)
        idle = before is not None and after is not None and after - before < IDLE_CPU_S
    return {"served": served, "problem": problem, "idle": idle, "waited_s": round(time.time() - started, 1)}


# -- load -----------------------------------------------------------------------------------------
def load_tool() -> str:
    from .machine import nproc

    return "wrk" if shutil.which("wrk") else f"python-threads ({nproc()} processes)"


def measure(server: Server, calls: list[Call], seconds: int, connections: int = CONNECTIONS) -> dict:
    """Warm up, then load the server for `seconds`: req/s, non-2xx, server CPU per request, peak RSS."""
    for call in calls[: max(20, connections * 4)]:
        request(server.port, call)
    from .machine import load_between, mark

    cpu_before, before = tree_cpu_s(server.process.pid), mark()
    if shutil.which("wrk"):
        out = run_wrk(server.port, calls, seconds, connections)
    else:
        out = _python_load(server.port, calls, seconds, connections)
    cpu_after, after = tree_cpu_s(server.process.pid), mark()
    server_cpu = None
    if cpu_before is not None and cpu_after is not None and out.get("requests"):
        server_cpu = cpu_after - cpu_before
        out["server_cpu_ms_per_req"] = round(1000 * server_cpu / out["requests"], 2)
        out["server_cpu_s"] = round(server_cpu, 2)
    out["load"] = load_between(before, after, own_cpu_s=server_cpu)     # "other" includes the load generator
    out["rss_mb"] = tree_peak_rss_mb(server.process.pid)
    writer = writer_peak_rss_mb(server.process.pid)
    if writer is not None:          # one of rss_mb: the writer process, which serves no request
        out["writer_rss_mb"] = writer
    return out


def lua_string(data: bytes) -> str:
    """A Lua 5.1 (wrk's LuaJIT) string literal holding exactly these bytes: printable ASCII as it is,
    everything else as a decimal escape (LuaJIT has no \\u escape: a JSON-escaped body arrived mangled)."""
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\{b:03d}" for b in data) + '"'


def run_wrk(port: int, calls: list[Call], seconds: int, connections: int) -> dict:
    """One wrk run over the calls on the port: requests per second, latencies and non-2xx counts."""
    fd, name = tempfile.mkstemp(suffix=".lua")
    os.close(fd)
    script = Path(name)
    entries = ",".join("{%s,%s,%s}" % (lua_string(c.method.encode()), lua_string(c.path.encode()),
                                       lua_string(c.body) if c.body else "nil") for c in calls)
    script.write_text(
        f"local calls = {{{entries}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #calls + 1\n  local c = calls[i]\n"
        "  if c[3] then return wrk.format(c[1], c[2], {['Content-Type']='application/json'}, c[3]) end\n"
        "  return wrk.format(c[1], c[2])\nend\n", encoding="utf-8")
    try:
        done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
                               "-s", str(script), f"http://127.0.0.1:{port}"],
                              capture_output=True, text=True, check=True)
    finally:
        script.unlink()
    if done.stderr.strip():     # a script wrk cannot load: it says so here and loads `GET /` instead
        raise RuntimeError(f"wrk: {done.stderr.strip()[:500]}")
    lines = done.stdout.splitlines()
    rps = float(next(line.split()[1] for line in lines if line.startswith("Requests/sec:")))
    requests = int(next(line.split()[0] for line in lines if "requests in" in line))
    errors = sum(int(line.split()[-1]) for line in lines if line.strip().startswith("Non-2xx"))
    latency = {line.split()[0]: line.split()[1] for line in lines if line.strip().split(" ")[0] in ("50%", "99%")}
    socket_errors = next((line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("Socket errors")), "")
    return {"tool": "wrk", "connections": connections, "seconds": seconds, "req_per_s": round(rps, 1),
            "requests": requests, "non_2xx": errors, "latency": latency, "socket_errors": socket_errors}


def _client_process(port: int, calls: list[Call], stop: float, slots: list[int], step: int) -> tuple[int, int]:
    """One client process: a thread per connection slot, each going round the calls until `stop`."""
    counts, errors = {n: 0 for n in slots}, {n: 0 for n in slots}

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = n
        while time.time() < stop:
            call = calls[i % len(calls)]
            conn.request(call.method, call.path, body=call.body,
                         headers={"Content-Type": "application/json"} if call.body else {})
            response = conn.getresponse()
            response.read()
            counts[n] += 1
            errors[n] += response.status != 200
            i += step
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts.values()), sum(errors.values())


def _python_load(port: int, calls: list[Call], seconds: int, connections: int) -> dict:
    """Client threads spread over one process per core (forked), so the client's own GIL does not cap
    the rate a multi-process server reaches."""
    import multiprocessing

    from .machine import nproc

    processes = max(1, min(nproc(), connections))
    slots = [list(range(connections))[k::processes] for k in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        started = time.time()
        stop = started + seconds
        done = pool.starmap(_client_process, [(port, calls, stop, s, connections) for s in slots])
        elapsed = time.time() - started
    requests = sum(c for c, _ in done)
    return {"tool": f"python-threads ({processes} processes)", "connections": connections, "seconds": seconds,
            "req_per_s": round(requests / elapsed, 1), "requests": requests, "non_2xx": sum(e for _, e in done)}


# -- the runs the bench reports -----------------------------------------------------------------------
def measured_runs(server: "Server", base: dict, endpoints, seconds: int, expected: dict[str, int] | None,
                  log=print, wait_s: float = CORPUS_WAIT_S) -> list[dict]:
    """The server's runs (one per endpoint) between two corpus checks: skipped with the reason when the
    server never answered the expected totals, or answered others after the load."""
    if expected is None:
        return [{**base, "endpoint": endpoint, **measure(server, calls, seconds)} for endpoint, calls in endpoints]
    before = settle(server, expected, wait_s)
    corpus = {"expected": expected, "before": before["served"], "waited_s": before["waited_s"],
              "idle": before["idle"]}
    if before["problem"]:
        log(f"[bench] {base['server']}: {before['problem']}")
        return [{**base, "endpoint": endpoints[0][0], "corpus": corpus,
                 "skipped": f"{before['problem']} after waiting {before['waited_s']} s"[:600]}]
    runs = [{**base, "endpoint": endpoint, **measure(server, calls, seconds)} for endpoint, calls in endpoints]
    corpus["after"] = served_totals(server.port, expected)
    problem = corpus_difference(corpus["after"], expected)
    if problem:
        log(f"[bench] {base['server']} after the load: {problem}")
    for run in runs:
        run["corpus"] = corpus
        if problem:
            run["skipped"] = f"{problem} after the load"[:600]
    return runs


# -- edits through a running server ------------------------------------------------------------------
EDITOR_TOKEN = "bench-editor-token-0123456789abcdef"
EDITS = 5


def edit_word(n: int) -> str:
    """A word no document holds, one per edit (as bench.profile_edit searches for)."""
    return "测编" + "".join("零一二三四五六七八九"[int(c)] for c in f"{n:04d}")


def edit_run(server: "Server", base: dict, home: Path, count: int = EDITS) -> dict:
    """`count` edits of one technology entry through `PUT /api/documents/<id>` (an editor's token, If-Match
    the version read before), each adding a new word: seconds from the request to its acknowledgement
    (the write is searchable then, through any worker: kb's contract) and whether a search right after
    finds it; then the entry is put back as it was, so the next server serves the same corpus. The peak
    RSS of the server's processes and of its index writer process is read after the edits."""
    import urllib.parse

    doc_id = sorted(p.stem for p in (home / "content" / "technologies").glob("*.md"))[0]
    auth = {"Authorization": f"Bearer {EDITOR_TOKEN}"}
    status, body = exchange(server.port, "GET", "/api/documents/" + urllib.parse.quote(doc_id), headers=auth)
    if status != 200:
        return {**base, "endpoint": "PUT /api/documents", "skipped": f"GET answered {status}: {body[:200]!r}"}
    current = json.loads(body)
    original, version = current["markdown"], current["version"]
    put = {**auth, "Content-Type": "text/markdown; charset=utf-8"}
    acks, found, errors = [], 0, 0
    try:
        for n in range(1, count + 1):
            word = edit_word(n)
            text = original.rstrip("\n") + f"\n\n修订{word}：补充适用条件。\n"
            started = time.perf_counter()
            status, body = exchange(server.port, "PUT", "/api/documents/" + urllib.parse.quote(doc_id),
                                    text.encode("utf-8"), {**put, "If-Match": version}, timeout=120)
            acks.append(round(time.perf_counter() - started, 3))
            if status != 200:
                errors += 1
                continue
            version = json.loads(body)["version"]
            found += (search_total(server.port, word) or 0) >= 1
    finally:
        exchange(server.port, "PUT", "/api/documents/" + urllib.parse.quote(doc_id), original.encode("utf-8"),
                 {**put, "If-Match": version}, timeout=120)
    ordered = sorted(acks)
    out = {**base, "endpoint": "PUT /api/documents", "edits": count, "non_2xx": errors, "searchable_on_ack": found,
           "ack_s": acks, "ack_p50_s": ordered[len(ordered) // 2], "ack_max_s": ordered[-1],
           "rss_mb": tree_peak_rss_mb(server.process.pid)}
    writer = writer_peak_rss_mb(server.process.pid)
    if writer is not None:
        out["writer_rss_mb"] = writer
    return out


def kb_runs(home: Path, queries: list[str], profiles: list[dict], seconds: int, log=print,
            expected: dict[str, int] | None = None, edits: list[dict] | None = None) -> list[dict]:
    """kb under waitress as the bench always measured it, then `kb serve --workers 1` and `--workers 2`;
    with `expected` (probe query → total, bench/engines.py kb-corpus) each server's corpus is checked.
    With `edits` (a list to fill) each `kb serve` also takes EDITS edits through its API after the loads."""
    searches, recommends = search_calls(queries), recommend_calls(profiles)
    endpoints = [("/api/search", searches), ("/api/recommend", recommends)]
    runs: list[dict] = []
    if edits is not None:
        (home / "editor_token").write_text(EDITOR_TOKEN, encoding="utf-8")

    def run(label: str, command_for_port, workers: int | None) -> None:
        base = {"engine": "kb", "server": label, "workers": workers}
        try:
            with Server(command_for_port, server_env(home), searches[0]) as server:
                runs.extend(measured_runs(server, base, endpoints, seconds, expected, log))
                if edits is not None and workers is not None and not any("skipped" in r for r in runs[-2:]):
                    edits.append(edit_run(server, base, home))
        except RuntimeError as exc:
            log(f"[bench] {label}: {exc}")
            runs.append({"engine": "kb", "server": label, "workers": workers, "endpoint": "/api/search",
                         "skipped": f"server failed: {str(exc)[:300]}"})

    run("waitress (kb.serving)", lambda port: server_command("kb_waitress", port, home), None)
    if serve_has_workers():
        for workers in (1, 2):
            run(f"kb serve --workers {workers}",
                lambda port, w=workers: server_command("kb_serve", port, home, workers=w), workers)
    else:
        run("kb serve", lambda port: server_command("kb_serve", port, home), None)
        runs.append({"engine": "kb", "server": "kb serve --workers 2", "workers": 2, "endpoint": "/api/search",
                     "skipped": "kb serve has no --workers option in this tree"})
        log("[bench] kb serve has no --workers option: the 2-worker figure was skipped")
    return runs


def peer_run(db: Path, cache: Path, queries: list[str], seconds: int, expected: dict[str, int] | None = None,
             log=print) -> dict:
    """The FTS5 Flask baseline's /api/search under the same server set-up and load; with `expected` (the
    peer's own probe totals, from peer-serve) its corpus is checked as kb's are."""
    searches = search_calls(queries)
    base = {"engine": "fts5", "server": "waitress (kb.serving)", "workers": None}
    with Server(lambda port: server_command("peer_fts5", port, db=db, cache=cache), server_env(), searches[0]) as server:
        return measured_runs(server, base, [("/api/search", searches)], seconds, expected, log)[0]
