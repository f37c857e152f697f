"""Domain vocabulary: words the tokenizer must keep whole, and synonym groups expanded at query time."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .config import BUNDLED_CONTENT


@dataclass(frozen=True)
class Glossary:
    terms: tuple[str, ...]
    synonym_groups: tuple[tuple[str, ...], ...]

    def synonyms_of(self, word: str) -> tuple[str, ...]:
        """Other members of every group containing word (case-insensitive), excluding word itself."""
        key = word.lower()
        found: list[str] = []
        for group in self.synonym_groups:
            if any(member.lower() == key for member in group):
                found.extend(m for m in group if m.lower() != key and m not in found)
        return tuple(found)

    def all_words(self) -> list[str]:
        words = list(self.terms)
        for group in self.synonym_groups:
            words.extend(group)
        return words

    def fingerprint(self) -> str:
        """Changes whenever tokenization could change, so the index knows to rebuild from scratch."""
        digest = hashlib.sha256()
        for word in self.terms:
            digest.update(word.encode() + b"\0")
        for group in self.synonym_groups:
            digest.update("|".join(group).encode() + b"\n")
        return digest.hexdigest()[:16]


def load_glossary(path: Path | None = None) -> Glossary:
    path = path or BUNDLED_CONTENT / "glossary.yaml"
    if not path.exists():
        return Glossary((), ())
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    terms = tuple(str(t).strip() for t in raw.get("terms") or () if str(t).strip())
    groups = tuple(
        tuple(str(m).strip() for m in group if str(m).strip())
        for group in raw.get("synonyms") or ()
        if group and len(group) > 1
    )
    return Glossary(terms, groups)
