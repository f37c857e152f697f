"""Typos and homophones typed with a pinyin input method (无情/无青 for 无氰, 干息焦 for 干熄焦, 余热发点
for 余热发电), corrected against the domain dictionary by sound, with pypinyin.

A stretch of the query is a candidate when it is not itself a domain word, reads (toneless pinyin) exactly
like a domain word of the same length, and shares at least one character with it. A candidate that
matches no document in the knowledge base is corrected at once (the word as typed cannot find
anything); one that does match documents is only offered ("您是不是要找：…"), and so is the whole
corrected query when the original finds nothing at all (then it is applied too, see searcher).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable


_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
MAX_WORD = 8


@lru_cache(maxsize=20000)
def _syllable(ch: str) -> str:
    lazy_pinyin, normal = _pinyin()
    return (lazy_pinyin(ch, style=normal, errors="ignore") or [ch])[0]


@lru_cache(maxsize=1)
def _pinyin():
    """pypinyin's lazy_pinyin and its toneless style, imported at the first reading: a process that only
    builds (kb build, the writer process) never spells. Readings are of single characters, so pypinyin's
    phrase dictionary (~40 MB in every process that loads it, with its segmenter) is not loaded
    (PYPINYIN_NO_PHRASES, read by pypinyin at import; a value set by the caller is kept): the readings are
    the same (tests/test_analysis.py)."""
    import os

    os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin, Style.NORMAL


def reading(word: str) -> str:
    """Toneless pinyin of a word, character by character (the same reading for the query and the
    dictionary, and each character looked up once per process), syllables joined by spaces."""
    return " ".join(_syllable(ch) for ch in word)


class Speller:
    """Domain words by their reading; built once per analysis (glossary and sector vocabulary)."""

    def __init__(self, words: Iterable[str], also_correct: Iterable[str] = ()):
        """`words` are the domain words a query is corrected to; `also_correct` are phrases that are
        right as typed but never a correction (费水 is a way of saying 水耗, not a typo for 废水)."""
        self.words: set[str] = {w for w in also_correct if _HAN.match(w)}
        self.by_reading: dict[str, str] = {}
        for word in sorted({w for w in words if 2 <= len(w) <= MAX_WORD and _HAN.match(w)}):
            self.words.add(word)
            self.by_reading.setdefault(reading(word), word)    # homophone domain words: the first, stably

    def candidates(self, norm: str, cuts: set[int] | None = None) -> list[tuple[int, int, str]]:
        """(start, end, domain word) for stretches of normalised text that sound like a domain word they
        are not: leftmost first, longest first, skipping over domain words typed correctly. With `cuts`
        (the word boundaries of the segmented query), a stretch must start and end on one, so 窑尾废气
        is never read as 窑 + 尾废 (→ 危废) + 气."""
        out: list[tuple[int, int, str]] = []
        i = 0
        while i < len(norm):
            step = 1
            for j in range(min(len(norm), i + MAX_WORD), i + 1, -1):
                window = norm[i:j]
                if not _HAN.match(window) or (cuts is not None and (i not in cuts or j not in cuts)):
                    continue
                if window in self.words:
                    step = j - i
                    break
                word = self.by_reading.get(reading(window))
                if word is not None and set(word) & set(window):
                    out.append((i, j, word))
                    step = j - i
                    break
            i += step
        return out


@dataclass
class Correction:
    """What the query would say corrected; `applied` when the search used it."""
    original: str
    text: str
    words: dict[str, str] = field(default_factory=dict)     # as typed → domain word
    applied: bool = False

    @property
    def note(self) -> str:
        return f"已按“{self.text}”检索" if self.applied else f"您是不是要找：{self.text}"


def correct(speller: Speller, norm: str, cuts: set[int], finds_anything: Callable[[str], bool]) -> tuple[Correction | None, bool]:
    """The corrected query (or None) and whether it should be applied without asking: when every
    corrected stretch, as typed, matches no document."""
    spans = speller.candidates(norm, cuts)
    if not spans:
        return None, False
    pieces, start, words = [], 0, {}
    unknown = True
    for lo, hi, word in spans:
        pieces += [norm[start:lo], word]
        words[norm[lo:hi]] = word
        unknown = unknown and not finds_anything(norm[lo:hi])
        start = hi
    pieces.append(norm[start:])
    return Correction(norm, "".join(pieces), words), unknown
