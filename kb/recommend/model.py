"""The TF-IDF model over technology entries, built by `kb build` into the index generation.

Fields are weighted by repeating their tokens (title ×3, tags and process ×2, summary ×2, body ×1),
tokenised by the same Analysis as search so the glossary keeps domain words whole in both.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer

from ..documents import Document
from ..search import analysis as analysis_mod
from ..search.writer import index_fields

FIELD_WEIGHTS = (("title", 3), ("tags", 2), ("process", 2), ("summary", 2), ("body", 1))
MODEL_FILE = "recommender.pkl"


def _identity(tokens: list[str]) -> list[str]:
    return tokens


_token_cache: dict[tuple[str, str, str], list[str]] = {}


def document_tokens(doc: Document) -> list[str]:
    """Weighted tokens of one entry; a long-running server rebuilds on every edit, so unchanged
    entries (same content hash, same dictionary) are not run through jieba again."""
    analysis = analysis_mod.current()
    key = (doc.id, doc.content_hash, analysis.fingerprint)
    cached = _token_cache.get(key)
    if cached is None:
        if len(_token_cache) > 200_000:
            _token_cache.clear()
        cached = _token_cache[key] = _document_tokens(doc, analysis.words)
    return cached


def is_cached(doc: Document) -> bool:
    return (doc.id, doc.content_hash, analysis_mod.current().fingerprint) in _token_cache


def _document_tokens(doc: Document, words) -> list[str]:
    # the same field texts the search index reads, so a build segments each of them once
    fields = index_fields(doc)
    texts = {"title": fields["title"], "tags": fields["tags_text"], "process": fields["process"],
             "summary": fields["summary"], "body": fields["body"]}
    tokens: list[str] = []
    for name, weight in FIELD_WEIGHTS:
        tokens.extend(words(texts[name]) * weight)
    return tokens


@dataclass
class ModelData:
    vectorizer: TfidfVectorizer
    tech_ids: list[str]
    tech_matrix: Any
    tech_info: list[dict]
    case_ids: list[str]
    case_matrix: Any
    case_info: list[dict]


def _info(doc: Document) -> dict:
    meta = doc.meta
    return {
        "id": doc.id, "title": doc.title, "sectors": doc.sectors, "tags": doc.tags,
        "category": doc.category, "process": meta.get("process", ""),
        "investment_wan": meta.get("investment_wan"), "payback_years": meta.get("payback_years"),
        "technologies": meta.get("technologies", []), "year": doc.year,
    }


def build_model(documents: list[Document], out_dir: Path) -> None:
    techs = sorted((d for d in documents if d.type == "technology"), key=lambda d: d.id)
    cases = sorted((d for d in documents if d.type == "case"), key=lambda d: d.id)
    out_dir.mkdir(parents=True, exist_ok=True)
    vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2")
    if techs:
        tech_matrix = vectorizer.fit_transform([document_tokens(d) for d in techs])
        case_matrix = vectorizer.transform([document_tokens(d) for d in cases]) if cases else None
    else:
        tech_matrix = case_matrix = None
    data = ModelData(vectorizer, [d.id for d in techs], tech_matrix, [_info(d) for d in techs],
                     [d.id for d in cases], case_matrix, [_info(d) for d in cases])
    with open(out_dir / MODEL_FILE, "wb") as fh:
        pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_model(model_dir: Path) -> ModelData:
    with open(model_dir / MODEL_FILE, "rb") as fh:
        return pickle.load(fh)
