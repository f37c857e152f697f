"""An edit writes what changed of the recommender's counts: the base file is shared by hard link with the
previous generation and only the edited rows go to a small file of their own; a new process reads both."""
from __future__ import annotations

import os

import numpy as np

from kb.recommend import counts as counts_mod
from kb.recommend.model import load_model

from conftest import technology, write


def _edit(content, body: str) -> None:
    write(content, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        summary="用循环惰性气体冷却红焦，回收显热产生蒸汽发电。", body=body))


def test_an_edit_links_the_counts_base_and_writes_only_the_edited_row(kb, settings, content):
    first = kb.generation / "model"
    _edit(content, "编辑后的正文：余热锅炉产生蒸汽，用于发电或供热。")
    second = settings.index_root / kb.build().generation / "model"
    assert os.path.samefile(first / counts_mod.COUNTS_FILE, second / counts_mod.COUNTS_FILE)
    delta = np.load(second / counts_mod.COUNTS_DELTA_FILE)
    assert [k.split("\x1f")[0] for k in delta["keys"].tolist()] == ["coking-cdq"]

    rows = {k: (v[0].copy(), v[1].copy()) for k, v in kb.term_counts.rows.items()}
    infos = dict(kb.term_counts.infos)
    fresh = counts_mod.TermCounts()            # a new process reads the generation's base and delta
    fresh.warm(second)
    for key, (ids, values) in rows.items():
        assert [fresh.terms[i] for i in fresh.rows[key][0]] == [kb.term_counts.terms[i] for i in ids]
        assert fresh.rows[key][1].tolist() == values.tolist()
        assert fresh.infos[key] == infos[key]

    # a second edit of the same entry: the delta holds its new row only; the model reads its fields back
    _edit(content, "再次编辑：余热锅炉产生蒸汽。")
    base = os.stat(second / counts_mod.COUNTS_FILE).st_ino
    third = settings.index_root / kb.build().generation / "model"
    assert os.stat(third / counts_mod.COUNTS_FILE).st_ino == base
    assert np.load(third / counts_mod.COUNTS_DELTA_FILE)["keys"].shape == (1,)
    data = load_model(third)
    assert "coking-cdq" in data.tech_ids and data.tech_info[data.tech_ids.index("coking-cdq")]["process"] == "熄焦"


def test_the_base_is_written_afresh_when_the_changed_rows_outgrow_their_share(kb, settings, content, monkeypatch):
    monkeypatch.setattr(counts_mod, "DELTA_MIN_ROWS", 0)
    monkeypatch.setattr(counts_mod, "DELTA_SHARE", 0.0)
    first = kb.generation / "model"
    _edit(content, "编辑后的正文：余热锅炉产生蒸汽，用于发电或供热。")
    second = settings.index_root / kb.build().generation / "model"
    assert not os.path.samefile(first / counts_mod.COUNTS_FILE, second / counts_mod.COUNTS_FILE)
    assert not (second / counts_mod.COUNTS_DELTA_FILE).exists()
