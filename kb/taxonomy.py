"""The sector taxonomy: the one place that turns a user's sector name or alias into a canonical sector."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .config import BUNDLED_CONTENT

CROSS_SECTOR = "通用"


@dataclass(frozen=True)
class Sector:
    name: str
    prefix: str
    subsectors: tuple[str, ...]
    aliases: tuple[str, ...]


class UnknownSector(ValueError):
    """Raised with the list of valid names so callers can show it to the user."""

    def __init__(self, name: str, valid: list[str]):
        self.name = name
        self.valid = valid
        super().__init__(f"未知行业「{name}」；可选：{'、'.join(valid)}")


class Taxonomy:
    def __init__(self, sectors: list[Sector]):
        self.sectors = sectors
        self.digest = _digest(sectors)
        # Content files already validated against this taxonomy (kb.loader's cache, by path and content hash):
        # sector names resolve through the taxonomy, so the results live exactly as long as it does.
        self.validated_files: dict[tuple[str, bytes], tuple] = {}
        # path → (stat signature, content digest) of files unchanged since they were read (kb.loader)
        self.file_signatures: dict[str, tuple[tuple, bytes]] = {}
        self._by_name: dict[str, str] = {}
        for sector in sectors:
            for name in (sector.name, *sector.subsectors, *sector.aliases):
                self._by_name.setdefault(_fold(name), sector.name)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sectors]

    @property
    def key_sectors(self) -> list[str]:
        return [s.name for s in self.sectors if s.name != CROSS_SECTOR]

    def get(self, name: str) -> Sector:
        return next(s for s in self.sectors if s.name == self.resolve(name))

    def resolve(self, name: str) -> str:
        """Canonical sector for a name, sub-sector or alias; raises UnknownSector."""
        canonical = self._by_name.get(_fold(name or ""))
        if canonical is None:
            raise UnknownSector(name, self.names)
        return canonical

    def try_resolve(self, name: str) -> str | None:
        return self._by_name.get(_fold(name or ""))

    def terms(self) -> list[str]:
        """Every sector word, for the tokenizer's dictionary."""
        return sorted(self._by_name)

    def fingerprint(self) -> str:
        """Changes with any name, prefix, sub-sector or alias: the index rebuilds when tokenization could change."""
        return self.digest

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Taxonomy) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


def _digest(sectors: list[Sector]) -> str:
    payload = json.dumps([[s.name, s.prefix, list(s.subsectors), list(s.aliases)] for s in sectors], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _fold(name: str) -> str:
    return name.strip().lower()


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The taxonomy as the file says now: parsed once per distinct content (the file is a few KB, so
    reading it per call is cheap), so an edited sectors.yaml is seen without a restart."""
    path = Path(path or BUNDLED_CONTENT / "sectors.yaml")
    return _parse(path.read_bytes())


@lru_cache(maxsize=8)
def _parse(data: bytes) -> Taxonomy:
    raw = yaml.safe_load(data.decode("utf-8"))
    return Taxonomy(
        [
            Sector(
                name=item["name"],
                prefix=item["prefix"],
                subsectors=tuple(item.get("subsectors") or ()),
                aliases=tuple(item.get("aliases") or ()),
            )
            for item in raw["sectors"]
        ]
    )
