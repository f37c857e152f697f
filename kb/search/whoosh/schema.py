"""The index schema: which document fields are searchable, filterable, facetable and highlightable."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from whoosh.analysis import Token, Tokenizer
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.index import FileIndex

from ...analysis import Analysis
from ...fields import FACETS, FIELD_BOOSTS  # noqa: F401  (engine-neutral; named here for the adapter's modules)


class UnboundTokenizer(RuntimeError):
    """A schema read from an index was used to tokenise without an analysis bound to it."""


class JiebaTokenizer(Tokenizer):
    """Whoosh tokenizer over a kb Analysis, bound when an index is opened or created (`open_index`,
    `create_index`).

    Whoosh pickles the schema into the index; this tokenizer pickles no state (not the jieba
    dictionary, not a build's words), so it is bound again each time the index is opened. `prepared`
    gives the words a build already segmented for a text (kb/prepare.py), or None.
    """

    def __init__(self, analysis: Analysis | None = None,
                 prepared: Callable[[str], list[str] | None] | None = None):
        self.analysis = analysis
        self.prepared = prepared

    def bind(self, analysis: Analysis, prepared: Callable[[str], list[str] | None] | None = None) -> None:
        self.analysis, self.prepared = analysis, prepared

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.analysis = self.prepared = None

    def __eq__(self, other):
        return isinstance(other, JiebaTokenizer)

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        current = self.analysis
        if current is None:
            raise UnboundTokenizer("索引的分词器未绑定 Analysis：请用 kb.search.whoosh.schema.open_index 打开索引")
        prepared = self.prepared(value) if self.prepared is not None and not (positions or chars) else None
        if prepared is not None:        # segmented once for this build: no jieba here
            for word in prepared:
                token.text = word
                token.boost = 1.0
                token.stopped = False
                if keeporiginal:
                    token.original = word
                yield token
            return
        for pos, (word, start, end) in enumerate(current.index_tokens(value)):
            token.text = word
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = word
            if positions:
                token.pos = start_pos + pos
            if chars:
                token.startchar = start_char + start
                token.endchar = start_char + end
            yield token


def build_schema(analysis: Analysis | None = None,
                 prepared: Callable[[str], list[str] | None] | None = None) -> Schema:
    analyzer = JiebaTokenizer(analysis, prepared)
    return Schema(
        id=ID(stored=True, unique=True),
        type=ID(stored=True),
        title=TEXT(analyzer=analyzer, stored=True, phrase=False),
        summary=TEXT(analyzer=analyzer, stored=True, phrase=False),
        tags_text=TEXT(analyzer=analyzer, phrase=False),
        process=TEXT(analyzer=analyzer, phrase=False),
        body=TEXT(analyzer=analyzer, stored=True, phrase=False),
        sector=KEYWORD(stored=True, commas=True),
        province=ID(stored=True),                   # cases: from `region` (kb.regions)
        tag=KEYWORD(stored=True, commas=True),
        category=ID(stored=True),
        source=ID(stored=True),
        source_kind=ID(stored=True),
        origin=ID(stored=True),                     # source.origin
        confidence=ID(stored=True),                 # source.confidence: shown as a badge, not a facet
        kind=ID(stored=True),                       # cases: 清洁生产审核 | 技改项目 | 园区/集群 | 政策示范
        audit=STORED,                               # audit cases: 强制性 | 自愿性
        year=NUMERIC(int, stored=True, sortable=True),
        content_hash=STORED,
    )


def bind(schema: Schema, analysis: Analysis, prepared: Callable[[str], list[str] | None] | None = None) -> Schema:
    """Bind every jieba tokenizer of a schema (as read from an index) to this analysis."""
    for _name, field in schema.items():
        analyzer = getattr(field, "analyzer", None)
        if isinstance(analyzer, JiebaTokenizer):
            analyzer.bind(analysis, prepared)
    return schema


class _BoundStorage(FileStorage):
    """An index folder that opens its index with one bound schema: whoever opens the index again by
    name (a forked writer process, Whoosh's merge) must tokenise with the same analysis and words."""

    def __init__(self, path: Path, schema: Schema | None = None, mmap: bool = True):
        super().__init__(str(path), supports_mmap=mmap)
        self.bound_schema = schema

    def open_index(self, indexname=None, schema=None, indexclass=None):
        return super().open_index(indexname or "MAIN", schema=schema or self.bound_schema, indexclass=indexclass)


def open_index(index_dir: Path, analysis: Analysis,
               prepared: Callable[[str], list[str] | None] | None = None, mmap: bool = True) -> FileIndex:
    """The Whoosh index at index_dir, its schema (as written) bound to this analysis.

    mmap=False for a reader that serves: Whoosh opens each file inside a segment's compound file from the
    mapping as a BytesIO, which copies it (at 20k entries 31 MB of terms, postings and lengths per process,
    while searches read postings from the compiled arrays); without the mapping it reads them from the file."""
    stored = FileStorage(str(index_dir)).open_index().schema
    storage = _BoundStorage(index_dir, bind(stored, analysis, prepared), mmap=mmap)
    return storage.open_index()


def create_index(index_dir: Path, analysis: Analysis,
                 prepared: Callable[[str], list[str] | None] | None = None) -> FileIndex:
    """A new, empty Whoosh index at index_dir (which must exist) with kb's schema bound to this analysis."""
    schema = build_schema(analysis, prepared)
    storage = _BoundStorage(index_dir, schema)
    return storage.create_index(schema)
