"""Search and highlighted search at one corpus size, kb against tantivy, in CPU time:
`python -m bench.profile_search --size 20000 [--home DIR] [--peer-dir DIR] [--rounds N] [--profile]`.

The bench's own workload (`bench.__main__.workload`, the judged keyword queries then generated ones)
is timed for kb exactly as the bench's `kb-serve` phase calls it (`knowledge.search(SearchRequest(text=q,
highlight=False|True))`) and for the tantivy peer as its `peer-serve` phase does (`peer.search` /
`peer.search_highlight` of `tokens.query(q)`), each engine in a fresh process of its own
(`bench.measure.timed`: 5 warm-up queries, then every query once, `time.process_time`). Each process runs
the workload `--rounds` times; printed are every round's CPU p50/p95 (ms), the median round's, and
kb/tantivy at p50 and p95 (the bench's ratio rows).

kb's instance is `--home` (default /tmp/kb-search-<size>): the synthetic corpus as content files, written
and built by `bench.profile_edit.prepare` the first time and reused afterwards. The tantivy index is built
once into `--peer-dir` (default /tmp/kb-search-tantivy-<size>) from the same synthetic corpus and reused.
`--profile` prints, instead of the comparison, a cProfile of kb's searches (plain, then highlighted).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import subprocess
import sys
from pathlib import Path

from .engines import quiet
from .measure import timed

ROOT = Path(__file__).resolve().parent.parent
MODES = ("search", "search_highlight")


def _queries(count: int) -> list[str]:
    from .__main__ import workload

    with quiet():
        return workload(count)


def _knowledge(home: Path):
    from kb.knowledge import KnowledgeBase

    from .profile_edit import _settings

    with quiet():
        knowledge = KnowledgeBase(_settings(home))
        knowledge.refresh()
    return knowledge


def _kb_calls(knowledge):
    from kb.search.engine import SearchRequest

    return {"search": lambda q: knowledge.search(SearchRequest(text=q, highlight=False)),
            "search_highlight": lambda q: knowledge.search(SearchRequest(text=q, highlight=True))}


def _tantivy(peer_dir: Path, size: int):
    """The tantivy peer over kb's tokens, built into peer_dir the first time (a marker says it is complete)."""
    from .peers import TantivyPeer, kb_analysis, kb_tokens

    peer_dir.mkdir(parents=True, exist_ok=True)
    with quiet():
        peer = TantivyPeer(peer_dir, kb_tokens(kb_analysis(peer_dir / "cache")))
    done = peer_dir / f"built-{size}"
    if not done.is_file():
        from .corpus import synthetic_documents

        print(f"[profile_search] building tantivy ({size} docs) into {peer_dir} …", file=sys.stderr)
        with quiet():
            peer.build(synthetic_documents(size).values(), procs=2)
        done.write_text("ok")
    peer.open()
    return peer


def _peer_calls(peer):
    tokens = peer.tokens
    return {"search": lambda q: peer.search(tokens.query(q)),
            "search_highlight": lambda q: peer.search_highlight(tokens.query(q))}


def worker(engine: str, args) -> dict:
    """One engine's rounds over the workload, in this process: {mode: [timed(...) per round]}."""
    queries = _queries(args.queries)
    if engine == "kb":
        calls = _kb_calls(_knowledge(args.home))
    else:
        calls = _peer_calls(_tantivy(args.peer_dir, args.size))
    out: dict[str, list] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            out[mode].append(timed(calls[mode], queries))
    return out


def _in_process(engine: str, args) -> dict:
    command = [sys.executable, "-m", "bench.profile_search", "--worker", engine, "--size", str(args.size),
               "--home", str(args.home), "--peer-dir", str(args.peer_dir), "--rounds", str(args.rounds),
               "--queries", str(args.queries)]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median_round(rounds: list[dict]) -> dict:
    return {key: round(statistics.median(r[key] for r in rounds), 3) for key in ("cpu_p50_ms", "cpu_p95_ms")}


def compare(args) -> dict:
    """kb and tantivy, each in a process of its own (kb first), and the CPU ratios of the median rounds."""
    results = {engine: _in_process(engine, args) for engine in ("kb", "tantivy")}
    summary: dict = {"size": args.size, "queries": args.queries, "rounds": args.rounds}
    for mode in MODES:
        kb, peer = _median_round(results["kb"][mode]), _median_round(results["tantivy"][mode])
        summary[mode] = {
            "kb": kb, "tantivy": peer,
            "kb_rounds": [(r["cpu_p50_ms"], r["cpu_p95_ms"]) for r in results["kb"][mode]],
            "tantivy_rounds": [(r["cpu_p50_ms"], r["cpu_p95_ms"]) for r in results["tantivy"][mode]],
            "ratio_p50": round(kb["cpu_p50_ms"] / peer["cpu_p50_ms"], 2),
            "ratio_p95": round(kb["cpu_p95_ms"] / peer["cpu_p95_ms"], 2),
        }
    return summary


def report(summary: dict) -> str:
    lines = [f"{summary['size']} docs, {summary['queries']} queries, {summary['rounds']} round(s); CPU ms "
             f"(time.process_time), median round"]
    for mode in MODES:
        s = summary[mode]
        lines.append(f"{mode:17s} kb p50 {s['kb']['cpu_p50_ms']:.3f} p95 {s['kb']['cpu_p95_ms']:.3f} | "
                     f"tantivy p50 {s['tantivy']['cpu_p50_ms']:.3f} p95 {s['tantivy']['cpu_p95_ms']:.3f} | "
                     f"kb/tantivy p50 {s['ratio_p50']}x p95 {s['ratio_p95']}x")
        lines.append(f"{'':17s} rounds (p50, p95): kb {s['kb_rounds']} tantivy {s['tantivy_rounds']}")
    return "\n".join(lines)


def profile(args) -> str:
    """cProfile of kb's searches over the workload (after a warm-up), plain then highlighted."""
    queries = _queries(args.queries)
    calls = _kb_calls(_knowledge(args.home))
    out = io.StringIO()
    for mode in MODES:
        for q in queries[:5]:
            calls[mode](q)
        profiler = cProfile.Profile()
        profiler.enable()
        for q in queries:
            calls[mode](q)
        profiler.disable()
        out.write(f"\n### kb {mode}, {args.size} docs, {len(queries)} queries\n")
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_search", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--home", type=Path, default=None, help="kb instance (default /tmp/kb-search-<size>)")
    parser.add_argument("--peer-dir", type=Path, default=None, help="tantivy index (default /tmp/kb-search-tantivy-<size>)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="times each process runs the workload")
    parser.add_argument("--procs", type=int, default=2, help="processes for kb's first build")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of kb's searches instead")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", choices=("kb", "tantivy"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.home = (args.home or Path(f"/tmp/kb-search-{args.size}")).resolve()
    args.peer_dir = (args.peer_dir or Path(f"/tmp/kb-search-tantivy-{args.size}")).resolve()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return 0
    from .profile_edit import prepare

    prepare(args.home, args.size, args.procs)
    if args.profile:
        print(profile(args))
        return 0
    summary = compare(args)
    print(json.dumps(summary, ensure_ascii=False) if args.json else report(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
