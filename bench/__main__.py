"""`python -m bench [--quick] [--sizes 2000,20000] [--json]`: kb against SQLite FTS5 and tantivy.

For every corpus size, in one run: build time and index size, search p50/p95 (plain and
highlighted) over the same queries, and for kb also recommend p95, cold start and /api/search
throughput on loopback; then relevance on the bundled content (bench/relevance.py).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILE_SECTORS = ["印染", "电镀", "建材", "钢铁", "焦化", "造纸", "化学原料药", "工业涂装", "包装印刷",
                   "有色金属", "石化化工", "能源", "农副食品加工"]


# -- workload ------------------------------------------------------------------------------------
def workload(count: int, seed: int = 0) -> list[str]:
    """The judged queries first, then combinations of real vocabulary typed the same way."""
    from .corpus import bundled_documents
    from .relevance import judged_queries, kind_of

    # the keyword queries only, so the speed workload stays what earlier runs measured
    judged = [q["q"] for q in judged_queries() if kind_of(q) == "keyword"]
    if count <= len(judged):
        return judged[:count]
    rng = random.Random(seed)
    docs = sorted(bundled_documents().values(), key=lambda d: d.id)
    tags = sorted({t for d in docs for t in d.tags})
    sectors = sorted({s for d in docs for s in d.sectors if s != "通用"})
    processes = sorted({d.meta["process"].split("（")[0][:8] for d in docs if d.meta.get("process")})
    heads = sorted({d.title.split("（")[0][:10] for d in docs if d.type == "technology"})
    asks = ["怎么办", "如何降低", "改造", "回收", "节能", "治理", "超标"]
    out = list(judged)
    seen = set(out)
    while len(out) < count:
        kind = rng.randrange(4)
        if kind == 0:
            q = f"{rng.choice(sectors)} {rng.choice(tags)}"
        elif kind == 1:
            q = f"{rng.choice(tags)}{rng.choice(asks)}"
        elif kind == 2:
            q = f"{rng.choice(processes)} {rng.choice(tags)}"
        else:
            q = rng.choice(heads)
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out


def profiles() -> list[dict]:
    from .relevance import judged_queries, kind_of

    return [{"sector": PROFILE_SECTORS[i % len(PROFILE_SECTORS)], "problem": q["q"], "limit": 10}
            for i, q in enumerate(q for q in judged_queries()
                                  if kind_of(q) == "keyword" and re.search(r"[\u4e00-\u9fff]{2}", q["q"]))]


# -- timing helpers -----------------------------------------------------------------------------
def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3), "p95_ms": round(p95 * 1000, 3)}


def timed(fn, items, warmup: int = 5) -> dict[str, float]:
    for item in items[:warmup]:
        fn(item)
    samples = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 1e6, 2)


@contextlib.contextmanager
def quiet():
    """jieba prints its dictionary loading on stderr; keep the table readable."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


# -- kb ---------------------------------------------------------------------------------------------
def bench_kb(home: Path, docs: dict, queries: list[str], quick: bool, procs: int) -> dict:
    import kb.build as kb_build
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase
    from kb.recommend.profile import parse_profile
    from kb.search.engine import SearchRequest

    settings = load_settings(home, bundled_content=None, editable_content=home / "content")
    phases: dict[str, float] = {}
    original = kb_build.write_index

    def timed_write_index(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases["index_s"] = time.perf_counter() - started

    kb_build.write_index = timed_write_index
    try:
        knowledge = KnowledgeBase(settings)
        report = knowledge.build(documents=docs, procs=procs, full=True)
    finally:
        kb_build.write_index = original
    generation = knowledge.generation
    result: dict = {
        "build_s": round(report.seconds, 3),
        "index_s": round(phases.get("index_s", report.seconds), 3),
        # what search reads; the per-segment build cache (arrays/segments) is reported apart
        "size_mb": round(dir_mb(generation / "index") + dir_mb(generation / "arrays")
                         - dir_mb(generation / "arrays" / "segments"), 2),
        "segment_cache_mb": round(dir_mb(generation / "arrays" / "segments"), 2),
    }
    result["search"] = timed(lambda q: knowledge.search(SearchRequest(text=q, highlight=False)), queries)
    result["search_highlight"] = timed(lambda q: knowledge.search(SearchRequest(text=q, highlight=True)), queries)
    recommender = knowledge.recommender()
    result["recommend"] = timed(lambda p: recommender.recommend(parse_profile(p)), profiles()[: 20 if quick else None])
    edited = dict(docs)

    def save(doc):
        edited[doc.id] = doc
        knowledge.build(documents=edited)
    result["edit_s"] = edit_latency(save, docs)

    def save_in_new_process(doc):
        from kb.recommend import model

        for cache in (model._rows, model._term_ids, model._terms):   # what a fresh `kb build` starts with
            cache.clear()
        save(doc)
    result["edit_new_process_s"] = edit_latency(save_in_new_process, docs, salt="new")
    knowledge.close()
    result["cold_start_s"] = cold_start(settings.home)
    result["http"] = http_throughput(settings.home, queries, seconds=2 if quick else 8)
    return result


EDITS = 3


def edited_documents(docs: dict, salt: str = "") -> list:
    """The same EDITS saves for every engine: one technology entry gains a sentence each time."""
    import dataclasses

    doc = next(d for d in docs.values() if d.type == "technology")
    return [dataclasses.replace(doc, body=doc.body + f"\n\n修订{salt}{k}：补充余热回收与膜法回用的适用条件。",
                                content_hash=f"{doc.content_hash}-edit{salt}{k}") for k in range(EDITS)]


def edit_latency(save, docs: dict, salt: str = "") -> float:
    """Median seconds from saving one changed entry to its being searchable (in a running process)."""
    timings = []
    for doc in edited_documents(docs, salt):
        started = time.perf_counter()
        save(doc)
        timings.append(time.perf_counter() - started)
    return round(statistics.median(timings), 3)


def cold_start(home: Path) -> float:
    code = ("from kb.config import load_settings; from kb.knowledge import KnowledgeBase; "
            "from kb.search.engine import SearchRequest; import sys; "
            "k = KnowledgeBase(load_settings(sys.argv[1], bundled_content=None, "
            "editable_content=sys.argv[1] + '/content')); "
            "assert k.search(SearchRequest(text='余热发电 节能')).total >= 0")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(home)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_throughput(home: Path, queries: list[str], seconds: int = 8, connections: int = 8) -> dict:
    """waitress set up as `kb serve` runs it (kb/serving.py: its threads and CPU slots) in a subprocess;
    wrk on loopback, or a threaded client."""
    port = _free_port()
    code = ("import sys; from kb.config import load_settings; "
            "from web import create_app; from kb.serving import create_server; "
            "s = load_settings(sys.argv[1], bundled_content=None, editable_content=sys.argv[1] + '/content'); "
            "app = create_app({'KB_SETTINGS': s, 'KB_BUILD_IF_MISSING': False}); "
            "create_server(app, host='127.0.0.1', port=int(sys.argv[2])).run()")
    server = subprocess.Popen([sys.executable, "-c", code, str(home), str(port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paths = ["/api/search?q=" + urllib.parse.quote(q) for q in queries]
    try:
        import http.client

        deadline = time.time() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", paths[0])
                status = conn.getresponse().status
                conn.close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("waitress did not start")
                time.sleep(0.1)
        if status != 200:
            raise RuntimeError(f"/api/search answered {status}")
        if shutil.which("wrk"):
            return _wrk(port, paths, seconds, connections)
        return _python_load(port, paths, seconds, connections)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def _wrk(port: int, paths: list[str], seconds: int, connections: int) -> dict:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lua_paths = ",".join(json.dumps(p) for p in paths)
    script.write_text(
        f"local paths = {{{lua_paths}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n")
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
                              "-s", str(script),
                              f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    finally:
        script.unlink()
    rps = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec:")))
    errors = sum(int(line.split()[-1]) for line in out.splitlines() if line.strip().startswith("Non-2xx"))
    latency = {line.split()[0]: line.split()[1] for line in out.splitlines()
               if line.strip().split(" ")[0] in ("50%", "99%")}
    socket_errors = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                          if line.strip().startswith("Socket errors")), "")
    return {"tool": "wrk", "connections": connections, "seconds": seconds, "req_per_s": round(rps, 1),
            "non_2xx": errors, "latency": latency, "socket_errors": socket_errors}


def _python_load(port: int, paths: list[str], seconds: int, connections: int) -> dict:
    import http.client

    stop = time.time() + seconds
    counts, errors = [0] * connections, [0] * connections

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = n
        while time.time() < stop:
            conn.request("GET", paths[i % len(paths)])
            resp = conn.getresponse()
            resp.read()
            counts[n] += 1
            errors[n] += resp.status != 200
            i += connections
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"tool": "python-threads", "connections": connections, "seconds": seconds,
            "req_per_s": round(sum(counts) / elapsed, 1), "non_2xx": sum(errors)}


# -- peers ------------------------------------------------------------------------------------------
def bench_peer(peer_cls, workdir: Path, docs: dict, queries: list[str], analysis) -> dict:
    from .peers import kb_tokens

    workdir.mkdir(parents=True, exist_ok=True)
    tokens = kb_tokens(analysis)
    peer = peer_cls(workdir, tokens)
    build_s, size_mb = peer.build(docs.values())
    result = {"build_s": round(build_s, 3), "size_mb": round(size_mb, 2)}
    result["search"] = timed(lambda q: peer.search(tokens.query(q)), queries)
    result["search_highlight"] = timed(lambda q: peer.search_highlight(tokens.query(q)), queries)
    result["edit_s"] = edit_latency(peer.edit, docs)
    peer.close()
    return result


# -- report -----------------------------------------------------------------------------------------
def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}×" if b else "–"


def table(size: int, results: dict) -> str:
    kb = results["kb"]
    peers = [name for name in results if name != "kb"]
    rows = [("build (s)", lambda r: r["build_s"]), ("index size (MB)", lambda r: r["size_mb"]),
            ("search p50 (ms)", lambda r: r["search"]["p50_ms"]), ("search p95 (ms)", lambda r: r["search"]["p95_ms"]),
            ("highlighted p50 (ms)", lambda r: r["search_highlight"]["p50_ms"]),
            ("highlighted p95 (ms)", lambda r: r["search_highlight"]["p95_ms"]),
            ("edit → searchable (s)", lambda r: r["edit_s"])]
    head = "| " + f"{size} docs | kb | " + " | ".join(f"{p} | kb/{p}" for p in peers) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(peers))]
    for label, get in rows:
        cells = [label, f"{get(kb):g}"]
        for p in peers:
            cells += [f"{get(results[p]):g}", ratio(get(kb), get(results[p]))]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"| kb index-only build (s) | {kb['index_s']:g} |" + " |" * (2 * len(peers)))
    lines.append(f"| kb recommend p50/p95 (ms) | {kb['recommend']['p50_ms']:g} / {kb['recommend']['p95_ms']:g} |"
                 + " |" * (2 * len(peers)))
    lines.append(f"| kb cold start (s) | {kb['cold_start_s']:g} |" + " |" * (2 * len(peers)))
    lines.append(f"| kb build cache: per-segment arrays (MB) | {kb['segment_cache_mb']:g} |" + " |" * (2 * len(peers)))
    lines.append(f"| kb edit → searchable, caches cleared as in a new process (s) | {kb['edit_new_process_s']:g} |"
                 + " |" * (2 * len(peers)))
    http = kb["http"]
    lines.append(f"| kb /api/search (req/s, {http['tool']} c={http['connections']} {http['seconds']}s) | "
                 f"{http['req_per_s']:g} (non-2xx {http['non_2xx']}) |" + " |" * (2 * len(peers)))
    return "\n".join(lines)


def relevance_table(rel: dict) -> str:
    lines = ["| engine (bundled content) | queries | nDCG@10 | MRR | success@3 | answered |", "|---|---|---|---|---|---|"]
    for name, scores in rel.items():
        if not name.startswith("_"):
            for kind, s in [("all", scores), *scores.get("by_kind", {}).items()]:
                lines.append(f"| {name} | {kind} | {s['ndcg@10']:.3f} | {s['mrr']:.3f} | {s['success@3']:.3f} | "
                             f"{s['answered']}/{s['queries']} |")
    return "\n".join(lines)


def profile_kb(size: int, queries: list[str], procs: int, top: int = 25) -> str:
    """cProfile of kb's search (plain, then highlighted) over the workload at one corpus size."""
    import cProfile
    import pstats

    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase
    from kb.search.engine import SearchRequest

    from .corpus import synthetic_documents

    workdir = Path(tempfile.mkdtemp(prefix="kb-profile-"))
    try:
        with quiet():
            settings = load_settings(workdir, bundled_content=None, editable_content=workdir / "content")
            knowledge = KnowledgeBase(settings)
            knowledge.build(documents=synthetic_documents(size), procs=procs, full=True)
            for q in queries[:5]:
                knowledge.search(SearchRequest(text=q))
        report = io.StringIO()
        for highlight in (False, True):
            prof = cProfile.Profile()
            prof.enable()
            for q in queries:
                knowledge.search(SearchRequest(text=q, highlight=highlight))
            prof.disable()
            report.write(f"\n### kb search, highlight={highlight}, {size} docs, {len(queries)} queries\n\n")
            stats = pstats.Stats(prof, stream=report)
            stats.sort_stats("cumulative").print_stats(top)
            stats.sort_stats("tottime").print_stats(top)
        knowledge.close()
        return report.getvalue()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small corpus, ~50 queries (< 1 minute)")
    parser.add_argument("--sizes", default=None, help="comma-separated corpus sizes (default 2000,20000)")
    parser.add_argument("--queries", type=int, default=None, help="number of queries (default 200, quick 50)")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="kb build processes")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-relevance", action="store_true")
    parser.add_argument("--profile", type=int, default=None, metavar="SIZE",
                        help="only print a cProfile of kb search at this corpus size")
    parser.add_argument("--save", default=None, help="also write the JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ("300" if args.quick else "2000,20000")).split(",")]
    nqueries = args.queries or (50 if args.quick else 200)

    from kb.analysis import load_analysis

    from .corpus import synthetic_documents
    from .peers import available_peers

    if args.profile:
        with quiet():
            queries = workload(nqueries)
        print(profile_kb(args.profile, queries, args.procs))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    try:
        with quiet():
            queries = workload(nqueries)
        all_results: dict[str, dict] = {}
        for size in sizes:
            log(f"[bench] {size} documents, {len(queries)} queries …")
            with quiet():
                docs = synthetic_documents(size)
                results = {"kb": bench_kb(workdir / f"kb-{size}", docs, queries, args.quick, args.procs)}
                analysis = load_analysis(workdir / f"kb-{size}" / "cache")
                for peer_cls in available_peers():
                    results[peer_cls.name] = bench_peer(peer_cls, workdir / f"{peer_cls.name}-{size}", docs, queries,
                                                        analysis)
            all_results[str(size)] = results
            if not args.json:
                print(table(size, results), flush=True)
        rel = None
        if not args.no_relevance:
            log("[bench] relevance on the bundled content …")
            with quiet():
                rel = __import__("bench.relevance", fromlist=["evaluate"]).evaluate(workdir / "relevance")
            if not args.json:
                print(relevance_table(rel))
        last = all_results[str(sizes[-1])]
        out = {name: dict(r) for name, r in last.items()}
        out["_sizes"] = all_results
        out["_meta"] = {"queries": len(queries), "sizes": sizes, "nproc": os.cpu_count(),
                        "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        if rel:
            for name, s in rel.items():
                if not name.startswith("_") and name in out:
                    out[name]["relevance"] = {"ndcg@10": s["ndcg@10"], "mrr": s["mrr"],
                                              "by_kind": s.get("by_kind", {})}
        if args.save:
            Path(args.save).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
        if args.json:
            print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        if args.keep:
            log(f"[bench] kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
