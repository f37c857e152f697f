"""Relevance of kb and the peers on the bundled content: nDCG@10, MRR and success@3 over bench/queries.yaml,
overall and per query kind (`keyword`: a technology's own words; `problem`: a complaint, cost, symptom, typo or
two-sentence description, issue 18; `problem_blind`: the problem queries scored with the second judge's blind,
pooled grades `rel2`, see bench/pool.py).

kb answers with its own analysis (glossary dictionary, synonyms, traditional→simplified); the peers
index and query with plain `jieba.cut_for_search` / `jieba.cut` and jieba's default dictionary,
without the glossary or synonyms (see `bench.peers.plain_tokens`). Run: `python -m bench.relevance`;
`--losses` scores kb alone and lists, per problem query, what the blind judge graded that kb's top 10 misses
and what kb ranks above it (with the problem queries split in two halves by order, a guard against tuning
to the set); `--kb-only` skips the peers.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml

QUERIES_FILE = Path(__file__).with_name("queries.yaml")


KINDS = ("keyword", "problem")


def judged_queries() -> list[dict]:
    return yaml.safe_load(QUERIES_FILE.read_text(encoding="utf-8"))["queries"]


def kind_of(query: dict) -> str:
    """Queries without a `kind` are the original keyword set."""
    return query.get("kind") or "keyword"


def _score(qrels: dict[str, dict[str, int]], runs: dict[str, list[str]]) -> dict[str, float]:
    import ir_measures
    from ir_measures import RR, Success, nDCG

    run = {qid: {doc: float(len(ids) - rank) for rank, doc in enumerate(ids)} for qid, ids in runs.items()}
    # a query with no answer still counts (as 0) in the averages
    run = {qid: (docs or {"__none__": 0.0}) for qid, docs in run.items()}
    agg = ir_measures.calc_aggregate([nDCG @ 10, RR, Success @ 3], qrels, run)
    return {"ndcg@10": round(agg[nDCG @ 10], 4), "mrr": round(agg[RR], 4), "success@3": round(agg[Success @ 3], 4)}


def _scores(qrels: dict[str, dict[str, int]], run: dict[str, list[str]], kinds: dict[str, str],
            blind: dict[str, dict[str, int]] | None = None) -> dict:
    out = {**_score(qrels, run), "queries": len(run), "answered": sum(1 for ids in run.values() if ids)}
    out["by_kind"] = {}
    for kind in KINDS:
        qids = [qid for qid, k in kinds.items() if k == kind]
        if qids:
            part = {qid: run[qid] for qid in qids}
            out["by_kind"][kind] = {**_score({q: qrels[q] for q in qids}, part), "queries": len(qids),
                                    "answered": sum(1 for ids in part.values() if ids)}
    if blind:
        part = {qid: run[qid] for qid in blind}
        out["by_kind"][BLIND] = {**_score(blind, part), "queries": len(blind),
                                 "answered": sum(1 for ids in part.values() if ids)}
    return out


# the problem queries scored with the second judge's blind, pooled grades (`rel2`)
BLIND = "problem_blind"


def blind_qrels(queries: list[dict]) -> dict[str, dict[str, int]]:
    return {str(i): {doc: int(g) for doc, g in q["rel2"].items()} for i, q in enumerate(queries) if q.get("rel2")}


def agreement(queries: list[dict]) -> dict:
    """How far the two judges agree on the entries both graded: exact share and linear-weighted Cohen's kappa."""
    from sklearn.metrics import cohen_kappa_score

    pairs = [(int(g), int(q["rel2"][doc])) for q in queries if q.get("rel2")
             for doc, g in q["rel"].items() if doc in q["rel2"]]
    if not pairs:
        return {"pairs": 0}
    first, second = zip(*pairs)
    return {"pairs": len(pairs), "exact": round(sum(a == b for a, b in pairs) / len(pairs), 3),
            "kappa_linear": round(float(cohen_kappa_score(first, second, weights="linear")), 3)}


def unjudged(run: dict[str, list[str]], blind: dict[str, dict[str, int]], depth: int = 10) -> int:
    """Entries in an engine's top `depth` that the blind judge never graded (they count as 0 until pooled)."""
    return sum(1 for qid, grades in blind.items() for doc in run.get(qid, [])[:depth] if doc not in grades)


def per_query_ndcg(qrels: dict[str, dict[str, int]], run: dict[str, list[str]], depth: int = 10) -> dict[str, float]:
    """nDCG@depth of every query of `qrels` (0 for a query without an answer)."""
    import ir_measures
    from ir_measures import nDCG

    ranked = {qid: ({doc: float(len(ids) - rank) for rank, doc in enumerate(ids)} or {"__none__": 0.0})
              for qid, ids in run.items() if qid in qrels}
    out = {qid: 0.0 for qid in qrels}
    out.update({m.query_id: float(m.value) for m in ir_measures.iter_calc([nDCG @ depth], qrels, ranked)})
    return out


def halves(queries: list[dict], run: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """nDCG@10 of the problem queries split by their order in the file (1st, 3rd, … / 2nd, 4th, …), author
    and blind grades: a ranking change should help both halves, not one half at the other's cost."""
    problem = [str(i) for i, q in enumerate(queries) if kind_of(q) == "problem"]
    author = {str(i): {doc: int(g) for doc, g in q["rel"].items()} for i, q in enumerate(queries)}
    blind = blind_qrels(queries)
    out = {}
    for name, qrels in (("problem", author), (BLIND, blind)):
        scores = per_query_ndcg({qid: qrels[qid] for qid in problem if qid in qrels}, run)
        out[name] = {half: round(sum(scores[q] for q in part) / max(len(part), 1), 4)
                     for half, part in (("odd", problem[0::2]), ("even", problem[1::2]))
                     for part in [[q for q in part if q in scores]]}
    return out


def losses(queries: list[dict], run: dict[str, list[str]], depth: int = 10) -> list[dict]:
    # `run` may go deeper than `depth`: a missing entry's rank is then reported
    """Per problem query with blind grades, worst first: its nDCG@depth, the graded entries missing from
    the top `depth` and the entries (ungraded or grade 0) ranked above the lowest place such an entry
    could take, the material to find why kb misses them."""
    blind = blind_qrels(queries)
    scores = per_query_ndcg(blind, run, depth)
    out = []
    for qid, grades in blind.items():
        top = run.get(qid, [])[:depth]
        missing = sorted((doc for doc, g in grades.items() if g > 0 and doc not in top),
                         key=lambda doc: (-grades[doc], doc))
        missing_at = {doc: (run[qid].index(doc) + 1 if doc in run.get(qid, []) else None) for doc in missing}
        above = [(rank + 1, doc, grades.get(doc)) for rank, doc in enumerate(top) if not grades.get(doc)]
        out.append({"qid": qid, "q": queries[int(qid)]["q"], "ndcg@10": round(scores[qid], 4),
                    "missing": [(doc, grades[doc], missing_at[doc]) for doc in missing], "weak_above": above})
    return sorted(out, key=lambda r: r["ndcg@10"])


def evaluate(workdir: Path | None = None, limit: int = 10, peers: bool = True, deep: int = 0) -> dict[str, dict]:
    """Scores of kb and the peers over their top `limit`; with `deep`, kb's top `deep` is kept too
    (`_deep`, for the loss report's ranks beyond the scored ones)."""
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase
    from kb.search.engine import SearchRequest

    from .corpus import bundled_documents
    from .peers import available_peers, plain_tokens

    workdir = Path(workdir or tempfile.mkdtemp(prefix="kb-relevance-"))
    queries = judged_queries()
    qrels = {str(i): {doc: int(g) for doc, g in q["rel"].items()} for i, q in enumerate(queries)}
    docs = bundled_documents()

    settings = load_settings(workdir / "kb", editable_content=workdir / "kb" / "content")
    kb = KnowledgeBase(settings)
    kb.build(documents=docs)
    deep_run = {str(i): [h.id for h in kb.search(SearchRequest(text=q["q"], per_page=max(limit, deep),
                                                                highlight=False)).hits]
                for i, q in enumerate(queries)}
    runs = {"kb": {qid: ids[:limit] for qid, ids in deep_run.items()}}
    kb.close()

    tokens = plain_tokens()
    for peer_cls in available_peers() if peers else []:
        folder = workdir / f"{peer_cls.name}-plain"
        folder.mkdir(parents=True, exist_ok=True)
        peer = peer_cls(folder, tokens)
        peer.build(docs.values())
        runs[peer.name] = {str(i): peer.search(tokens.query(q["q"]), limit) for i, q in enumerate(queries)}
        peer.close()

    kinds = {str(i): kind_of(q) for i, q in enumerate(queries)}
    blind = blind_qrels(queries)
    out = {name: {**_scores(qrels, run, kinds, blind), "unjudged_blind": unjudged(run, blind)}
           for name, run in runs.items()}
    out["_agreement"] = agreement(queries)
    out["_runs"] = runs
    out["_deep"] = deep_run
    out["_queries"] = [q["q"] for q in queries]
    out["_kinds"] = [kind_of(q) for q in queries]
    return out


def print_losses(result: dict, depth: int = 10) -> None:
    queries = judged_queries()
    for row in losses(queries, result["_deep"], depth):
        if row["ndcg@10"] >= 1.0:
            continue
        print(f"\n[{row['qid']}] {row['q']}  nDCG@10={row['ndcg@10']:.3f}")
        for doc, grade, at in row["missing"]:
            print(f"   缺 {grade} {doc}  (kb 名次 {at or '-'})")
        for rank, doc, grade in row["weak_above"]:
            print(f"   前10 #{rank} {doc}  ({'未评' if grade is None else grade})")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.relevance")
    parser.add_argument("--losses", action="store_true", help="kb only: per problem query, what its top 10 misses")
    parser.add_argument("--kb-only", action="store_true", help="skip the peers (FTS5, tantivy)")
    args = parser.parse_args(argv)
    result = evaluate(peers=not (args.losses or args.kb_only), deep=50 if args.losses else 0)
    if args.losses:
        print_losses(result)
    print("问题类查询按顺序分两半（奇/偶）：", halves(judged_queries(), result["_runs"]["kb"]))
    print("两位评判的一致性（共同评过的条目）：", result["_agreement"])
    for name, scores in result.items():
        if name.startswith("_"):
            continue
        print(f"{name:8s} 盲评未覆盖的前10结果：{scores['unjudged_blind']}")
        for kind, s in [("all", scores), *scores["by_kind"].items()]:
            print(f"{name:8s} {kind:8s} nDCG@10={s['ndcg@10']:.3f}  MRR={s['mrr']:.3f}  "
                  f"success@3={s['success@3']:.3f}  answered {s['answered']}/{s['queries']}")


if __name__ == "__main__":
    sys.exit(main())
