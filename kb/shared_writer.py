"""One index writer per node when `kb serve --workers N` runs several worker processes.

Every worker holds a `SharedIndexWriter` with the same interface as `IndexWriter` (request, wait, rebuild,
problems, last_error, stats, close). A thread in each worker waits for the node's writer lock (`flock` on
`<instance>/writer.lock`, which then holds its pid); the worker that holds it runs the real `IndexWriter` (and, through `on_elected`,
the content watcher) and answers the other workers over a local socket. When that worker dies the kernel
releases its lock, another worker's thread takes it, and the next write goes there: there is never a second
writer, and never none for longer than a worker restart.

Publishing and following stay what they are for one process: a batch build writes a new generation and
points `index/CURRENT` at it (kb.build.GenerationPointer); every worker reads the pointer on each request,
so a write is searchable on the worker that acknowledged it when the response returns and on the others at
their next request.

The socket is `multiprocessing.connection` (stdlib: framing and an HMAC challenge with a key derived from the
instance's secret key) on a Linux abstract address named after the instance folder, so no socket file is
left behind and any `kb serve` on the same instance finds the same writer.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import threading
import time
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Callable

from .build import BuildReport
from .documents import Problem
from .index_writer import BatchStats, IndexWriter

log = logging.getLogger("kb.shared_writer")
CONNECT_RETRY_SECONDS = 0.05


def writer_address(home: Path) -> str:
    """The abstract socket the node's writer listens on (one per instance folder)."""
    digest = hashlib.sha256(str(Path(home).resolve()).encode("utf-8")).hexdigest()[:24]
    return f"\0kb-index-writer-{digest}"


def writer_authkey(secret_key: bytes) -> bytes:
    """The key the workers prove to each other (never the session key itself)."""
    return hmac.new(secret_key, b"kb index writer", hashlib.sha256).digest()


class SharedIndexWriter:
    """The node's writer as seen from one worker process (see the module docstring)."""

    def __init__(self, knowledge, secret_key: bytes, on_elected: Callable[[IndexWriter], None] | None = None):
        self.knowledge = knowledge
        self.address = writer_address(knowledge.settings.home)
        self.authkey = writer_authkey(secret_key)
        self.on_elected = on_elected
        self.lock_path = knowledge.settings.home / "writer.lock"
        self._local: IndexWriter | None = None      # set when this worker is the writer
        self._elected = threading.Event()
        self._closed = False
        self._lock_file = None
        self._listener: Listener | None = None
        self._last_report: BuildReport | None = None
        self._last_error: str | None = None
        self._remote_stats = BatchStats()

    # -- election ------------------------------------------------------------------------------
    def start(self) -> "SharedIndexWriter":
        """Stand for election: a daemon thread blocks on the writer lock until this worker gets it."""
        threading.Thread(target=self._stand, name="kb-writer-election", daemon=True).start()
        return self

    def run(self) -> None:
        """Stand for election in this thread and, once elected, answer the other processes until closed (what
        the writer process of kb/writer_process.py runs in its main thread)."""
        self._stand()

    def _stand(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(self.lock_path, "a+")
        fcntl.flock(lock_file, fcntl.LOCK_EX)          # blocks until the writer before us is gone
        if self._closed:
            lock_file.close()
            return
        self._lock_file = lock_file
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")       # who writes for the node now (for people and tests)
        lock_file.flush()
        try:
            self._listener = Listener(self.address, family="AF_UNIX", authkey=self.authkey)
        except OSError:
            # the previous holder's socket is still closing: a moment later the address is free
            time.sleep(0.2)
            self._listener = Listener(self.address, family="AF_UNIX", authkey=self.authkey)
        self._local = IndexWriter(self.knowledge)
        self._elected.set()
        log.info("进程 %d 成为本节点的索引写入器", os.getpid())
        if self.on_elected is not None:
            self.on_elected(self._local)
        self._serve()

    def _serve(self) -> None:
        while not self._closed:
            try:
                connection = self._listener.accept()
            except OSError:              # closed, or a peer that failed the key challenge
                if self._closed:
                    return
                continue
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection) -> None:
        """One call from another worker: ("request",) → ticket; ("wait", ticket, timeout) → outcome."""
        with connection:
            try:
                call = connection.recv()
                if call[0] == "request":
                    connection.send(self._local.request())
                elif call[0] == "wait":
                    done = self._local.wait(call[1], call[2])
                    connection.send((done, self._local.last_report, self._local.last_error))
            except (EOFError, OSError):
                pass

    @property
    def is_writer(self) -> bool:
        return self._elected.is_set()

    # -- the IndexWriter interface ------------------------------------------------------------
    def _call(self, message: tuple, timeout: float):
        """Send one call to the writer; None when this worker is (or meanwhile became) the writer.

        Retries while no worker holds the lock yet; raises WriterLost when the writer died after
        taking the call (its tickets died with it)."""
        deadline = time.monotonic() + timeout
        while self._local is None:
            try:
                connection = Client(self.address, family="AF_UNIX", authkey=self.authkey)
            except (ConnectionRefusedError, FileNotFoundError, ConnectionResetError, EOFError):
                if time.monotonic() > deadline:
                    raise TimeoutError("本节点的索引写入器没有应答")
                time.sleep(CONNECT_RETRY_SECONDS)
                continue
            with connection:
                try:
                    connection.send(message)
                    return connection.recv()
                except (EOFError, OSError) as exc:
                    raise WriterLost from exc
        return None

    def request(self) -> int:
        if self._closed:
            raise RuntimeError("index writer is closed")
        ticket = self._call(("request",), 30.0)
        return self._local.request() if ticket is None else ticket

    def wait(self, ticket: int, timeout: float = 60.0) -> bool:
        try:
            outcome = self._call(("wait", ticket, timeout), timeout + 5.0)
        except WriterLost:           # a new writer builds everything on disk, so a new batch holds the write
            return self.wait(self.request(), timeout)
        if outcome is None:          # this worker became the writer meanwhile: its tickets start anew
            return self._local.wait(self._local.request(), timeout)
        done, self._last_report, self._last_error = outcome
        self._remote_stats.requests += 1
        self.knowledge.refresh()     # searchable in this worker when the caller answers
        return done

    def rebuild(self, timeout: float = 60.0) -> BuildReport | None:
        """Request a batch and wait for it (what editors' writes and the watcher call)."""
        if self._local is not None:
            return self._local.rebuild(timeout)
        self.wait(self.request(), timeout)
        return self.last_report

    @property
    def last_report(self) -> BuildReport | None:
        return self._local.last_report if self._local is not None else self._last_report

    @property
    def last_error(self) -> str | None:
        return self._local.last_error if self._local is not None else self._last_error

    @property
    def problems(self) -> list[Problem]:
        report = self.last_report
        return report.problems if report else []

    @property
    def stats(self) -> BatchStats:
        return self._local.stats if self._local is not None else self._remote_stats

    def close(self, timeout: float = 60.0) -> None:
        self._closed = True
        if self._local is not None:
            self._local.close(timeout)
        if self._listener is not None:
            self._listener.close()
        if self._lock_file is not None:
            self._lock_file.close()


class WriterLost(Exception):
    """The writer process died while it held a call."""
