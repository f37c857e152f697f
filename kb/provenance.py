"""Provenance rules of `kb check`: what a consultant cites must be traceable and free of editors' notes.

- Editors' notes (field names, "约数，未填数字字段", 可信度, 核实 notes, [来源未分类]) belong in the
  front-matter field `editor_notes`, never in text users read (the body and the shown front-matter fields).
- A standard or policy that only names or requires a technology is not where its figures were read: an
  entry whose `source.origin` is 标准 and that states figures must name, per figure, where each was read.
- Every entry states `source.origin` and `source.confidence`; every case states its `kind`.

Every rule is an error: `kb check` fails and a build stops, as for any other content problem.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from .documents import Document, Problem, display_path


_FIELD_NAMES = ("investment_wan", "investment_source", "payback_years", "payback_source", "related_technologies",
                "editor_notes", "cost_class", "content_hash")
# (pattern, what it is): each a marker of a note written for editors rather than for readers.
EDITOR_MARKERS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"`[A-Za-z_][\w.\[\]]*`"), "字段名"),
    (re.compile(r"(?<![A-Za-z_])(?:%s|source\.[a-z_]+|benefits\[\d*\])(?![A-Za-z_])" % "|".join(_FIELD_NAMES)),
     "字段名"),
    (re.compile(r"(?<![A-Za-z])[a-z_]{3,}\s?字段"), "字段名"),
    (re.compile(r"(?:未|不|没有?)填(?:入|写)?[^。；\n]{0,8}字段"), "「未填字段」说明"),
    (re.compile(r"(?:列入|记入|写入|按)[^。；，\n]{0,8}字段"), "字段说明"),
    (re.compile(r"约数[，,、]?\s*(?:未|不)填"), "「约数未填」说明"),
    (re.compile(r"\[来源未分类\]"), "「[来源未分类]」标记"),
    (re.compile(r"可信度"), "可信度说明"),
    (re.compile(r"(?:未能|无法|未经|尚未|有待|待|应|请|须|需|宜)(?:再|先|进一步)?核实|核实(?:说明|记录)"), "核实说明"),
)

# Front-matter fields shown to users as text (their lines are reported; the body has its own).
SHOWN_FIELDS = ("title", "summary", "applicability", "process", "investment", "payback", "maturity", "enterprise",
                "region", "problems", "results", "outcome", "options", "benefits", "standard")
_URL = re.compile(r"https?://\S+")


def editor_markers(text: str) -> list[tuple[str, str]]:
    """(matched text, what it is) for every editor marker in a piece of user-facing text."""
    text = _URL.sub("", text)
    found = []
    for pattern, what in EDITOR_MARKERS:
        for match in pattern.finditer(text):
            found.append((match.group(0), what))
    return found


def _strings(value) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "source":          # a per-figure source is a citation, not prose
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _body_lines(doc: Document) -> Iterable[tuple[int, str]]:
    start = doc.lines.get("body", 1)
    for offset, line in enumerate(doc.body.splitlines()):
        yield start + offset, line


def provenance_problems(doc: Document) -> list[Problem]:
    """All provenance problems of one document."""
    path = display_path(Path(doc.path))
    problems: list[Problem] = []

    def add(line: int, field: str, message: str) -> None:
        problems.append(Problem(path, line, field, message))

    for field in SHOWN_FIELDS:
        for text in _strings(doc.meta.get(field)):
            for marked, what in editor_markers(text):
                add(doc.lines.get(field, 2), field, f"{what}「{marked}」是写给编辑的，移到 editor_notes")
    for line_no, line in _body_lines(doc):
        for marked, what in editor_markers(line):
            add(line_no, "body", f"{what}「{marked}」是写给编辑的，移到 editor_notes，正文改写成读者用的话")

    source = doc.source
    for key, name in (("origin", "来源性质"), ("confidence", "可信度")):
        if not source.get(key):
            add(doc.lines.get("source", 2), f"source.{key}", f"缺少{name}（见 CONTENT.md「来源性质与可信度」）")
    if doc.type == "case" and not doc.meta.get("kind"):
        add(doc.lines.get("type", 2), "kind", "案例必须写 kind：清洁生产审核、技改项目、园区/集群 或 政策示范")
    problems.extend(_unsourced_figures(doc, path))
    return problems


def cites_standard(source: dict) -> bool:
    """The entry's source is a standard or policy text (explicitly, or by its kind when origin is unset)."""
    origin = source.get("origin")
    return origin == "标准" or (origin is None and source.get("kind") == "标准")


def _unsourced_figures(doc: Document, path: str) -> list[Problem]:
    """Figures of a technology or case whose `source` is a standard: a standard names or requires a
    technology but does not report its savings, so each figure must name where it was read."""
    if doc.type == "spec" or not cites_standard(doc.source):
        return []
    meta = doc.meta
    message = "来源是标准/政策文件，它不给出这个数字：在 {} 写明数字读自哪里，或把标准移到 references（依据/要求）"
    problems = []
    for i, benefit in enumerate(meta.get("benefits") or []):
        if not benefit.get("source"):
            problems.append(Problem(path, doc.lines.get("benefits", 2), f"benefits[{i}]",
                                    message.format(f"benefits[{i}].source")))
    for field, own in (("investment", "investment_source"), ("payback", "payback_source")):
        if (meta.get(field) or meta.get(f"{field}_wan") is not None or meta.get(f"{field}_years") is not None) \
                and not meta.get(own) and doc.type == "technology":
            problems.append(Problem(path, doc.lines.get(field, doc.lines.get(f"{field}_wan", 2)), field,
                                    message.format(own)))
    if doc.type == "case":
        problems.append(Problem(path, doc.lines.get("source", 2), "source",
                                "案例的来源必须是报道或公开该案例的页面，不是标准：把标准移到 references"))
    return problems
