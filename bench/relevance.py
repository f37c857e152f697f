"""Relevance of kb and the peers on the bundled content: nDCG@10, MRR and success@3 over bench/queries.yaml,
overall and per query kind (`keyword`: a technology's own words; `problem`: a complaint, cost, symptom, typo or
two-sentence description, issue 18; `problem_blind`: the problem queries scored with the second judge's blind,
pooled grades `rel2`, see bench/pool.py).

kb answers with its own analysis (glossary dictionary, synonyms, traditional→simplified); the peers
index and query with plain `jieba.cut_for_search` / `jieba.cut` and jieba's default dictionary,
without the glossary or synonyms (see `bench.peers.plain_tokens`). Run: `python -m bench.relevance`.
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


def evaluate(workdir: Path | None = None, limit: int = 10) -> dict[str, dict]:
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
    runs = {"kb": {str(i): [h.id for h in kb.search(SearchRequest(text=q["q"], per_page=limit, highlight=False)).hits]
                   for i, q in enumerate(queries)}}
    kb.close()

    tokens = plain_tokens()
    for peer_cls in available_peers():
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
    out["_queries"] = [q["q"] for q in queries]
    out["_kinds"] = [kind_of(q) for q in queries]
    return out


def main() -> None:
    result = evaluate()
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
