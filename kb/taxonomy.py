"""The sector taxonomy: the one place that turns a user's sector name or alias into a canonical sector."""
from __future__ import annotations

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


def _fold(name: str) -> str:
    return name.strip().lower()


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    path = path or BUNDLED_CONTENT / "sectors.yaml"
    return _load(str(path))


@lru_cache(maxsize=4)
def _load(path: str) -> Taxonomy:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
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
