"""The bundled knowledge base itself: it validates, and each sector has what an auditor needs."""
from __future__ import annotations

from collections import Counter

import pytest

from kb.config import BUNDLED_CONTENT
from kb.glossary import load_glossary
from kb.loader import load_content
from kb.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def bundled():
    return load_content([BUNDLED_CONTENT])


def test_bundled_content_passes_check(bundled):
    assert [str(p) for p in bundled.problems] == []


def test_every_key_sector_has_at_least_15_technologies_and_30_cross_sector(bundled):
    counts = Counter(s for d in bundled.documents.values() if d.type == "technology" for s in d.sectors)
    short = {s: counts[s] for s in load_taxonomy().key_sectors if counts[s] < 15}
    assert short == {}
    assert counts["通用"] >= 30


def test_at_least_40_cases_each_linking_a_technology_and_citing_a_source(bundled):
    cases = [d for d in bundled.documents.values() if d.type == "case"]
    assert len(cases) >= 40
    assert all(d.meta.get("technologies") or d.meta.get("related_technologies") for d in cases)
    # most cases cite what their source says was done, not only an editor's association
    assert sum(1 for d in cases if d.meta.get("technologies")) >= len(cases) // 2


def test_at_least_300_technologies_and_3_cases_per_key_sector(bundled):
    technologies = [d for d in bundled.documents.values() if d.type == "technology"]
    assert len(technologies) >= 300
    cases = Counter(s for d in bundled.documents.values() if d.type == "case" for s in d.sectors)
    assert {s: cases[s] for s in load_taxonomy().key_sectors if cases[s] < 3} == {}


def test_every_entry_names_its_source_kind(bundled):
    assert all(d.source.get("kind") and d.source.get("title") and d.source.get("year") for d in bundled.documents.values())


def test_plating_2015_spec_has_the_limiting_indicator(bundled):
    spec = bundled.documents["spec-plating-2015"]
    limiting = [i["name"] for i in spec.meta["indicators"] if i.get("limiting")]
    assert "单位产品每次清洗取水量" in "".join(limiting)


def test_glossary_size():
    glossary = load_glossary()
    assert len(glossary.terms) >= 300 and len(glossary.synonym_groups) >= 60
    for abbreviation in ("VOCs", "RTO", "RCO", "SCR", "SNCR", "MVR", "MBR", "CDQ", "TRT", "FGD", "LDAR"):
        assert glossary.synonyms_of(abbreviation), abbreviation
