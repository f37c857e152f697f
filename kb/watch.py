"""Watch the content folders and rebuild when a Markdown file is added, changed or removed."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from watchdog.events import EVENT_TYPE_CLOSED_NO_WRITE, EVENT_TYPE_OPENED, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger("kb.watch")
DEBOUNCE_SECONDS = 0.3
READ_ONLY_EVENTS = (EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE)


class _Handler(FileSystemEventHandler):
    def __init__(self, trigger):
        self.trigger = trigger

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in READ_ONLY_EVENTS:     # a build reading the files must not ask for another build
            return
        paths = [getattr(event, "src_path", ""), getattr(event, "dest_path", "")]
        if any(str(p).endswith(".md") and "/.history/" not in str(p) and not Path(str(p)).name.startswith(".")
               for p in paths):
            self.trigger()


class ContentWatcher:
    """Debounces bursts of file events into one lenient rebuild; problems are logged and kept on the rebuilder."""

    def __init__(self, rebuilder, folders: list[Path]):
        self.rebuilder = rebuilder
        self.folders = [f for f in folders if f.is_dir()]
        self.observer = Observer()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def _trigger(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(DEBOUNCE_SECONDS, self._rebuild)
            self._timer.daemon = True
            self._timer.start()

    def _rebuild(self) -> None:
        report = self.rebuilder.rebuild()
        if report is not None:
            if report.changed or report.removed:
                log.info("重新索引 %d 篇，删除 %d 篇", len(report.changed), len(report.removed))
            for problem in report.problems:
                log.warning("内容问题（保留上一个有效版本）：%s", problem)
        if self.rebuilder.last_error:
            log.error("构建失败，继续使用上一代索引：%s", self.rebuilder.last_error)

    def start(self) -> "ContentWatcher":
        handler = _Handler(self._trigger)
        for folder in self.folders:
            self.observer.schedule(handler, str(folder), recursive=True)
        self.observer.daemon = True
        self.observer.start()
        return self

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)


def watch_content(rebuilder) -> ContentWatcher:
    """Watch every content folder of the rebuilder's knowledge base (once per node: in `kb serve --workers N`
    the worker that holds the writer lock calls this when it is elected)."""
    settings = rebuilder.knowledge.settings
    # the editable folder may not exist yet (the first editor's write makes it): watched from the start
    settings.editable_content.mkdir(parents=True, exist_ok=True)
    return ContentWatcher(rebuilder, list(settings.content_dirs)).start()
