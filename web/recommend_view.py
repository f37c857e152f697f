"""The 技术推荐 page's reading of a recommendation: what every item shares is said once, terms keep the
case their sources write (VOCs, not vocs), a label instead of a raw score, similar cases listed once.

The JSON API returns the recommendation as it is; this shapes the same object for reading on a page."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

FALLBACK_REASON = "知识库未收录直接采用本技术的案例"
_ASCII_WORD = re.compile(r"[A-Za-z][A-Za-z0-9.+-]*")


@dataclass
class RecommendView:
    items: list[dict]
    common_reasons: list[str] = field(default_factory=list)     # true of every item: said once, above
    shared_cases: list[dict] = field(default_factory=list)      # similar cases offered for several items


def match_label(score: float, best: float) -> str:
    """How well an item matches, against the best item of the same request (scores are not comparable
    across requests, so a number would mislead)."""
    if best <= 0:
        return "较低"
    ratio = score / best
    return "高" if ratio >= 0.75 else "中" if ratio >= 0.4 else "较低"


def as_written(reason: str, texts: list[str]) -> str:
    """ASCII words in a reason as the entry (or the enterprise's own description) writes them."""
    def cased(match: re.Match) -> str:
        word = match.group(0)
        for text in texts:
            found = re.search(re.escape(word), text, re.IGNORECASE)
            if found:
                return found.group(0)
        return word.upper() if len(word) <= 4 else word
    return _ASCII_WORD.sub(cased, reason)


def recommend_view(result: dict, rows: dict, problem: str) -> RecommendView:
    """rows: the stored rows of the recommended technologies (for the words as they write them)."""
    results = result.get("results", [])
    best = max((r["score"] for r in results), default=0.0)
    reason_sets = [set(r["reasons"]) for r in results]
    common = [reason for reason in (results[0]["reasons"] if results else [])
              if len(results) > 1 and all(reason in s for s in reason_sets)]
    fallback_counts: dict[str, int] = {}
    for r in results:
        if FALLBACK_REASON in " ".join(r["reasons"]):
            for c in r["cases"]:
                fallback_counts[c["id"]] = fallback_counts.get(c["id"], 0) + 1
    shared_ids = {case_id for case_id, n in fallback_counts.items() if n > 1}
    shared: dict[str, dict] = {}
    items = []
    texts_of: dict[str, list[str]] = {}
    for r in results:
        row = rows.get(r["id"])
        texts_of[r["id"]] = [r["title"], " ".join(row.meta.get("tags") or []), row.meta.get("summary") or "",
                             row.body] if row is not None else [r["title"]]
    # titles and tags of every item, then the enterprise's words: a focus tag matched through a synonym
    # ("vocs" for an entry that says 挥发性有机物) is written as the other entries write it
    everyone = [text for r in results for text in texts_of[r["id"]][:2]] + [problem]
    for r in results:
        texts = [*texts_of[r["id"]], *everyone]
        fallback = FALLBACK_REASON in " ".join(r["reasons"])
        cases = [c for c in r["cases"] if not (fallback and c["id"] in shared_ids)]
        for c in r["cases"]:
            if fallback and c["id"] in shared_ids:
                shared.setdefault(c["id"], c)
        items.append({**r, "label": match_label(r["score"], best), "cases": cases, "fallback": fallback,
                      "reasons": [as_written(x, texts) for x in r["reasons"] if x not in common]})
    return RecommendView(items=items, common_reasons=[as_written(x, everyone) for x in common],
                         shared_cases=list(shared.values()))
