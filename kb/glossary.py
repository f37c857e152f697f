"""Domain vocabulary: words the tokenizer must keep whole, synonym groups expanded at query time, and
the problem vocabulary (what enterprise staff say → the technical words entries use)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

from .config import BUNDLED_CONTENT


@dataclass(frozen=True)
class ProblemGroup:
    """Colloquial phrases (味道大, 异味) of one sector and the technical words they mean (VOCs, 恶臭)."""
    sector: str
    phrases: tuple[str, ...]
    terms: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True)
class Glossary:
    terms: tuple[str, ...]
    synonym_groups: tuple[tuple[str, ...], ...]
    problem_groups: tuple[ProblemGroup, ...] = ()

    def problem_phrases(self, sectors: frozenset[str] | None = None) -> dict[str, tuple[str, ...]]:
        """Phrase → the technical words it means (merged over groups), optionally only the groups of
        some sectors; phrases not technical words, so they never change tokenization."""
        found: dict[str, list[str]] = {}
        for group in self.problem_groups:
            if sectors is not None and group.sector not in sectors:
                continue
            for phrase in group.phrases:
                means = found.setdefault(phrase, [])
                means.extend(t for t in group.terms if t not in means)
        return {phrase: tuple(terms) for phrase, terms in found.items()}

    def synonyms_of(self, word: str) -> tuple[str, ...]:
        """Other members of every group containing word (case-insensitive), excluding word itself."""
        return self._synonym_index.get(word.lower(), ())

    @cached_property
    def _synonym_index(self) -> dict[str, tuple[str, ...]]:
        """Lower-cased member → the other members of its groups, in group order: built once per
        glossary, so a query word is one dict lookup instead of a scan of every group."""
        found: dict[str, list[str]] = {}
        for group in self.synonym_groups:
            lowered = [member.lower() for member in group]
            for key in dict.fromkeys(lowered):
                others = found.setdefault(key, [])
                others.extend(m for m, low in zip(group, lowered) if low != key and m not in others)
        return {key: tuple(others) for key, others in found.items()}

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
    """The glossary as the file says now, parsed once per distinct content (like load_taxonomy): every
    build of a running server asks whether it changed, and reading 40 KB is cheap where parsing is not."""
    path = path or BUNDLED_CONTENT / "glossary.yaml"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Glossary((), ())
    return _parse_glossary(data)


@lru_cache(maxsize=8)
def _parse_glossary(data: bytes) -> Glossary:
    text = data.decode("utf-8")
    raw = yaml.safe_load(text) or {}
    terms = tuple(str(t).strip() for t in raw.get("terms") or () if str(t).strip())
    groups = tuple(
        tuple(str(m).strip() for m in group if str(m).strip())
        for group in raw.get("synonyms") or ()
        if group and len(group) > 1
    )
    return Glossary(terms, groups, tuple(_problem_groups(raw.get("problems"), _text_lines(text))))


def _lines(path: Path) -> list[int]:
    """1-based line of each item of the `problems` list, for file:line messages."""
    return _text_lines(path.read_text(encoding="utf-8"))


def _text_lines(text: str) -> list[int]:
    node = yaml.compose(text)
    for key, value in getattr(node, "value", []) or []:
        if getattr(key, "value", None) == "problems" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _strings(value) -> tuple[str, ...]:
    return tuple(str(v).strip() for v in value if v is not None and str(v).strip()) if isinstance(value, list) else ()


def _problem_groups(raw, lines: list[int]):
    for i, group in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(group, dict):
            yield ProblemGroup(str(group.get("sector") or "").strip(), _strings(group.get("say")),
                               _strings(group.get("means")), lines[i] if i < len(lines) else 0)


def check_problem_vocabulary(path: Path, sector_names: list[str]) -> list[tuple[int, str, str]]:
    """Problems of the glossary's `problems` section as (line, field, message): every group names a
    known sector, says at least one phrase of two or more characters and means at least one word;
    a phrase is listed once per sector and is not one of the words it means."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = (yaml.safe_load(fh) or {}).get("problems")
        lines = _lines(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [((mark.line + 1) if mark else 1, "yaml", f"YAML 语法错误：{getattr(exc, 'problem', None) or exc}")]
    if raw is None:
        return []
    if not isinstance(raw, list):
        return [(1, "problems", "应为列表，每项含 sector、say、means")]
    out: list[tuple[int, str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, group in enumerate(raw):
        line = lines[i] if i < len(lines) else 1
        where = f"problems[{i}]"
        if not isinstance(group, dict):
            out.append((line, where, "应为映射：{sector: 行业, say: [说法…], means: [技术词…]}"))
            continue
        unknown = set(group) - {"sector", "say", "means"}
        if unknown:
            out.append((line, where, f"未知字段：{'、'.join(sorted(map(str, unknown)))}"))
        sector = str(group.get("sector") or "").strip()
        if sector not in sector_names:
            out.append((line, f"{where}.sector", f"未知行业「{sector}」；可选：{'、'.join(sector_names)}"))
        for name in ("say", "means"):
            if not isinstance(group.get(name), list) or not _strings(group.get(name)):
                out.append((line, f"{where}.{name}", "应为非空列表"))
        means = set(_strings(group.get("means")))
        for phrase in _strings(group.get("say")):
            if len(phrase) < 2:
                out.append((line, f"{where}.say", f"说法「{phrase}」太短：至少两个字，单字会在任何查询里命中"))
            if phrase in means:
                out.append((line, f"{where}.say", f"说法「{phrase}」与它对应的技术词相同"))
            if (sector, phrase) in seen:
                out.append((line, f"{where}.say", f"说法「{phrase}」在第 {seen[sector, phrase]} 行已列出（同一行业）"))
            seen.setdefault((sector, phrase), line)
    return out
