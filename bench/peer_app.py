"""The HTTP baseline: a minimal Flask app answering /api/search over the FTS5 peer, served as kb is served.

`python -m bench.peer_app DB PORT CACHE_DIR` serves the FTS5 index a `peer-build` phase wrote (with the
display table `peer-serve` adds) under kb's own server set-up (`kb.serving.create_server`: waitress, the
same threads, CPU slots and limits), so kb's req/s has a peer measured the same way with the same load.

The response has the shape of kb's /api/search (query, total, results with id, type, title, sectors,
summary, snippet, score); the words are kb's analysis as in bench/peers.py. It does what a minimal search
API does and no more: no facets, filters, spelling correction or synonyms, which kb's endpoint adds.
"""
from __future__ import annotations

import sys
from pathlib import Path

from flask import Flask, jsonify, request


def create_app(db_path: Path, cache_dir: Path) -> Flask:
    from .peers import FTS5Peer, kb_analysis, kb_tokens

    analysis = kb_analysis(cache_dir)
    app = Flask(__name__)
    app.json.ensure_ascii = False
    tokens = kb_tokens(analysis)
    local = __import__("threading").local()

    def peer() -> FTS5Peer:
        """One connection per server thread (sqlite3 connections are not shared across threads here)."""
        if getattr(local, "peer", None) is None:
            local.peer = FTS5Peer(db_path.parent, tokens)
            local.peer.open()
        return local.peer

    @app.get("/api/search")
    def search():
        text = request.args.get("q", "")[:200]
        words = tokens.query(text)
        db = peer()
        total, hits = db.search_page(words, limit=10)
        rows = {r[0]: r for r in db.db.execute(
            f"SELECT id, type, title, sectors, summary FROM display WHERE id IN ({','.join('?' * len(hits))})",
            [h[0] for h in hits]).fetchall()} if hits else {}
        results = [{"id": doc_id, "type": rows[doc_id][1], "title": rows[doc_id][2],
                    "sectors": rows[doc_id][3].split(",") if rows[doc_id][3] else [],
                    "summary": rows[doc_id][4], "snippet": snippet, "score": round(score, 4)}
                   for doc_id, snippet, score in hits if doc_id in rows]
        return jsonify({"query": text, "total": total, "results": results})

    return app


def main(argv: list[str]) -> int:
    from kb.serving import create_server

    db_path, port, cache_dir = Path(argv[0]), int(argv[1]), Path(argv[2])
    create_server(create_app(db_path, cache_dir), host="127.0.0.1", port=port).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
