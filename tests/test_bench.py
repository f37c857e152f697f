"""Smoke test of the benchmark: `python -m bench --quick --json` runs and reports positive numbers."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ir_measures") is None,
                                reason="ir_measures (test extra) is not installed")


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0


@pytest.fixture(scope="module")
def quick_results() -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("engine", ["kb", "fts5", "tantivy"])
def test_quick_bench_json_shape(quick_results, engine):
    if engine == "tantivy" and importlib.util.find_spec("tantivy") is None:
        pytest.skip("tantivy is not installed (pip install tantivy)")
    result = quick_results[engine]
    assert _positive(result["build_s"]) and _positive(result["size_mb"]) and _positive(result["edit_s"])
    for kind in ("search", "search_highlight"):
        assert _positive(result[kind]["p50_ms"]) and _positive(result[kind]["p95_ms"])
        assert result[kind]["p95_ms"] >= result[kind]["p50_ms"]
    assert 0 < result["relevance"]["ndcg@10"] <= 1


def test_quick_bench_kb_extras(quick_results):
    kb = quick_results["kb"]
    assert _positive(kb["recommend"]["p95_ms"])
    assert _positive(kb["cold_start_s"]) and _positive(kb["edit_new_process_s"])
    assert _positive(kb["http"]["req_per_s"]) and kb["http"]["non_2xx"] == 0
    assert quick_results["_meta"]["queries"] >= 50


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
