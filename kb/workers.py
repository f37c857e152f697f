"""Worker processes of a build die with the build.

`kb build --procs N` forks workers twice: a multiprocessing pool that segments texts (kb.prepare)
and one process per index segment (kb/search/whoosh/segments.py); the pool's workers block on a queue
whose write end they inherited, so a parent killed with SIGKILL left them waiting forever. On Linux every
multiprocessing child of this process asks the kernel to SIGKILL it when its parent dies (prctl
PR_SET_PDEATHSIG), installed once as a multiprocessing after-fork hook; the process that compiles a full
build's arrays (kb/search/whoosh/compile_process.py) makes the call before it starts. Chosen over workers
that poll their parent because it costs nothing while running and acts at once even on SIGKILL. Elsewhere it is a no-op (the platform has no such call).
The worker processes of `kb serve --workers N` (gunicorn's) make the same call after their fork.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
from multiprocessing import util

PR_SET_PDEATHSIG = 1


class _Hook:
    """The registry of after-fork hooks holds weak references: this module keeps the object alive."""


_hook: _Hook | None = None


def die_with_parent(parent_pid: int | None = None) -> bool:
    """In a child process: be killed when the parent exits; exit now if it already has. False if unsupported.
    parent_pid: the parent's pid when it is not a multiprocessing parent (gunicorn's master, for the
    workers of `kb serve --workers N`)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if parent_pid is None:
        parent = multiprocessing.parent_process()
        parent_pid = parent.pid if parent is not None else None
    if parent_pid is not None and os.getppid() != parent_pid:    # the parent died before the call above
        os._exit(1)
    return True


def workers_die_with_parent() -> None:
    """Make every multiprocessing child forked from now on die with this process (idempotent)."""
    global _hook
    if _hook is None:
        _hook = _Hook()
        util.register_after_fork(_hook, lambda _: die_with_parent())
