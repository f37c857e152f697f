"""A full build's memory: the segmenting workers' words come back compact and are shared as they arrive."""
from __future__ import annotations

import dataclasses

import pytest

from kb import prepare
from kb.analysis import load_analysis
from kb.config import BUNDLED_CONTENT
from kb.fields import PreparedWords
from kb.loader import load_content


@pytest.fixture(scope="module")
def documents():
    docs = sorted(load_content([BUNDLED_CONTENT]).documents.values(), key=lambda d: d.id)[:40]
    # a text holding the separator the workers join words with still comes back word for word
    odd = dataclasses.replace(docs[0], id="odd", body=docs[0].body + "\n余热\x00回收利用", content_hash="odd")
    return docs + [odd]


def test_parallel_segmentation_gives_the_serial_words_one_object_per_distinct_word(tmp_path, documents,
                                                                                    monkeypatch):
    analysis = load_analysis(tmp_path / "cache")
    texts = PreparedWords(analysis).texts(documents)
    with prepare.prepared(analysis, documents, procs=1) as serial:
        expected = {t: serial.prepared(t) for t in texts}
    monkeypatch.setattr(prepare, "PARALLEL_MIN_TEXTS", 1)
    with prepare.prepared(analysis, documents, procs=2) as parallel:
        found = {t: parallel.prepared(t) for t in expected}
        every = [w for words in found.values() for w in words]
    assert found == expected and any("\x00" in t for t in found)
    objects: dict[str, int] = {}
    assert all(objects.setdefault(w, id(w)) == id(w) for w in every)      # no copies of a word


def test_a_workers_joined_words_split_back_exactly():
    shared: dict[str, str] = {}
    assert prepare._words_of("余热\x00回收\x00余热", shared) == ["余热", "回收", "余热"]
    assert prepare._words_of("", shared) == []
    assert prepare._words_of(["a\x00b"], shared) == ["a\x00b"]
