"""Checks that need the whole knowledge base rather than one file."""
from __future__ import annotations

import re
from difflib import SequenceMatcher
from pathlib import Path

from .documents import Document, Problem, display_path
from .provenance import provenance_problems

_NOISE = re.compile(r"[（）()\s·、，,.。/\-—:：“”\"']|技术|工艺|系统|装置|设备|应用|及其|与|和|的")


def _title_key(title: str) -> str:
    return _NOISE.sub("", title).lower()


def _latin(title: str) -> set[str]:
    # SCR and SNCR, RTO and RCO differ by one letter but are different technologies
    return {w.upper() for w in re.findall(r"[A-Za-z][A-Za-z0-9]+", title)}


# A case's links to technology entries: named by its source, or associated by an editor.
CASE_LINK_FIELDS = ("technologies", "related_technologies")


def cross_check(documents: dict[str, Document]) -> list[Problem]:
    problems: list[Problem] = []
    for doc in documents.values():
        if doc.type == "case":
            for field in CASE_LINK_FIELDS:
                for i, tech_id in enumerate(doc.meta.get(field, [])):
                    target = documents.get(tech_id)
                    if target is None or target.type != "technology":
                        problems.append(
                            Problem(display_path(Path(doc.path)), doc.lines.get(field, 2),
                                    f"{field}[{i}]", f"技术条目「{tech_id}」不存在")
                        )
        problems.extend(provenance_problems(doc))
    problems.extend(near_duplicate_titles([d for d in documents.values() if d.type == "technology"]))
    return problems


def near_duplicate_titles(technologies: list[Document], threshold: float = 0.92) -> list[Problem]:
    """Flag two ids that look like the same technology, so the knowledge base has one entry per thing."""
    keyed = [(doc, _title_key(doc.title)) for doc in sorted(technologies, key=lambda d: d.id)]
    problems = []
    for i, (a, ka) in enumerate(keyed):
        for b, kb_ in keyed[i + 1 :]:
            if not ka or not kb_ or _latin(a.title) != _latin(b.title):
                continue
            matcher = SequenceMatcher(None, ka, kb_)
            if ka == kb_ or (matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold):
                problems.append(
                    Problem(display_path(Path(b.path)), b.lines.get("title", 2), "title",
                            f"与「{a.id}」（{a.title}）疑似重复：同一技术只应有一个条目")
                )
    return problems
