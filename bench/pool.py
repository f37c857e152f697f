"""Pool for blind judging: the top 10 of every engine for the problem queries, minus what the second
judge already graded, shuffled and written without engine names or grades (issue 18).

A judge who grades `pool.yaml` sees each query with candidate entries (id, type, title, sectors,
summary) and writes `grades.yaml` (`grades: {n: {id: 0|1|2}}`); `--merge grades.yaml` adds those grades to
the queries' `rel2` in bench/queries.yaml. Run: `python -m bench.pool --out pool.yaml`.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import yaml

from .relevance import QUERIES_FILE, evaluate, judged_queries, kind_of

DEPTH = 10


def unjudged_pool(runs: dict[str, dict[str, list[str]]], queries: list[dict], documents: dict) -> list[dict]:
    """Per problem query (numbered n from 1 in file order), the pooled entries it has no `rel2` grade for."""
    out, n = [], 0
    for i, query in enumerate(queries):
        if kind_of(query) != "problem":
            continue
        n += 1
        graded = query.get("rel2") or {}
        ids: list[str] = []
        for run in runs.values():
            for doc_id in run.get(str(i), [])[:DEPTH]:
                if doc_id not in graded and doc_id not in ids:
                    ids.append(doc_id)
        if not ids:
            continue
        random.Random(n).shuffle(ids)
        out.append({"n": n, "q": query["q"], "candidates": [
            {"id": d, "type": documents[d].type, "title": documents[d].title,
             "sectors": list(documents[d].sectors), "summary": (documents[d].summary or "")[:300]} for d in ids]})
    return out


def merge(grades_file: Path, queries_file: Path = QUERIES_FILE) -> int:
    """Append a judge's grades to `rel2` (one flow-style line per query, as written by hand)."""
    grades = yaml.safe_load(grades_file.read_text(encoding="utf-8"))["grades"]
    lines = queries_file.read_text(encoding="utf-8").splitlines(keepends=True)
    problem_lines = [k for k, line in enumerate(lines) if line.startswith("    kind: problem")]
    added = 0
    for n, given in grades.items():
        k = problem_lines[int(n) - 1]
        while not lines[k].startswith("    rel2:"):
            k += 1
        current = yaml.safe_load(lines[k].split(":", 1)[1]) or {}
        for doc_id, grade in given.items():
            if doc_id in current:
                raise SystemExit(f"{grades_file}: 第 {n} 题的 {doc_id} 已有第二评判的分级，不能覆盖")
            if int(grade) not in (0, 1, 2):
                raise SystemExit(f"{grades_file}: 第 {n} 题的 {doc_id} 分级 {grade!r} 不是 0、1、2")
            current[doc_id] = int(grade)
            added += 1
        items = sorted(current.items(), key=lambda kv: (-kv[1], kv[0]))
        lines[k] = "    rel2: {" + ", ".join(f"{d}: {g}" for d, g in items) + "}\n"
    queries_file.write_text("".join(lines), encoding="utf-8")
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="写出待评判的候选（不含引擎名与已有分级）")
    parser.add_argument("--merge", type=Path, help="把评判结果并入 bench/queries.yaml 的 rel2")
    args = parser.parse_args(argv)
    if args.merge:
        print(f"已并入 {merge(args.merge)} 个分级")
        return 0
    from .corpus import bundled_documents

    result = evaluate()
    pool = unjudged_pool(result["_runs"], judged_queries(), bundled_documents())
    out = args.out or Path("pool.yaml")
    out.write_text(yaml.safe_dump({"queries": pool}, allow_unicode=True, sort_keys=False, width=200), encoding="utf-8")
    print(f"{len(pool)} 个问题、{sum(len(q['candidates']) for q in pool)} 个候选待评判：{out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
