"""Segment every field text of a build once, for both the index writer and the recommender model.

jieba is most of a build's time, and the writer and the TF-IDF model read the same texts (title,
tags, process, summary, body). A build therefore segments each distinct text once, in `procs`
forked processes for large builds, and leaves the words in `Analysis.prepared`; the Whoosh
tokenizer and `Analysis.words` read them from there. Whoosh's own writer processes are forked after
this step, so they inherit the prepared words instead of running jieba again.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

from ... import analysis as analysis_mod
from ... import fields as fields_mod
from ...documents import Document
from ...fields import PREPARED_FIELDS, index_fields

PARALLEL_MIN_TEXTS = 2000


def _segment(text: str) -> list[str]:
    return [w for w, _, _ in analysis_mod.current().index_tokens(text)]


def field_texts(documents: Iterable[Document]) -> list[str]:
    texts: dict[str, None] = {}
    for doc in documents:
        fields = index_fields(doc)
        for name in PREPARED_FIELDS:
            if isinstance(fields.get(name), str):
                texts[fields[name]] = None
    return list(texts)


@contextlib.contextmanager
def prepared(documents: Iterable[Document], procs: int = 1, progress: bool = False) -> Iterator[int]:
    """Within the block, the analysis knows the words of every field text of these documents."""
    analysis = analysis_mod.current()
    fields_mod._memo = {}
    try:
        texts = [t for t in field_texts(documents) if t not in analysis.prepared]
        analysis.prepared.update(zip(texts, _segment_all(texts, procs, progress)))
        yield len(texts)
    finally:
        analysis.prepared.clear()
        fields_mod._memo = None


def _segment_all(texts: list[str], procs: int, progress: bool) -> list[list[str]]:
    from tqdm import tqdm

    bar = tqdm(total=len(texts), desc="分词", unit="段", disable=not progress, leave=False)
    if procs > 1 and len(texts) >= PARALLEL_MIN_TEXTS:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(procs) as pool:
            results = []
            for words in pool.imap(_segment, texts, chunksize=64):
                results.append(words)
                bar.update(1)
        # words come back as fresh strings per text: share one object per distinct word, or a
        # 100k-document build would hold hundreds of millions of string copies
        shared: dict[str, str] = {}
        results = [[shared.setdefault(w, w) for w in words] for words in results]
    else:
        results = []
        for text in texts:
            results.append(_segment(text))
            bar.update(1)
    bar.close()
    return results
