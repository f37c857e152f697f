"""PostgreSQL full-text search as a peer, for the shared-mode choice (issue 21, docs/deploy/multinode.md).

The question: should nodes of a shared deployment search in PostgreSQL itself (every node sees a commit at
once, no local index) or each keep a local kb index derived from the database? This measures the first
option the way `bench.relevance` measures FTS5 and tantivy: the same fields and boosts (`bench.peers`),
text pre-segmented by jieba and indexed with the `simple` configuration (PostgreSQL has no Chinese
parser; `simple` lower-cases and splits on the spaces jieba's words are joined with), the fields weighted
A (title), B (tags, summary), C (process), D (body), ranked by `ts_rank` with kb's boosts as the weights,
all words first and any word when nothing matches. It reports nDCG@10 / MRR / success@3 on
bench/queries.yaml with bench.relevance's scoring, beside kb on the same documents, the query latency of
each (tokenising included), and how long an edit takes to be searchable in PostgreSQL.

Run: `python -m bench.pg_peer postgresql://user@host/db` (a scratch database: it creates and drops one table).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

from kb.documents import Document

from .peers import BOOSTS, FIELDS, Tokens, _fields, kb_tokens, plain_tokens
from . import relevance
from .relevance import judged_queries, kind_of

WEIGHT_CLASS = {"title": "A", "tags_text": "B", "summary": "B", "process": "C", "body": "D"}
# ts_rank's weights array is {D, C, B, A}: kb's boosts scaled so the title is 1
RANK_WEIGHTS = "{%s}" % ",".join(str(round(BOOSTS[f] / BOOSTS["title"], 3))
                                 for f in ("body", "process", "summary", "title"))


class PostgresPeer:
    name = "postgres-fts"

    def __init__(self, url: str, tokens: Tokens, table: str = "kb_pg_peer"):
        import psycopg

        self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        self.tokens = tokens
        self.table = table
        self.name = f"postgres-fts/{tokens.name}"

    def _row(self, doc: Document) -> tuple:
        f = _fields(doc)
        joined = {cls: " ".join(" ".join(self.tokens.index(f[n])) for n in FIELDS if WEIGHT_CLASS[n] == cls)
                  for cls in "ABCD"}
        return (doc.id, joined["A"], joined["B"], joined["C"], joined["D"])

    _VECTOR = ("setweight(to_tsvector('simple', %s), 'A') || setweight(to_tsvector('simple', %s), 'B') || "
               "setweight(to_tsvector('simple', %s), 'C') || setweight(to_tsvector('simple', %s), 'D')")

    def build(self, docs: Iterable[Document]) -> float:
        started = time.perf_counter()
        self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.conn.execute(f"CREATE TABLE {self.table} (id text PRIMARY KEY, tsv tsvector NOT NULL)")
        with self.conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {self.table} VALUES (%s, {self._VECTOR})", [self._row(d) for d in docs])
        self.conn.execute(f"CREATE INDEX ON {self.table} USING gin (tsv)")
        self.conn.execute(f"ANALYZE {self.table}")
        return time.perf_counter() - started

    def edit(self, doc: Document) -> None:
        self.conn.execute(f"UPDATE {self.table} SET tsv = {self._VECTOR} WHERE id = %s", (*self._row(doc)[1:], doc.id))

    def search(self, words: list[str], limit: int = 10) -> list[str]:
        if not words:
            return []
        text = " ".join(words)
        for op in ("&", "|"):
            query = "plainto_tsquery('simple', %s)" if op == "&" else \
                "to_tsquery('simple', replace(plainto_tsquery('simple', %s)::text, ' & ', ' | '))"
            rows = self.conn.execute(
                f"SELECT id FROM {self.table}, {query} q WHERE tsv @@ q "
                f"ORDER BY ts_rank('{RANK_WEIGHTS}'::float4[], tsv, q, 1) DESC, id LIMIT %s",
                (text, limit)).fetchall()
            if rows or len(words) == 1:
                return [r[0] for r in rows]
        return []

    def close(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        self.conn.close()


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {"p50_ms": round(1000 * statistics.median(samples), 2),
            "p95_ms": round(1000 * samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2)}


def _timed_runs(search, queries: list[dict], repeats: int) -> tuple[dict[str, list[str]], dict[str, float]]:
    runs, times = {}, []
    for _ in range(repeats):
        for i, q in enumerate(queries):
            started = time.perf_counter()
            runs[str(i)] = search(q["q"])
            times.append(time.perf_counter() - started)
    return runs, _percentiles(times)


def evaluate(url: str, repeats: int = 3, limit: int = 10) -> dict:
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase
    from kb.search.engine import SearchRequest

    from .corpus import bundled_documents

    queries = judged_queries()
    qrels = {str(i): {doc: int(g) for doc, g in q["rel"].items()} for i, q in enumerate(queries)}
    kinds = {str(i): kind_of(q) for i, q in enumerate(queries)}
    # the second judge's blind grades of the problem queries, where bench.relevance has them (issue 18)
    blind = relevance.blind_qrels(queries) if hasattr(relevance, "blind_qrels") else None

    def _scores(qrels, runs, kinds):
        return relevance._scores(qrels, runs, kinds, blind) if blind else relevance._scores(qrels, runs, kinds)

    docs = bundled_documents()
    out: dict = {"documents": len(docs), "queries": len(queries), "repeats": repeats}

    workdir = Path(tempfile.mkdtemp(prefix="kb-pg-peer-"))
    kb = KnowledgeBase(load_settings(workdir / "kb", editable_content=workdir / "kb" / "content"))
    kb.build(documents=docs)
    runs, latency = _timed_runs(
        lambda text: [h.id for h in kb.search(SearchRequest(text=text, per_page=limit, highlight=False)).hits],
        queries, repeats)
    out["kb"] = {**_scores(qrels, runs, kinds), **latency}
    kb.close()

    for tokens in (plain_tokens(), kb_tokens()):
        peer = PostgresPeer(url, tokens)
        try:
            build_seconds = peer.build(docs.values())
            runs, latency = _timed_runs(lambda text: peer.search(tokens.query(text), limit), queries, repeats)
            # edit → searchable: one document's new text committed, then found (every node at once)
            doc = docs["coking-cdq"]
            edited = Document(doc.id, doc.type, doc.title, doc.sectors, doc.meta, doc.body + "\n\n氢基竖炉直接还原",
                              doc.path, "edited")
            started = time.perf_counter()
            peer.edit(edited)
            found = "coking-cdq" in peer.search(tokens.query("氢基竖炉"), limit)
            edit_ms = round(1000 * (time.perf_counter() - started), 2)
            out[peer.name] = {**_scores(qrels, runs, kinds), **latency, "build_s": round(build_seconds, 2),
                              "edit_to_searchable_ms": edit_ms if found else None}
        finally:
            peer.close()
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m bench.pg_peer postgresql://user@host/scratch_db", file=sys.stderr)
        return 2
    result = evaluate(argv[0])
    print(f"{result['documents']} documents, {result['queries']} judged queries, latency over "
          f"{result['repeats']} passes")
    for name, s in result.items():
        if not isinstance(s, dict):
            continue
        extra = "".join(f"  {k}={s[k]}" for k in ("build_s", "edit_to_searchable_ms") if k in s)
        print(f"{name:28s} nDCG@10={s['ndcg@10']:.3f}  MRR={s['mrr']:.3f}  success@3={s['success@3']:.3f}  "
              f"answered {s['answered']}/{s['queries']}  p50={s['p50_ms']} ms  p95={s['p95_ms']} ms{extra}")
        for kind, k in s["by_kind"].items():
            print(f"{'':28s}   {kind:8s} nDCG@10={k['ndcg@10']:.3f}  ({k['queries']} queries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
