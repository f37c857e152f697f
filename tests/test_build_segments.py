"""A full build's index writer (kb/search/whoosh/segments.py): the same segments as Whoosh's own writer,
one per process in document order, in less memory; a failing or killed writer process stops the build."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from whoosh.writing import PostingPool

from kb.analysis import load_analysis
from kb.loader import load_content
from kb.prepare import prepared
from kb.search.whoosh.schema import create_index
from kb.search.whoosh.segments import (CompactPostingPool, CompactSegmentWriter, SegmentWorkerError,
                                       write_segments)


@pytest.fixture(scope="module")
def bundled():
    from kb.config import BUNDLED_CONTENT

    return sorted(load_content([BUNDLED_CONTENT]).documents.values(), key=lambda d: d.id)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    return load_analysis(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def words(analysis, bundled):
    """The bundled entries' field values and words, segmented once for this module's tests."""
    with prepared(analysis, bundled) as words:
        yield words


def _segment_files(folder: Path) -> dict[str, bytes]:
    """A segment's files by what follows the segment's random id in their names."""
    return {p.name.split(".", 1)[1]: p.read_bytes() for p in folder.iterdir()
            if p.name.startswith("MAIN_") and "." in p.name}


def test_the_compact_writer_writes_the_same_bytes_as_whooshs(tmp_path, bundled, analysis, words):
    written = []
    for name, make in (("whoosh", lambda ix: ix.writer(compound=False)),
                       ("compact", lambda ix: CompactSegmentWriter(ix, compound=False))):
        folder = tmp_path / name
        folder.mkdir()
        writer = make(create_index(folder, analysis, words.prepared))
        for doc in bundled:
            writer.add_document(**words.fields(doc))
        writer.commit()
        written.append(_segment_files(folder))
    # postings, terms, stored fields, field lengths, the year column
    assert {"pst", "trm", "_stored.col", "_body_len.col", "_title_len.col", "year.col"} <= set(written[0])
    assert written[0] == written[1]


def test_the_compact_pool_yields_postings_in_the_order_whooshs_pool_sorts_them(tmp_path):
    from whoosh.filedb.filestore import RamStorage

    postings = [("body", b"b", 3, 1.0, b"\x01"), ("body", b"a", 0, 2.0, b"\x02"), ("title", b"a", 1, 1.0, None),
                ("body", b"b", 1, 1.0, b"\x01"), ("body", b"a", 2, 1.0, b"\x01"), ("body", b"b", 1, 0.5, b"\x00")]
    storage = RamStorage()
    theirs, ours = PostingPool(storage, None), CompactPostingPool(storage, None)
    for posting in postings:
        theirs.add(posting)
        ours.add(posting)
    assert list(ours.iter_postings()) == list(theirs.iter_postings()) == sorted(postings)
    assert len(ours) == len(postings) and ours.fieldnames == {"body", "title"}


def _index(folder: Path, analysis, words, documents, procs: int):
    folder.mkdir()
    ix = create_index(folder, analysis, words.prepared)
    write_segments(ix, documents, words.fields, procs)
    return ix


def _contents(ix) -> tuple:
    """Stored fields in document order, every term's postings as (id, weight), and the field lengths."""
    with ix.searcher() as searcher:
        reader = searcher.reader()
        stored = list(reader.all_stored_fields())
        ids = [fields["id"] for fields in stored]
        postings = {}
        for field in ("title", "summary", "tags_text", "process", "body", "sector", "tag", "type", "year"):
            for term in reader.lexicon(field):
                matcher = reader.postings(field, term)
                found = []
                while matcher.is_active():
                    found.append((ids[matcher.id()], matcher.weight()))
                    matcher.next()
                postings[(field, term)] = found
        lengths = {f: reader.field_length(f) for f in ("title", "summary", "body")}
        return stored, postings, lengths


def test_processes_write_one_segment_each_in_document_order(tmp_path, bundled, analysis, words):
    documents = bundled[:150]
    one = _index(tmp_path / "one", analysis, words, documents, 1)
    three = _index(tmp_path / "three", analysis, words, documents, 3)
    single, parallel = _contents(one), _contents(three)
    assert [f["id"] for f in parallel[0]] == [d.id for d in documents]     # document numbers follow the input
    assert parallel == single
    assert len(three.reader().leaf_readers()) == 3


def test_a_failing_writer_process_stops_the_build_with_its_traceback(tmp_path, bundled, analysis, words):
    def fields(doc):
        if doc is bundled[-1]:
            raise ValueError("坏字段")
        return words.fields(doc)

    (tmp_path / "ix").mkdir()
    ix = create_index(tmp_path / "ix", analysis, words.prepared)
    with pytest.raises(SegmentWorkerError, match="坏字段"):
        write_segments(ix, bundled, fields, 2)
    assert ix.doc_count() == 0                           # nothing committed


def test_a_killed_writer_process_stops_the_build(tmp_path, bundled, analysis, words):
    def fields(doc):
        if doc is bundled[-1]:
            os.kill(os.getpid(), signal.SIGKILL)
        return words.fields(doc)

    (tmp_path / "ix").mkdir()
    ix = create_index(tmp_path / "ix", analysis, words.prepared)
    started = time.monotonic()
    with pytest.raises(SegmentWorkerError, match="意外退出"):
        write_segments(ix, bundled, fields, 2)
    assert time.monotonic() - started < 60 and ix.doc_count() == 0


def test_arrays_compiled_in_a_process_of_their_own_are_the_same_files(tmp_path, bundled, analysis, words):
    from kb.fields import FIELD_BOOSTS
    from kb.search.whoosh.arrays import compile_arrays
    from kb.search.whoosh.compile_process import compile_apart

    ix = _index(tmp_path / "index", analysis, words, bundled[:150], 2)
    ix.close()
    compile_arrays(tmp_path / "index", tmp_path / "here", FIELD_BOOSTS)
    compile_apart(tmp_path / "index", tmp_path / "apart", FIELD_BOOSTS)
    here = {p.relative_to(tmp_path / "here"): p.read_bytes() for p in (tmp_path / "here").rglob("*") if p.is_file()}
    apart = {p.relative_to(tmp_path / "apart"): p.read_bytes() for p in (tmp_path / "apart").rglob("*") if p.is_file()}
    assert len(here) > 10 and here == apart


def test_a_failing_compile_process_names_its_error(tmp_path):
    from kb.search.whoosh.compile_process import CompileProcessError, compile_apart

    with pytest.raises(CompileProcessError, match="退出码 1") as raised:
        compile_apart(tmp_path / "no-such-index", tmp_path / "out", ["body"])
    assert "Traceback" in str(raised.value)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to list child processes")
def test_the_compile_process_dies_with_a_killed_build(tmp_path):
    """The process compiling the arrays asks for SIGKILL when its parent dies: here a stand-in interpreter
    that prints its pid and sleeps, started by compile_apart in a parent that is then killed."""
    import subprocess
    import sys

    sleeper = tmp_path / "python"
    pid_file = tmp_path / "child.pid"
    sleeper.write_text(f"#!/bin/sh\necho $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}\nexec sleep 60\n")
    sleeper.chmod(0o755)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from kb.search.whoosh.compile_process import compile_apart\n"
        f"sys.executable = {str(sleeper)!r}\n"
        "compile_apart(Path('index'), Path('arrays'), ['body'])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert Path(f"/proc/{child}").exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        try:        # a zombie has no cmdline left: reaped by init, it is gone
            if not Path(f"/proc/{child}/cmdline").read_bytes():
                break
        except OSError:
            break
        time.sleep(0.05)
    alive = Path(f"/proc/{child}/cmdline").exists() and bool(Path(f"/proc/{child}/cmdline").read_bytes() or b"")
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive
