"""The node's index writer in a process of its own, beside the processes that serve (`kb serve` on Linux).

A batch build holds what serving does not need: every content file parsed and checked (the first batch
after a start reads them all), the recommender's term counts, a segment merge and a model refit at a time.
At 20,000 entries that was about +210 MB after the first batch and +450 MB at an edit's peak, in the one
process that also served, so `kb serve --workers 1` peaked near 1 GB with edits and each CPU spike of a
batch stalled that process's requests. Here the writer is a process started before the servers (a new
program, so it inherits none of the starting command's memory): it wins the node's writer election
(kb/shared_writer.py) and answers the serving processes over the same socket as a writer worker did. The
serving processes keep standing for election, so if the writer process dies one of them takes over, as
before; the writer process exits with the command (SIGTERM at exit, and the kernel's SIGKILL if the command
dies first: PR_SET_PDEATHSIG).

Linux only (an abstract socket, PR_SET_PDEATHSIG); elsewhere `kb serve` keeps the writer in its process.
"""
from __future__ import annotations

import atexit
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("kb.writer_process")
READY_SECONDS = 120.0
READY = b"ready\n"


def supported() -> bool:
    return sys.platform.startswith("linux")


def start(settings, watch: bool) -> subprocess.Popen:
    """Start the writer process (`python -m kb.writer_process`, its settings pickled on stdin) and wait until
    it holds the node's writer lock, or stands by behind another `kb serve`'s writer; stopped at exit.
    A plain subprocess rather than multiprocessing's spawn, which adds a resource-tracker process."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    process = subprocess.Popen([sys.executable, "-m", "kb.writer_process"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=env)
    atexit.register(stop, process)
    process.stdin.write(pickle.dumps((settings, watch, os.getpid())))
    process.stdin.close()
    deadline = time.monotonic() + READY_SECONDS
    while True:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready and process.stdout.readline() == READY:
            process.stdout.close()
            return process
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"索引写入进程未能启动（退出码 {process.returncode}）")


def stop(process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Ask the writer to finish the batch it is building, then wait for it (killed after `timeout`)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def preload(knowledge) -> None:
    """Load now what an editor's first publish would otherwise wait for: scikit-learn, which refits the
    recommender (its import took 1.1 of the 2.2 s the first edit after a start took at 20k entries), and
    the jieba dictionary the edited text is segmented with. The writer process needs both for every edit."""
    from .recommend.model import tfidf_transformer_class

    tfidf_transformer_class()
    knowledge.analysis.tokenizer


def _lock_taken(path) -> bool:
    """Whether another process holds the node's writer lock now."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def _main(settings, watch: bool, parent: int) -> None:
    """In the writer process: stand for election (the lock is free: the servers start after `ready`), warm
    the writer, watch the content folders if asked, and answer the serving processes until stopped."""
    from .instance_secret import ensure_secret_key
    from .knowledge import KnowledgeBase
    from .shared_writer import SharedIndexWriter
    from .index_writer import start_writing
    from .workers import die_with_parent

    die_with_parent(parent)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))      # unwinds to the finally below

    told = []

    def ready() -> None:
        """Tell `start` once (a standby elected later has no one to tell: the pipe is closed)."""
        if not told:
            told.append(True)
            sys.stdout.buffer.write(READY)
            sys.stdout.buffer.flush()

    def on_elected(writer) -> None:
        start_writing(writer, watch)
        ready()
        preload(knowledge)

    knowledge = KnowledgeBase(settings)
    writer = SharedIndexWriter(knowledge, ensure_secret_key(settings.home), on_elected)
    if _lock_taken(writer.lock_path):       # another `kb serve` on this instance writes: stand by behind it
        log.info("本实例已有索引写入器（进程 %s），本进程待命", writer.lock_path.read_text().strip())
        ready()
    try:
        writer.run()
    finally:
        writer.close()
        knowledge.close()


if __name__ == "__main__":
    _main(*pickle.load(sys.stdin.buffer))
