"""`python -m bench [--quick] [--sizes 2000,20000] [--json] [--write-results] [--check-stale]`: kb against
SQLite FTS5 and tantivy.

For every corpus size, in one run, each engine in processes of its own (bench/engines.py), one after the
other: build (wall and CPU time, peak RSS; the peers tokenise in as many processes as kb builds with),
then in a fresh process search p50/p95 plain and highlighted, for kb recommend p50/p95, and edit →
searchable (wall and CPU; peak RSS while serving). Then HTTP on loopback: kb's /api/search and
/api/recommend under waitress and under `kb serve --workers 1/2` (all on the corpus written as content
files into the home, checked by probe totals before and after each run), and the FTS5 peer behind a
minimal Flask app under the same server. The machine's load is recorded around each engine. Then relevance on the
bundled content (bench/relevance.py). `--write-results` writes the run into bench/RESULTS.md and the
README (bench/publish.py); `--check-stale` says whether those describe the code in the working tree.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .engines import quiet
from .machine import nproc
from .report import relevance_table, size_section

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


# -- one size -------------------------------------------------------------------------------------
def _merge(phases: dict[str, dict]) -> dict:
    """One engine's figures from its phases' results: rss merged, load and CPU totals kept per phase."""
    out: dict = {"rss": {}, "load": {}, "tree_cpu_s": {}}
    for phase, result in phases.items():
        for key, value in result.items():
            if key == "rss":
                out["rss"].update(value)
            elif key == "load":
                out["load"][phase] = value
            elif key == "tree_cpu_s":
                out["tree_cpu_s"][phase] = value
            elif key == "process_cpu_s":
                out.setdefault("process_cpu_s", {})[phase] = value
            else:
                out[key] = value
    return out


def cold_start(home: Path) -> dict:
    """Seconds (wall, and CPU of the process) from a new process to its first answered search."""
    code = ("from kb.config import load_settings; from kb.knowledge import KnowledgeBase; "
            "from kb.search.engine import SearchRequest; import sys; "
            "k = KnowledgeBase(load_settings(sys.argv[1], bundled_content=None, "
            "editable_content=sys.argv[1] + '/content')); "
            "assert k.search(SearchRequest(text='余热发电 节能')).total >= 0")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code, str(home)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"cold start failed with exit code {process.returncode}")
    return {"cold_start_s": round(time.perf_counter() - started, 3),
            "cold_start_cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}


PROBE_CANDIDATES, PROBES = 40, 4     # the corpus check: workload queries tried, and kept besides the count


def index_state(home: Path) -> dict:
    """What the home's current index holds: its documents, and how many content files it does not hold
    as they are on disk (0 when index and files agree)."""
    from kb.build import current_generation, read_meta
    from kb.config import load_settings
    from kb.editing import unindexed_files

    settings = load_settings(home, bundled_content=None, editable_content=home / "content")
    hashes = read_meta(current_generation(settings)).get("hashes", {})
    return {"documents": len(hashes), "files_not_indexed": len(unindexed_files(settings, hashes))}


def bench_size(size: int, workdir: Path, queries: list[str], args, log) -> tuple[dict, list[dict]]:
    """Every engine at one corpus size, one process per phase; the HTTP runs after each engine's phases."""
    from . import http_load
    from .corpus import documents_on_disk, synthetic_documents
    from .isolate import run_phase
    from .peers import available_peers

    phases_dir = workdir / "phases"
    documents = workdir / f"docs-{size}.pickle"
    home = workdir / f"kb-{size}"
    log(f"[bench] {size} docs: writing the corpus into {home / 'content'} …")
    with quiet():
        # the corpus as content files (what `kb serve`'s writer batch reads), and every engine indexes the
        # documents read back from them, so the index and the files agree
        docs = documents_on_disk(synthetic_documents(size), home / "content")
    with open(documents, "wb") as handle:
        pickle.dump(docs, handle, protocol=pickle.HIGHEST_PROTOCOL)
    del docs
    selected = profiles()[: 20 if args.quick else None]
    seconds = args.http_seconds or (2 if args.quick else 8)
    results: dict[str, dict] = {}
    runs: list[dict] = []

    log(f"[bench] {size} docs: kb build ({args.procs} processes) …")
    build = run_phase("kb-build", {"home": str(home), "documents": str(documents), "procs": args.procs}, phases_dir)
    log(f"[bench] {size} docs: kb search, recommend, edits …")
    serve = run_phase("kb-serve", {"home": str(home), "documents": str(documents), "queries": queries,
                                   "profiles": selected}, phases_dir)
    kb = _merge({"build": build, "serve": serve})
    kb.update(cold_start(home))
    probes: dict[str, int] = {}
    if not args.no_http:
        corpus = run_phase("kb-corpus", {"home": str(home), "documents": str(documents),
                                         "candidates": queries[:PROBE_CANDIDATES], "count": PROBES}, phases_dir)
        probes = corpus["probes"]
        log(f"[bench] {size} docs: kb over HTTP (corpus probes {probes}) …")
        edits: list[dict] = []
        kb_runs = http_load.kb_runs(home, queries, selected, seconds, log, expected=probes, edits=edits)
        kb["corpus"] = {"probes": probes, "index_after_http": index_state(home)}
        kb["http_runs"] = kb_runs
        kb["http_edits"] = edits
        first = next((r for r in kb_runs if r["endpoint"] == "/api/search" and "skipped" not in r), None)
        if first:
            kb["http"] = first
        runs += kb_runs
    results["kb"] = kb

    for peer_cls in available_peers():
        name = peer_cls.name
        peer_dir = workdir / f"{name}-{size}"
        params = {"name": name, "workdir": str(peer_dir), "documents": str(documents), "procs": args.procs}
        log(f"[bench] {size} docs: {name} build ({args.procs} tokenising processes), search, edits …")
        build = run_phase("peer-build", params, phases_dir)
        serve = run_phase("peer-serve", {**params, "queries": queries, "probes": [q for q in probes if q],
                                         "display": name == "fts5" and not args.no_http}, phases_dir)
        peer_probes = serve.pop("probes", None)
        results[name] = _merge({"build": build, "serve": serve})
        if name == "fts5" and not args.no_http:
            log(f"[bench] {size} docs: fts5 Flask baseline over HTTP …")
            try:
                peer = http_load.peer_run(peer_dir / "fts5.sqlite3", peer_dir / "cache", queries, seconds,
                                          expected=peer_probes, log=log)
                if "skipped" not in peer:
                    results[name]["http"] = peer
                runs.insert(1, peer)
            except RuntimeError as exc:
                log(f"[bench] fts5 HTTP baseline failed: {exc}")
    return results, runs


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
    parser.add_argument("--quick", action="store_true", help="small corpus, ~50 queries (about a minute)")
    parser.add_argument("--sizes", default=None, help="comma-separated corpus sizes (default 2000,20000)")
    parser.add_argument("--queries", type=int, default=None, help="number of queries (default 200, quick 50)")
    parser.add_argument("--procs", type=int, default=nproc(),
                        help="build processes: kb's build and the peers' tokenising (default: the cores)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-relevance", action="store_true")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP measures")
    parser.add_argument("--http-seconds", type=int, default=None, help="seconds of load per HTTP run (default 8, quick 2)")
    parser.add_argument("--profile", type=int, default=None, metavar="SIZE",
                        help="only print a cProfile of kb search at this corpus size")
    parser.add_argument("--save", default=None, help="also write the JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--write-results", action="store_true",
                        help="write this run into bench/RESULTS.md (current section) and README.md (bench block)")
    parser.add_argument("--check-stale", action="store_true",
                        help="run nothing: exit 1 naming each recorded run that measured other code than the working tree")
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check_stale:
        return check_stale(Path(args.root))
    sizes = [int(s) for s in (args.sizes or ("300" if args.quick else "2000,20000")).split(",")]
    nqueries = args.queries or (50 if args.quick else 200)

    if args.profile:
        with quiet():
            queries = workload(nqueries)
        print(profile_kb(args.profile, queries, args.procs))
        return 0
    from . import http_load
    from .machine import machine_info
    from .publish import provenance

    started = time.time()
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    prov = provenance(Path(args.root), date)           # the code measured: taken before anything runs
    workdir = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    meta = {"queries": nqueries, "sizes": sizes, "procs": args.procs, "nproc": nproc(),
            "python": sys.version.split()[0], "date": date, "machine": machine_info(),
            "load_tool": http_load.load_tool(), "provenance": prov.__dict__,
            "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])}
    try:
        with quiet():
            queries = workload(nqueries)
        meta["queries"] = len(queries)
        all_results: dict[str, dict] = {}
        all_http: dict[str, list] = {}
        for size in sizes:
            results, runs = bench_size(size, workdir, queries, args, log)
            all_results[str(size)], all_http[str(size)] = results, runs
            if not args.json:
                print(size_section(size, results, runs, meta), flush=True)
        rel = None
        if not args.no_relevance:
            log("[bench] relevance on the bundled content …")
            with quiet():
                rel = __import__("bench.relevance", fromlist=["evaluate"]).evaluate(workdir / "relevance")
            if not args.json:
                print(relevance_table(rel))
        meta["seconds"] = round(time.time() - started, 1)
        last = all_results[str(sizes[-1])]
        out = {name: dict(r) for name, r in last.items()}
        out["_sizes"] = all_results
        out["_http"] = all_http
        out["_meta"] = meta
        if rel:
            out["_relevance"] = rel
            for name, s in rel.items():
                if not name.startswith("_") and name in out:
                    out[name]["relevance"] = {"ndcg@10": s["ndcg@10"], "mrr": s["mrr"],
                                              "by_kind": s.get("by_kind", {})}
        if args.save:
            Path(args.save).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
        if args.write_results:
            write_published(Path(args.root), out, log)
        if args.json:
            print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        if args.keep:
            log(f"[bench] kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def write_published(root: Path, out: dict, log=print) -> None:
    """RESULTS.md's current section and the README block from this run's results."""
    from .publish import write_readme, write_results
    from .summary import readme_block, results_section

    command = out["_meta"]["command"]
    write_results(root, results_section(out, command))
    write_readme(root, readme_block(out, command))
    log(f"[bench] wrote {root / 'bench' / 'RESULTS.md'} (current run) and {root / 'README.md'} (bench block)")


def check_stale(root: Path) -> int:
    from .publish import stale_sections

    problems = stale_sections(root)
    for problem in problems:
        print(f"过期：{problem}")
    if not problems:
        print("README.md 和 bench/RESULTS.md 的基准数字与工作区代码一致（指纹相同）。")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
