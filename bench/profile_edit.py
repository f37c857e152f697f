"""Edit → searchable in a running knowledge base, timed and profiled: `python -m bench.profile_edit --size 20000`.

The bench's synthetic corpus is written once as Markdown files into `--home` (default /tmp/kb-edit-<size>)
and built; later runs reuse it. Then, in this process, one KnowledgeBase (as a server holds it) takes a
warm-up edit and `--reps` timed edits along two paths:

- `files`: the server's path — the edited file is written, then `build(lenient=True)` reads the content
  folders (web → editor → IndexWriter.rebuild does exactly this);
- `documents`: the bench's path — `build(documents=edited)` with the documents in memory;
- `new-process`: the documents path with the recommender's cached counts cleared first, as the bench's row
  "caches cleared as in a new process".

Each edit ends when a search for the edit's own new word finds the document. Printed: median wall and
CPU (`time.process_time`) seconds per path; with `--profile`, a cProfile of one more edit per path.
"""
from __future__ import annotations

import argparse
import cProfile
import contextlib
import dataclasses
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

from .measure import Stopwatch


@contextlib.contextmanager
def quiet():
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def _settings(home: Path):
    from kb.config import load_settings

    return load_settings(home, bundled_content=None, editable_content=home / "content")


def prepare(home: Path, size: int, procs: int) -> None:
    """Write the synthetic corpus as content files and build it, unless an earlier run did."""
    from kb.knowledge import KnowledgeBase

    from .corpus import synthetic_documents, write_content_files

    settings = _settings(home)
    if (home / "index" / "CURRENT").is_file():
        return
    print(f"[profile_edit] writing {size} documents into {home / 'content'} …", file=sys.stderr)
    with quiet():
        docs = synthetic_documents(size)
    write_content_files(docs, home / "content")
    print(f"[profile_edit] building ({procs} processes) …", file=sys.stderr)
    with Stopwatch() as sw, quiet():
        knowledge = KnowledgeBase(settings)
        knowledge.build(procs=procs, full=True)
        knowledge.close()
    print(f"[profile_edit] built in {sw.span.wall_s:.1f} s wall, {sw.span.cpu_s:.1f} s CPU", file=sys.stderr)


class Editor:
    """Edits one technology entry of a running knowledge base, a new searchable word each time."""

    def __init__(self, knowledge):
        self.knowledge = knowledge
        rows = knowledge.store.all("technology")
        self.row = rows[len(rows) // 2]
        self.path = Path(self.row.path)
        self.original = self.path.read_text(encoding="utf-8")
        self.documents = None
        self.count = 0

    def _word(self) -> str:
        self.count += 1
        return "测编" + "".join("零一二三四五六七八九"[int(c)] for c in f"{self.count:04d}")

    def _searchable(self, word: str) -> None:
        from kb.search.engine import SearchRequest

        found = self.knowledge.search(SearchRequest(text=word, highlight=False))
        if self.row.id not in {hit.id for hit in found.hits}:
            raise RuntimeError(f"edit not searchable: {word} → {[h.id for h in found.hits][:5]}")

    def edit_file(self) -> None:
        word = self._word()
        self.path.write_text(self.original + f"\n修订{word}：补充余热回收与膜法回用的适用条件。\n", encoding="utf-8")
        report = self.knowledge.build(lenient=True)
        if report.problems:
            raise RuntimeError(f"content problems: {report.problems[:3]}")
        self._searchable(word)

    def edit_documents(self) -> None:
        if self.documents is None:
            from kb.loader import load_content

            self.documents = dict(load_content(self.knowledge.settings.content_dirs).documents)
        word = self._word()
        doc = self.documents[self.row.id]
        self.documents[doc.id] = dataclasses.replace(doc, body=doc.body + f"\n修订{word}：补充适用条件。\n",
                                                     content_hash=f"{doc.content_hash}-{word}")
        self.knowledge.build(documents=self.documents)
        self._searchable(word)

    def edit_in_new_process(self) -> None:
        """The bench's "caches cleared as in a new process": the documents path with the knowledge base's
        term counts forgotten first (what a fresh `kb build` starts with)."""
        self.knowledge.term_counts.clear()
        self.edit_documents()

    def restore(self) -> None:
        self.path.write_text(self.original, encoding="utf-8")


def measure(fn, reps: int) -> dict:
    walls, cpus = [], []
    for _ in range(reps):
        cpu, wall = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3),
            "walls": [round(w, 3) for w in walls], "cpus": [round(c, 3) for c in cpus]}


PHASES = (("kb.build", "load_documents"), ("kb.build", "plan_build"), ("kb.build", "write_index"),
          ("kb.build", "_write_model"), ("kb.build", "atomic_write"), ("kb.build", "GenerationPointer.publish"),
          ("kb.build", "_remove_old_generations"), ("kb.store", "Store.sync"), ("kb.checks", "CrossChecks.__call__"),
          ("kb.loader", "_content_file_names"), ("kb.knowledge", "KnowledgeBase.refresh"),
          ("kb.knowledge", "KnowledgeBase.search"))


def phase_times(fn) -> dict[str, float]:
    """CPU seconds (process_time) and wall seconds spent in each of PHASES during one call of fn, as
    "cpu/wall", without a profiler's overhead (nested phases are counted in both)."""
    import functools
    import importlib

    spent: dict[str, float] = {}
    restore = []
    for module_name, dotted in PHASES:
        owner = importlib.import_module(module_name)
        *outer, name = dotted.split(".")
        for part in outer:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def timed(*args, _original=original, _label=dotted, **kwargs):
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                before = spent.get(_label, (0.0, 0.0))
                spent[_label] = (before[0] + time.process_time() - cpu, before[1] + time.perf_counter() - wall)

        setattr(owner, name, functools.wraps(original)(timed))
        restore.append((owner, name, original))
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        fn()
    finally:
        for owner, name, original in restore:
            setattr(owner, name, original)
    spent["total"] = (time.process_time() - cpu, time.perf_counter() - wall)
    return {k: f"{c:.3f}/{w:.3f}" for k, (c, w) in spent.items()}


def profile(fn, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_edit", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--home", type=Path, default=None, help="instance folder (default /tmp/kb-edit-<size>)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--procs", type=int, default=2, help="processes for the first build")
    parser.add_argument("--paths", default="files,documents",
                        help="which edit paths: files, documents, new-process (documents, counts cleared first)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one more edit per path")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--phases", action="store_true", help="CPU seconds per build phase of one more edit")
    args = parser.parse_args(argv)
    home = (args.home or Path(f"/tmp/kb-edit-{args.size}")).resolve()
    from kb.files import file_lock

    with file_lock(home.parent / f".{home.name}.profile_edit.lock"):   # two runs would edit the same file
        return run(home, args)


def run(home: Path, args) -> int:
    prepare(home, args.size, args.procs)

    from kb.knowledge import KnowledgeBase

    with quiet():
        knowledge = KnowledgeBase(_settings(home))
        # an index built by an older schema, or a home copied from elsewhere (its rows under another
        # namespace): brought up to date here, not timed
        knowledge.ensure_built()
    editor = Editor(knowledge)
    try:
        for path in args.paths.split(","):
            fn = {"files": editor.edit_file, "documents": editor.edit_documents,
                  "new-process": editor.edit_in_new_process}[path]
            first = measure(fn, 1)        # a server's first edit after it started: caches are cold
            result = measure(fn, args.reps)
            print(f"{args.size} docs, {path}: first edit {first['wall_s']} s wall / {first['cpu_s']} s CPU; "
                  f"median of {args.reps}: {result['wall_s']} s wall / {result['cpu_s']} s CPU "
                  f"(walls {result['walls']}, CPU {result['cpus']})")
            if args.phases:
                print(f"{args.size} docs, {path}: seconds by phase, CPU/wall {phase_times(fn)}")
            if args.profile:
                print(profile(fn, args.top))
    finally:
        editor.restore()
        with quiet():
            knowledge.build(lenient=True)
        knowledge.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
