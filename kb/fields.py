"""What each entry contributes to the search index and the recommender model: its field values.

Engine-neutral: the Whoosh writer, the build's segmentation step and the TF-IDF model all read an
entry through `index_fields`, so none of them needs another's module to know what a document says.
"""
from __future__ import annotations

from .documents import Document, plain_text
from .regions import province_of


# The text fields that go through jieba (see kb/search/whoosh/prepare.py).
PREPARED_FIELDS = ("title", "summary", "tags_text", "process", "body")


# A build reads each entry's fields up to three times (segmentation, the Whoosh writer, the model);
# inside `prepare.prepared` they are computed once per (id, content hash) and shared.
_memo: dict[tuple[str, str], dict] | None = None


def index_fields(doc: Document) -> dict:
    """The index's field values of one entry (callers must not change the dict)."""
    memo = _memo
    if memo is None:
        return _index_fields(doc)
    key = (doc.id, doc.content_hash)
    found = memo.get(key)
    if found is None:
        found = memo[key] = _index_fields(doc)
    return found


def _index_fields(doc: Document) -> dict:
    meta = doc.meta
    body_parts = [plain_text(doc.body)]
    if doc.type == "case":
        body_parts += [meta.get("enterprise", ""), meta.get("region", ""), *meta.get("problems", []),
                       *(o["name"] for o in meta.get("options", [])), *meta.get("results", [])]
    if doc.type == "spec":
        body_parts += [meta.get("standard", ""), meta.get("number", "")]
        body_parts += [f"{i['name']} {i.get('group') or ''}" for i in meta.get("indicators", [])]
    if doc.type == "technology":
        body_parts += [meta.get("applicability", "")]
        body_parts += [f"{b['indicator']} {b['value']}{b.get('unit', '')}" for b in meta.get("benefits", [])]
    fields = {
        "id": doc.id,
        "type": doc.type,
        "title": doc.title,
        "summary": doc.summary,
        "tags_text": " ".join(doc.tags + ([doc.category] if doc.category else [])),
        "process": meta.get("process", ""),
        "body": "\n".join(p for p in body_parts if p),
        "sector": ",".join(doc.sectors),
        "province": (province_of(meta.get("region")) or "") if doc.type == "case" else "",
        "tag": ",".join(t.replace(",", " ") for t in doc.tags),
        "category": doc.category or "",
        "source": doc.source.get("title", ""),
        "source_kind": doc.source.get("kind", ""),
        "origin": doc.source.get("origin", ""),
        "confidence": doc.source.get("confidence", ""),
        "kind": meta.get("kind", "") if doc.type == "case" else "",
        "audit": meta.get("audit", "") if meta.get("kind") == "清洁生产审核" else "",
        "content_hash": doc.content_hash,
    }
    if doc.year:
        fields["year"] = int(doc.year)
    return fields
