"""Text → tokens, shared by the index, the query side and the recommender.

One jieba tokenizer per `Analysis`, loaded with the glossary and the sector vocabulary, its dictionary
cache kept in the instance folder; traditional characters folded to simplified and Latin
abbreviations lower-cased before segmentation, with character offsets preserved for highlighting.
There is no "current" instance read from a global: the knowledge base asks `load_analysis` for one
and hands it to the build, the index, the query side and the recommender.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator

import jieba
import opencc

from .glossary import Glossary, load_glossary
from .taxonomy import CROSS_SECTOR, Taxonomy, load_taxonomy

jieba.setLogLevel(logging.WARNING)

STOPWORDS = frozenset(
    "的 了 和 与 及 或 在 是 对 等 为 将 把 被 也 就 都 而 其 之 以 于 由 从 向 并 且 中 上 下 个 一 一种 一些 "
    "这 那 该 此 各 每 可 能 会 要 已 以及 及其 进行 通过 可以 其中 所 并且 以上 以下 如 若".split()
)
# Words enterprises type around the real question ("印染废水怎么处理") that carry no topic.
QUERY_STOPWORDS = STOPWORDS | frozenset(
    "怎么 怎样 如何 什么 哪些 哪个 哪种 有没有 有无 吗 呢 啊 吧 请问 推荐 一下 求 想 我们 我 我司 公司 需要 "
    "问题 办法 方法 措施 解决 相关 关于 有关 好 最好 and or not "
    # single characters that say how, not what: 喷漆改水性漆, 电耗高, 漂洗水太多, 电机能效低 换高效电机
    "改 换 用 太 多 少 高 低 大 很 较 偏 过".split()
)
# degree words and fillers inside complaints, skipped when looking for colloquial phrases
# (太 but not 太阳, 超级 but not 超滤)
_FILLER = re.compile(r"太(?!阳)|很|非常|特别|比较|有点|十分|挺|超级|实在|都|也|了|白白")
_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]")
_LATIN_RUN = re.compile(r"[a-z][a-z0-9.+]*[a-z0-9]|[a-z]|\d+(?:\.\d+)?")

_t2s = opencc.OpenCC("t2s")


def squeezed_phrases(phrases: Iterable[str]) -> dict[str, str]:
    return _squeezed(tuple(phrases))


@functools.lru_cache(maxsize=16)
def _squeezed(phrases: tuple[str, ...]) -> dict[str, str]:
    """Colloquial phrases by their text without fillers, as problem_spans compares them (a phrase listed
    with its degree word, 污泥太多 or 钢坯冷了再加热, is found where typed); a phrase listed without one
    wins over one that only squeezes to it, and a key of one character (太吵 → 吵) would match too much."""
    out: dict[str, str] = {}
    for phrase in phrases:
        key = _FILLER.sub("", phrase)
        if len(key) >= 2 and (key == phrase or key not in out):
            out[key] = phrase
    return out


class _FoldTable(dict):
    """str.translate table that folds each character with NFKC when that keeps it one character
    (full-width Latin and digits, compatibility ideographs), learned once per character."""

    def __missing__(self, codepoint: int) -> str:
        ch = chr(codepoint)
        folded = unicodedata.normalize("NFKC", ch)
        self[codepoint] = value = folded if len(folded) == 1 else ch
        return value


_FOLD = _FoldTable()


@functools.lru_cache(maxsize=1)
def _foldable() -> tuple["re.Pattern[str]", "re.Pattern[str]"]:
    """The characters NFKC folds to one other character: those of the Basic Multilingual Plane as one
    character class (1,809; most text holds a few, such as full-width punctuation, and replacing just
    those is ~3× faster than translating every character, which matters on the highlight path where
    every hit's stored text is normalised), and a test for characters beyond it (1,820 more, up to
    U+2FFFF: a class holding them makes `re` test each character slowly, ~150× slower)."""
    chars = []
    for codepoint in range(0x10000):
        if 0xD800 <= codepoint <= 0xDFFF:
            continue
        ch = chr(codepoint)
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) == 1 and folded != ch:
            chars.append(ch)
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]"), re.compile("[\U00010000-\U0010FFFF]")


def _fold_one(match: "re.Match[str]") -> str:
    return _FOLD[ord(match.group())]


def _fold(text: str) -> str:
    basic, beyond = _foldable()
    if beyond.search(text):         # rare (𝐀, compatibility ideographs): fold every character
        return text.translate(_FOLD)
    return basic.sub(_fold_one, text)


def normalize(text: str) -> str:
    """Fold width and traditional characters without changing the length, so offsets stay valid. A
    character OpenCC would turn into one beyond the Basic Multilingual Plane is kept as written: in context
    it makes 二噁英 into 二𫫇英, a form no input method types, which jieba (Han = U+4E00–U+9FD5) cuts apart."""
    folded_text = _fold(text)
    simplified = _t2s.convert(folded_text)
    if len(simplified) != len(folded_text):
        return folded_text
    if simplified == folded_text:
        return simplified
    pieces, last = [], 0
    for astral in _foldable()[1].finditer(simplified):
        at = astral.start()
        if ord(folded_text[at]) <= 0xFFFF:
            pieces += [simplified[last:at], folded_text[at]]
            last = at + 1
    return "".join(pieces) + simplified[last:] if pieces else simplified


class Analysis:
    def __init__(self, glossary: Glossary, taxonomy: Taxonomy, cache_dir: Path | None = None):
        self.glossary = glossary
        self.taxonomy = taxonomy
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._inner_cache: dict[str, tuple[tuple[int, int], ...]] = {}

    @cached_property
    def fingerprint(self) -> str:
        """The content of every dictionary input: glossary, sector names and aliases, stop words, jieba's
        own dictionary (its version). A change to any of them changes tokens, so the index rebuilds."""
        digest = hashlib.sha256()
        for part in (self.glossary.fingerprint(), self.taxonomy.fingerprint(), " ".join(sorted(STOPWORDS)),
                     getattr(jieba, "__version__", "")):
            digest.update(part.encode("utf-8") + b"\n")
        return digest.hexdigest()[:16]

    @cached_property
    def tokenizer(self) -> jieba.Tokenizer:
        with self._lock:
            tk = jieba.Tokenizer()
            if self.cache_dir:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                tk.tmp_dir = str(self.cache_dir)
            tk.initialize()
            for word in {*self.glossary.all_words(), *self.taxonomy.terms()}:
                word = normalize(word).lower().strip()
                if word and not any(c.isspace() for c in word):
                    tk.add_word(word)
            return tk

    def _segments(self, text: str) -> Iterator[tuple[str, int, int]]:
        norm = normalize(text).lower()
        yield from self.tokenizer.tokenize(norm, mode="default", HMM=False)

    def _inner(self, word: str) -> Iterator[tuple[int, int]]:
        """Spans of dictionary words and Latin/number runs strictly inside word.

        jieba's own search mode only looks at 2- and 3-character pieces; domain compounds such as
        清洁生产审核 hide 4-character words (清洁生产) that must be findable on their own.
        """
        n = len(word)
        freq = self.tokenizer.FREQ
        for i in range(n):
            for j in range(i + 2, min(n, i + 8) + 1):
                if (i, j) != (0, n) and freq.get(word[i:j]):
                    yield i, j
        for m in _LATIN_RUN.finditer(word):
            if m.span() != (0, n):
                yield m.span()

    def index_tokens(self, text: str) -> Iterator[tuple[str, int, int]]:
        """Whole words plus the dictionary words inside them, with character offsets."""
        inner = self._inner_cache
        for word, start, end in self._segments(text):
            if word in STOPWORDS or not _WORDLIKE.search(word):
                continue
            yield word, start, end
            if len(word) > 2:
                spans = inner.get(word)
                if spans is None:       # words repeat (Zipf): scan each distinct word once per process
                    if len(inner) > 500_000:
                        inner.clear()
                    spans = inner[word] = tuple(self._inner(word))
                for i, j in spans:
                    yield word[i:j], start + i, start + j

    def query_tokens(self, text: str) -> list[str]:
        """Precise segmentation of what the user typed, without filler words, in order, once each."""
        seen: list[str] = []
        for word, _, _ in self._segments(text):
            if word not in QUERY_STOPWORDS and _WORDLIKE.search(word) and word not in seen:
                seen.append(word)
        return seen

    def subwords(self, word: str) -> list[str]:
        """A left-to-right cover of word by the longest inner words, e.g. 冷轧堆染色 → 冷轧堆, 染色."""
        if word.isascii():
            return []  # vocs is not voc + s
        spans = set(self._inner(word))
        cover, i = [], 0
        while i < len(word):
            j = max((e for s, e in spans if s == i), default=i + 1)
            cover.append(word[i:j])
            i = j
        # single characters would match (and highlight) anywhere: 余热 is not 余 + 热
        return cover if len(cover) > 1 and all(len(part) > 1 for part in cover) else []

    @cached_property
    def speller(self):
        """Domain words by their pinyin reading, to correct 无情 → 无氰 (kb/spelling.py)."""
        from .spelling import Speller

        return Speller(self.technical_words, self.problem_phrases)

    @cached_property
    def technical_words(self) -> frozenset[str]:
        """The domain vocabulary proper: glossary words, sector names and aliases, and the technical words
        colloquial phrases mean, normalised; not the colloquial phrases themselves, whose pieces are
        everyday words (浪费, 直接, 很多 of 热量白白浪费, 热水直接排, 很多乙酸乙酯)."""
        words = [*self.glossary.all_words(), *self.taxonomy.terms(),
                 *(t for g in self.glossary.problem_groups for t in g.terms)]
        return frozenset(normalize(w).lower() for w in words)

    @cached_property
    def _domain_pieces(self) -> set[str]:
        """Every stretch of two or more characters inside a domain word."""
        pieces: set[str] = set()
        for word in self.technical_words:
            for i in range(len(word)):
                for j in range(i + 2, len(word) + 1):
                    pieces.add(word[i:j])
        return pieces

    def is_domain(self, word: str) -> bool:
        """Whether a query word belongs to the domain vocabulary: it is, or lies inside, a glossary /
        sector / problem-vocabulary word (印染 in 印染厂), or contains one (印染厂 holds 印染); Latin
        abbreviations count. Narrative words (居民, 投诉, 想知道) and single characters do not."""
        if word.isascii():
            return any(c.isalpha() for c in word)
        if len(word) < 2:
            return False
        if word in self._domain_pieces:
            return True
        words = self.technical_words
        return any(word[i:j] in words for i in range(len(word)) for j in range(i + 2, len(word) + 1))

    def cuts(self, norm: str) -> set[int]:
        """Word boundaries of normalised text as the tokenizer segments it."""
        out = {0, len(norm)}
        for _, start, end in self.tokenizer.tokenize(norm, mode="default", HMM=False):
            out.update((start, end))
        return out

    @cached_property
    def sector_terms(self) -> tuple[tuple[str, str], ...]:
        """(normalised sector name, sub-sector or alias of two characters or more, its sector), longest
        first: what a query may name a sector by (kb/search/query.py), folded once per analysis."""
        pairs = []
        for term in self.taxonomy.terms():
            folded, sector = normalize(term).lower(), self.taxonomy.try_resolve(term)
            if len(folded) >= 2 and sector:
                pairs.append((folded, sector))
        return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))

    @cached_property
    def problem_phrases(self) -> dict[str, tuple[str, ...]]:
        """Normalised colloquial phrase → the technical words it means (glossary `problems`)."""
        out: dict[str, tuple[str, ...]] = {}
        for phrase, terms in self.glossary.problem_phrases().items():
            key = normalize(phrase).lower()
            out[key] = tuple(dict.fromkeys((*out.get(key, ()), *terms)))
        return out

    @cached_property
    def problem_sectors(self) -> dict[str, str]:
        """Normalised colloquial phrase → the one sector whose groups list it, for the phrases that only
        groups of a single sector other than the cross-sector 通用 list (定型机冒烟 → 印染): saying it says
        which plant the user runs."""
        seen: dict[str, set[str]] = {}
        for group in self.glossary.problem_groups:
            for phrase in group.phrases:
                seen.setdefault(normalize(phrase).lower(), set()).add(group.sector)
        return {phrase: next(iter(sectors)) for phrase, sectors in seen.items()
                if len(sectors) == 1 and CROSS_SECTOR not in sectors}

    @cached_property
    def _squeezed_phrases(self) -> dict[str, str]:
        return squeezed_phrases(self.problem_phrases)

    def problem_spans(self, norm: str, phrases: dict[str, tuple[str, ...]] | None = None) -> list[tuple[int, int, str]]:
        """Where colloquial phrases occur in normalised text, as (start, end, phrase): leftmost, then
        longest, not overlapping.
        Degree words and fillers between a phrase's words are skipped (用水量太大 is 用水量大, 热量都白白
        浪费了 is 热量浪费), so each phrase need not be listed with every intensifier."""
        keys = self._squeezed_phrases if phrases is None else squeezed_phrases(phrases)
        if not keys:
            return []
        skipped = {k for m in _FILLER.finditer(norm) for k in range(*m.span())}
        positions = [k for k in range(len(norm)) if k not in skipped]
        squeezed = "".join(norm[k] for k in positions)
        longest = max(map(len, keys))
        spans, i = [], 0
        while i < len(squeezed):
            for j in range(min(len(squeezed), i + longest), i + 1, -1):
                if squeezed[i:j] in keys:
                    spans.append((positions[i], positions[j - 1] + 1, keys[squeezed[i:j]]))
                    i = j
                    break
            else:
                i += 1
        return spans

    def synonyms(self, word: str) -> list[str]:
        return [normalize(s).lower() for s in self.glossary.synonyms_of(word)]

    def words(self, text: str) -> list[str]:
        """Flat token list for the recommender (search mode, same dictionary)."""
        if not text:
            return []
        return [w for w, _, _ in self.index_tokens(text)]


def load_analysis(cache_dir: Path | None = None, glossary: Glossary | None = None,
                  taxonomy: Taxonomy | None = None) -> Analysis:
    """The analysis of these glossary and sectors (the bundled files unless given). Equal inputs give
    the same object, so a process loads each jieba dictionary once however many knowledge bases it
    opens (a build, then the web app, in one process); it is handed on explicitly, never looked up."""
    return _loaded(glossary or load_glossary(), taxonomy or load_taxonomy(), cache_dir)


@functools.lru_cache(maxsize=4)
def _loaded(glossary: Glossary, taxonomy: Taxonomy, cache_dir: Path | None) -> Analysis:
    # keyed by content (frozen dataclasses): an edited glossary is a new key, a new analysis
    return Analysis(glossary, taxonomy, cache_dir)


def refreshed(previous: Analysis | None, cache_dir: Path | None = None) -> Analysis:
    """`previous` while the glossary and the sectors are unchanged (its jieba dictionary is loaded
    already), else a new analysis of the current ones: a build that changed them re-reads queries
    the way the new generation was indexed."""
    glossary, taxonomy = load_glossary(), load_taxonomy()
    if (previous is not None and previous.glossary == glossary and previous.taxonomy == taxonomy
            and (not cache_dir or previous.cache_dir == cache_dir)):
        return previous
    return load_analysis(cache_dir, glossary, taxonomy)
