"""Synthetic corpora recombining the bundled content's vocabulary and structure, reproducible by seed.

Every synthetic document is built from real material: a real document of the same type is the
template for its front matter (so recommender fields, benefits, indicators keep their real shape),
the title joins words cut from real titles, tags/sectors/category/process are drawn from the real
values, and the body keeps the real `## 小节` headings with paragraphs shuffled in from several real
entries of that type. Types follow the bundled proportions.
"""
from __future__ import annotations

import copy
import hashlib
import random
import re
from functools import lru_cache
from pathlib import Path

from kb.config import BUNDLED_CONTENT
from kb.documents import Document

_SECTION = re.compile(r"^##\s*(.+?)\s*$", re.M)
_TITLE_SPLIT = re.compile(r"[（）()、，,/—\-“”\s]+")


@lru_cache(maxsize=1)
def bundled_documents() -> dict[str, Document]:
    from kb.loader import load_content

    content = load_content([BUNDLED_CONTENT])
    return dict(content.documents)


def _sections(body: str) -> list[tuple[str, list[str]]]:
    parts = _SECTION.split(body)
    out = []
    for i in range(1, len(parts) - 1, 2):
        paras = [p.strip() for p in re.split(r"\n\s*\n", parts[i + 1]) if p.strip()]
        out.append((parts[i], paras))
    return out


@lru_cache(maxsize=1)
def _material():
    import jieba

    docs = sorted(bundled_documents().values(), key=lambda d: d.id)
    by_type: dict[str, list[Document]] = {}
    for d in docs:
        by_type.setdefault(d.type, []).append(d)
    paragraphs: dict[tuple[str, str], list[str]] = {}
    sentences: list[str] = []
    title_words: list[str] = []
    title_tails: list[str] = []
    for d in docs:
        for heading, paras in _sections(d.body):
            paragraphs.setdefault((d.type, heading), []).extend(paras)
        sentences += [s + "。" for s in re.split(r"[。！？]", d.summary) if len(s) > 8]
        pieces = [p for p in _TITLE_SPLIT.split(d.title) if p]
        if pieces:
            title_tails.append(pieces[-1][-4:])
        title_words += [w for p in pieces for w in jieba.lcut(p) if len(w) > 1]
    values = {
        "sectors": [s for d in docs for s in d.sectors],
        "tags": [t for d in docs for t in d.tags],
        "categories": [d.category for d in docs if d.category],
        "processes": [d.meta["process"] for d in docs if d.meta.get("process")],
    }
    return by_type, paragraphs, sentences, title_words, title_tails, values


def _body(rng: random.Random, template: Document, paragraphs) -> str:
    out = []
    for heading, paras in _sections(template.body):
        pool = paragraphs.get((template.type, heading)) or paras
        k = max(1, min(len(pool), len(paras) + rng.randint(-1, 1)))
        out.append(f"## {heading}\n\n" + "\n\n".join(rng.sample(pool, k)))
    if not out:
        out.append(template.body)
    return "\n\n".join(out) + "\n"


SUMMARY_MAX = 300     # kb/schemas.py: a summary longer than this is refused by `kb build`


def _summary(picked: list[str]) -> str:
    """The sampled sentences, dropping trailing ones (no extra random draws, so every other field of the
    corpus stays the same) until the schema's length limit holds; one long sentence is cut."""
    while len(picked) > 1 and len("".join(picked)) > SUMMARY_MAX:
        picked = picked[:-1]
    return "".join(picked)[:SUMMARY_MAX]


def synthetic_documents(n: int, seed: int = 0) -> dict[str, Document]:
    """n documents with ids syn-0 … syn-(n-1); the same (n, seed) gives the same documents."""
    rng = random.Random(seed)
    by_type, paragraphs, sentences, title_words, title_tails, values = _material()
    types = sorted(by_type)
    weights = [len(by_type[t]) for t in types]
    chosen = rng.choices(types, weights=weights, k=n)
    tech_ids = [f"syn-{i}" for i, t in enumerate(chosen) if t == "technology"]
    out: dict[str, Document] = {}
    for i, doc_type in enumerate(chosen):
        template = rng.choice(by_type[doc_type])
        meta = copy.deepcopy(template.meta)
        title = "".join(rng.sample(title_words, rng.randint(2, 4))) + rng.choice(title_tails)
        sectors = sorted(set([rng.choice(values["sectors"])] + ([rng.choice(values["sectors"])] if rng.random() < 0.2 else [])))
        meta["id"], meta["type"], meta["title"], meta["sectors"] = f"syn-{i}", doc_type, title, sectors
        if "tags" in meta:
            meta["tags"] = sorted(set(rng.sample(values["tags"], rng.randint(2, 4))))
        if "category" in meta:
            meta["category"] = rng.choice(values["categories"])
        if "process" in meta:
            meta["process"] = rng.choice(values["processes"])
        meta["summary"] = _summary(rng.sample(sentences, rng.randint(1, 3)))
        if doc_type == "case" and tech_ids:
            meta["technologies"] = rng.sample(tech_ids, min(len(tech_ids), rng.randint(1, 3)))
        body = _body(rng, template, paragraphs)
        text = f"{title}\n{meta['summary']}\n{body}"
        out[f"syn-{i}"] = Document(
            id=f"syn-{i}", type=doc_type, title=title, sectors=sectors, meta=meta, body=body,
            path=str(Path("synthetic") / f"syn-{i}.md"),
            content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        )
    return out


def write_content_files(docs: dict[str, Document], content: Path) -> None:
    """The documents as Markdown content files, `content/<type folder>/<id>.md`, as an editor keeps them, so a
    server's writer batch over its content folders finds this corpus (not an empty folder)."""
    from kb.documents import TYPE_FOLDERS
    from kb.importer import render

    for doc in docs.values():
        # the templates' editor links name bundled technologies this corpus does not hold (the in-memory
        # builds skip the checks that refuse them; a build from the files does not)
        meta = {key: value for key, value in doc.meta.items() if key != "related_technologies"}
        folder = Path(content) / TYPE_FOLDERS[doc.type]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{doc.id}.md").write_text(render(meta, doc.body), encoding="utf-8")


def documents_on_disk(docs: dict[str, Document], content: Path) -> dict[str, Document]:
    """Write the documents into `content` and read them back with kb's loader (that folder only): the
    documents every engine indexes, whose content hashes are the files' own. Any problem the loader
    reports stops the bench (RuntimeError naming the first ones)."""
    from kb.loader import load_content

    write_content_files(docs, content)
    loaded = load_content([Path(content)])
    if loaded.problems:
        shown = "; ".join(str(p) for p in loaded.problems[:5])
        raise RuntimeError(f"the corpus written to {content} does not load ({len(loaded.problems)} problems): {shown}")
    if set(loaded.documents) != set(docs):
        raise RuntimeError(f"{content}: wrote {len(docs)} documents, read back {len(loaded.documents)} others")
    return {doc_id: loaded.documents[doc_id] for doc_id in docs}      # the corpus's order, not the folders'
