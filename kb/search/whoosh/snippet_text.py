"""The text a snippet's words are looked for in, at a fraction of what normalising it costs.

Snippets find the words a hit matched in its stored text normalised as the index read it:
`analysis.normalize(text).lower()` (width folding, traditional → simplified, case), offsets unchanged.
Normalising every listed hit's body was most of a highlighted search: the folding replaced every
full-width comma and full stop of Chinese text by a Python callback, and OpenCC converted text that
holds no traditional character at all.

`searchable(text)` gives a string that equals that normalisation at every character a word or the
Latin word-boundary rule can read, with the same length and offsets:

- only characters that can matter are folded: a character is left as written when neither it nor
  its folded form can be part of a word (jieba joins Han, letters, digits and + # & . _ % - into
  words; anything else it emits alone, and a word is kept only if it holds a letter, digit or Han),
  and case-folding changes neither; so ，。：；（） stay, while full-width letters, digits, ．－％ fold;
- OpenCC runs only when the text holds a character it converts (the set is read from OpenCC itself,
  one character at a time, once per process); otherwise its output would be its input. Its phrase
  rules convert traditional phrases, which hold such a character.

Whenever the text holds a character beyond the Basic Multilingual Plane or a traditional one, the
full normalisation is used as before.
"""
from __future__ import annotations

import re
import threading
import unicodedata

import opencc

from ... import analysis

# what jieba (default mode) puts inside one word besides letters, digits and Han (re_han_default)
_WORD_PUNCTUATION = "+#&._%-"
_WORDLIKE = re.compile(r"[\w" + re.escape(_WORD_PUNCTUATION) + "]")
# the conversion analysis.normalize applies (tests/test_search_speed.py checks they agree)
_T2S = opencc.OpenCC("t2s")


class _Tables:
    """The characters to fold (and into what) and the characters OpenCC converts, from the BMP."""

    def __init__(self):
        chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF and c != 0x0A]
        converted = _T2S.convert("\n".join(chars)).split("\n")
        if len(converted) != len(chars):        # not one line per character: ask one by one
            converted = [_T2S.convert(c) for c in chars]
        changed = {c for c, out in zip(chars, converted) if out != c}
        self.fold: dict[str, str] = {}
        for c in chars:
            folded = unicodedata.normalize("NFKC", c)
            if len(folded) != 1 or folded == c:
                continue
            inert = (not _WORDLIKE.match(c) and not _WORDLIKE.match(folded) and c.lower() == c
                     and folded.lower() == folded and c not in changed and folded not in changed)
            if not inert:
                self.fold[c] = folded
        self.folding = re.compile("[" + "".join(re.escape(c) for c in sorted(self.fold)) + "]")
        self.converted = re.compile("[" + "".join(re.escape(c) for c in sorted(changed)) + "]")
        self.either = re.compile("[" + "".join(re.escape(c) for c in sorted(changed | set(self.fold))) + "]")


_tables: _Tables | None = None
_lock = threading.Lock()


def _loaded() -> _Tables:
    global _tables
    if _tables is None:
        with _lock:
            if _tables is None:
                _tables = _Tables()
    return _tables


def searchable(text: str) -> str:
    """`analysis.normalize(text).lower()` wherever a word or the word-boundary rule can read it."""
    tables = _loaded()
    if len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text):
        return analysis.normalize(text).lower()      # beyond the BMP (a regex class of them is slow)
    if not tables.either.search(text):
        return text.lower()                         # most text: nothing to fold, nothing to convert
    folded = tables.folding.sub(lambda m: tables.fold[m.group()], text)
    if tables.converted.search(folded):
        return analysis.normalize(text).lower()
    return folded.lower()
