"""One engine's measures in a process of its own: `python -m bench.engines PHASE PARAMS.json OUT.json`.

The bench runs every phase here in a fresh interpreter (bench/isolate.py), one at a time, so one engine's
memory, garbage collector, caches and threads cannot slow another's, and each phase's peak RSS is its own:

- `kb-build`, `peer-build`: build the index from the pickled synthetic corpus (`procs` processes);
- `kb-serve`, `peer-serve`: open what the build wrote, time searches (plain and highlighted) and for kb
  recommendations (peak RSS taken here: serving), then time edit → searchable (peak RSS again: editing);
- `kb-corpus` (untimed): the home's index back to its content files, and the probe totals its servers
  must answer (the peer's come from `peer-serve`).

Each phase writes a JSON object; times carry wall and CPU (bench/measure.py).
"""
from __future__ import annotations

import contextlib
import io
import json
import pickle
import sys
from pathlib import Path

from .measure import Stopwatch, children_cpu_s, median_span, peak_rss_mb, timed

EDITS = 3


@contextlib.contextmanager
def quiet():
    """jieba prints its dictionary loading on stderr; keep the bench's output readable."""
    with contextlib.redirect_stderr(io.StringIO()):
        yield


def load_documents(path: str | Path) -> dict:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def dir_mb(path: Path) -> float:
    path = Path(path)
    if path.is_file():
        return round(path.stat().st_size / 1e6, 2)
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6, 2)


def edited_documents(docs: dict, salt: str = "") -> list:
    """The same EDITS saves for every engine: one technology entry gains a sentence each time."""
    import dataclasses

    doc = next(d for d in docs.values() if d.type == "technology")
    return [dataclasses.replace(doc, body=doc.body + f"\n\n修订{salt}{k}：补充余热回收与膜法回用的适用条件。",
                                content_hash=f"{doc.content_hash}-edit{salt}{k}") for k in range(EDITS)]


def _span(prefix: str, span) -> dict:
    return {f"{prefix}_s": round(span.wall_s, 3), f"{prefix}_cpu_s": round(span.cpu_s, 3)}


# -- kb -------------------------------------------------------------------------------------------------
def _kb_settings(home: str):
    from kb.config import load_settings

    return load_settings(home, bundled_content=None, editable_content=Path(home) / "content")


def kb_build(params: dict) -> dict:
    import kb.build as kb_build_mod
    from kb.knowledge import KnowledgeBase

    docs = load_documents(params["documents"])
    settings = _kb_settings(params["home"])
    phases: dict[str, float] = {}
    original = getattr(kb_build_mod, "write_index", None)

    def timed_write_index(*args, **kwargs):
        with Stopwatch() as sw:
            result = original(*args, **kwargs)
        phases["index_s"] = sw.span.wall_s
        return result

    if original is not None:
        kb_build_mod.write_index = timed_write_index
    try:
        with Stopwatch() as sw:
            knowledge = KnowledgeBase(settings)
            knowledge.build(documents=docs, procs=params["procs"], full=True)
    finally:
        if original is not None:
            kb_build_mod.write_index = original
    generation = knowledge.generation
    knowledge.close()
    segments = generation / "arrays" / "segments"
    stored_mb, cache_mb = _stored_mb(segments), dir_mb(segments)
    return {
        **_span("build", sw.span),
        "index_s": round(phases.get("index_s", sw.span.wall_s), 3),
        # what search reads (the segments' stored-field files included); the rest of the per-segment build
        # cache (arrays/segments) is reported apart
        "size_mb": round(dir_mb(generation / "index") + dir_mb(generation / "arrays") - cache_mb + stored_mb, 2),
        "segment_cache_mb": round(cache_mb - stored_mb, 2),
        "rss": {"build_mb": peak_rss_mb(), "build_children_mb": _children_rss()},
    }


def _stored_mb(segments: Path) -> float:
    return round(sum(p.stat().st_size for p in segments.glob("*/stored.*")) / 1e6, 2) if segments.is_dir() else 0.0


def _children_rss() -> float:
    import resource

    return peak_rss_mb(resource.RUSAGE_CHILDREN)


def kb_serve(params: dict) -> dict:
    from kb.knowledge import KnowledgeBase
    from kb.recommend.profile import parse_profile
    from kb.search.engine import SearchRequest

    queries, profiles = params["queries"], params["profiles"]
    knowledge = KnowledgeBase(_kb_settings(params["home"]))
    result: dict = {}
    result["search"] = timed(lambda q: knowledge.search(SearchRequest(text=q, highlight=False)), queries)
    result["search_highlight"] = timed(lambda q: knowledge.search(SearchRequest(text=q, highlight=True)), queries)
    recommender = knowledge.recommender()
    taxonomy = getattr(knowledge, "taxonomy", None)
    result["recommend"] = timed(lambda p: recommender.recommend(parse_profile(p, taxonomy)), profiles)
    result["rss"] = {"serve_mb": peak_rss_mb()}

    docs = load_documents(params["documents"])
    edited = dict(docs)

    def save(doc) -> None:
        edited[doc.id] = doc
        knowledge.build(documents=edited)

    result.update(_span("edit", median_span(save, edited_documents(docs))))

    def save_in_new_process(doc) -> None:
        knowledge.term_counts.clear()       # what a fresh `kb build` starts with
        save(doc)

    result.update(_span("edit_new_process", median_span(save_in_new_process, edited_documents(docs, salt="new"))))
    result["rss"]["edit_mb"] = peak_rss_mb()
    knowledge.close()
    return result


def kb_corpus(params: dict) -> dict:
    """What a server of this home must answer: first the index is brought back to the content files (the
    kb-serve phase's edits were in memory only; this is what a writer batch over the files does), then the
    totals of the browse-everything search ("": the document count) and of up to `count` workload queries
    that match some documents but not all (so another corpus, e.g. with the bundled entries, answers
    otherwise)."""
    from kb.documents import TYPE_FOLDERS
    from kb.knowledge import KnowledgeBase
    from kb.search.engine import SearchRequest

    knowledge = KnowledgeBase(_kb_settings(params["home"]))
    knowledge.build(documents=load_documents(params["documents"]))
    every = knowledge.search(SearchRequest(text="", types=list(TYPE_FOLDERS), highlight=False)).total
    probes = {"": every}
    for q in params["candidates"]:
        total = knowledge.search(SearchRequest(text=q, highlight=False)).total
        if 0 < total < every:
            probes[q] = total
        if len(probes) > params["count"]:
            break
    knowledge.close()
    return {"probes": probes}


# -- peers ----------------------------------------------------------------------------------------------
def _peer(params: dict, analysis):
    from .peers import available_peers, kb_tokens

    peer_cls = next(p for p in available_peers() if p.name == params["name"])
    workdir = Path(params["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    return peer_cls(workdir, kb_tokens(analysis))


def _analysis(params: dict):
    from .peers import kb_analysis

    return kb_analysis(Path(params["workdir"]) / "cache")


def peer_build(params: dict) -> dict:
    docs = load_documents(params["documents"])
    with Stopwatch() as sw:
        analysis = _analysis(params)          # kb's build loads its dictionary inside its timed build too
        peer = _peer(params, analysis)
        _, size_mb = peer.build(docs.values(), procs=params["procs"])
    peer.close()
    return {**_span("build", sw.span), "size_mb": round(size_mb, 2),
            "rss": {"build_mb": peak_rss_mb(), "build_children_mb": _children_rss()}}


def peer_serve(params: dict) -> dict:
    peer = _peer(params, _analysis(params))
    peer.open()
    tokens = peer.tokens
    result: dict = {}
    result["search"] = timed(lambda q: peer.search(tokens.query(q)), params["queries"])
    result["search_highlight"] = timed(lambda q: peer.search_highlight(tokens.query(q)), params["queries"])
    result["rss"] = {"serve_mb": peak_rss_mb()}
    docs = load_documents(params["documents"])
    result.update(_span("edit", median_span(peer.edit, edited_documents(docs))))
    result["rss"]["edit_mb"] = peak_rss_mb()
    if params.get("display") and hasattr(peer, "add_display_table"):
        peer.add_display_table(docs.values())      # for the HTTP baseline, after every timed measure
        # what its server must answer (bench/http_load.py compares): the totals of the same probe queries
        result["probes"] = {q: peer.search_page(tokens.query(q))[0] for q in params.get("probes", [])}
    peer.close()
    return result


PHASES = {"kb-build": kb_build, "kb-serve": kb_serve, "kb-corpus": kb_corpus, "peer-build": peer_build, "peer-serve": peer_serve}


def run_phase(phase: str, params: dict) -> dict:
    """Run one phase and add the process's totals: CPU of the whole process (self + reaped children)."""
    import time

    with quiet():
        result = PHASES[phase](params)
    result["process_cpu_s"] = round(time.process_time() + children_cpu_s(), 3)
    return result


def main(argv: list[str]) -> int:
    phase, params_path, out_path = argv
    params = json.loads(Path(params_path).read_text(encoding="utf-8"))
    result = run_phase(phase, params)
    Path(out_path).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
