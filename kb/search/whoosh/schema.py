"""The index schema: which document fields are searchable, filterable, facetable and highlightable."""
from __future__ import annotations

from whoosh.analysis import Token, Tokenizer
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from ... import analysis

# Query-time boosts: a match in the title outranks one in tags or summary, which outranks the body.
FIELD_BOOSTS = {"title": 4.0, "tags_text": 2.5, "summary": 2.0, "process": 1.5, "body": 1.0}
# source_kind (目录 / 标准 / 案例报道 / 文献 / 工程实践), not the source title: most titles are one article each.
# origin (官方目录 … 厂商资料) and kind (cases: 清洁生产审核 …) let a consultant keep to what can be cited.
FACETS = ("type", "sector", "province", "category", "tag", "source_kind", "year", "origin", "kind")


class JiebaTokenizer(Tokenizer):
    """Whoosh tokenizer over the shared Analysis.

    Whoosh pickles the schema into the index; this tokenizer pickles no state and finds the
    process-wide Analysis when used, so the jieba dictionary is loaded once per process.
    """

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        pass

    def __eq__(self, other):
        return isinstance(other, JiebaTokenizer)

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        current = analysis.current()
        prepared = current.prepared.get(value) if not (positions or chars) else None
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


def build_schema() -> Schema:
    analyzer = JiebaTokenizer()
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
