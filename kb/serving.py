"""How `kb serve` runs the app under waitress: threads, CPU slots and the limits that keep slow clients cheap.

Threads. A publish holds its worker thread until the index batch holding its write is built (so it is
searchable when acknowledged). With 2 threads, two waiting publishes took every worker and a search
queued behind the whole burst (97 s during 100 concurrent POSTs). A waiting thread costs no CPU, so the
server runs enough threads to park a burst of writers, and keeps the CPU-bound requests (searches, pages)
to CPU_SLOTS at a time: the read throughput measured with 2 threads (bench/RESULTS.md) is kept, and a
search never waits behind writers, only behind other reads. Whoosh searchers are pooled per generation
(kb/search/whoosh/searcher.py), so memory follows the CPU slots, not the thread count.

Connections. waitress keeps every connection in one I/O loop and hands only complete requests to the
worker threads, so a slow client costs a socket, not a thread. What it does cost is a place under
`connection_limit` (waitress' default 100: 120 half-open connections made the site unreachable until they
timed out, 120 s by default). The defaults below admit many more idle sockets (poll() instead of select(),
so more than 1,024 descriptors work), drop a silent one after `channel_timeout` seconds, and cap headers
and bodies. A client that keeps many sockets open on purpose is stopped in front, by a reverse proxy
(docs/deploy/nginx-kb.conf: per-address connection and request limits, header/body timeouts).

Cores. One process computes on one core at a time (the GIL). `kb serve --workers N` runs N pre-forked
processes under gunicorn (Linux and other systems with fork: a well-kept pre-fork server instead of
hand-written forking), each with its own threads and CPU slots; the index arrays are memory-mapped files,
so the workers share them through the page cache. The node still has one index writer
(kb/shared_writer.py) and one content watcher, in whichever worker holds the writer lock. waitress stays
the server for one process and on systems without fork.
"""
from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

# Worker threads: enough to park a burst of publishes (100 concurrent in issue 13) waiting for their batch.
SERVE_THREADS = 128
# Requests that compute at once (searches are CPU-bound under the GIL; 2 cores on the bench machine:
# 2 threads served 270 req/s at 20k documents, 4 threads 190, 8 threads 143-168).
CPU_SLOTS = 2

WRITE_PATHS = ("/api/cases", "/api/documents/", "/edit")
# Behind a reverse proxy, the headers waitress takes from it (only from the trusted address, others are
# dropped): the scheme, so the session cookie is Secure over HTTPS, and the client address, so failed
# tokens are counted per client and not per proxy. Host comes as the proxy passes it.
PROXY_HEADERS = {"x-forwarded-proto", "x-forwarded-for"}


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
                           trusted_proxy_headers=PROXY_HEADERS, clear_untrusted_proxy_headers=True)
        return options


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


def percent_encode_request_line(header_plus: bytes) -> bytes:
    """The request line with every non-ASCII byte percent-encoded (the rest of the header untouched).

    `curl "http://…/api/search?q=喷涂VOCs治理"` sends the UTF-8 bytes raw; waitress' URI parser only takes
    ASCII and answered a text/plain "400 Bad URI" before the app saw the request. Encoding the bytes as a
    browser would (nginx passes them on as they came) gives the app the query it was sent."""
    end = header_plus.find(b"\r\n")
    line, rest = (header_plus, b"") if end < 0 else (header_plus[:end], header_plus[end:])
    if line.isascii():
        return header_plus
    return b"".join(b"%%%02X" % byte if byte > 0x7F else bytes((byte,)) for byte in line) + rest


# What waitress answers itself (before the app sees a request), in the API's error shape and in Chinese.
SERVER_ERRORS = {
    400: ("请求有误", "请求行或请求头的格式无效"),
    413: ("请求内容过大", "请求体超过服务器上限"),
    431: ("请求头过大", "请求头超过服务器上限"),
    501: ("不支持该功能", "服务器不支持该传输编码"),
}


class ChineseServerError:
    """A waitress error (bad request line, headers or body too large) as `{"error", "details"}` JSON."""

    def __init__(self, error):
        self.error = error
        self.code = error.code
        self.reason = error.reason
        self.body = error.body

    def to_response(self, ident=None):
        import json

        message, detail = SERVER_ERRORS.get(self.code, ("请求有误" if self.code < 500 else "服务器错误", self.reason))
        body = json.dumps({"error": message, "details": [{"field": "request", "message": detail}]},
                          ensure_ascii=False).encode("utf-8")
        return f"{self.code} {self.reason}", [("Content-Type", "application/json; charset=utf-8")], body


def _utf8_uri_channel():
    """waitress' channel whose parser reads raw UTF-8 in the request line (see percent_encode_request_line)
    and whose own errors are Chinese JSON (ChineseServerError)."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser

    class Utf8UriParser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(percent_encode_request_line(header_plus))

        def received(self, data: bytes) -> int:
            consumed = super().received(data)
            if self.error is not None and not isinstance(self.error, ChineseServerError):
                self.error = ChineseServerError(self.error)
            return consumed

    class Utf8UriChannel(HTTPChannel):
        parser_class = Utf8UriParser

    return Utf8UriChannel


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


def create_server(app: Callable, host: str = "127.0.0.1", port: int = 5000, limits: ServeLimits = ServeLimits()):
    """A waitress server for the app, set up as `kb serve` runs it (port 0: any free port). The connection
    limit is kept under the open-files limit (index files, the database and the log need descriptors too)."""
    import waitress

    spare = 200
    files = raise_open_files_limit(limits.connection_limit + spare)
    if limits.connection_limit + spare > files:
        log.warning("open-files limit %d: connection_limit lowered from %d", files, limits.connection_limit)
        limits = replace(limits, connection_limit=max(10, files - spare))
    server = waitress.create_server(CpuSlots(app), host=host, port=port, **limits.waitress_options())
    channel = _utf8_uri_channel()
    # one listening socket: the server itself; several (host names resolving to v4 and v6): each in its map
    for listener in [server, *getattr(server, "map", {}).values()]:
        if hasattr(listener, "channel_class"):
            listener.channel_class = channel
    return server


def serve(app: Callable, host: str, port: int, limits: ServeLimits = ServeLimits()) -> None:
    """Serve until interrupted (what `kb serve` runs)."""
    create_server(app, host=host, port=port, limits=limits).run()


# ------------------------------------------------------------------------------ several worker processes

def can_fork() -> bool:
    """gunicorn pre-forks: POSIX systems only (waitress serves elsewhere)."""
    import os

    return hasattr(os, "fork")


class TrustedProxyFix:
    """werkzeug's ProxyFix (one hop of X-Forwarded-For / -Proto) for requests from the trusted proxy only;
    other clients' forwarded headers are dropped, as waitress does with `clear_untrusted_proxy_headers`.
    gunicorn itself reads only the scheme from a trusted peer, never the client address."""

    def __init__(self, app: Callable, trusted_proxy: str):
        from werkzeug.middleware.proxy_fix import ProxyFix

        self.app = app
        self.trusted_proxy = trusted_proxy
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("REMOTE_ADDR") == self.trusted_proxy:
            return self.fixed(environ, start_response)
        for header in ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO"):
            environ.pop(header, None)
        return self.app(environ, start_response)


def gunicorn_options(host: str, port: int, workers: int, limits: ServeLimits) -> dict[str, Any]:
    """`kb serve`'s limits in gunicorn's terms (gthread workers: threads per process, connections per
    process, idle keep-alive connections closed after channel_timeout seconds)."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return dict(
        bind=[bind], workers=workers, worker_class=_utf8_uri_worker(), threads=limits.threads,
        worker_connections=limits.connection_limit, keepalive=limits.channel_timeout,
        backlog=limits.backlog, limit_request_line=8190,
        limit_request_field_size=limits.max_request_header_size,
        # the scheme from the trusted proxy only (gunicorn's default trusts 127.0.0.1 without being asked)
        forwarded_allow_ips=limits.trusted_proxy or "",
        timeout=60, graceful_timeout=30, proc_name="kb", accesslog=None, errorlog="-",
        preload_app=False, http_parser="python",
        control_socket_disable=True,      # a per-user socket in ~/.gunicorn: two servers would share it
    )


def _utf8_uri_worker():
    """gunicorn's thread worker whose request parser reads raw UTF-8 in the request line (gunicorn refuses
    it, as waitress did: see percent_encode_request_line). The parser class is swapped in the worker
    process only, after the fork."""
    from gunicorn.http.message import Request
    from gunicorn.http.parser import RequestParser
    from gunicorn.workers.gthread import ThreadWorker

    class Utf8UriRequest(Request):
        def parse_request_line(self, line_bytes: bytes) -> None:
            super().parse_request_line(percent_encode_request_line(line_bytes))

    class KbThreadWorker(ThreadWorker):
        def init_process(self) -> None:
            RequestParser.mesg_class = Utf8UriRequest
            super().init_process()

    return KbThreadWorker


def serve_workers(app_factory: Callable[[], Callable], host: str, port: int, workers: int,
                  limits: ServeLimits = ServeLimits()) -> None:
    """Serve with `workers` pre-forked gunicorn processes until interrupted. Each worker makes its own app
    (app_factory, after the fork: no thread, database connection or open index crosses a fork) and is
    killed by the kernel when the master dies (PR_SET_PDEATHSIG)."""
    import os

    from gunicorn.app.base import BaseApplication

    from .workers import die_with_parent

    check_port_free(host, port)
    options = gunicorn_options(host, port, workers, limits)
    master = os.getpid()

    def post_fork(server, worker) -> None:
        die_with_parent(master)

    class KbWorkers(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            self.cfg.set("post_fork", post_fork)

        def load(self) -> Callable:
            app = app_factory()
            if limits.trusted_proxy:
                app = TrustedProxyFix(app, limits.trusted_proxy)
            return CpuSlots(app)

    KbWorkers().run()


def run(app_factory: Callable[..., Callable], settings, host: str, port: int, limits: ServeLimits = ServeLimits(),
        workers: int = 1, watch: bool = True) -> None:
    """What `kb serve` runs once the instance is built: one waitress process, or `workers` gunicorn
    processes, and on Linux the node's index writer in a process of its own (kb/writer_process.py) that
    the serving processes call through the shared writer. app_factory(config) makes the web app (the CLI
    passes web.create_app; kb itself does not import web). With watch, the content folders are watched
    once per node: by the writer process, or (elsewhere) by this process; if the writer process dies, the
    serving process elected in its place watches them."""
    from . import writer_process
    from .index_writer import start_writing

    on_elected = functools.partial(start_writing, watch=watch)
    separate = writer_process.supported()
    several = workers > 1 and can_fork()
    if separate or several:
        from .instance_secret import ensure_secret_key
        from .shared_writer import SharedIndexWriter

        secret_key = ensure_secret_key(settings.home)
        if separate:
            check_port_free(host, port)            # before a writer process is started for nothing
            writer_process.start(settings, watch)

        def shared_writer(knowledge) -> SharedIndexWriter:
            return SharedIndexWriter(knowledge, secret_key, on_elected).start()

        if several:
            serve_workers(lambda: app_factory({"KB_INDEX_WRITER": shared_writer}), host, port, workers, limits)
        else:
            serve(app_factory({"KB_INDEX_WRITER": shared_writer}), host, port, limits)
        return
    app = app_factory()
    on_elected(app.extensions["kb_rebuilder"])
    serve(app, host, port, limits)


def check_port_free(host: str, port: int) -> None:
    """Raise OSError(EADDRINUSE) now if the port is taken: gunicorn would retry for 5 s and exit with an
    English line, `kb serve` says it in Chinese."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
