"""What the user typed → an engine-neutral query plan, built from tokens rather than parsed as syntax.

No query parser is involved, so quotes, brackets, colons, stars and AND/OR are just text and can
never raise. Each query word may match itself, any of its glossary synonyms, or the words inside it.

The plan is a small tree any engine can run (the Whoosh adapter translates it in
kb/search/whoosh/translate.py): a `Term` is one word in one field, scored by the engine's relevance
of the word in that field times its boost; `AnyOf` matches where any part does and sums the parts
that match; `AllOf` matches where every part does and sums them. A compound of one part is that part.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Union

from ..analysis import Analysis, normalize
from ..fields import FIELD_BOOSTS
from ..taxonomy import CROSS_SECTOR


@dataclass(frozen=True)
class Term:
    """One word in one field, its relevance there multiplied by boost."""
    field: str
    text: str
    boost: float = 1.0


@dataclass(frozen=True)
class AnyOf:
    """Matches where any part matches; scores the sum of the parts that match."""
    parts: tuple["Node", ...]


@dataclass(frozen=True)
class AllOf:
    """Matches where every part matches; scores the sum of the parts."""
    parts: tuple["Node", ...]


Node = Union[Term, AnyOf, AllOf]


@dataclass(frozen=True)
class Filter:
    """Documents whose `field` holds any of `values`; filters restrict, they do not score, and a
    search's filters must all hold."""
    field: str
    values: tuple


@dataclass
class QueryPlan:
    words: list[str]
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    # one node per query word (or colloquial phrase): the alternatives that count as finding it
    groups: list[Node] = field(default_factory=list)
    # per group, a factor on its coverage weight (kb/search/coverage.py): 1.0 unless the planner
    # knows the word is a domain term (more) or narrative (less)
    emphasis: list[float] = field(default_factory=list)
    # colloquial phrase the user typed → the technical words also searched for (glossary `problems`)
    expansions: dict[str, list[str]] = field(default_factory=dict)
    # narrative words of a long query left out of the search (see _weigh)
    dropped: list[str] = field(default_factory=list)
    # sectors the query names (印染厂, 电镀, 水泥窑 → 印染, 电镀, 建材): their entries rank higher (coverage.py)
    sectors: list[str] = field(default_factory=list)
    # sectors the query's colloquial phrases imply (定型机冒烟 → 印染, a phrase of one sector's groups):
    # their entries rank higher, as for a sector the words' matches point to (coverage.py)
    implied: list[str] = field(default_factory=list)
    # the technical words the query's colloquial phrases are made of (钢坯 of 钢坯冷了再加热), each a
    # group of its own weighted PHRASE_WORD_WEIGHT
    phrase_words: list[str] = field(default_factory=list)

    def conjunction(self) -> Node | None:
        """Every word group (None: nothing to match)."""
        return AllOf(tuple(self.groups)) if len(self.groups) > 1 else (self.groups[0] if self.groups else None)

    def disjunction(self) -> Node | None:
        """Any word group."""
        return AnyOf(tuple(self.groups)) if len(self.groups) > 1 else self.conjunction()


def _term_anywhere(term: str, boost: float = 1.0) -> Node:
    return AnyOf(tuple(Term(f, term, w * boost) for f, w in FIELD_BOOSTS.items()))


def _phrase_anywhere(analysis: Analysis, text: str, boost: float) -> Node | None:
    """A glossary form (a synonym, a colloquial phrase, a technical word it means) anywhere: every
    word of it, anywhere."""
    words = _glossary_words(analysis, text)
    if not words:
        return None
    if len(words) == 1:
        return _term_anywhere(words[0], boost)
    return AllOf(tuple(_term_anywhere(w, boost) for w in words))


# the technical words a colloquial phrase stands for count a little less than the phrase itself
PROBLEM_TERM_BOOST = 0.8
# a technical word inside a colloquial phrase (钢坯 of 钢坯冷了再加热) counts like the technical words the
# phrase means: a little less than a word typed on its own
PHRASE_WORD_WEIGHT = PROBLEM_TERM_BOOST
# a word outside the domain vocabulary (车间, 居民, 投诉) counts this much in score and coverage …
NARRATIVE_WEIGHT = 0.3
# … and in a query of this many words or more (two sentences describing a plant) it is dropped,
# as long as at least MIN_DOMAIN_WORDS domain words remain
LONG_QUERY_WORDS = 6
MIN_DOMAIN_WORDS = 2
# words inside domain terms (喷漆车间, 设备管理) that on their own say nothing about the topic
GENERIC_WORDS = frozenset(
    "车间 设备 工序 工段 改造 技改 技术 工艺 企业 工厂 厂家 厂区 公司 生产 生产线 系统 项目 情况 效果 环节 "
    "现在 目前 周边 附近 平时 每天 每年 一直 经常 成本 费用".split()
)
# a word that says which plant the user runs (印刷厂, 焦化厂, 电镀企业) names its sector; it is a cue for
# ranking, not a topic, so its own matches count this much (an audit case of "北京日报社印刷厂" must not
# outrank the technologies for the printing plant's solvent smell)
PLANT_SUFFIXES = ("厂", "企业", "行业", "公司")
PLANT_WORD_WEIGHT = 0.3


def plan_query(analysis: Analysis, text: str) -> QueryPlan:
    """One group per query word, in order; a colloquial phrase (味道大) is one group that also
    matches the technical words it means (VOCs, 恶臭) and their synonyms."""
    plan = QueryPlan(words=[])
    norm = normalize(text).lower()
    start = 0
    for lo, hi, phrase in [*analysis.problem_spans(norm), (len(norm), len(norm), "")]:
        for word in analysis.query_tokens(norm[start:lo]):
            if word not in plan.words:
                _add_word(analysis, plan, word)
        if phrase and phrase not in plan.words:
            _add_phrase(analysis, plan, phrase)
            for word in _technical_words_of(analysis, phrase):
                if word not in plan.words:
                    _add_word(analysis, plan, word)
                    plan.emphasis[-1] = PHRASE_WORD_WEIGHT
                    plan.phrase_words.append(word)
        start = hi
    _weigh(analysis, plan)
    _name_sectors(analysis, plan, norm)
    return plan


def _technical_words_of(analysis: Analysis, phrase: str) -> list[str]:
    """The technical words a colloquial phrase is made of (钢坯 of 钢坯冷了再加热, 电镀污泥 of 电镀污泥太多,
    冷库 of 冷库电费高): each is also a word group of its own, so an entry about them counts as covering part
    of the query even where it does not match every word of the phrase."""
    return [w for w in analysis.query_tokens(phrase)
            if len(w) > 1 and w not in GENERIC_WORDS and w in analysis.technical_words]


def _name_sectors(analysis: Analysis, plan: QueryPlan, norm: str) -> None:
    """The sectors the query names: any sector name, sub-sector or alias of two or more characters in
    the text (longest first, each stretch counted once), and a plant word's stem (印刷厂 → 印刷)."""
    taxonomy = analysis.taxonomy
    rest = norm
    terms = analysis.sector_terms
    starting = _sector_terms_by_first_char(analysis)
    # only the terms whose first character the query holds can be in it (it only loses characters)
    for k in sorted({k for ch in set(norm) for k in starting.get(ch, ())}):
        folded, sector = terms[k]
        if folded in rest:
            _add_sector(plan, sector)
            rest = rest.replace(folded, " ")
    for k, word in enumerate(plan.words):
        if word in plan.expansions:
            continue
        for suffix in PLANT_SUFFIXES:
            stem = word[: -len(suffix)]
            if word.endswith(suffix) and len(stem) >= 2 and taxonomy.try_resolve(stem):
                _add_sector(plan, taxonomy.try_resolve(stem))
                plan.emphasis[k] = min(plan.emphasis[k], PLANT_WORD_WEIGHT)
                break


_words_of_forms: "weakref.WeakKeyDictionary[Analysis, dict[str, tuple[str, ...]]]" = weakref.WeakKeyDictionary()


def _glossary_words(analysis: Analysis, form: str) -> tuple[str, ...]:
    """The words of a glossary form (a synonym, a colloquial phrase, a technical word it means) as a
    query reads them. Every form of the glossary is segmented once per analysis, the first time any
    is asked for (about 1,400 forms, ~20 ms), so a query's synonyms cost a dict lookup; a form the
    table lacks is segmented on the spot. Nothing users type is kept."""
    table = _words_of_forms.get(analysis)
    if table is None:
        table = _words_of_forms.setdefault(analysis, _segmented_forms(analysis))
    words = table.get(form)
    return words if words is not None else _segmented(analysis, form)


def _segmented(analysis: Analysis, form: str) -> tuple[str, ...]:
    return tuple(analysis.query_tokens(form) or [w for w, _, _ in analysis.index_tokens(form)])


def _segmented_forms(analysis: Analysis) -> dict[str, tuple[str, ...]]:
    """Every form _phrase_anywhere can be given: synonym group members, colloquial phrases, the
    technical words they mean and those words' synonyms (normalised as the planner passes them)."""
    forms = {normalize(member).lower() for group in analysis.glossary.synonym_groups for member in group}
    for phrase, terms in analysis.problem_phrases.items():
        forms.add(phrase)
        for term in terms:
            forms.add(normalize(term).lower())
            forms.update(analysis.synonyms(term))
    return {form: _segmented(analysis, form) for form in forms}


_by_first_char: "weakref.WeakKeyDictionary[Analysis, dict[str, tuple[int, ...]]]" = weakref.WeakKeyDictionary()


def _sector_terms_by_first_char(analysis: Analysis) -> dict[str, tuple[int, ...]]:
    """First character → the positions in analysis.sector_terms of the terms starting with it,
    made once per analysis: a query is checked against the few terms it can hold, not all 200."""
    found = _by_first_char.get(analysis)
    if found is None:
        starting: dict[str, list[int]] = {}
        for k, (folded, _sector) in enumerate(analysis.sector_terms):
            starting.setdefault(folded[0], []).append(k)
        found = _by_first_char[analysis] = {ch: tuple(ks) for ch, ks in starting.items()}
    return found


def _add_sector(plan: QueryPlan, sector: str | None) -> None:
    if sector and sector != CROSS_SECTOR and sector not in plan.sectors:
        plan.sectors.append(sector)


def _weigh(analysis: Analysis, plan: QueryPlan) -> None:
    """Domain words and colloquial phrases keep full weight; narrative words count less, and a long
    query drops them (recorded in plan.dropped) so they neither add candidates nor dilute coverage."""
    long_query = len(plan.words) >= LONG_QUERY_WORDS
    for k, word in enumerate(plan.words):
        if word in plan.expansions or word in plan.phrase_words:
            continue
        # a lone character (没, 人 of 没人要; 熄 of 熄焦 when jieba splits it) says too little on its own
        lone = len(word) == 1 and not word.isascii()
        if word in GENERIC_WORDS or lone or len(word) > 1 and not analysis.is_domain(word):
            plan.emphasis[k] = NARRATIVE_WEIGHT
    domain = sum(1 for e in plan.emphasis if e > NARRATIVE_WEIGHT)
    if long_query and domain >= MIN_DOMAIN_WORDS:
        keep = [k for k, e in enumerate(plan.emphasis) if e > NARRATIVE_WEIGHT]
        plan.dropped = [w for k, w in enumerate(plan.words) if k not in keep]
        plan.words = [plan.words[k] for k in keep]
        plan.groups = [plan.groups[k] for k in keep]
        plan.emphasis = [plan.emphasis[k] for k in keep]
        plan.phrase_words = [w for w in plan.phrase_words if w in plan.words]
        plan.synonyms = {w: s for w, s in plan.synonyms.items() if w in plan.words}


def _add_phrase(analysis: Analysis, plan: QueryPlan, phrase: str) -> None:
    terms = list(analysis.problem_phrases[phrase])
    alternatives = [q for q in [_phrase_anywhere(analysis, phrase, 1.0)] if q is not None]
    for term in terms:
        for form in dict.fromkeys([normalize(term).lower(), *analysis.synonyms(term)]):
            alt = _phrase_anywhere(analysis, form, PROBLEM_TERM_BOOST)
            if alt is not None:
                alternatives.append(alt)
    if not alternatives:
        return
    plan.words.append(phrase)
    plan.expansions[phrase] = terms
    implied = analysis.problem_sectors.get(phrase)
    if implied and implied not in plan.implied:
        plan.implied.append(implied)
    plan.groups.append(AnyOf(tuple(alternatives)) if len(alternatives) > 1 else alternatives[0])
    plan.emphasis.append(1.0)


def _add_word(analysis: Analysis, plan: QueryPlan, word: str) -> None:
    plan.words.append(word)
    alternatives: list[Node] = [_term_anywhere(word)]
    synonyms = analysis.synonyms(word)
    if synonyms:
        plan.synonyms[word] = synonyms
    for synonym in synonyms:
        alt = _phrase_anywhere(analysis, synonym, 0.9)
        if alt is not None:
            alternatives.append(alt)
    parts = analysis.subwords(word)
    if parts:
        alternatives.append(AllOf(tuple(_term_anywhere(p, 0.6) for p in parts)))
    plan.groups.append(AnyOf(tuple(alternatives)) if len(alternatives) > 1 else alternatives[0])
    plan.emphasis.append(1.0)
