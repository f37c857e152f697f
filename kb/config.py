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
    )
