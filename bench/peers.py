"""Peer engines over pre-tokenised text: SQLite FTS5 and tantivy.

Both index the same fields kb indexes (`kb.fields.index_fields`: title, tags, summary,
process, body) as space-joined tokens and match whole tokens (FTS5 `unicode61`, tantivy
`whitespace`), with kb's field boosts (title 4, tags 2.5, summary 2, process 1.5, body 1) and
kb's query semantics (all words; if nothing matches, any word). Ranking is each engine's BM25.

A `Tokens` decides the words: `kb_tokens()` uses kb's own analysis (glossary dictionary, inner
words) for the speed runs; `plain_tokens()` is plain `jieba.cut_for_search` with jieba's default
dictionary and no synonyms, for the relevance runs. Tokenising is part of each timed build and
each timed query, as it is for kb.
"""
from __future__ import annotations

import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from kb.documents import Document

FIELDS = ("title", "tags_text", "summary", "process", "body")
BOOSTS = {"title": 4.0, "tags_text": 2.5, "summary": 2.0, "process": 1.5, "body": 1.0}
_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]")


@dataclass
class Tokens:
    name: str
    index: Callable[[str], list[str]]     # text → words to index
    query: Callable[[str], list[str]]     # what the user typed → distinct words


def kb_tokens(an) -> Tokens:
    """kb's own analysis (a `kb.analysis.Analysis`)."""
    return Tokens("kb-jieba", an.words, an.query_tokens)


def plain_tokens() -> Tokens:
    """Default jieba dictionary, no glossary, no synonyms; traditional→simplified and case folding
    (kb's `normalize`) are kept so the comparison isolates dictionary and synonyms."""
    import jieba

    from kb.analysis import normalize

    tk = jieba.Tokenizer()

    def index(text: str) -> list[str]:
        return [w for w in tk.cut_for_search(normalize(text).lower()) if _WORDLIKE.search(w)]

    def query(text: str) -> list[str]:
        out: list[str] = []
        for w in tk.cut(normalize(text).lower()):
            if _WORDLIKE.search(w) and w not in out:
                out.append(w)
        return out

    return Tokens("jieba-default", index, query)


def _fields(doc: Document) -> dict[str, str]:
    from kb.fields import index_fields

    return {name: value for name, value in index_fields(doc).items() if name in FIELDS}


def _dir_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


class FTS5Peer:
    name = "fts5"

    def __init__(self, workdir: Path, tokens: Tokens):
        self.path = Path(workdir) / "fts5.sqlite3"
        self.tokens = tokens
        self.db: sqlite3.Connection | None = None

    def build(self, docs: Iterable[Document]) -> tuple[float, float]:
        started = time.perf_counter()
        if self.path.exists():
            self.path.unlink()
        db = sqlite3.connect(self.path, check_same_thread=False)
        db.execute("CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, tags_text, summary, process, body,"
                   " tokenize = 'unicode61 remove_diacritics 0')")
        tok = self.tokens.index
        rows = ((d.id, *(" ".join(tok(f[n])) for n in FIELDS)) for d in docs for f in [_fields(d)])
        with db:
            db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
        seconds = time.perf_counter() - started
        self.db = db
        return seconds, _dir_mb(self.path)

    def edit(self, doc: Document) -> None:
        """Replace one document and commit: what an editor's save costs."""
        tok = self.tokens.index
        f = _fields(doc)
        with self.db:
            self.db.execute("DELETE FROM docs WHERE id = ?", (doc.id,))
            self.db.execute("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)",
                            (doc.id, *(" ".join(tok(f[n])) for n in FIELDS)))

    def _match(self, words: list[str], op: str) -> str:
        return f" {op} ".join('"' + w.replace('"', '""') + '"' for w in words)

    def _run(self, sql: str, words: list[str], limit: int) -> list[tuple]:
        if not words:
            return []
        weights = ", ".join(str(BOOSTS[n]) for n in FIELDS)
        for op in ("AND", "OR"):
            rows = self.db.execute(sql.format(weights=weights),
                                   (self._match(words, op), limit)).fetchall()
            if rows or len(words) == 1:
                return rows
        return []

    def search(self, query_words: list[str], limit: int = 10) -> list[str]:
        sql = "SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 0, {weights}) LIMIT ?"
        return [r[0] for r in self._run(sql, query_words, limit)]

    def search_highlight(self, query_words: list[str], limit: int = 10) -> list[tuple[str, str]]:
        sql = ("SELECT id, snippet(docs, -1, '<mark>', '</mark>', '…', 24) FROM docs WHERE docs MATCH ?"
               " ORDER BY bm25(docs, 0, {weights}) LIMIT ?")
        return [(r[0], r[1]) for r in self._run(sql, query_words, limit)]

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


class TantivyPeer:
    name = "tantivy"

    def __init__(self, workdir: Path, tokens: Tokens):
        self.path = Path(workdir) / "tantivy"
        self.tokens = tokens
        self.index = None

    def build(self, docs: Iterable[Document]) -> tuple[float, float]:
        import tantivy

        started = time.perf_counter()
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        for name in FIELDS:
            sb.add_text_field(name, stored=name in ("title", "summary", "body"), tokenizer_name="whitespace")
        self.schema = sb.build()
        index = tantivy.Index(self.schema, path=str(self.path))
        writer = index.writer(heap_size=256_000_000, num_threads=2)
        tok = self.tokens.index
        for d in docs:
            f = _fields(d)
            writer.add_document(tantivy.Document(id=d.id, **{n: " ".join(tok(f[n])) for n in FIELDS}))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        seconds = time.perf_counter() - started
        self.index = index
        self.searcher = index.searcher()
        return seconds, _dir_mb(self.path)

    def edit(self, doc: Document) -> None:
        """Replace one document, commit and reload the searcher: what an editor's save costs."""
        import tantivy

        writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        writer.delete_documents("id", doc.id)
        f = _fields(doc)
        writer.add_document(tantivy.Document(id=doc.id, **{n: " ".join(self.tokens.index(f[n])) for n in FIELDS}))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    def _query(self, words: list[str], must: bool):
        import tantivy

        occur = tantivy.Occur.Must if must else tantivy.Occur.Should
        per_word = [
            (occur, tantivy.Query.boolean_query([
                (tantivy.Occur.Should,
                 tantivy.Query.boost_query(tantivy.Query.term_query(self.schema, n, w), BOOSTS[n]))
                for n in FIELDS]))
            for w in words
        ]
        return tantivy.Query.boolean_query(per_word)

    def _run(self, words: list[str], limit: int):
        if not words:
            return None, []
        for must in (True, False):
            query = self._query(words, must)
            hits = self.searcher.search(query, limit).hits
            if hits or len(words) == 1:
                return query, hits
        return None, []

    def search(self, query_words: list[str], limit: int = 10) -> list[str]:
        _, hits = self._run(query_words, limit)
        return [self.searcher.doc(addr)["id"][0] for _, addr in hits]

    def search_highlight(self, query_words: list[str], limit: int = 10) -> list[tuple[str, str]]:
        import tantivy

        query, hits = self._run(query_words, limit)
        if not hits:
            return []
        gen = tantivy.SnippetGenerator.create(self.searcher, query, self.schema, "body")
        out = []
        for _, addr in hits:
            doc = self.searcher.doc(addr)
            out.append((doc["id"][0], gen.snippet_from_doc(doc).to_html()))
        return out

    def close(self) -> None:
        self.index = None


def available_peers() -> list[type]:
    peers: list[type] = [FTS5Peer]
    try:
        import tantivy  # noqa: F401

        peers.append(TantivyPeer)
    except ImportError:
        pass
    return peers
