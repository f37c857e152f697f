"""The shapes kb hands to people and programs, in one place: the CLI and the web API both render from here."""
from __future__ import annotations

TYPE_NAMES = {"technology": "技术", "case": "案例", "spec": "标准"}
# What a search can be narrowed by, as URL parameters, with the names the pages show; `source` filters
# (the 来源 of a hit) without being counted as a facet.
FACET_LABELS = {"sector": "行业", "province": "地区", "type": "类型", "category": "类别", "tag": "标签", "source": "来源",
                "source_kind": "来源类型", "year": "年份", "origin": "来源性质", "kind": "案例类型"}
# The facet counts /api/search returns (its published contract: extend, never remove).
API_FACETS = ("type", "sector", "category", "tag", "province", "origin", "kind")


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
