"""The benchmark as a measuring instrument: a tiny real run (each engine in its own processes, HTTP included)
must report wall and CPU for every measure, CPU figures the kernel agrees with, ratios computed from the
figures the tables show, the machine's load, and provenance; `--check-stale` must catch figures that
describe other code (on a temp copy, without running any benchmark)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--sizes", "150", "--queries", "20", "--procs", "2", "--http-seconds", "1", "--json"]

needs_ir_measures = pytest.mark.skipif(importlib.util.find_spec("ir_measures") is None,
                                       reason="ir_measures (test extra) is not installed")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> dict:
    saved = tmp_path_factory.mktemp("bench") / "run.json"
    proc = subprocess.run([sys.executable, "-m", "bench", *TINY, "--save", str(saved)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out == json.loads(saved.read_text(encoding="utf-8"))
    return out


def engines(out: dict) -> list[str]:
    names = ["kb", "fts5"] + (["tantivy"] if importlib.util.find_spec("tantivy") else [])
    assert [n for n in out if not n.startswith("_")] == names
    return names


@pytest.mark.slow
@needs_ir_measures
def test_every_measure_has_wall_and_cpu_and_the_kernel_agrees(tiny_run):
    nproc = tiny_run["_meta"]["nproc"]
    procs = tiny_run["_meta"]["procs"]
    for name in engines(tiny_run):
        r = tiny_run[name]
        for kind in ("search", "search_highlight"):
            m = r[kind]
            assert m["n"] == tiny_run["_meta"]["queries"] == 20
            assert 0 < m["p50_ms"] <= m["p95_ms"] and 0 < m["cpu_p50_ms"] <= m["cpu_p95_ms"], (name, kind, m)
            # one search runs on one thread: its CPU cannot exceed its wall time times the cores
            assert m["cpu_p50_ms"] <= m["p50_ms"] * nproc + 0.2, (name, kind, m)
        # a build runs in `procs` processes (+ tantivy's 2 writer threads): CPU ≤ wall × those
        assert 0 < r["build_cpu_s"] <= r["build_s"] * (procs + 2) + 0.2, (name, r["build_s"], r["build_cpu_s"])
        assert 0 < r["edit_cpu_s"] <= r["edit_s"] * nproc + 0.05, (name, r["edit_s"], r["edit_cpu_s"])
        for phase in ("build", "serve"):
            # what the phase reported for itself ≤ what the kernel counted for its whole process tree
            assert r["process_cpu_s"][phase] <= r["tree_cpu_s"][phase] + 0.05, (name, phase, r)
            load = r["load"][phase]
            assert load["seconds"] > 0 and load["loadavg_before"] is not None and load["loadavg_after"] is not None
            assert 0 <= load["other_pct"] <= 100 and 0 <= load["steal_pct"] <= 100
        assert r["build_cpu_s"] <= r["process_cpu_s"]["build"] + 0.05
        assert r["rss"]["build_mb"] > 10 and r["rss"]["serve_mb"] > 10 and r["rss"]["edit_mb"] >= r["rss"]["serve_mb"]
        assert 0 < r["relevance"]["ndcg@10"] <= 1
    kb = tiny_run["kb"]
    assert 0 < kb["recommend"]["cpu_p50_ms"] <= kb["recommend"]["cpu_p95_ms"]
    assert 0 < kb["cold_start_cpu_s"] <= kb["cold_start_s"] * nproc
    assert kb["rss"]["build_children_mb"] >= 0


@pytest.mark.slow
@needs_ir_measures
def test_http_runs_cover_search_recommend_workers_and_a_peer(tiny_run):
    runs = tiny_run["_http"]["150"]
    measured = {(r["engine"], r["endpoint"], r["server"]): r for r in runs if "skipped" not in r}
    for key in [("kb", "/api/search", "waitress (kb.serving)"), ("kb", "/api/recommend", "waitress (kb.serving)"),
                ("fts5", "/api/search", "waitress (kb.serving)")]:
        run = measured[key]
        assert run["req_per_s"] > 0 and run["requests"] > 0 and run["non_2xx"] == 0, run
        assert run["server_cpu_ms_per_req"] > 0 and run["rss_mb"] and run["rss_mb"][0] > 10, run
        assert run["load"]["loadavg_before"] is not None and 0 <= run["load"]["other_pct"] <= 100, run
    # the server did the work asked for: a request costs at least about what the same work costs in process
    # (a load tool that silently sent `GET /` instead measured 2 ms per "recommendation")
    kb = tiny_run["kb"]
    assert measured[("kb", "/api/recommend", "waitress (kb.serving)")]["server_cpu_ms_per_req"] >= \
        0.5 * kb["recommend"]["cpu_p50_ms"]
    assert measured[("kb", "/api/search", "waitress (kb.serving)")]["server_cpu_ms_per_req"] >= \
        0.5 * kb["search_highlight"]["cpu_p50_ms"]
    assert tiny_run["kb"]["http"] == measured[("kb", "/api/search", "waitress (kb.serving)")]
    assert tiny_run["fts5"]["http"] == measured[("fts5", "/api/search", "waitress (kb.serving)")]
    workers = [r for r in runs if r["server"].startswith("kb serve --workers 2")]
    assert workers, "the 2-worker figure is measured or recorded as skipped, never left out silently"
    if any("skipped" in r for r in workers):
        assert "--workers" in workers[0]["skipped"]
    else:
        assert {r["endpoint"] for r in workers} == {"/api/search", "/api/recommend"}
        assert all(len(r["rss_mb"]) >= 2 and r["non_2xx"] == 0 for r in workers)   # parent and 2 workers


@pytest.mark.slow
@needs_ir_measures
def test_every_http_run_served_the_benchmarks_corpus(tiny_run):
    """`kb serve` ran on the CLI's default settings: its warm writer batch rebuilt the index from the bundled
    content (the home had no content folder), so its rows measured ~528 documents, not the corpus."""
    from bench.http_load import serve_has_workers

    kb = tiny_run["kb"]
    probes = kb["corpus"]["probes"]
    # the document count, and queries that match some documents but not all (another corpus answers otherwise)
    assert probes[""] == 150 and len(probes) >= 3 and all(0 < t < 150 for q, t in probes.items() if q), probes
    # after every server ran on the home (writer batches included), its index is still the files' corpus
    assert kb["corpus"]["index_after_http"] == {"documents": 150, "files_not_indexed": 0}
    runs = [r for r in tiny_run["_http"]["150"] if r["engine"] == "kb"]
    servers = {"waitress (kb.serving)"} | ({"kb serve --workers 1", "kb serve --workers 2"} if serve_has_workers()
                                            else {"kb serve"})
    assert {r["server"] for r in runs} >= servers
    for run in runs:
        if run["server"] == "kb serve --workers 2" and not serve_has_workers():
            continue
        assert "skipped" not in run, run
        corpus = run["corpus"]
        assert corpus["expected"] == corpus["before"] == corpus["after"] == probes and corpus["idle"], run
    peer = next(r for r in tiny_run["_http"]["150"] if r["engine"] == "fts5")
    assert "skipped" not in peer and peer["corpus"]["before"] == peer["corpus"]["after"] == peer["corpus"]["expected"]
    assert set(peer["corpus"]["expected"]) == set(probes) - {""}
    from bench.report import http_table

    assert f"kb '' 150, " in http_table(150, tiny_run["_http"]["150"]).splitlines()[-1]     # RESULTS.md says so


def test_edits_through_kb_serve_are_searchable_when_acknowledged(tiny_run):
    """Each `kb serve` takes edits through its API after the loads (issue 19: edit → searchable in a running
    server): every one acknowledged, found by the search right after it, and timed; the index writer is a
    process of its own whose peak is reported apart; the entry is put back, so the index still equals the files."""
    import sys as _sys

    from bench.http_load import EDITS, serve_has_workers
    from bench.report import edits_table

    if not serve_has_workers():
        pytest.skip("kb serve has no --workers option")
    edits = tiny_run["kb"]["http_edits"]
    assert [e["server"] for e in edits] == ["kb serve --workers 1", "kb serve --workers 2"]
    for run in edits:
        assert "skipped" not in run, run
        assert run["edits"] == EDITS and run["non_2xx"] == 0 and run["searchable_on_ack"] == EDITS, run
        assert len(run["ack_s"]) == EDITS and 0 < run["ack_p50_s"] <= run["ack_max_s"] < 30
        if _sys.platform.startswith("linux"):
            assert run["writer_rss_mb"] in run["rss_mb"] and run["writer_rss_mb"] > 30
    table = edits_table(150, edits)
    assert table.count("| kb — kb serve --workers") == 2 and f"{EDITS}/{EDITS}" in table
    assert tiny_run["kb"]["corpus"]["index_after_http"] == {"documents": 150, "files_not_indexed": 0}


TOTAL = """
import sys, http.server
class Total(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"total": 7}' if self.path.startswith("/api/search") else b""
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Total).serve_forever()
"""


def test_a_server_answering_other_totals_is_reported_as_serving_a_different_corpus():
    from bench import http_load

    with http_load.Server(lambda port: [sys.executable, "-c", TOTAL, str(port)], http_load.server_env(),
                          http_load.Call("GET", "/api/search?q=x")) as server:
        matching = http_load.settle(server, {"": 7, "余热": 7}, timeout=5)
        other = http_load.settle(server, {"": 150, "余热": 7}, timeout=2)
        runs = http_load.measured_runs(server, {"engine": "kb", "server": "fake", "workers": None},
                                       [("/api/search", [])], 1, {"": 150}, log=lambda *a: None, wait_s=1)
    assert matching["problem"] is None and matching["idle"] and matching["served"] == {"": 7, "余热": 7}
    assert other["problem"] == "served a different corpus: q='' total 7 (expected 150)" and other["waited_s"] >= 2
    assert len(runs) == 1 and runs[0]["skipped"].startswith("served a different corpus: q='' total 7")


def test_the_corpus_is_written_as_content_files_and_read_back(tmp_path):
    import dataclasses

    from bench.corpus import documents_on_disk, synthetic_documents
    from kb.editing import file_version

    docs = synthetic_documents(12)
    loaded = documents_on_disk(docs, tmp_path / "content")
    assert list(loaded) == list(docs)
    for doc in loaded.values():
        # what every engine indexes carries the file's own hash, so a writer batch over the files changes nothing
        assert Path(doc.path).parent.parent == tmp_path / "content" and doc.content_hash == file_version(Path(doc.path))
        assert doc.body == docs[doc.id].body and doc.title == docs[doc.id].title
    bad = dict(docs)
    bad["syn-3"] = dataclasses.replace(docs["syn-3"], meta={**docs["syn-3"].meta, "summary": "长" * 400})
    with pytest.raises(RuntimeError, match=r"does not load .*syn-3\.md"):
        documents_on_disk(bad, tmp_path / "other")


ECHO = """
import sys, http.server
class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        open(sys.argv[2], "wb").write(body)
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_sends_the_json_bodies_byte_for_byte(tmp_path):
    """wrk's LuaJIT has no \\u escape: a JSON-escaped body failed to load and wrk loaded `GET /` instead."""
    from bench import http_load

    received = tmp_path / "body"
    calls = http_load.recommend_calls([{"sector": "印染", "problem": "废水\"回用\\ 超标", "limit": 10}])
    with http_load.Server(lambda port: [sys.executable, "-c", ECHO, str(port), str(received)], http_load.server_env(),
                          http_load.Call("POST", "/probe", b"probe")) as server:
        out = http_load.run_wrk(server.port, calls, 1, 1)
    assert out["requests"] > 0 and out["non_2xx"] == 0
    assert received.read_bytes() == calls[0].body


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.mark.slow
@needs_ir_measures
def test_tables_show_ratios_computed_from_the_figures_shown_and_the_load(tiny_run):
    from bench.report import size_section, table

    results = tiny_run["_sizes"]["150"]
    peers = engines(tiny_run)[1:]
    checked = 0
    for line in table(150, results).splitlines()[2:]:
        cells = _cells(line)
        if cells[0].startswith("kb "):        # kb-only rows
            continue
        assert cells[0].endswith(("wall)", "CPU)", "(MB)")), cells[0]
        kb = float(cells[1])
        for i, _ in enumerate(peers):
            peer, shown = float(cells[2 + 2 * i]), cells[3 + 2 * i]
            assert shown == (f"{kb / peer:.1f}×" if peer else "–"), (cells, shown)
            checked += 1
    assert checked >= 15 * len(peers)
    section = size_section(150, results, tiny_run["_http"]["150"], tiny_run["_meta"])
    assert f"nproc {tiny_run['_meta']['nproc']}" in section.splitlines()[0]
    assert all(f"{name} build: load" in section.splitlines()[0] for name in engines(tiny_run))
    assert "| kb/fts5 /api/search, same server |" in section


@pytest.mark.slow
@needs_ir_measures
def test_published_texts_carry_the_provenance_of_the_run(tiny_run):
    from bench.publish import fingerprint, recorded
    from bench.summary import readme_block, results_section, short

    meta = tiny_run["_meta"]
    assert re.fullmatch(r"[0-9a-f]{40}", meta["provenance"]["commit"])
    assert meta["provenance"]["fingerprint"] == fingerprint(ROOT)
    for text in (results_section(tiny_run, meta["command"]), readme_block(tiny_run, meta["command"])):
        run = recorded(text)
        assert run["commit"] == meta["provenance"]["commit"] and run["fingerprint"] == fingerprint(ROOT)
        assert meta["command"] in text and "--sizes 150" in meta["command"]
    block = readme_block(tiny_run, meta["command"])
    row = _cells(next(line for line in block.splitlines() if line.startswith("| 检索 p95")))
    kb_cpu, fts5_cpu = short(tiny_run["kb"]["search"]["cpu_p95_ms"]), short(tiny_run["fts5"]["search"]["cpu_p95_ms"])
    assert row[1].startswith(f"{kb_cpu:g}（") and row[2].startswith(f"{fts5_cpu:g}（")
    peers = len(engines(tiny_run)) - 1
    assert row[2 + peers].startswith(f"{kb_cpu / fts5_cpu:.1f}×（")        # kb / fts5 in CPU time, as shown


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=bench@test", "-c", "user.name=bench", *args], cwd=root, check=True,
                   capture_output=True)


def test_check_stale_names_each_section_measured_on_other_code(tmp_path):
    """On a temp repository holding copies of README.md and bench/RESULTS.md: no benchmark runs."""
    from bench.__main__ import main
    from bench.publish import Provenance, fingerprint, stale_sections, write_readme, write_results

    root = tmp_path / "repo"
    for folder in ("kb", "web", "bench"):
        (root / folder).mkdir(parents=True)
    (root / "kb" / "searcher.py").write_text("SPEED = 1\n", encoding="utf-8")
    (root / "web" / "api.py").write_text("ROUTES = []\n", encoding="utf-8")
    shutil.copy(ROOT / "README.md", root / "README.md")
    shutil.copy(ROOT / "bench" / "RESULTS.md", root / "bench" / "RESULTS.md")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "start")

    def record(tag: str) -> None:
        prov = Provenance(commit="c" * 40, dirty=False, fingerprint=fingerprint(root), date="2026-12-05 09:00 UTC")
        write_results(root, f"## Current run: {tag}\n\n{prov.comment()}\n\n| figures {tag} |")
        write_readme(root, f"{prov.comment()}\n\n| 摘要 {tag} |")

    record("one")
    assert stale_sections(root) == []
    assert main(["--check-stale", "--root", str(root)]) == 0
    record("two")            # the previous current run is kept below, relabelled
    results = (root / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    assert results.index("## Current run: two") < results.index("## Earlier run: one") < results.index("# Run 1")
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "摘要 two" in readme and "摘要 one" not in readme and "## 测试" in readme

    (root / "kb" / "searcher.py").write_text("SPEED = 2\n", encoding="utf-8")       # an uncommitted change counts
    problems = stale_sections(root)
    assert [p.split(" (")[0] for p in problems] == ["README.md bench summary", "bench/RESULTS.md current run"]
    assert all("python -m bench --write-results" in p for p in problems)
    assert main(["--check-stale", "--root", str(root)]) == 1
    (root / "kb" / "searcher.py").write_text("SPEED = 1\n", encoding="utf-8")
    (root / "web" / "new_page.py").write_text("NEW = 1\n", encoding="utf-8")        # so does a new file
    assert len(stale_sections(root)) == 2
    (root / "web" / "new_page.py").unlink()
    (root / "bench" / "notes.txt").write_text("bench/ is not part of the fingerprint\n", encoding="utf-8")
    assert stale_sections(root) == []


def test_check_stale_flags_figures_without_a_fingerprint(tmp_path):
    from bench.publish import stale_sections

    root = tmp_path / "repo"
    (root / "kb").mkdir(parents=True)
    (root / "bench").mkdir()
    (root / "kb" / "a.py").write_text("A = 1\n", encoding="utf-8")
    (root / "README.md").write_text("<!-- bench:start -->\n| 手写的数字 |\n<!-- bench:end -->\n", encoding="utf-8")
    (root / "bench" / "RESULTS.md").write_text("no markers\n", encoding="utf-8")
    _git(root, "init", "-q")
    problems = stale_sections(root)
    assert "no recorded fingerprint" in problems[0] and "no <!-- bench:current:start -->" in problems[1]


def test_provenance_outside_a_git_checkout_still_fingerprints_the_code(tmp_path):
    from bench.publish import fingerprint, provenance

    (tmp_path / "kb" / "__pycache__").mkdir(parents=True)
    (tmp_path / "kb" / "a.py").write_text("A = 1\n", encoding="utf-8")
    (tmp_path / "kb" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"compiled")
    prov = provenance(tmp_path, "2026-12-05 09:00 UTC")
    assert prov.commit == "unknown" and prov.dirty
    (tmp_path / "kb" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"recompiled")
    assert fingerprint(tmp_path) == prov.fingerprint
    (tmp_path / "kb" / "a.py").write_text("A = 2\n", encoding="utf-8")
    assert fingerprint(tmp_path) != prov.fingerprint


def test_workload_and_corpus_are_reproducible():
    from bench.__main__ import workload
    from bench.corpus import bundled_documents, synthetic_documents

    queries = workload(200)
    assert len(queries) == len(set(queries)) == 200
    a, b = synthetic_documents(40, seed=3), synthetic_documents(40, seed=3)
    assert list(a) == [f"syn-{i}" for i in range(40)]
    assert [d.content_hash for d in a.values()] == [d.content_hash for d in b.values()]
    assert {d.type for d in a.values()} <= {d.type for d in bundled_documents().values()}


def test_judged_queries_point_at_bundled_content():
    from bench.corpus import bundled_documents
    from bench.relevance import judged_queries

    ids = set(bundled_documents())
    queries = judged_queries()
    assert len(queries) >= 60
    for q in queries:
        assert q["rel"] and set(q["rel"]) <= ids, q["q"]
        # 0 records a pooled result judged not useful, so the pool stays judged
        assert set(q["rel"].values()) <= {0, 1, 2} and max(q["rel"].values()) > 0, q["q"]


@needs_ir_measures
def test_problem_queries_are_reported_apart_from_keyword_queries():
    from bench.relevance import _scores, judged_queries, kind_of

    queries = judged_queries()
    kinds = [kind_of(q) for q in queries]
    assert set(kinds) == {"keyword", "problem"} and kinds.count("problem") >= 80
    qrels = {str(i): {d: int(g) for d, g in q["rel"].items()} for i, q in enumerate(queries)}
    # a run that answers only the problem queries perfectly scores 1 there and 0 on keywords
    run = {str(i): (sorted(q["rel"], key=lambda d: -q["rel"][d]) if kinds[i] == "problem" else [])
           for i, q in enumerate(queries)}
    scores = _scores(qrels, run, {str(i): k for i, k in enumerate(kinds)})
    assert scores["by_kind"]["problem"]["ndcg@10"] == 1.0
    assert scores["by_kind"]["keyword"]["ndcg@10"] == 0.0 and scores["by_kind"]["keyword"]["answered"] == 0
    assert 0 < scores["ndcg@10"] < 1


CHAIN = """
import subprocess, sys
big = bytearray(200 * 1024 * 1024)
for i in range(0, len(big), 4096):
    big[i] = 1
child = "import sys, resource; from bench.measure import peak_rss_mb; " \\
        "print(peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc")
def test_a_phases_peak_is_its_own_not_the_bench_processs():
    """A phase is a subprocess of the bench; Linux carries the starting process's peak into a new program's
    ru_maxrss, so once the bench held its corpus (469 MB at 20k) every phase's peak read 469.1 MB. The peak
    is the process's own VmHWM: a child of a 200 MB process that itself uses ~15 MB reports ~15 MB."""
    out = subprocess.run([sys.executable, "-c", CHAIN], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    own, inherited = map(float, out.stdout.split())
    assert inherited > 150          # what ru_maxrss says (the measure this replaced)
    assert own < 100, (own, inherited)
