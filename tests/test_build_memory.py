"""A full build's memory: the segmenting workers' words come back compact and are shared as they arrive."""
from __future__ import annotations

import dataclasses
from pathlib import Path

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


HEAP_PROBE = """
import sys
from pathlib import Path
import numpy as np
from kb import index_writer

def rss_mb():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024

if index_writer._malloc_trim() is None:
    print("no-glibc"); sys.exit()
blocks = [np.ones(250_000) for _ in range(30)]       # 60 MB of heap blocks
before = rss_mb()
del blocks
freed = rss_mb()
index_writer.release_free_memory()
print(before, freed, rss_mb())
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from Linux /proc")
def test_the_writer_hands_a_batchs_freed_heap_back():
    """After each batch the index writer calls release_free_memory (glibc's malloc_trim): freed heap memory
    otherwise stays with the process, and a writer kept the peak of its largest batch (issue 19). glibc
    returns some freed memory on its own; the probe turns that off (its thresholds, in its environment) so
    only release_free_memory can hand back the 60 MB it freed."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="4000000000", MALLOC_MMAP_THRESHOLD_="4000000000",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    out = subprocess.run([sys.executable, "-c", HEAP_PROBE], capture_output=True, text=True, env=env, check=True)
    if out.stdout.strip() == "no-glibc":
        pytest.skip("not glibc")
    before, freed, after = map(float, out.stdout.split())
    assert freed > before - 10          # glibc kept the freed blocks
    assert after < freed - 50, (before, freed, after)
