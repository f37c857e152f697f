"""One background writer that indexes what editors wrote, a batch at a time (group commit).

A publish writes its file, then asks for a batch and waits for it. The writer thread runs one lenient
incremental build for everything that was asked for before the build started, like a search server's
refresh: a burst of a hundred publishes costs a few builds, not a hundred, and a request waits only
for the batch that holds its own write, never for the whole queue.
"""
from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass

from .build import BuildReport
from .documents import Problem

log = logging.getLogger("kb.index_writer")
IDLE_SECONDS = 30.0   # the thread stops after this long without a request; the next request starts it again


def release_free_memory() -> None:
    """Hand the heap memory a batch freed back to the system (glibc's malloc_trim; elsewhere nothing).
    A batch's arrays and model rows are freed when it ends, but glibc keeps freed heap pages for later, so
    a writer kept the peak of its largest batch: at 20k entries about 80 MB more after every edit."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):      # not glibc
        return None


def start_writing(writer, watch: bool) -> None:
    """The node's writer is ready (in the writer process, or a serving process elected in its place): warm
    it (the first batch reads and checks every content file; its caches then make later batches cheap)
    and watch the content folders if asked."""
    from .watch import watch_content

    writer.request()
    if watch:
        watch_content(writer)


@dataclass
class BatchStats:
    """What the writer has done so far: how many builds for how many requests."""
    batches: int = 0
    requests: int = 0
    largest_batch: int = 0


class IndexWriter:
    def __init__(self, knowledge):
        self.knowledge = knowledge
        self._cv = threading.Condition()
        self._requested = 0        # ticket of the latest request
        self._done = 0             # every ticket up to this one is in a finished build
        self._thread: threading.Thread | None = None
        self._closed = False
        self.stats = BatchStats()
        self.last_report: BuildReport | None = None
        self.last_error: str | None = None

    @property
    def problems(self) -> list[Problem]:
        return self.last_report.problems if self.last_report else []

    def request(self) -> int:
        """Ask for a build that starts after now; returns the ticket to wait on."""
        with self._cv:
            if self._closed:
                raise RuntimeError("index writer is closed")
            self._requested += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kb-index-writer", daemon=True)
                self._thread.start()
            self._cv.notify_all()
            return self._requested

    def wait(self, ticket: int, timeout: float = 60.0) -> bool:
        """Wait until the batch holding `ticket` is built; False if it took longer than `timeout`."""
        with self._cv:
            return self._cv.wait_for(lambda: self._done >= ticket, timeout)

    def rebuild(self, timeout: float = 60.0) -> BuildReport | None:
        """Request a batch and wait for it (the file watcher and every editor write go through here)."""
        self.wait(self.request(), timeout)
        return self.last_report

    def close(self, timeout: float = 60.0) -> None:
        """Finish what was asked for, then stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            thread = self._thread
        # the app's finalizer can run on this writer's own thread (garbage collected during a build)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._requested > self._done or self._closed, IDLE_SECONDS)
                if self._requested <= self._done:      # closed, or idle: request() starts a new thread
                    self._thread = None
                    return
                target = self._requested
            try:
                report = self.knowledge.build(lenient=True)
                error = None
            except Exception as exc:  # keep serving the last good generation
                log.exception("batch build failed")
                report, error = self.last_report, f"{type(exc).__name__}: {exc}"
            release_free_memory()
            with self._cv:
                self.stats.batches += 1
                self.stats.requests += target - self._done
                self.stats.largest_batch = max(self.stats.largest_batch, target - self._done)
                self.last_report, self.last_error = report, error
                self._done = target
                self._cv.notify_all()
