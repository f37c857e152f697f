"""Stored fields read from the generation's segment files (kb/search/whoosh/stored.py), not Whoosh's blobs."""
from __future__ import annotations

import logging
import shutil

from kb.build import current_generation
from kb.search.engine import SearchRequest

from conftest import technology, write


def _whoosh_fields(kb, docnum: int) -> dict:
    return dict(kb.searcher().arrays().searcher.stored_fields(docnum))      # Whoosh's own stored fields


def _every_document_equals_whoosh(kb) -> int:
    arrays = kb.searcher().arrays()
    stored = arrays.stored()
    assert stored is not None
    for docnum in range(arrays.size):
        whoosh = _whoosh_fields(kb, docnum)
        assert stored.fields(docnum, body=True) == {**whoosh, "body": whoosh.get("body", "")}
        whoosh.pop("body", None)
        assert stored.fields(docnum) == whoosh
    return arrays.size


def test_stored_fields_equal_whooshs_for_every_document_across_incremental_builds(kb, content):
    assert _every_document_equals_whoosh(kb) == 5
    (content / "technologies" / "coking-cdq.md").unlink()            # a deletion: its docnum stays in its segment
    write(content, "technologies", "general-rto", technology(
        "general-rto", "蓄热式热力焚烧炉（RTO）处理有机废气", tags="[VOCs, 余热]",
        body="RTO 利用陶瓷蓄热体回收焚烧热量，适用于中高浓度有机废气。"))
    report = kb.build()
    assert not report.full
    kb.refresh()
    assert _every_document_equals_whoosh(kb) >= 6                    # two segments: offsets map docnums right
    hits = kb.search(SearchRequest(text="蓄热式 焚烧", highlight=True)).hits
    assert hits[0].id == "general-rto" and "<mark" in hits[0].snippet
    assert "coking-cdq" not in [h.id for h in kb.search(SearchRequest(text="干熄焦")).hits]


def test_a_generation_without_the_files_lists_hits_from_whoosh_and_says_so(kb, caplog):
    expected = kb.search(SearchRequest(text="余热", highlight=True))
    generation = current_generation(kb.settings)
    kb.close()
    for folder in (generation / "arrays" / "segments").iterdir():
        for path in folder.glob("stored.*"):
            path.unlink()
    from kb.knowledge import KnowledgeBase

    reopened = KnowledgeBase(kb.settings)
    try:
        with caplog.at_level(logging.WARNING, logger="kb.search"):
            answer = reopened.search(SearchRequest(text="余热", highlight=True))
        assert reopened.searcher().arrays().stored() is None
        assert [(h.id, h.title, h.snippet, h.year) for h in answer.hits] == \
            [(h.id, h.title, h.snippet, h.year) for h in expected.hits]
        assert any("没有段的存储字段文件" in r.getMessage() for r in caplog.records)
    finally:
        reopened.close()


def test_a_serving_reader_does_not_copy_its_segments_into_memory(kb):
    """Whoosh opened each file inside a segment's compound file from the mapping as a BytesIO, a copy of the
    file (at 20k entries 31 MB per process that searches never read: postings come from the compiled arrays).
    The serving reader opens the segments without the mapping, so a new generation's first searches and a
    filter read through Whoosh's postings copy no segment file."""
    import tracemalloc

    generation = current_generation(kb.settings)
    segments = sum(p.stat().st_size for p in (generation / "index").glob("*.seg"))
    assert segments > 0
    tracemalloc.start()
    try:
        kb.search(SearchRequest(text="活性炭"))
        kb.search(SearchRequest(text="余热", sectors=["焦化"]))
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    copied = sum(stat.size for stat in snapshot.statistics("filename")
                 if stat.traceback[0].filename.endswith(("structfile.py", "compound.py")))
    assert copied < segments / 3, (copied, segments)       # a copy is about the whole .seg file
