"""The shapes kb hands to people and programs, in one place: the CLI and the web API both render from here."""
from __future__ import annotations

TYPE_NAMES = {"technology": "技术", "case": "案例", "spec": "标准"}


def search_json(response) -> dict:
    """The shape `kb search --json` prints and `/api/search` extends."""
    return {
        "query": response.query,
        "total": response.total,
        "results": [
            {**{k: getattr(h, k) for k in ("id", "type", "title", "sectors", "summary", "snippet", "score")},
             # reliability as data: where the figures were read and how sure the editors are
             **{k: getattr(h, k) for k in ("origin", "confidence", "kind", "audit")}}
            for h in response.hits
        ],
    }
