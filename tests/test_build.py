"""`kb build`: atomic generations and incremental re-indexing by content hash."""
from __future__ import annotations

import pytest

from kb.build import BuildError, build, current_generation
from kb.knowledge import KnowledgeBase
from kb.search.engine import SearchRequest
from kb.store import Store

from conftest import technology, write


def test_incremental_build_reindexes_only_the_changed_file(kb, settings, content):
    first = current_generation(settings)
    path = content / "technologies" / "coking-cdq.md"
    path.write_text(path.read_text(encoding="utf-8").replace("省去湿法熄焦用水", "省去湿法熄焦用水和熄焦塔粉尘"), encoding="utf-8")
    report = kb.build()
    assert report.changed == ["coking-cdq"] and not report.full
    assert current_generation(settings) != first
    assert [h.id for h in kb.search(SearchRequest(text="熄焦塔")).hits] == ["coking-cdq"]
    again = kb.build()
    assert again.changed == [] and again.generation == current_generation(settings).name


def test_removed_file_leaves_index_and_store(kb, settings, content):
    (content / "technologies" / "plating-countercurrent-rinse.md").unlink()
    report = kb.build()
    assert report.removed == ["plating-countercurrent-rinse"]
    assert kb.search(SearchRequest(text="逆流漂洗")).total == 0
    assert kb.document("plating-countercurrent-rinse") is None


def test_bad_content_fails_build_and_previous_index_keeps_answering(kb, settings, content):
    live = current_generation(settings)
    write(content, "technologies", "general-bad", technology("general-bad", "坏条目", sectors="[不存在]"))
    with pytest.raises(BuildError) as err:
        build(settings)
    assert "general-bad.md:5: sectors" in str(err.value)
    assert current_generation(settings) == live
    assert kb.search(SearchRequest(text="干熄焦")).hits[0].id == "coking-cdq"


def test_exception_midway_leaves_live_index_and_database_intact(kb, settings, content):
    live = current_generation(settings)
    before = Store.for_settings(settings).get("coking-cdq").content_hash
    path = content / "technologies" / "coking-cdq.md"
    path.write_text(path.read_text(encoding="utf-8").replace("干熄焦", "干法熄焦"), encoding="utf-8")

    def explode(doc):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        build(settings, on_document=explode)
    assert current_generation(settings) == live
    assert [p.name for p in settings.index_root.glob("gen-*")] == [live.name]
    assert Store.for_settings(settings).get("coking-cdq").content_hash == before
    fresh = KnowledgeBase(settings)
    assert fresh.search(SearchRequest(text="干熄焦")).hits[0].id == "coking-cdq"


def test_killed_build_leaves_live_generation(kb, settings, tmp_path):
    """A build killed with SIGKILL mid-way: the pointer still names a complete generation."""
    import os
    import signal
    import subprocess
    import sys

    live = current_generation(settings)
    script = (
        "import time, sys\n"
        "from kb.config import load_settings\n"
        "from kb.build import build\n"
        f"s = load_settings({str(settings.home)!r}, bundled_content={str(settings.content_dirs[0])!r}, "
        f"editable_content={str(settings.editable_content)!r})\n"
        "build(s, full=True, on_document=lambda d: (print('indexing', flush=True), time.sleep(5)))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "indexing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert current_generation(settings) == live
    fresh = KnowledgeBase(settings)
    assert fresh.search(SearchRequest(text="干熄焦")).hits[0].id == "coking-cdq"
    # the next build cleans up the half-written generation and succeeds
    fresh.build(full=True)
    assert len(list(settings.index_root.glob("gen-*"))) <= 2


def test_searcher_picks_up_a_new_generation_without_restart(kb, settings, content):
    assert kb.search(SearchRequest(text="折流板")).total == 0
    write(content, "technologies", "coking-tower-dust", technology(
        "coking-tower-dust", "熄焦塔折流板除尘", sectors="[焦化]", process="熄焦",
        summary="在湿法熄焦塔顶部设置折流板捕集熄焦蒸汽夹带的粉尘。"))
    other = KnowledgeBase(settings)
    other.build()
    assert [h.id for h in kb.search(SearchRequest(text="折流板")).hits] == ["coking-tower-dust"]


def test_a_build_segments_each_field_text_once(kb, settings, content, monkeypatch):
    """The index writer and the recommender model read the same texts; jieba runs once for both, and
    each entry's field values are computed once. The words live for one build: nothing keeps them."""
    import gc
    import weakref
    from collections import Counter

    from kb import fields
    from kb.analysis import Analysis
    from conftest import technology, write

    write(content, "technologies", "general-once", technology("general-once", "一次分词测试条目", body="冷凝水回收与余热利用。"))
    seen: Counter = Counter()
    original = Analysis.index_tokens

    def counting(self, text):
        seen[text] += 1
        return original(self, text)

    fields_of: Counter = Counter()
    original_fields = fields.index_fields

    def counting_fields(doc):
        fields_of[doc.id] += 1
        return original_fields(doc)

    built: list[weakref.ref] = []
    original_init = fields.PreparedWords.__init__

    def remembered(self, analysis):
        built.append(weakref.ref(self))
        original_init(self, analysis)

    monkeypatch.setattr(Analysis, "index_tokens", counting)
    monkeypatch.setattr(fields, "index_fields", counting_fields)
    monkeypatch.setattr(fields.PreparedWords, "__init__", remembered)
    report = kb.build(full=True)
    assert report.full and seen
    assert max(seen.values()) == 1, [t for t, n in seen.items() if n > 1][:3]
    # so are the field values each entry contributes (segmentation, writer and model share them)
    assert fields_of["general-once"] == 1 and max(fields_of.values()) == 1
    assert "一次分词测试条目" in seen
    # one set of prepared words for the build, and none outlives it
    gc.collect()
    assert len(built) == 1 and built[0]() is None
    assert kb.search(SearchRequest(text="一次分词测试")).hits[0].id == "general-once"


def test_a_new_process_reuses_the_live_generations_counts(kb, settings, content, monkeypatch, tmp_path):
    """`kb build` after an edit, in a fresh process: only the edited entry goes through jieba, and the
    model equals the one a full build makes."""
    from collections import Counter

    import numpy as np

    from kb.build import build
    from kb.config import load_settings
    from kb.recommend import model
    from kb import analysis
    from conftest import technology, write

    kb.term_counts.clear()      # as in a new process
    write(content, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        summary="用循环惰性气体冷却红焦，回收显热产生蒸汽发电。", body="编辑后的正文：余热锅炉产生蒸汽，用于发电或供热。"))
    seen: Counter = Counter()
    original = analysis.Analysis.index_tokens

    def counting(self, text):
        seen[text] += 1
        return original(self, text)

    monkeypatch.setattr(analysis.Analysis, "index_tokens", counting)
    report = kb.build()
    assert not report.full and report.changed == ["coking-cdq"]
    # the edited entry's five field texts, and nothing of the entries that did not change
    assert len(seen) == 5 and "干熄焦" in seen and any(t.startswith("编辑后的正文") for t in seen)
    assert "活性炭吸附法有机废气治理" not in seen
    monkeypatch.setattr(analysis.Analysis, "index_tokens", original)

    incremental = model.load_model(settings.index_root / report.generation / "model")
    fresh_settings = load_settings(tmp_path / "fresh", bundled_content=content, editable_content=tmp_path / "e2")
    fresh_report = build(fresh_settings, full=True)
    fresh = model.load_model(fresh_settings.index_root / fresh_report.generation / "model")
    assert incremental.vectorizer.vocabulary_ == fresh.vectorizer.vocabulary_
    assert np.array_equal(incremental.vectorizer.idf_, fresh.vectorizer.idf_)
    assert abs(incremental.tech_matrix - fresh.tech_matrix).max() < 1e-12
    assert incremental.tech_ids == fresh.tech_ids


@pytest.mark.slow
def test_whooshs_writer_processes_tokenise_with_the_builds_analysis(tmp_path):
    """Whoosh's parallel writer re-opens the index by name in each forked process; those processes
    must tokenise with the analysis the build bound (no process-wide one to fall back on)."""
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase
    from conftest import technology, write

    root = tmp_path / "many"
    for i in range(230):       # > 2 batches of 100: two forked writer processes; titles far apart
        title = "".join(chr(0x4E00 + (i * 7919 + k * 104729) % 20000) for k in range(5))
        write(root, "technologies", f"general-many-{i:03d}", technology(f"general-many-{i:03d}", title,
                                                                         body=f"冷凝水余热回收第{i}号"))
    answers = []
    for procs in (1, 2):
        settings = load_settings(tmp_path / f"instance{procs}", bundled_content=root,
                                 editable_content=tmp_path / f"editable{procs}")
        knowledge = KnowledgeBase(settings)
        try:
            knowledge.build(full=True, procs=procs)
            response = knowledge.search(SearchRequest(text="冷凝水余热", per_page=300, highlight=False))
        finally:
            knowledge.close()
        answers.append((response.total, sorted((h.id, h.score) for h in response.hits)))
    assert answers[0][0] == 230 and answers[1] == answers[0]


def test_each_knowledge_base_owns_its_term_counts(kb, settings, content):
    """The recommender's term counts belong to the knowledge base that builds (issue 20): its builds fill
    its own counts, another knowledge base of the same process starts empty, and the model module holds
    no process-wide instance."""
    from kb.recommend import model

    assert not any(isinstance(v, model.TermCounts) for v in vars(model).values())
    kb.build(full=True)
    assert kb.term_counts.rows and all(key[0] for key in kb.term_counts.rows)
    other = KnowledgeBase(settings)
    assert other.term_counts is not kb.term_counts and not other.term_counts.rows
    kb.term_counts.clear()
    assert not kb.term_counts.rows and not kb.term_counts.terms


def test_a_settled_unchanged_file_is_not_read_again(content, monkeypatch):
    """A running server rebuilds on every edit: a file whose stat signature is unchanged since it was read
    settled is taken from the cache without reading it; a file written just now is always read (two writes
    within the file system's timestamp granularity can leave size and mtime unchanged)."""
    import time
    from pathlib import Path

    from kb import loader
    from kb.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    path = write(content, "technologies", "general-settle", technology("general-settle", "沉淀测试工艺甲"))
    reads: list[str] = []
    original = Path.read_bytes

    def counting(self):
        reads.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    assert loader.load_file(path, taxonomy)[0].title == "沉淀测试工艺甲"
    path.write_text(path.read_text(encoding="utf-8").replace("工艺甲", "工艺乙"), encoding="utf-8")   # same size
    assert loader.load_file(path, taxonomy)[0].title == "沉淀测试工艺乙"           # fresh: read again
    monkeypatch.setattr(loader, "SETTLED_NS", 50_000_000)      # settled after 50 ms instead of 2 s
    time.sleep(0.12)
    reads.clear()
    first = loader.load_file(path, taxonomy)
    second = loader.load_file(path, taxonomy)
    assert reads == ["general-settle.md"] and second is first          # read once, then only stat
    path.write_text(path.read_text(encoding="utf-8").replace("工艺乙", "工艺丙"), encoding="utf-8")
    assert loader.load_file(path, taxonomy)[0].title == "沉淀测试工艺丙"          # new ctime: read again


def test_the_watcher_ignores_reads_and_watches_an_editable_folder_made_later(tmp_path, content):
    """A build reads content files; those reads must not ask the watcher for another build (before, every
    build's reads triggered the next one, a rebuild every 0.3 s for as long as the server ran). And the
    editable folder, which the first editor's write creates, is watched from the start."""
    import time

    from kb.config import load_settings
    from kb.index_writer import IndexWriter
    from kb.watch import watch_content

    settings = load_settings(tmp_path / "instance", bundled_content=content, editable_content=tmp_path / "editable")
    knowledge = KnowledgeBase(settings)
    knowledge.build()
    writer = IndexWriter(knowledge)
    watcher = watch_content(writer)
    try:
        for path in sorted(content.rglob("*.md")):
            path.read_bytes()
        time.sleep(1.5)
        assert writer.stats.batches == 0
        write(settings.editable_content, "technologies", "general-watched", technology("general-watched", "监视目录测试工艺"))
        deadline = time.monotonic() + 20

        def found() -> bool:
            return "general-watched" in [h.id for h in knowledge.search(SearchRequest(text="监视目录测试工艺")).hits]

        while time.monotonic() < deadline and not found():
            time.sleep(0.1)
        assert found()
    finally:
        watcher.stop()
        writer.close()
        knowledge.close()


def test_a_build_pauses_the_cyclic_collector_and_restores_it(settings):
    """A build runs with gc off (its short-lived containers would set off collections walking a running
    server's whole heap) and gives it back as it found it, also when the build fails."""
    import gc

    from kb.build import BuildError, build

    seen = []
    assert gc.isenabled()
    build(settings, full=True, on_document=lambda doc: seen.append(gc.isenabled()))
    assert seen and not any(seen) and gc.isenabled()
    (settings.editable_content / "technologies").mkdir(parents=True, exist_ok=True)
    (settings.editable_content / "technologies" / "broken.md").write_text("---\ntype: gadget\n---\n", encoding="utf-8")
    with pytest.raises(BuildError):
        build(settings)
    assert gc.isenabled()
    gc.disable()
    try:
        build(settings, lenient=True)
        assert not gc.isenabled()           # left off when the caller had it off
    finally:
        gc.enable()
