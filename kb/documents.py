"""Validated documents: what every layer above the loader works with."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The three kinds of entry and the content folder each lives in: `<root>/technologies/<id>.md` etc.
TYPE_FOLDERS = {"technology": "technologies", "case": "cases", "spec": "specs"}
FOLDER_TYPES = {folder: doc_type for doc_type, folder in TYPE_FOLDERS.items()}


def display_path(path: Path) -> str:
    """A content path as an editor reads it in a problem: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content, located for the editor who has to fix it."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "field": self.field, "message": self.message}


@dataclass
class Document:
    id: str
    type: str
    title: str
    sectors: list[str]
    meta: dict[str, Any]
    body: str
    path: str
    content_hash: str
    lines: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def summary(self) -> str:
        text = self.meta.get("summary")
        if text:
            return text
        return first_paragraph(self.body)

    @property
    def year(self) -> int | None:
        return self.meta.get("year") or (self.meta.get("source") or {}).get("year")

    @property
    def tags(self) -> list[str]:
        return list(self.meta.get("tags") or [])

    @property
    def category(self) -> str | None:
        return self.meta.get("category")

    @property
    def source(self) -> dict[str, Any]:
        return self.meta.get("source") or {}


def first_paragraph(markdown_text: str, limit: int = 160) -> str:
    for block in re.split(r"\n\s*\n", markdown_text):
        block = block.strip()
        if block and not block.startswith("#"):
            plain = re.sub(r"[*_`>#\[\]]|\(http[^)]*\)", "", block)
            plain = " ".join(plain.split())
            return plain if len(plain) <= limit else plain[: limit - 1] + "…"
    return ""


_URL = re.compile(r"https?://\S+")


def plain_text(markdown_text: str) -> str:
    """Body text for indexing and snippets: no headings, markup or bare addresses, which would
    otherwise match every query for 参考 or http and show up as noise in highlighted snippets."""
    lines = []
    for line in markdown_text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or set(stripped) <= set("|-: "):
            continue
        stripped = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", stripped)
        stripped = _URL.sub("", stripped)
        stripped = re.sub(r"^([-*+]|\d+\.)\s+", "", stripped)
        stripped = re.sub(r"[*_`>|]+", " ", stripped).strip()
        if stripped:
            lines.append(stripped)
    return "\n".join(lines)
