"""Score the recommender against plain search on the judged dev set (bench/recommend_devset.yaml).

    .venv/bin/python bench/eval_recommend.py            # table
    .venv/bin/python bench/eval_recommend.py --json     # machine-readable
    .venv/bin/python bench/eval_recommend.py --per-profile
    .venv/bin/python bench/eval_recommend.py --synthetic 20000   # also p95 latency on 20k synthetic entries

The bundled content is built into a temporary instance (KB_HOME), so no local instance is touched.
Each profile is run through

- recommender: `Recommender.recommend` with the whole profile (sector, problem, focus, process), and
- search: the plain search engine queried with the problem text, technologies only, filtered to the
  profile's sector ("search (行业)") and, as a fairer baseline, to the sector plus 通用 entries
  ("search (行业+通用)"), since the recommender also draws on cross-sector entries;

and scored with ir_measures: nDCG@10 and hit@3 (Success@3: at least one expected entry in the top 3).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import ir_measures
import yaml
from ir_measures import Success, nDCG

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEVSET = Path(__file__).with_name("recommend_devset.yaml")
MEASURES = {"nDCG@10": nDCG @ 10, "hit@3": Success @ 3}
DEPTH = 10


def load_devset(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    return raw["profiles"] if isinstance(raw, dict) else raw


def build_kb(home: Path):
    os.environ["KB_HOME"] = str(home)
    os.environ.pop("KB_DATABASE_URL", None)
    os.environ.pop("KB_CONTENT_DIR", None)
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase

    kb = KnowledgeBase(load_settings(home))
    kb.build()
    return kb


def run_systems(kb, profiles: list[dict]) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[float]]]:
    from kb.recommend.profile import parse_profile
    from kb.search.engine import SearchRequest
    from kb.taxonomy import CROSS_SECTOR

    recommender = kb.recommender()
    runs: dict[str, dict[str, list[str]]] = {"recommender": {}, "search (行业+通用)": {}, "search (行业)": {}}
    latency: dict[str, list[float]] = {name: [] for name in runs}
    for item in profiles:
        qid = item["id"]
        data = {k: item[k] for k in ("sector", "problem", "focus", "process", "max_investment_wan",
                                     "max_payback_years") if item.get(k) is not None}
        data["limit"] = DEPTH
        profile = parse_profile(data)
        started = time.perf_counter()
        response = recommender.recommend(profile)
        latency["recommender"].append(time.perf_counter() - started)
        runs["recommender"][qid] = [r["id"] for r in response["results"]]
        for name, sectors in (("search (行业+通用)", [profile.sector, CROSS_SECTOR]), ("search (行业)", [profile.sector])):
            started = time.perf_counter()
            hits = kb.search(SearchRequest(text=profile.problem, sectors=sectors, types=["technology"],
                                           per_page=DEPTH, highlight=False)).hits
            latency[name].append(time.perf_counter() - started)
            runs[name][qid] = [h.id for h in hits]
    return runs, latency


def score(profiles: list[dict], runs: dict[str, dict[str, list[str]]]) -> dict:
    qrels = [ir_measures.Qrel(p["id"], doc_id, 1) for p in profiles for doc_id in p["expected"]]
    from kb.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    sectors = sorted({taxonomy.try_resolve(p["sector"]) or p["sector"] for p in profiles})
    report: dict = {"profiles": len(profiles), "sectors": sectors, "systems": {},
                    "per_profile": {}}
    for name, run in runs.items():
        scored = [ir_measures.ScoredDoc(qid, doc_id, float(DEPTH - rank))
                  for qid, ids in run.items() for rank, doc_id in enumerate(ids)]
        aggregate = ir_measures.calc_aggregate(list(MEASURES.values()), qrels, scored)
        report["systems"][name] = {label: round(float(aggregate.get(measure, 0.0)), 4)
                                   for label, measure in MEASURES.items()}
        per = {label: {} for label in MEASURES}
        for metric in ir_measures.iter_calc(list(MEASURES.values()), qrels, scored):
            label = next(lbl for lbl, m in MEASURES.items() if m == metric.measure)
            per[label][metric.query_id] = round(float(metric.value), 4)
        for p in profiles:  # a system that returned nothing for a profile scores 0 on it
            entry = report["per_profile"].setdefault(p["id"], {"sector": p["sector"]})
            entry[name] = {label: per[label].get(p["id"], 0.0) for label in MEASURES}
            entry[name]["top3"] = run.get(p["id"], [])[:3]
    for name in runs:  # iter/aggregate skip queries with no results: recompute means over all profiles
        for label in MEASURES:
            values = [report["per_profile"][p["id"]][name][label] for p in profiles]
            report["systems"][name][label] = round(sum(values) / len(values), 4)
    return report


def check_devset(kb, profiles: list[dict]) -> list[str]:
    from kb.recommend.model import load_model
    from kb.taxonomy import load_taxonomy

    known = set(load_model(kb.generation / "model").tech_ids)
    problems = []
    taxonomy = load_taxonomy()
    ids = [p["id"] for p in profiles]
    if len(ids) != len(set(ids)):
        problems.append("重复的 profile id")
    for p in profiles:
        for doc_id in p["expected"]:
            if doc_id not in known:
                problems.append(f"{p['id']}: 技术条目「{doc_id}」不存在")
    for p in profiles:
        if taxonomy.try_resolve(p["sector"]) is None:
            problems.append(f"{p['id']}: 未知行业「{p['sector']}」")
    missing = set(taxonomy.key_sectors) - {taxonomy.try_resolve(p["sector"]) for p in profiles}
    if missing:
        problems.append(f"缺少行业：{'、'.join(sorted(missing))}")
    return problems


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[k]


def synthetic_latency(kb, profiles: list[dict], count: int, repeat: int = 5) -> dict:
    """p95 recommend() latency over a model of `count` synthetic technologies (bundled entries
    recombined under new ids and random sectors), built directly with build_model."""
    import dataclasses
    import random

    import kb.recommend.model as model_mod
    from kb.fields import PreparedWords
    from kb.loader import load_content
    from kb.recommend.profile import parse_profile
    from kb.recommend.recommender import Recommender

    documents = list(load_content(kb.settings.content_dirs, kb.taxonomy).documents.values())
    techs = sorted((d for d in documents if d.type == "technology"), key=lambda d: d.id)
    cases = [d for d in documents if d.type == "case"]
    rng = random.Random(20240601)
    sectors = kb.taxonomy.names
    synthetic = []
    for k in range(count):
        base, other = techs[k % len(techs)], rng.choice(techs)
        meta = dict(base.meta, tags=sorted(set(base.tags) | set(rng.sample(other.tags, min(2, len(other.tags))))),
                    _synthetic=(base.id, other.id))
        synthetic.append(dataclasses.replace(base, id=f"{base.id}-syn{k:05d}", meta=meta,
                                             sectors=sorted({rng.choice(sectors), *base.sectors[:1]})))
    # tokenise each bundled entry once; a synthetic entry is its base plus another entry's summary
    prepared = PreparedWords(kb.analysis)
    cache = {d.id: model_mod.document_tokens(d, prepared) for d in techs + cases}
    words = {d.id: kb.analysis.words(d.summary) for d in techs}
    original = model_mod.document_tokens

    def tokens(doc, prepared):
        pair = doc.meta.get("_synthetic")
        return cache[pair[0]] + words[pair[1]] if pair else cache.get(doc.id) or original(doc, prepared)

    model_mod.document_tokens = tokens
    try:
        with tempfile.TemporaryDirectory(prefix="kb-synthetic-") as tmp:
            started = time.perf_counter()
            model_mod.build_model(synthetic + cases, Path(tmp), prepared)
            built = time.perf_counter() - started
            started = time.perf_counter()
            recommender = Recommender(Path(tmp), kb)
            loaded = time.perf_counter() - started
    finally:
        model_mod.document_tokens = original
    timings = []
    for _ in range(repeat):
        for item in profiles:
            data = {k: item[k] for k in ("sector", "problem", "focus", "process") if item.get(k) is not None}
            profile = parse_profile(data)
            started = time.perf_counter()
            recommender.recommend(profile)
            timings.append(time.perf_counter() - started)
    return {"items": count, "requests": len(timings), "build_s": round(built, 1), "load_s": round(loaded, 2),
            "p50_ms": round(percentile(timings, 0.5) * 1000, 2), "p95_ms": round(percentile(timings, 0.95) * 1000, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devset", type=Path, default=DEVSET)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--per-profile", action="store_true", help="also print each profile's scores and top 3")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="also measure recommend() latency on N synthetic technology entries")
    args = parser.parse_args()

    profiles = load_devset(args.devset)
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        kb = build_kb(Path(tmp))
        try:
            problems = check_devset(kb, profiles)
            if problems:
                print("\n".join(problems), file=sys.stderr)
                return 1
            runs, latency = run_systems(kb, profiles)
            synthetic = synthetic_latency(kb, profiles, args.synthetic) if args.synthetic else None
        finally:
            kb.close()
    report = score(profiles, runs)
    report["latency_ms_p95"] = {name: round(percentile(v, 0.95) * 1000, 2) for name, v in latency.items()}
    if synthetic:
        report["synthetic"] = synthetic
    if args.json:
        print(json.dumps(report if args.per_profile else {k: v for k, v in report.items() if k != "per_profile"},
                         ensure_ascii=False, indent=2))
        return 0
    print(f"判定集：{report['profiles']} 个企业画像，覆盖 {len(report['sectors'])} 个行业（{args.devset.name}）\n")
    print(f"{'系统':<22}{'nDCG@10':>10}{'hit@3':>10}{'p95 ms':>10}")
    for name, values in report["systems"].items():
        print(f"{name:<20}{values['nDCG@10']:>10.4f}{values['hit@3']:>10.4f}{report['latency_ms_p95'][name]:>10.2f}")
    if synthetic:
        print(f"\n合成数据：{synthetic['items']} 项技术，{synthetic['requests']} 次推荐，"
              f"p50 {synthetic['p50_ms']:.2f} ms，p95 {synthetic['p95_ms']:.2f} ms"
              f"（建模型 {synthetic['build_s']} 秒，加载 {synthetic['load_s']} 秒）")
    if args.per_profile:
        print()
        for qid, entry in report["per_profile"].items():
            rec, base = entry["recommender"], entry["search (行业+通用)"]
            print(f"{qid} [{entry['sector']}] rec nDCG {rec['nDCG@10']:.3f} hit {rec['hit@3']:.0f} {rec['top3']} | "
                  f"search nDCG {base['nDCG@10']:.3f} hit {base['hit@3']:.0f} {base['top3']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
