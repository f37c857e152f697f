"""The instance's secret key: signs the editors' session cookies and keys the workers' writer socket.

Made once, at random, in the instance folder (`<instance>/secret_key`, mode 0600) by an explicit step —
`kb build`, `kb serve`, or the web app on its first session — and read back by every later process, so
sessions survive restarts and every worker of one node holds the same key.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "secret_key"


def read_secret_key(home: Path) -> bytes | None:
    """The key, or None when no step has made it yet."""
    try:
        return (Path(home) / KEY_FILE).read_bytes() or None
    except FileNotFoundError:
        return None


def ensure_secret_key(home: Path) -> bytes:
    """The key, made now if it is missing (O_EXCL: two processes racing keep the first one's key)."""
    path = Path(home) / KEY_FILE
    key = read_secret_key(home)
    if key is not None:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
        fh.flush()
        os.fsync(fh.fileno())
    return path.read_bytes()
