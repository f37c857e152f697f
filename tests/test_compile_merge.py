"""The build-time merge of per-segment postings (kb/search/whoosh/arrays.py `_merge_field`) against a plain
per-term reference: same vocabulary order, postings, and bit-identical BM25F scores, with deleted documents
in several segments, terms only some segments hold, and terms whose postings are all deleted."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kb.search.whoosh import arrays
from kb.search.whoosh.internals import bm25, idf

FIELD = "body"


def _segment(folder, postings: dict[str, list[tuple[int, int]]], lengths: list[float]):
    """Write one segment's raw arrays as _extract_segment does: terms in lexicon order, local docnums."""
    folder.mkdir(parents=True)
    vocab = sorted(postings)
    indptr, ids, tf = [0], [], []
    for term in vocab:
        for doc, freq in postings[term]:
            ids.append(doc)
            tf.append(freq)
        indptr.append(len(ids))
    (folder / f"{FIELD}.vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    np.save(folder / f"{FIELD}.indptr.npy", np.asarray(indptr, dtype=np.int64))
    np.save(folder / f"{FIELD}.ids.npy", np.asarray(ids, dtype=np.int32))
    np.save(folder / f"{FIELD}.tf.npy", np.asarray(tf, dtype=np.float32))
    np.save(folder / f"{FIELD}.lengths.npy", np.asarray(lengths, dtype=np.float64))


def _reference(segments, postings_of, live, size, avgfl, b, k1):
    """Term by term: the vocabulary in first-appearance order, each term's live postings in docnum order."""
    order: list[str] = []
    for postings in postings_of:
        order += [t for t in sorted(postings) if t not in order]
    lengths = np.concatenate([np.load(folder / f"{FIELD}.lengths.npy") for folder, _, _ in segments])
    vocab, indptr, ids, scores = [], [0], [], []
    for term in order:
        docs = [(offset + d, f) for (_, offset, _), postings in zip(segments, postings_of) for d, f in postings.get(term, [])]
        term_idf = idf(size, np.array([len(docs)]))[0]
        kept = [(d, f) for d, f in docs if live[d]]
        if not kept:
            continue
        vocab.append(term)
        for d, f in kept:
            ids.append(d)
            scores.append(float(bm25(term_idf, np.array([float(f)]), np.array([lengths[d]]), avgfl, b, k1)[0]))
        indptr.append(len(ids))
    return vocab, indptr, ids, scores


# postings scored and placed in chunks: one posting, chunks that end inside a run, one chunk per segment
@pytest.mark.parametrize("chunk", [1, 2, 3, arrays.CHUNK_POSTINGS])
def test_merge_equals_a_per_term_reference(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(arrays, "CHUNK_POSTINGS", chunk)
    postings_of = [
        {"余热": [(0, 2), (2, 1), (3, 4)], "回收": [(1, 1), (3, 1)], "膜法": [(2, 3)], "旧词": [(1, 1)]},
        {"回收": [(0, 2)], "新词": [(0, 1), (1, 5)], "余热": [(1, 1)]},
        {"膜法": [(0, 1)], "余热": [(0, 1)], "孤词": [(0, 2)]},
        # a new term that sorts before a known one: the segment's postings are not in global term order
        {"乙词": [(0, 1), (1, 2)], "余热": [(0, 2)], "膜法": [(1, 1)]},
    ]
    counts = [4, 2, 1, 2]
    segments, offset = [], 0
    for k, (postings, count) in enumerate(zip(postings_of, counts)):
        folder = tmp_path / f"seg{k}"
        _segment(folder, postings, [float(3 + k + d) for d in range(count)])
        segments.append((folder, offset, count))
        offset += count
    size = offset
    live = np.ones(size, dtype=bool)
    live[[1, 4, 6]] = False      # 旧词 only in a deleted document; 孤词 likewise; deletions in every segment
    avgfl, b, k1 = 4.25, 0.75, 1.2
    vocab, indptr, ids, scores = arrays._merge_field(FIELD, segments, live, arrays.bm25_scorer(size, avgfl, b, k1))
    expected = _reference(segments, postings_of, live, size, avgfl, b, k1)
    assert vocab == expected[0]
    assert indptr.tolist() == expected[1]
    assert ids.dtype == np.int32 and ids.tolist() == expected[2]
    assert scores.dtype == np.float64 and scores.tolist() == expected[3]     # bit for bit, not approximately


def test_merge_of_unscored_field_keeps_frequencies(tmp_path):
    _segment(tmp_path / "a", {"x": [(0, 3), (1, 1)]}, [1.0, 1.0])
    _segment(tmp_path / "b", {"x": [(0, 2)], "y": [(0, 7)]}, [1.0])
    segments = [(tmp_path / "a", 0, 2), (tmp_path / "b", 2, 1)]
    live = np.array([True, False, True])
    vocab, indptr, ids, scores = arrays._merge_field(
        FIELD, segments, live, lambda df: lambda part, first, ids, tf: np.asarray(tf, dtype=np.float64))
    assert vocab == ["x", "y"] and indptr.tolist() == [0, 2, 3]
    assert ids.tolist() == [0, 2, 2] and scores.tolist() == [3.0, 2.0, 7.0]


def test_compiled_facets_equal_the_facets_read_from_whoosh(kb, content):
    """After an incremental build (a deleted entry in the old segment, a new segment), each compiled facet
    is what IndexArrays reads from Whoosh's own postings and columns."""
    from whoosh import index as whoosh_index

    from conftest import technology, write

    (content / "technologies" / "coking-cdq.md").unlink()
    write(content, "technologies", "general-rto", technology(
        "general-rto", "蓄热式热力焚烧炉（RTO）", sectors="[通用, 化工]", tags="[VOCs, 余热]", category="末端治理",
        body="RTO 利用陶瓷蓄热体回收焚烧热量，适用于中高浓度有机废气。"))
    assert not kb.build().full
    generation = kb.generation
    ix = whoosh_index.open_dir(str(generation / "index"))
    try:
        with ix.searcher() as searcher:
            assert any(r.has_deletions() for r, _ in searcher.reader().leaf_readers())
            from_whoosh = arrays.IndexArrays(searcher)            # no compiled folder: Whoosh's postings
            for name in arrays.COMPILED_FACETS:
                compiled = arrays.load_compiled_facet(generation / "arrays", name, searcher.doc_count_all())
                expected = from_whoosh.facet(name)
                assert compiled is not None, name
                assert compiled.values == expected.values, name
                assert compiled.indptr.tolist() == expected.indptr.tolist(), name
                assert compiled.value_ids.tolist() == expected.value_ids.tolist(), name
    finally:
        ix.close()
    assert kb.searcher().arrays().facet("sector").values == expected_sector_values(kb)


def expected_sector_values(kb):
    """The sector values the live index holds, read through Whoosh's lexicon."""
    reader = kb.searcher().arrays().searcher.reader()
    return sorted({reader.schema["sector"].from_bytes(b) for b in reader.lexicon("sector")})
