"""Where runtime state lives: one instance folder, overridable by environment variables.

All mutable state (database, index generations, jieba cache, editable content) is kept out of the
package so that the installed code stays read-only and tests can point a whole app at a temp folder.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

BUNDLED_CONTENT = Path(__file__).parent / "content"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    content_dirs: tuple[Path, ...]
    editable_content: Path
    editor_token: str | None = field(default=None, repr=False)
    # public address of the site (scheme://host[/prefix], no trailing slash) for absolute links in exports;
    # None: links are paths. Never taken from a request's Host header.
    base_url: str | None = None
    # this instance's rows in a shared database (see kb.store): two instances on one database never collide
    namespace: str = "default"
    # origins whose pages may call the GET endpoints of the JSON API from a browser (CORS); () none, ("*",) any
    cors_origins: tuple[str, ...] = ()
    # shared (multi-node) mode, KB_SHARED=1: the PostgreSQL database every node shares, which holds the truth
    # for documents (kb.shared); None: single-node mode (files are the truth)
    shared_url: str | None = None
    # shared mode: the folders `kb build` loads into the shared database as this release's bundled content
    release_content: tuple[Path, ...] = ()

    @property
    def shared(self) -> bool:
        return self.shared_url is not None

    @property
    def index_root(self) -> Path:
        return self.home / "index"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def ensure(self) -> "Settings":
        for path in (self.home, self.index_root, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def load_settings(home: str | os.PathLike | None = None, **overrides) -> Settings:
    """Resolve settings from arguments first, then KB_* environment variables, then defaults."""
    home_path = Path(home or os.environ.get("KB_HOME") or "instance").resolve()
    database_url = overrides.get("database_url") or os.environ.get("KB_DATABASE_URL") or (
        f"sqlite:///{home_path / 'kb.sqlite3'}"
    )
    editable = Path(
        overrides.get("editable_content") or os.environ.get("KB_CONTENT_DIR") or home_path / "content"
    ).resolve()
    bundled = overrides.get("bundled_content", BUNDLED_CONTENT)
    dirs = tuple(Path(d).resolve() for d in ([bundled] if bundled else []) + [editable])
    shared_url, release = None, ()
    if parse_shared(overrides.get("shared") if "shared" in overrides else os.environ.get("KB_SHARED")):
        # the shared database holds the documents; this node's derived copies (document table, index, and
        # the Markdown files the index is built from) stay in its own instance folder
        shared_url = require_postgres(database_url)
        database_url = f"sqlite:///{home_path / 'kb.sqlite3'}"
        editable = home_path / "shared-content"
        release, dirs = tuple(d for d in dirs[:-1]), (editable,)
    token = overrides.get("editor_token") or os.environ.get("KB_EDITOR_TOKEN")
    if not token:
        token_file = home_path / "editor_token"
        if token_file.is_file():
            token = token_file.read_text(encoding="utf-8").strip() or None
    return Settings(
        home=home_path,
        database_url=database_url,
        content_dirs=dirs,
        editable_content=editable,
        editor_token=token,
        base_url=parse_base_url(overrides.get("base_url") or os.environ.get("KB_BASE_URL")),
        namespace=parse_namespace(overrides.get("namespace") or os.environ.get("KB_NAMESPACE")) or default_namespace(home_path),
        cors_origins=parse_cors_origins(overrides.get("cors_origins") or os.environ.get("KB_CORS_ORIGINS")),
        shared_url=shared_url,
        release_content=release,
    )


class ConfigError(ValueError):
    """A KB_* variable with a value that cannot work; the message names the variable."""


def parse_base_url(raw: str | None) -> str | None:
    """KB_BASE_URL as scheme://host[:port][/prefix] without a trailing slash; ConfigError otherwise."""
    from urllib.parse import urlsplit

    if not raw or not raw.strip():
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"KB_BASE_URL 应为 http(s)://主机[:端口][/路径前缀]，收到「{raw}」")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def parse_cors_origins(raw: str | None) -> tuple[str, ...]:
    """KB_CORS_ORIGINS: `*`, or origins (scheme://host[:port]) separated by commas or spaces; ConfigError otherwise."""
    from urllib.parse import urlsplit

    items = [item for item in (raw or "").replace(",", " ").split() if item]
    if items == ["*"]:
        return ("*",)
    origins = []
    for item in items:
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
            raise ConfigError(f"KB_CORS_ORIGINS 应为 * 或以逗号分隔的 http(s)://主机[:端口]，收到「{item}」")
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(origins)


def parse_shared(raw) -> bool:
    """KB_SHARED: 1/true/yes/on turns shared (multi-node) mode on; 0/false/no/off or empty leaves it off."""
    if isinstance(raw, bool) or raw is None:
        return bool(raw)
    value = str(raw).strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"KB_SHARED 应为 1 或 0，收到「{raw}」")


def require_postgres(url: str) -> str:
    """Shared mode needs a database every node reaches and that can notify them: PostgreSQL."""
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        raise ConfigError("KB_SHARED=1（多节点共享模式）需要 KB_DATABASE_URL=postgresql://…，"
                          f"收到「{url.split(':', 1)[0]}:…」")
    return url


def parse_namespace(raw: str | None) -> str | None:
    """KB_NAMESPACE: up to 100 characters (the column's width); ConfigError otherwise."""
    if not raw or not raw.strip():
        return None
    if len(raw.strip()) > 100 or "\x00" in raw:
        raise ConfigError(f"KB_NAMESPACE 最多 100 个字符，不能含 NUL，收到 {len(raw)} 个字符")
    return raw.strip()


def default_namespace(home: Path) -> str:
    """A name derived from the instance folder, so two instances with different KB_HOME never share rows."""
    import hashlib

    digest = hashlib.sha256(str(home).encode("utf-8")).hexdigest()[:12]
    return f"{home.name[:40]}-{digest}"
