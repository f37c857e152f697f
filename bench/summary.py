"""The texts one bench run is published as: RESULTS.md's current section (English, as that file) and the
README summary block (Chinese, as the README), both stamped with the run's provenance (bench/publish.py)."""
from __future__ import annotations

from .publish import Provenance
from .report import fmt, lookup, ratio, relevance_table, size_section


def results_section(out: dict, command: str) -> str:
    """RESULTS.md's current-run section: provenance, machine, load, tables (English, as the file)."""
    meta = out["_meta"]
    prov = Provenance(**meta["provenance"])
    machine = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    lines = [
        f"## Current run: {meta['date']}, commit {prov.commit[:10]}{' (dirty tree)' if prov.dirty else ''}",
        "",
        prov.comment(),
        "",
        f"- **Command:** `{command}` ({meta['seconds']:.0f} s).",
        f"- **Code:** commit `{prov.commit}`; working tree {'dirty (uncommitted changes in kb/, web/ or bench/)' if prov.dirty else 'clean'}; "
        f"code fingerprint `{prov.fingerprint[:12]}` (kb/ and web/ as measured; `python -m bench --check-stale` "
        "compares it with the working tree).",
        f"- **Machine:** nproc {machine.get('nproc')}, {machine.get('cpu', '?')}, {machine.get('mem_gb', '?')} GB RAM, "
        f"Python {machine.get('python')}; {versions}. HTTP load: {meta.get('load_tool')}.",
        "- **How to read:** each engine ran alone in processes of its own (build; then search, recommend and "
        "edits in a fresh process). CPU is `time.process_time` of that process (all its threads) plus the "
        "build workers it waited for; ratios are kb / peer, in wall time on the wall rows and in CPU time "
        "on the CPU rows (above 1×: kb slower or bigger). On a shared machine trust CPU ratios over wall times; "
        "the load line above each table says how busy the machine was.",
        "",
    ]
    for size in meta["sizes"]:
        key = str(size)
        lines += [size_section(size, out["_sizes"][key], out["_http"].get(key, []), meta), ""]
    if out.get("_relevance"):
        lines += ["Relevance on the bundled content (ir_measures):", "", relevance_table(out["_relevance"]), ""]
    return "\n".join(lines)


def _cpu_wall(result: dict, cpu: tuple, wall: tuple) -> tuple:
    return lookup(*cpu)(result), lookup(*wall)(result)


README_ROWS = [
    ("构建（秒）", ("build_cpu_s",), ("build_s",)),
    ("检索 p50（毫秒）", ("search", "cpu_p50_ms"), ("search", "p50_ms")),
    ("检索 p95（毫秒）", ("search", "cpu_p95_ms"), ("search", "p95_ms")),
    ("高亮检索 p95（毫秒）", ("search_highlight", "cpu_p95_ms"), ("search_highlight", "p95_ms")),
    ("编辑到可检索（秒）", ("edit_cpu_s",), ("edit_s",)),
]


def short(value):
    """Three significant digits (whole numbers from 1000 up): what the README shows, ratios included."""
    if not isinstance(value, (int, float)):
        return value
    return float(f"{value:.3g}") if abs(value) < 1000 else float(round(value))


def _skipped_zh(reason: str) -> str:
    if "different corpus" in reason:
        return "服务的语料与基准语料不一致，见 RESULTS.md"
    return "当前代码的 kb serve 没有 --workers 选项" if "--workers" in reason else "服务未能启动，见 RESULTS.md"


def readme_block(out: dict, command: str) -> str:
    """The README summary (Chinese): the largest size, CPU first with wall time in brackets."""
    meta = out["_meta"]
    prov = Provenance(**meta["provenance"])
    size = str(meta["sizes"][-1])
    results = out["_sizes"][size]
    peers = [p for p in results if p != "kb"]
    marks = [load for r in results.values() for load in r.get("load", {}).values()]
    averages = [v for m in marks for v in (m.get("loadavg_before"), m.get("loadavg_after")) if v is not None]
    others = [m["other_pct"] for m in marks if "other_pct" in m]
    loads = (f"1 分钟平均负载 {min(averages):g}–{max(averages):g}" if averages else "平均负载未知") + (
        f"，其他进程占全部核的 {min(others):g}–{max(others):g}%" if others else "")
    lines = [prov.comment(), "",
             f"最近一次运行：{meta['date']}，{prov.short()}，`{command}`，本机 {meta['machine'].get('nproc')} 核。"
             "每个引擎各在自己的进程里单独运行；单元格为 CPU 时间（括号内为墙钟时间），比例按 CPU 时间计算（括号内按墙钟）。"
             f"运行期间：{loads}（各引擎分项见 RESULTS.md）。", "",
             f"| {int(size):,} 篇 | kb | " + " | ".join(peers) + " | " + " | ".join(f"kb / {p}" for p in peers) + " |",
             "|" + " --- |" * (2 + 2 * len(peers))]
    for label, cpu, wall in README_ROWS:
        kb_cpu, kb_wall = map(short, _cpu_wall(results["kb"], cpu, wall))
        cells = [label, f"{fmt(kb_cpu)}（{fmt(kb_wall)}）"]
        ratios = []
        for p in peers:
            p_cpu, p_wall = map(short, _cpu_wall(results[p], cpu, wall))
            cells.append(f"{fmt(p_cpu)}（{fmt(p_wall)}）")
            ratios.append(f"{ratio(kb_cpu, p_cpu)}（{ratio(kb_wall, p_wall)}）")
        lines.append("| " + " | ".join(cells + ratios) + " |")
    rss = " | ".join(f"{fmt(short(results[p].get('rss', {}).get('build_mb')))} / "
                     f"{fmt(short(results[p].get('rss', {}).get('serve_mb')))}"
                     for p in ["kb", *peers])
    lines.append(f"| 峰值内存 构建 / 服务（MB） | {rss} |" + " |" * len(peers))
    kb = results["kb"]
    rec = kb.get("recommend", {})
    lines += ["", f"推荐 p50 / p95：CPU {fmt(short(rec.get('cpu_p50_ms')))} / {fmt(short(rec.get('cpu_p95_ms')))} 毫秒"
                  f"（墙钟 {fmt(short(rec.get('p50_ms')))} / {fmt(short(rec.get('p95_ms')))}）。"]
    http = [r for r in out["_http"].get(size, []) if "skipped" not in r]
    if http:
        parts = [f"{r['engine']} {r['endpoint']}（{r['server']}）{fmt(r['req_per_s'])} req/s"
                 + (f"、服务端 CPU {fmt(r['server_cpu_ms_per_req'])} 毫秒/请求" if r.get("server_cpu_ms_per_req") else "")
                 for r in http]
        skipped = [r for r in out["_http"].get(size, []) if "skipped" in r]
        lines.append(f"HTTP（{http[0]['tool']}，{http[0]['connections']} 个连接，每项 {http[0]['seconds']} 秒）："
                     + "；".join(parts) + "。" + "".join(f"{r['server']} 未测（{_skipped_zh(r['skipped'])}）。" for r in skipped))
    for run in kb.get("http_edits", []):
        if "skipped" not in run:
            writer = run.get("writer_rss_mb")
            lines.append(f"经 {run['server']} 的 API 逐次编辑 {run['edits']} 次：确认（此时已可检索）中位 "
                         f"{fmt(run['ack_p50_s'])} 秒、最长 {fmt(run['ack_max_s'])} 秒（墙钟），紧接的检索找到 "
                         f"{run['searchable_on_ack']}/{run['edits']} 次"
                         + (f"；索引写入进程峰值 {fmt(writer)} MB" if writer is not None else "") + "。")
    if out.get("_relevance"):
        lines += ["", "相关性（同一次运行，随附内容，ir_measures）：", "",
                  "| 引擎 | 关键词查询 nDCG@10 | 问题式查询 nDCG@10（编写者判定） | 问题式 nDCG@10（第二评判盲评） | 问题式 success@3（盲评） |",
                  "| --- | --- | --- | --- | --- |"]
        for name, s in out["_relevance"].items():
            if name.startswith("_"):
                continue
            kinds = s.get("by_kind", {})
            blind = kinds.get("problem_blind", {})
            lines.append(f"| {name} | {kinds.get('keyword', {}).get('ndcg@10', 0):.3f} | "
                         f"{kinds.get('problem', {}).get('ndcg@10', 0):.3f} | {blind.get('ndcg@10', 0):.3f} | "
                         f"{blind.get('success@3', 0):.3f} |")
        agreed = out["_relevance"].get("_agreement") or {}
        if agreed.get("pairs"):
            lines.append(f"\n两位评判共同评过 {agreed['pairs']} 个条目：完全一致 {agreed['exact']:.0%}，线性加权 κ = {agreed['kappa_linear']:.2f}。")
    lines += ["", "完整表格（墙钟与 CPU、内存、负载、HTTP）见 [bench/RESULTS.md](bench/RESULTS.md) 的当前一节。"]
    return "\n".join(lines)
