"""Serving memory by step in one process: `python -m bench.rss_steps --home /tmp/kb-edit-20000`.

Opens a built instance (bench.profile_edit writes one) as one server process holds it and prints, after
each step, VmRSS and VmHWM (peak) from /proc/self/status, split into anonymous (private) and file-backed
(memory-mapped files, shared by every process serving the generation) pages: opening the knowledge base,
searches, highlighted searches, the recommender, recommendations, and optionally the index writer's
batches (`--edits N`: in the same process, as `kb serve` holds its writer where it has no writer process;
with `--writer-only`, no reads: what kb serve's writer process holds, kb/writer_process.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def status() -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon and RssFile in MB."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def mapped_files(top: int = 12) -> list[tuple[str, float]]:
    """The memory-mapped files holding the most resident pages (MB), from /proc/self/smaps."""
    sizes: dict[str, float] = {}
    name = None
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                name = head[5] if len(head) > 5 else "[anon]"
            elif head and head[0] == "Rss:" and name and name.startswith("/"):
                sizes[name] = sizes.get(name, 0) + int(head[1]) / 1024
    return sorted(((Path(k).parent.name + "/" + Path(k).name, round(v, 1)) for k, v in sizes.items()),
                  key=lambda kv: -kv[1])[:top]


def report(step: str) -> None:
    s = status()
    print(f"{step:<34} rss {s['VmRSS']:>7} MB (anon {s['RssAnon']:>7}, file {s['RssFile']:>6})  peak {s['VmHWM']:>7} MB",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rss_steps", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--edits", type=int, default=0, help="index-writer batches after the reads")
    parser.add_argument("--writer-only", action="store_true",
                        help="no reads: the process only builds, as kb serve's writer process (kb/writer_process.py)")
    args = parser.parse_args(argv)
    report("start")
    from kb.config import load_settings
    from kb.knowledge import KnowledgeBase
    from kb.recommend.profile import parse_profile
    from kb.search.engine import SearchRequest

    from .__main__ import profiles, workload

    report("imports")
    queries, asks = workload(args.queries), profiles()
    home = args.home.resolve()
    knowledge = KnowledgeBase(load_settings(home, bundled_content=None, editable_content=home / "content"))
    knowledge.refresh()
    report("knowledge base open")
    if args.writer_only:
        queries, asks = [], []
    for q in queries:
        knowledge.search(SearchRequest(text=q, highlight=False))
    report(f"{len(queries)} searches")
    for q in queries:
        knowledge.search(SearchRequest(text=q, highlight=True))
    report(f"{len(queries)} highlighted searches")
    print("  mapped files:", mapped_files(), flush=True)
    if not args.writer_only:
        recommender = knowledge.recommender()
        report("recommender loaded")
        for p in asks:
            recommender.recommend(parse_profile(p, knowledge.taxonomy))
        report(f"{len(asks)} recommendations")
        print("  mapped files:", mapped_files(), flush=True)
    if args.edits:
        from kb.index_writer import IndexWriter

        writer = IndexWriter(knowledge)
        row = knowledge.store.all("technology")[0]
        path = Path(row.path)
        original = path.read_text(encoding="utf-8")
        try:
            writer.rebuild(timeout=600)
            report("writer warm (first batch)")
            for k in range(args.edits):
                path.write_text(original + f"\n修订{k}：补充适用条件。\n", encoding="utf-8")
                writer.rebuild(timeout=600)
                report(f"edit {k + 1}")
            if not args.writer_only:
                for q in queries:
                    knowledge.search(SearchRequest(text=q, highlight=True))
                knowledge.recommender().recommend(parse_profile(asks[0], knowledge.taxonomy))
                report("reads after the edits")
        finally:
            path.write_text(original, encoding="utf-8")
            writer.rebuild(timeout=600)
            writer.close()
    knowledge.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
