"""The Whoosh adapter (kb/search/whoosh/): private internals in one checked place, slow paths that say so."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

import kb
from kb.build import current_generation
from kb.search.backend import open_searcher
from kb.search.engine import SearchRequest

PRIVATE = re.compile(r"W3LeafMatcher|\._read_ids|\._read_weights|\._next_block|\._lastblock|_field_B")


def test_whoosh_private_internals_are_touched_in_one_module_only():
    root = Path(kb.__file__).parent
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if PRIVATE.search(p.read_text(encoding="utf-8")))
    assert users == ["search/whoosh/internals.py"]


def test_an_unverified_whoosh_version_is_refused_by_name():
    from kb.search.whoosh.internals import UnsupportedWhoosh, check_version

    check_version((2, 7, 5))
    with pytest.raises(UnsupportedWhoosh, match=r"2\.7\.6") as raised:
        check_version((2, 7, 6))
    assert isinstance(raised.value, ImportError)        # the adapter does not import at all


def _answer(response):
    return response.total, [(h.id, round(h.score, 6)) for h in response.hits], response.facets


def test_missing_compiled_arrays_are_logged_with_the_reason_and_answer_alike(kb, settings, caplog):
    generation = current_generation(settings)
    request = SearchRequest(text="余热 回收", per_page=20)
    expected = _answer(kb.search(request))
    (generation / "arrays" / "meta.json").write_text("{ not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kb.search"):
        searcher = open_searcher(generation / "index", kb.analysis)
        try:
            assert _answer(searcher.search(request)) == expected
            searcher.search(SearchRequest(text="干熄焦"))
        finally:
            searcher.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "kb.search"]
    assert len(warnings) == 1 and "JSONDecodeError" in warnings[0] and "arrays" in warnings[0]


def test_stale_compiled_arrays_are_logged_and_not_used(kb, settings, caplog):
    generation = current_generation(settings)
    meta = generation / "arrays" / "meta.json"
    meta.write_text(meta.read_text(encoding="utf-8").replace('"size": ', '"size": 1'), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kb.search"):
        searcher = open_searcher(generation / "index", kb.analysis)
        try:
            assert searcher.search(SearchRequest(text="干熄焦")).hits[0].id == "coking-cdq"
        finally:
            searcher.close()
    assert any("不符" in r.getMessage() for r in caplog.records if r.name == "kb.search")
