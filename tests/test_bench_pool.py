"""The blind-judging pool: unjudged entries only, no engine names; grades merge into rel2 without overwriting."""
from types import SimpleNamespace

import pytest
import yaml

from bench.pool import merge, unjudged_pool

QUERIES = """queries:
  - q: 干熄焦
    rel: {coking-cdq: 2}
  - q: 车间味道大
    kind: problem
    rel: {general-rto: 2}
    rel2: {general-rto: 2, general-ldar: 0}
  - q: 无青镀锌
    kind: problem
    rel: {plating-cyanide-free-zinc: 2}
    rel2: {plating-cyanide-free-zinc: 2}
"""


def _doc(doc_id):
    return SimpleNamespace(type="technology", title=f"标题{doc_id}", sectors=["通用"], summary="摘要")


def test_pool_holds_only_unjudged_problem_results_without_engine_names():
    queries = yaml.safe_load(QUERIES)["queries"]
    runs = {"kb": {"0": ["x"], "1": ["general-rto", "general-rco"], "2": ["plating-cyanide-free-zinc"]},
            "fts5": {"1": ["general-rco", "general-zeolite-rotor", "general-ldar"]}}
    docs = {d: _doc(d) for d in ("x", "general-rto", "general-rco", "general-zeolite-rotor", "general-ldar",
                                 "plating-cyanide-free-zinc")}
    pool = unjudged_pool(runs, queries, docs)
    assert [p["n"] for p in pool] == [1]                    # query 2 is fully judged; the keyword query never pooled
    assert sorted(c["id"] for c in pool[0]["candidates"]) == ["general-rco", "general-zeolite-rotor"]
    assert "kb" not in yaml.safe_dump(pool) and "fts5" not in yaml.safe_dump(pool)


def test_merge_adds_grades_and_refuses_overwrites_and_bad_grades(tmp_path):
    queries = tmp_path / "queries.yaml"
    queries.write_text(QUERIES, encoding="utf-8")
    grades = tmp_path / "grades.yaml"
    grades.write_text("grades:\n  1: {general-rco: 1}\n  2: {plating-cyanide-free-copper: 1}\n", encoding="utf-8")
    assert merge(grades, queries) == 2
    data = yaml.safe_load(queries.read_text(encoding="utf-8"))["queries"]
    assert data[1]["rel2"] == {"general-rto": 2, "general-rco": 1, "general-ldar": 0}
    assert data[2]["rel2"] == {"plating-cyanide-free-zinc": 2, "plating-cyanide-free-copper": 1}
    assert data[0] == {"q": "干熄焦", "rel": {"coking-cdq": 2}}
    with pytest.raises(SystemExit, match="已有第二评判"):
        merge(grades, queries)
    grades.write_text("grades:\n  1: {general-vfd: 3}\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="不是 0、1、2"):
        merge(grades, queries)


def test_blind_scores_agreement_and_unjudged_count():
    from bench.relevance import agreement, blind_qrels, unjudged

    queries = yaml.safe_load(QUERIES)["queries"]
    blind = blind_qrels(queries)
    assert blind == {"1": {"general-rto": 2, "general-ldar": 0}, "2": {"plating-cyanide-free-zinc": 2}}
    assert agreement(queries)["pairs"] == 2 and agreement(queries)["exact"] == 1.0
    queries[1]["rel2"]["general-rto"] = 1               # the judges now differ on one of the two
    assert agreement(queries)["exact"] == 0.5
    assert unjudged({"1": ["general-rto", "general-rco"], "2": []}, blind) == 1
