"""The bench's tables: every time as wall and CPU, every ratio computed from the figures the table shows.

Ratios are kb divided by the peer, in wall time and in CPU time (above 1×: kb is slower or bigger). Each
table is preceded by the machine's load while each engine was measured (bench/machine.py), so a figure
taken on a busy machine says so.
"""
from __future__ import annotations

from typing import Any, Callable

from .machine import describe_load

Getter = Callable[[dict], Any]


def lookup(*keys: str) -> Getter:
    """A getter for result[k1][k2]…; None when a key is missing (a measure this engine has not)."""
    def get(result: dict):
        value: Any = result
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value
    return get


# (label, getter): one row per measure, wall and CPU on rows of their own so each ratio reads off one row
ENGINE_ROWS: list[tuple[str, Getter]] = [
    ("build (s, wall)", lookup("build_s")),
    ("build (s, CPU)", lookup("build_cpu_s")),
    ("index size (MB)", lookup("size_mb")),
    ("peak RSS, build (MB)", lookup("rss", "build_mb")),
    ("peak RSS, serving (MB)", lookup("rss", "serve_mb")),
    ("search p50 (ms, wall)", lookup("search", "p50_ms")),
    ("search p50 (ms, CPU)", lookup("search", "cpu_p50_ms")),
    ("search p95 (ms, wall)", lookup("search", "p95_ms")),
    ("search p95 (ms, CPU)", lookup("search", "cpu_p95_ms")),
    ("highlighted p50 (ms, wall)", lookup("search_highlight", "p50_ms")),
    ("highlighted p50 (ms, CPU)", lookup("search_highlight", "cpu_p50_ms")),
    ("highlighted p95 (ms, wall)", lookup("search_highlight", "p95_ms")),
    ("highlighted p95 (ms, CPU)", lookup("search_highlight", "cpu_p95_ms")),
    ("edit → searchable (s, wall)", lookup("edit_s")),
    ("edit → searchable (s, CPU)", lookup("edit_cpu_s")),
]

KB_ROWS: list[tuple[str, Getter]] = [
    ("kb recommend p50 (ms, wall / CPU)", lambda r: _pair(r, "recommend", "p50_ms", "cpu_p50_ms")),
    ("kb recommend p95 (ms, wall / CPU)", lambda r: _pair(r, "recommend", "p95_ms", "cpu_p95_ms")),
    ("kb index-only build (s, wall)", lookup("index_s")),
    ("kb build workers' largest peak RSS (MB)", lookup("rss", "build_children_mb")),
    ("kb build cache: per-segment arrays (MB)", lookup("segment_cache_mb")),
    ("kb edit → searchable, caches cleared as in a new process (s, wall / CPU)",
     lambda r: _pair(r, None, "edit_new_process_s", "edit_new_process_cpu_s")),
    ("kb cold start (s, wall / CPU)", lambda r: _pair(r, None, "cold_start_s", "cold_start_cpu_s")),
]


def _pair(result: dict, group: str | None, wall: str, cpu: str) -> str | None:
    source = result.get(group, {}) if group else result
    if wall not in source:
        return None
    return f"{fmt(source[wall])} / {fmt(source.get(cpu))}"


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def ratio(a, b) -> str:
    """a / b to one decimal, from the figures as shown; – when either is missing or b is 0."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return "–"
    return f"{a / b:.1f}×"


def load_heading(size: int, results: dict, meta: dict) -> str:
    """The line above a size's table: corpus, queries, processes, cores and each engine's load."""
    parts = []
    for name, result in results.items():
        for phase, load in (result.get("load") or {}).items():
            parts.append(f"{name} {phase}: {describe_load(load)}")
    return (f"**{size} docs**, {meta.get('queries')} queries, build processes {meta.get('procs')}, "
            f"nproc {meta.get('nproc')}. Load while each engine ran (1-min loadavg before→after; other "
            f"processes' and steal share of all cores): " + "; ".join(parts) + ".")


def table(size: int, results: dict) -> str:
    kb = results["kb"]
    peers = [name for name in results if name != "kb"]
    head = f"| {size} docs | kb | " + " | ".join(f"{p} | kb/{p}" for p in peers) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(peers))]
    for label, get in ENGINE_ROWS:
        cells = [label, fmt(get(kb))]
        for p in peers:
            cells += [fmt(get(results[p])), ratio(get(kb), get(results[p]))]
        lines.append("| " + " | ".join(cells) + " |")
    for label, get in KB_ROWS:
        value = get(kb)
        if value is not None:
            lines.append(f"| {label} | {fmt(value)} |" + " |" * (2 * len(peers)))
    return "\n".join(lines)


def http_table(size: int, runs: list[dict]) -> str:
    """Requests per second with the server's CPU per request and each process's peak RSS; the kb/peer line
    compares the runs under the same server set-up."""
    if not runs:
        return ""
    measured = [r for r in runs if "skipped" not in r]
    tool = measured[0] if measured else {}
    loads = [r["load"] for r in measured if r.get("load")]
    averages = [v for m in loads for v in (m.get("loadavg_before"), m.get("loadavg_after")) if v is not None]
    others = [m["other_pct"] for m in loads if "other_pct" in m]
    heading = (f"HTTP at {size} docs: 1-min loadavg {min(averages):g}–{max(averages):g}" if averages else "") + (
        f", other processes (the load generator included) {min(others):g}–{max(others):g} % of all cores"
        if others else "")
    lines = ([heading + ".", ""] if heading else []) + [f"| HTTP, {size} docs ({tool.get('tool', '–')}, {tool.get('connections', '–')} connections, "
             f"{tool.get('seconds', '–')} s) | req/s | server CPU (ms/request) | peak RSS per process (MB) | non-2xx |",
             "|---|---|---|---|---|"]
    for run in runs:
        label = f"{run['engine']} {run['endpoint']} — {run['server']}"
        if "skipped" in run:
            lines.append(f"| {label} | skipped: {run['skipped']} | | | |")
            continue
        sizes, writer = serving_and_writer(run)
        rss = (", ".join(fmt(m) for m in sizes) or "–") + (f"; index writer {fmt(writer)}" if writer is not None else "")
        lines.append(f"| {label} | {fmt(run['req_per_s'])} | {fmt(run.get('server_cpu_ms_per_req'))} | {rss} | "
                     f"{run['non_2xx']} |")
    same = {(r["engine"], r["endpoint"]): r for r in measured if r["server"] == "waitress (kb.serving)"}
    kb, peer = same.get(("kb", "/api/search")), same.get(("fts5", "/api/search"))
    if kb and peer:
        lines.append(f"| kb/fts5 /api/search, same server | {ratio(kb['req_per_s'], peer['req_per_s'])} | "
                     f"{ratio(kb.get('server_cpu_ms_per_req'), peer.get('server_cpu_ms_per_req'))} | | |")
    checked = {r["engine"]: r["corpus"]["expected"] for r in measured if r.get("corpus")}
    if checked:
        lines += ["", "Corpus check: every measured server answered these probe totals (query → total, '' = every "
                     "document) as the in-process engine does on the same data, before and after its load: "
                     + "; ".join(f"{engine} " + ", ".join(f"{q!r} {t}" for q, t in totals.items())
                                 for engine, totals in checked.items()) + "."]
    return "\n".join(lines)


def relevance_table(rel: dict) -> str:
    lines = ["| engine (bundled content) | queries | nDCG@10 | MRR | success@3 | answered |", "|---|---|---|---|---|---|"]
    for name, scores in rel.items():
        if not name.startswith("_"):
            for kind, s in [("all", scores), *scores.get("by_kind", {}).items()]:
                lines.append(f"| {name} | {kind} | {s['ndcg@10']:.3f} | {s['mrr']:.3f} | {s['success@3']:.3f} | "
                             f"{s['answered']}/{s['queries']} |")
    return "\n".join(lines)


def size_section(size: int, results: dict, runs: list[dict], meta: dict) -> str:
    """Heading, engine table and HTTP table of one corpus size."""
    parts = [load_heading(size, results, meta), "", table(size, results)]
    if runs:
        parts += ["", http_table(size, runs)]
    edits = results.get("kb", {}).get("http_edits")
    if edits:
        parts += ["", edits_table(size, edits)]
    return "\n".join(parts)


def serving_and_writer(run: dict) -> tuple[list[float], float | None]:
    """A run's peak RSS per process split into the serving processes' and the index writer process's."""
    sizes = list(run.get("rss_mb", []))
    writer = run.get("writer_rss_mb")
    if writer is not None and writer in sizes:
        sizes.remove(writer)
    return sizes, writer


def edits_table(size: int, edits: list[dict]) -> str:
    """Edits through `kb serve`'s API after its loads: acknowledgement time (searchable then) and memory."""
    lines = [f"| edits through the API, {size} docs (PUT /api/documents, one at a time) | acknowledged → searchable, "
             f"p50 / max (s, wall) | found by the next search | peak RSS of serving processes (MB) | "
             f"index writer process peak (MB) | non-2xx |", "|---|---|---|---|---|---|"]
    for run in edits:
        label = f"kb — {run['server']}"
        if "skipped" in run:
            lines.append(f"| {label} | skipped: {run['skipped']} | | | | |")
            continue
        sizes, writer = serving_and_writer(run)
        lines.append(f"| {label} | {fmt(run['ack_p50_s'])} / {fmt(run['ack_max_s'])} | "
                     f"{run['searchable_on_ack']}/{run['edits']} | {', '.join(fmt(m) for m in sizes) or '–'} | "
                     f"{fmt(writer) if writer is not None else '–'} | {run['non_2xx']} |")
    return "\n".join(lines)
