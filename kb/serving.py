"""How `kb serve` runs the app under waitress: worker threads and the limits that keep slow clients cheap.

waitress keeps every connection in one I/O loop and hands only complete requests to the worker threads,
so a slow client costs a socket, not a thread. What it does cost is a place under `connection_limit`
(waitress' default 100: 120 half-open connections made the site unreachable until they timed out,
120 s by default). The defaults below admit many more idle sockets (poll() instead of select(), so
more than 1,024 descriptors work), drop a silent one after `channel_timeout` seconds, and cap headers
and bodies. A client that keeps many sockets open on purpose is stopped in front, by a reverse
proxy (docs/deploy/nginx-kb.conf: per-address connection and request limits, header/body timeouts).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Worker threads. Searches are CPU-bound under the GIL: on the 2-core bench machine 2 threads served
# 270 req/s at 20k documents, 4 threads 190, 8 threads 143-168.
SERVE_THREADS = 2


@dataclass(frozen=True)
class ServeLimits:
    threads: int = SERVE_THREADS
    connection_limit: int = 1000          # open sockets at once (waitress' default: 100)
    channel_timeout: int = 20             # seconds a connection may stay silent (default: 120)
    cleanup_interval: int = 5             # how often silent connections are looked for (default: 30)
    max_request_header_size: int = 64 * 1024      # default 256 KiB; capped search URLs are far shorter
    max_request_body_size: int = 2 * 1024 * 1024  # default 1 GiB; the app refuses bodies over 1 MiB anyway
    backlog: int = 2048                   # connections the kernel queues before waitress accepts them
    trusted_proxy: str | None = None      # the reverse proxy's address: then X-Forwarded-For/-Proto are read

    def waitress_options(self) -> dict:
        options = dict(
            threads=self.threads, connection_limit=self.connection_limit, channel_timeout=self.channel_timeout,
            cleanup_interval=self.cleanup_interval, max_request_header_size=self.max_request_header_size,
            max_request_body_size=self.max_request_body_size, backlog=self.backlog,
            asyncore_use_poll=True, ident="kb",
        )
        if self.trusted_proxy:
            options.update(trusted_proxy=self.trusted_proxy, trusted_proxy_count=1,
                           trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"})
        return options


def raise_open_files_limit(wanted: int) -> int:
    """Lift the soft limit on open files towards wanted (never above the hard limit); returns the limit."""
    try:
        import resource
    except ImportError:       # not on this platform
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def serve(app, host: str, port: int, limits: ServeLimits = ServeLimits()) -> None:
    """Serve until interrupted. The connection limit is kept under the open-files limit (index files,
    the database and the log need descriptors too)."""
    import waitress

    spare = 200
    files = raise_open_files_limit(limits.connection_limit + spare)
    if limits.connection_limit + spare > files:
        from dataclasses import replace

        log.warning("open-files limit %d: connection_limit lowered from %d", files, limits.connection_limit)
        limits = replace(limits, connection_limit=max(10, files - spare))
    waitress.serve(app, host=host, port=port, **limits.waitress_options())
