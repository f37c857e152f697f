"""A node's listener: LISTEN kb_changes, and on each notification (or every POLL_SECONDS when none comes,
in case one was missed or the connection dropped) ask the index writer for a batch when the database's
counter is ahead of what this node serves. The batch pulls the changed rows into the mirror and builds,
like a local edit does, so a burst of changes costs a few builds, not one each."""
from __future__ import annotations

import logging
import threading

from .database import CHANNEL

log = logging.getLogger("kb.shared")
POLL_SECONDS = 2.0


def libpq_url(url: str) -> str:
    """The URL psycopg takes (SQLAlchemy's `postgresql+psycopg://` names the driver)."""
    return "postgresql://" + url.split("://", 1)[1] if url.startswith("postgresql+") else url


class Follower:
    def __init__(self, mirror, writer, poll_seconds: float = POLL_SECONDS):
        self.mirror = mirror
        self.writer = writer
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Follower":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kb-shared-follower", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def catch_up(self) -> None:
        """A batch when the database's counter differs from the served index's (ahead: new changes; behind:
        the database was restored from an older backup). Errors are logged; the next check retries."""
        try:
            if self.mirror.database.revision() != self.mirror.applied:
                self.writer.rebuild()
        except Exception:           # the database is unreachable for a moment: keep serving, retry later
            log.exception("无法与共享数据库同步，稍后重试")

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(libpq_url(self.mirror.settings.shared_url), autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.catch_up()         # what was committed before LISTEN took effect
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=self.poll_seconds, stop_after=1):
                            pass
                        self.catch_up()
            except Exception:
                log.exception("共享数据库的通知连接中断，%.0f 秒后重连", self.poll_seconds)
                self._stop.wait(self.poll_seconds)
