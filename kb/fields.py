"""What each entry contributes to the search index and the recommender model: its field values.

Engine-neutral: the Whoosh writer, the build's segmentation step and the TF-IDF model all read an
entry through `index_fields`, so none of them needs another's module to know what a document says.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .documents import Document, plain_text
from .regions import province_of

if TYPE_CHECKING:
    from .analysis import Analysis


# The text fields that go through jieba (see kb/prepare.py).
PREPARED_FIELDS = ("title", "summary", "tags_text", "process", "body")
# Query-time boosts: a match in the title outranks one in tags or summary, which outranks the body.
FIELD_BOOSTS = {"title": 4.0, "tags_text": 2.5, "summary": 2.0, "process": 1.5, "body": 1.0}
# source_kind (目录 / 标准 / 案例报道 / 文献 / 工程实践), not the source title: most titles are one article each.
# origin (官方目录 … 厂商资料) and kind (cases: 清洁生产审核 …) let a consultant keep to what can be cited.
FACETS = ("type", "sector", "province", "category", "tag", "source_kind", "year", "origin", "kind")


def index_fields(doc: Document) -> dict:
    """The index's field values of one entry."""
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


class PreparedWords:
    """One build's documents as the index writer and the recommender model read them: each entry's
    field values (computed once per id and content hash) and the words of each field text (segmented
    once, see kb/prepare.py), shared by both instead of each computing its own.

    A build makes one, fills it, hands it to the writer and the model, and drops it; nothing of it
    outlives the build."""

    def __init__(self, analysis: "Analysis"):
        self.analysis = analysis
        self._fields: dict[tuple[str, str], dict] = {}
        self._words: dict[str, list[str]] = {}

    def fields(self, doc: Document) -> dict:
        """`index_fields(doc)`, computed once (callers must not change the dict)."""
        key = (doc.id, doc.content_hash)
        found = self._fields.get(key)
        if found is None:
            found = self._fields[key] = index_fields(doc)
        return found

    def texts(self, documents: Iterable[Document]) -> list[str]:
        """The distinct field texts of these documents that are not segmented yet."""
        texts: dict[str, None] = {}
        for doc in documents:
            values = self.fields(doc)
            for name in PREPARED_FIELDS:
                value = values.get(name)
                if isinstance(value, str) and value not in self._words:
                    texts[value] = None
        return list(texts)

    def learn(self, texts: Iterable[str], words: Iterable[list[str]]) -> None:
        """Record the words of texts segmented elsewhere (in forked processes)."""
        self._words.update(zip(texts, words))

    def prepared(self, text: str) -> list[str] | None:
        """The words of a text segmented for this build, or None."""
        return self._words.get(text)

    def words(self, text: str) -> list[str]:
        """The index words of a text: prepared ones when there are, else segmented now."""
        if not text:
            return []
        found = self._words.get(text)
        return found if found is not None else self.analysis.words(text)

    def release(self) -> None:
        """Forget every field value and word: the recommender model, the build's last reader, calls it once
        it has counted its rows, so a 20k build's words (about 100 MB) are not held through the model's fit.
        Asked again afterwards, values and words are computed afresh (correct, only slower)."""
        self._fields.clear()
        self._words.clear()

    def __len__(self) -> int:
        return len(self._words)
