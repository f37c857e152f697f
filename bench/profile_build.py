"""A full build measured as the bench measures it, with where its time and memory go:
`python -m bench.profile_build --size 20000 [--engine kb|fts5] [--procs 2] [--profile] [--memory]`.

The bench's synthetic corpus (bench/corpus.py) is pickled once into `--workdir` (default
/tmp/kb-profile-build-20k for 20000) and reused. Each run is one fresh process (as bench/isolate.py starts a phase) running
exactly the bench's `kb-build` phase (bench/engines.py: documents in memory, `knowledge.build(documents=docs,
procs=N, full=True)` into a new instance folder) or, with `--engine fts5`, its `peer-build` phase. Printed:
wall and CPU (`time.process_time` plus the reaped build workers), peak RSS of the process and of its largest
worker, and for kb a breakdown by build phase (load, analysis, segmentation, index writing, the Whoosh
commit, compiled arrays, recommender model, store, …): each phase's own wall and CPU, nested phases taken
out. `--rss` adds the process's RSS and high-water mark after each phase (/proc/self/status); `--memory` that and a
tracemalloc top of what the main process still holds at the build's peak (tracing slows the build: its
times are not the bench's); `--profile` adds a cProfile of the main process (workers are not profiled).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .measure import children_cpu_s, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent


def corpus_path(workdir: Path, size: int) -> Path:
    """The pickled synthetic corpus of this size, written on first use (the bench's own generator)."""
    path = workdir / f"docs-{size}.pickle"
    if not path.is_file():
        from .corpus import synthetic_documents

        workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stderr(io.StringIO()):
            docs = synthetic_documents(size)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            pickle.dump(docs, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    return path


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


class Phases:
    """Wall and CPU (self + reaped children) of named stretches of a build; a phase inside another is
    taken out of the outer one, so the phases' own times add up to the whole."""

    def __init__(self, memory: bool = False):
        self.memory = memory
        self.rows: dict[str, dict] = {}
        self.order: list[str] = []
        self._stack: list[list[float]] = []

    @contextlib.contextmanager
    def phase(self, name: str):
        wall, cpu = time.perf_counter(), time.process_time() + children_cpu_s()
        self._stack.append([0.0, 0.0])          # nested phases' wall and CPU
        try:
            yield
        finally:
            nested_wall, nested_cpu = self._stack.pop()
            d_wall = time.perf_counter() - wall
            d_cpu = time.process_time() + children_cpu_s() - cpu
            if self._stack:
                self._stack[-1][0] += d_wall
                self._stack[-1][1] += d_cpu
            row = self.rows.get(name)
            if row is None:
                row = self.rows[name] = {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0}
                self.order.append(name)
            row["wall_s"] += d_wall - nested_wall
            row["cpu_s"] += d_cpu - nested_cpu
            row["calls"] += 1
            if self.memory:
                row.update(proc_status())
                row["children_peak_mb"] = peak_rss_mb(__import__("resource").RUSAGE_CHILDREN)

    def wrap(self, owner, attribute: str, name: str) -> None:
        """Time every call of owner.attribute (a module function or a class's method) as phase `name`."""
        original = getattr(owner, attribute)
        phases = self

        def timed(*args, **kwargs):
            with phases.phase(name):
                return original(*args, **kwargs)

        timed.__wrapped__ = original
        setattr(owner, attribute, timed)

    def wrap_context(self, owner, attribute: str, name: str) -> None:
        """Time the entry of a context manager (what runs before its `yield`) as phase `name`."""
        original = getattr(owner, attribute)
        phases = self

        @contextlib.contextmanager
        def timed(*args, **kwargs):
            manager = original(*args, **kwargs)
            with phases.phase(name):
                value = manager.__enter__()
            try:
                yield value
            except BaseException:
                if not manager.__exit__(*sys.exc_info()):
                    raise
            else:
                manager.__exit__(None, None, None)

        setattr(owner, attribute, timed)


def instrument(phases: Phases) -> None:
    """Phases around the build's steps (module attributes looked up at call time)."""
    import kb.build
    import kb.knowledge
    import kb.prepare
    import kb.search.whoosh.writer as whoosh_writer
    from kb.fields import PreparedWords
    from kb.store import Store

    phases.wrap(kb.build, "load_documents", "load and validate documents")
    phases.wrap(kb.build, "refreshed", "analysis (jieba dictionary)")
    phases.wrap(kb.build, "plan_build", "plan")
    phases.wrap(PreparedWords, "texts", "field values and distinct texts")
    phases.wrap(kb.prepare, "_segment_all", "segment texts (jieba, workers)")
    phases.wrap(PreparedWords, "learn", "record segmented words")
    phases.wrap(whoosh_writer.WhooshSnapshotWriter, "__init__", "index: open writer")
    phases.wrap(whoosh_writer.WhooshSnapshotWriter, "upsert", "index: add documents")
    phases.wrap(whoosh_writer.WhooshSnapshotWriter, "commit", "index: Whoosh commit (workers index, merge)")
    phases.wrap(whoosh_writer, "compile_arrays", "index: compile arrays")
    phases.wrap(kb.build, "_write_model", "recommender model")
    phases.wrap(Store, "sync", "store (SQLite)")
    phases.wrap(kb.build, "atomic_write", "meta.json and CURRENT")
    phases.wrap(kb.knowledge.KnowledgeBase, "refresh", "open the new generation")
    phases.wrap(kb.knowledge, "KnowledgeBase", "open knowledge base")     # last: replaces the class


def tracemalloc_top(snapshot, limit: int = 15) -> str:
    lines = []
    for stat in snapshot.statistics("lineno")[:limit]:
        frame = stat.traceback[0]
        lines.append(f"  {stat.size / 1e6:8.1f} MB {stat.count:>9} blocks  {frame.filename}:{frame.lineno}")
    return "\n".join(lines)


def child(params: dict) -> dict:
    """In the fresh process: the bench's phase, instrumented."""
    from . import engines

    phases = Phases(memory=params.get("memory", False) or params.get("rss", False))
    profiler = None
    if params["engine"] == "kb":
        instrument(phases)
    if params.get("memory"):
        import tracemalloc

        tracemalloc.start()
        os.register_at_fork(after_in_child=tracemalloc.stop)    # the build's workers run untraced, at speed
        peak = {"mb": 0.0, "snapshot": None}
        import kb.recommend.model as model

        build_model = model.build_model

        def traced_build_model(*args, **kwargs):
            result = build_model(*args, **kwargs)
            peak["snapshot"] = tracemalloc.take_snapshot()
            peak["mb"] = tracemalloc.get_traced_memory()[0] / 1e6
            return result

        model.build_model = traced_build_model
    if params.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    with phases.phase("whole phase"):
        result = engines.run_phase(params["phase"], params["bench"])
    if profiler is not None:
        import pstats

        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(30)
        result["profile"] = out.getvalue()
    result["phases"] = {name: phases.rows[name] for name in phases.order}
    if params.get("memory"):
        import tracemalloc

        result["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
        if peak["snapshot"] is not None:
            result["tracemalloc_at_model_mb"] = round(peak["mb"], 1)
            result["tracemalloc_top"] = tracemalloc_top(peak["snapshot"])
    return result


def run(engine: str, size: int, procs: int, workdir: Path, profile: bool, memory: bool, rss: bool = False) -> dict:
    """One fresh process running the bench's build phase; its result plus the process tree's CPU."""
    documents = corpus_path(workdir, size)
    if engine == "kb":
        home = workdir / f"kb-home-{size}"
        shutil.rmtree(home, ignore_errors=True)         # a new instance, as every bench run starts
        phase, bench = "kb-build", {"home": str(home), "documents": str(documents), "procs": procs}
    else:
        peer_dir = workdir / f"{engine}-{size}"
        shutil.rmtree(peer_dir, ignore_errors=True)
        phase, bench = "peer-build", {"name": engine, "workdir": str(peer_dir), "documents": str(documents),
                                      "procs": procs}
    params = {"engine": engine, "phase": phase, "bench": bench, "profile": profile, "memory": memory, "rss": rss}
    params_path = workdir / f"profile-{engine}-{size}.json"
    out_path = params_path.with_suffix(".out.json")
    params_path.write_text(json.dumps(params), encoding="utf-8")
    out_path.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "bench.profile_build", "--child", str(params_path),
                                str(out_path)], cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not out_path.is_file():
        raise SystemExit(f"{phase} failed (exit {os.waitstatus_to_exitcode(status)})")
    result = json.loads(out_path.read_text(encoding="utf-8"))
    result["tree_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
    return result


def report(engine: str, size: int, procs: int, result: dict) -> str:
    rss = result.get("rss", {})
    lines = [f"{engine} build, {size} documents, {procs} processes",
             f"  build: {result['build_s']:.1f} s wall, {result['build_cpu_s']:.1f} s CPU (self + workers); "
             f"whole process {result['process_cpu_s']:.1f} s CPU, process tree {result['tree_cpu_s']:.1f} s",
             f"  peak RSS: main {rss.get('build_mb')} MB, largest worker {rss.get('build_children_mb')} MB"]
    if "size_mb" in result:
        lines.append(f"  index size {result['size_mb']} MB")
    phases = result.get("phases") or {}
    if len(phases) > 1:
        memory = any("VmHWM" in row for row in phases.values())
        header = f"  {'phase':46} {'wall s':>7} {'CPU s':>7} {'calls':>6}"
        if memory:
            header += f" {'RSS MB':>7} {'HWM MB':>7} {'workers MB':>10}"
        lines += ["", header]
        for name, row in phases.items():
            line = f"  {name:46} {row['wall_s']:7.2f} {row['cpu_s']:7.2f} {row['calls']:6}"
            if memory:
                line += f" {row.get('VmRSS', 0):7.0f} {row.get('VmHWM', 0):7.0f} {row.get('children_peak_mb', 0):10.0f}"
            lines.append(line)
    if "tracemalloc_top" in result:
        lines += ["", f"tracemalloc: peak {result['tracemalloc_peak_mb']} MB traced; "
                      f"{result['tracemalloc_at_model_mb']} MB held after the model was built, by line:",
                  result["tracemalloc_top"]]
    if "profile" in result:
        lines += ["", result["profile"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        params = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        Path(argv[2]).write_text(json.dumps(child(params)), encoding="utf-8")
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.profile_build", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--engine", choices=("kb", "fts5", "tantivy"), default="kb")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="corpus and instance folder (default /tmp/kb-profile-build-<size>, e.g. -20k)")
    parser.add_argument("--profile", action="store_true", help="cProfile of the main process")
    parser.add_argument("--memory", action="store_true", help="RSS by phase and a tracemalloc top (slower)")
    parser.add_argument("--rss", action="store_true", help="RSS by phase only (no tracemalloc: times stay the bench's)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    label = f"{args.size // 1000}k" if args.size % 1000 == 0 else str(args.size)
    workdir = Path(args.workdir or f"/tmp/kb-profile-build-{label}")
    result = run(args.engine, args.size, args.procs, workdir, args.profile, args.memory, args.rss)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else
          report(args.engine, args.size, args.procs, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
