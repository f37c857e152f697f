"""Peer engines over pre-tokenised text: SQLite FTS5 and tantivy.

Both index the same fields kb indexes (`kb.fields.index_fields`: title, tags, summary,
process, body) as space-joined tokens and match whole tokens (FTS5 `unicode61`, tantivy
`whitespace`), with kb's field boosts (title 4, tags 2.5, summary 2, process 1.5, body 1) and
kb's query semantics (all words; if nothing matches, any word). Ranking is each engine's BM25.

A `Tokens` decides the words: `kb_tokens()` uses kb's own analysis (glossary dictionary, inner
words) for the speed runs; `plain_tokens()` is plain `jieba.cut_for_search` with jieba's default
dictionary and no synonyms, for the relevance runs. Tokenising is part of each timed build and
each timed query, as it is for kb. Like kb's build (kb's `prepare` step), a peer's build segments
each distinct field text once, in `procs` forked processes when there are enough texts, so build
times compare like with like.

A peer is built in one process (`build`) and searched in another (`open`), as kb is by the bench.
"""
from __future__ import annotations

import multiprocessing
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


def kb_analysis(cache_dir: Path | None = None):
    """kb's own analysis (glossary dictionary, synonyms, sector words), loaded once per cache folder."""
    from kb.analysis import load_analysis

    return load_analysis(cache_dir)


def kb_tokens(an=None) -> Tokens:
    """Words as kb's analysis `an` (a `kb.analysis.Analysis`; the bundled glossary's when not given) reads them."""
    an = an if an is not None else kb_analysis()
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


def parallel_min_texts() -> int:
    """kb segments in processes only from this many distinct texts up (kb's prepare step); so do the peers."""
    from kb.prepare import PARALLEL_MIN_TEXTS

    return int(PARALLEL_MIN_TEXTS)


_tokenise: Callable[[str], list[str]] | None = None     # set before forking the pool: the workers inherit it


def _tokenise_one(text: str) -> str:
    return " ".join(_tokenise(text))


def tokenised_fields(docs: list[Document], tokens: Tokens, procs: int = 1) -> list[tuple[str, tuple[str, ...]]]:
    """(id, space-joined words per field) for each document; each distinct text segmented once, in `procs`
    forked processes when kb would use processes for as many texts."""
    global _tokenise
    fields = [_fields(d) for d in docs]
    texts = list(dict.fromkeys(f[n] for f in fields for n in FIELDS))
    _tokenise = tokens.index
    try:
        if procs > 1 and len(texts) >= parallel_min_texts():
            with multiprocessing.get_context("fork").Pool(procs) as pool:
                joined = pool.map(_tokenise_one, texts, chunksize=64)
        else:
            joined = [_tokenise_one(t) for t in texts]
    finally:
        _tokenise = None
    words = dict(zip(texts, joined))
    return [(d.id, tuple(words[f[n]] for n in FIELDS)) for d, f in zip(docs, fields)]


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

    def build(self, docs: Iterable[Document], procs: int = 1) -> tuple[float, float]:
        started = time.perf_counter()
        if self.path.exists():
            self.path.unlink()
        db = sqlite3.connect(self.path, check_same_thread=False)
        db.execute("CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, tags_text, summary, process, body,"
                   " tokenize = 'unicode61 remove_diacritics 0')")
        rows = ((doc_id, *words) for doc_id, words in tokenised_fields(list(docs), self.tokens, procs))
        with db:
            db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
        seconds = time.perf_counter() - started
        self.db = db
        return seconds, _dir_mb(self.path)

    def open(self) -> None:
        """Open the index an earlier `build` (in another process) wrote."""
        self.db = sqlite3.connect(self.path, check_same_thread=False)

    def add_display_table(self, docs: Iterable[Document]) -> None:
        """What a search page shows besides the match (type, title, sectors, summary), for the HTTP baseline;
        written after the index size was taken, so the size stays the index's."""
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS display (id TEXT PRIMARY KEY, type TEXT, title TEXT,"
                            " sectors TEXT, summary TEXT)")
            self.db.executemany("INSERT OR REPLACE INTO display VALUES (?, ?, ?, ?, ?)",
                                ((d.id, d.type, d.title, ",".join(d.sectors), d.summary) for d in docs))

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

    def search_page(self, query_words: list[str], limit: int = 10) -> tuple[int, list[tuple[str, str, float]]]:
        """What a search API answers: the number of matches and the top hits (id, snippet, BM25 score),
        with the same all-words-then-any-word rule."""
        sql = ("SELECT id, snippet(docs, -1, '<mark>', '</mark>', '…', 24), bm25(docs, 0, {weights}) FROM docs"
               " WHERE docs MATCH ? ORDER BY bm25(docs, 0, {weights}) LIMIT ?")
        rows = self._run(sql, query_words, limit)
        if not rows:
            return 0, []
        match = self._match(query_words, "AND")
        total = self.db.execute("SELECT count(*) FROM docs WHERE docs MATCH ?", (match,)).fetchone()[0]
        if not total:       # the rows came from the any-word fallback
            total = self.db.execute("SELECT count(*) FROM docs WHERE docs MATCH ?",
                                    (self._match(query_words, "OR"),)).fetchone()[0]
        return total, [(r[0], r[1], -r[2]) for r in rows]

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

    def build(self, docs: Iterable[Document], procs: int = 1) -> tuple[float, float]:
        import tantivy

        started = time.perf_counter()
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        self.schema = self._schema()
        index = tantivy.Index(self.schema, path=str(self.path))
        writer = index.writer(heap_size=256_000_000, num_threads=2)
        for doc_id, words in tokenised_fields(list(docs), self.tokens, procs):
            writer.add_document(tantivy.Document(id=doc_id, **dict(zip(FIELDS, words))))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        seconds = time.perf_counter() - started
        self.index = index
        self.searcher = index.searcher()
        return seconds, _dir_mb(self.path)

    @staticmethod
    def _schema():
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        for name in FIELDS:
            sb.add_text_field(name, stored=name in ("title", "summary", "body"), tokenizer_name="whitespace")
        return sb.build()

    def open(self) -> None:
        """Open the index an earlier `build` (in another process) wrote."""
        import tantivy

        self.schema = self._schema()
        self.index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        self.searcher = self.index.searcher()

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
