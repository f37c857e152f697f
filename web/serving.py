"""How `kb serve` runs the app under waitress, and why with these numbers.

A publish holds its worker thread until the index batch holding its write is built (so it is
searchable when acknowledged). With the old 2 threads, two waiting publishes took every worker and a
search queued behind the whole burst (97 s during 100 concurrent POSTs). A waiting thread costs no
CPU, so `kb serve` now runs enough threads to park a burst of writers, and keeps the CPU-bound
requests (searches, pages) to CPU_SLOTS at a time: the read throughput measured with 2 threads
(bench/RESULTS.md) is kept, and a search never waits behind writers, only behind other reads.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

# Open connections waitress accepts (its default, 100, is the size of the burst itself: the 101st
# client, a search, waited for a publish to finish). Idle keep-alive and slow clients count too.
CONNECTION_LIMIT = 256
# Requests that compute at once (searches are CPU-bound under the GIL; 2 cores on the bench machine).
CPU_SLOTS = 2

WRITE_PATHS = ("/api/cases", "/api/documents/", "/edit")
# Behind a reverse proxy, the headers waitress takes from it (only from the trusted address, others are
# dropped): the scheme, so the session cookie is Secure over HTTPS, and the client address, so failed
# tokens are counted per client and not per proxy. Host comes as the proxy passes it.
PROXY_HEADERS = {"x-forwarded-proto", "x-forwarded-for"}


def waits_for_index(environ: dict[str, Any]) -> bool:
    """Requests that may wait for an index batch: they park without CPU, so they take no slot."""
    return environ.get("REQUEST_METHOD") in ("POST", "PUT") and environ.get("PATH_INFO", "").startswith(WRITE_PATHS)


class CpuSlots:
    """WSGI middleware: at most `slots` requests run the app at once, except those `exempt` says wait idle."""

    def __init__(self, app: Callable, slots: int = CPU_SLOTS,
                 exempt: Callable[[dict[str, Any]], bool] = waits_for_index):
        self.app = app
        self.exempt = exempt
        self._slots = threading.BoundedSemaphore(slots)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if self.exempt(environ):
            return self.app(environ, start_response)
        with self._slots:
            return self.app(environ, start_response)


def create_server(app: Callable, host: str = "127.0.0.1", port: int = 5000, threads: int | None = None,
                  trusted_proxy: str | None = None, **options):
    """A waitress server for the app, set up as `kb serve` runs it (port 0: any free port)."""
    import waitress

    from kb.cli import SERVE_THREADS

    options.setdefault("connection_limit", CONNECTION_LIMIT)
    if trusted_proxy:
        options.update(trusted_proxy=trusted_proxy, trusted_proxy_headers=PROXY_HEADERS,
                       clear_untrusted_proxy_headers=True)
    return waitress.create_server(CpuSlots(app), host=host, port=port, threads=threads or SERVE_THREADS, ident="kb",
                                  **options)
