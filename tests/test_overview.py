"""The home page's overview and content statistics, made from narrowed rows read in batches."""
from __future__ import annotations

from pathlib import Path

from kb.knowledge import Overview

from conftest import write

BUNDLED_SPECS = Path(__file__).resolve().parents[1] / "kb" / "content" / "specs"


def test_the_overview_from_narrowed_rows_equals_one_from_full_rows(kb, content):
    for spec in ("spec-coking-hjt126-2003", "spec-building-cement-2014"):      # one with levels, one citation only
        write(content, "specs", spec, (BUNDLED_SPECS / f"{spec}.md").read_text(encoding="utf-8"))
    kb.build()
    overview = kb.overview()
    full = Overview.from_rows(overview.generation, kb.store.all(), kb.taxonomy)
    assert overview == full
    assert overview.totals == {"technology": 4, "case": 1, "spec": 2}
    assert overview.stats.missing_optional and overview.cases_by_technology
    assert [r.id for r in kb.store.each(batch=2)] == [r.id for r in kb.store.all()]
