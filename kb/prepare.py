"""Segment every field text of a build once, for both the index writer and the recommender model.

jieba is most of a build's time, and the writer and the TF-IDF model read the same texts (title,
tags, process, summary, body). A build therefore segments each distinct text once, in `procs`
forked processes for large builds, and records the words in the build's `PreparedWords`
(kb/fields.py), which it hands to the index writer (its tokenizer reads them) and to the model.
The index's segment writer processes (kb/search/whoosh/segments.py) are forked after this step, so
they inherit the prepared words instead of running jieba again. A worker sends each text's words back
as one joined string, and the parent shares every word as the results arrive, so it never holds all
the words' unpickled copies at once (the peak of a large build before).
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

from .analysis import Analysis
from .documents import Document
from .fields import PreparedWords

PARALLEL_MIN_TEXTS = 2000

# The analysis of a forked segmenting worker, set once in each worker by the pool's initializer
# (fork passes it by memory, not by pickling): only ever set inside those child processes.
_worker_analysis: Analysis | None = None


def _adopt(analysis: Analysis) -> None:
    global _worker_analysis
    _worker_analysis = analysis


SEPARATOR = "\x00"


def _segment(text: str) -> str | list[str]:
    """In a worker: the text's words as one string joined by SEPARATOR (one object to pickle instead of
    hundreds), or the list itself for a text holding the separator (words are never empty, and only a
    text holding it can give a word that does)."""
    words = [w for w, _, _ in _worker_analysis.index_tokens(text)]
    return words if SEPARATOR in text else SEPARATOR.join(words)


def _words_of(result: str | list[str], shared: dict[str, str]) -> list[str]:
    """A worker's result as a list of words, each word one shared object per distinct word."""
    if isinstance(result, str):
        result = result.split(SEPARATOR) if result else []
    return [shared.setdefault(w, w) for w in result]


@contextlib.contextmanager
def prepared(analysis: Analysis, documents: Iterable[Document], procs: int = 1,
             progress: bool = False) -> Iterator[PreparedWords]:
    """The words of every field text of these documents, for the block (one build's index writer
    and model); nothing is kept afterwards."""
    words = PreparedWords(analysis)
    texts = words.texts(documents)
    words.learn(texts, _segment_all(analysis, texts, procs, progress))
    yield words


def _segment_all(analysis: Analysis, texts: list[str], procs: int, progress: bool) -> list[list[str]]:
    from tqdm import tqdm

    bar = tqdm(total=len(texts), desc="分词", unit="段", disable=not progress, leave=False)
    if procs > 1 and len(texts) >= PARALLEL_MIN_TEXTS:
        import multiprocessing

        # words come back as fresh strings per text: each text's are replaced by one shared object per
        # distinct word as it arrives, or a 20k-document build would hold (and peak at) tens of millions of
        # string copies
        shared: dict[str, str] = {}
        with multiprocessing.get_context("fork").Pool(procs, initializer=_adopt, initargs=(analysis,)) as pool:
            results = []
            for words in pool.imap(_segment, texts, chunksize=64):
                results.append(_words_of(words, shared))
                bar.update(1)
    else:
        results = []
        for text in texts:
            results.append([w for w, _, _ in analysis.index_tokens(text)])
            bar.update(1)
    bar.close()
    return results
