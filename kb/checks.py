"""Checks that need the whole knowledge base rather than one file."""
from __future__ import annotations

import math
import re
import threading
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


def link_problems(doc: Document, documents: dict[str, Document]) -> list[Problem]:
    """A case's links that name no technology entry."""
    problems = []
    if doc.type == "case":
        for field in CASE_LINK_FIELDS:
            for i, tech_id in enumerate(doc.meta.get(field, [])):
                target = documents.get(tech_id)
                if target is None or target.type != "technology":
                    problems.append(Problem(display_path(Path(doc.path)), doc.lines.get(field, 2),
                                            f"{field}[{i}]", f"技术条目「{tech_id}」不存在"))
    return problems


def cross_check(documents: dict[str, Document]) -> list[Problem]:
    return CrossChecks()(documents)


class CrossChecks:
    """The whole-knowledge-base checks, remembering what they found for unchanged documents.

    A running server checks the whole content on every batch build (one edit at 20,000 entries: 25 s of
    provenance checks and minutes of title comparisons). One object lives as long as its knowledge base:
    provenance problems are kept per file and content hash, and near-duplicate titles are compared again
    only for technologies whose title changed. Called fresh (cross_check), it checks everything."""

    def __init__(self) -> None:
        self._provenance: dict[tuple[str, str], list[Problem]] = {}
        self._titles = NearDuplicateTitles()
        self._lock = threading.Lock()     # a batch build and a CLI-side build of one process may overlap

    def __call__(self, documents: dict[str, Document]) -> list[Problem]:
        with self._lock:
            return self._check(documents)

    def _check(self, documents: dict[str, Document]) -> list[Problem]:
        problems: list[Problem] = []
        provenance: dict[tuple[str, str], list[Problem]] = {}
        for doc in documents.values():
            problems.extend(link_problems(doc, documents))
            key = (doc.path, doc.content_hash)
            found = self._provenance.get(key)
            provenance[key] = found if found is not None else provenance_problems(doc)
            problems.extend(provenance[key])
        self._provenance = provenance          # only what the current content holds
        problems.extend(self._titles([d for d in documents.values() if d.type == "technology"]))
        return problems


class NearDuplicateTitles:
    """near_duplicate_titles, comparing again only the titles that changed since the last call."""

    def __init__(self, threshold: float = 0.92):
        self.threshold = threshold
        self._known: dict[str, tuple[str, str, int]] = {}          # id → (title, path, title line)
        self._pairs: dict[tuple[str, str], Problem] = {}          # (earlier id, later id) → problem
        self._parts: dict[str, tuple] = {}                         # title → (key, Latin words)

    def __call__(self, technologies: list[Document]) -> list[Problem]:
        current = {d.id: (d.title, d.path, d.lines.get("title", 2)) for d in technologies}
        changed = {i for i, seen in current.items() if self._known.get(i) != seen}
        gone = set(self._known) - set(current)
        parts = {title: self._parts[title] for title, _, _ in current.values() if title in self._parts}
        if len(changed) + len(gone) > len(current) // 2:        # most of it: one full pass
            self._pairs = similar_pairs(technologies, self.threshold, parts=parts)
        else:
            stale = changed | gone
            self._pairs = {k: v for k, v in self._pairs.items() if k[0] not in stale and k[1] not in stale}
            fresh = [d for d in technologies if d.id in changed]
            self._pairs.update(similar_pairs(technologies, self.threshold, only=fresh, parts=parts))
        self._known, self._parts = current, parts
        order = {doc_id: n for n, doc_id in enumerate(sorted(current))}
        return [self._pairs[k] for k in sorted(self._pairs, key=lambda k: (order[k[1]], order[k[0]]))]


def near_duplicate_titles(technologies: list[Document], threshold: float = 0.92) -> list[Problem]:
    """Flag two ids that look like the same technology, so the knowledge base has one entry per thing."""
    return NearDuplicateTitles(threshold)(technologies)


def similar_pairs(technologies: list[Document], threshold: float, only: list[Document] | None = None,
                   parts: dict[str, tuple] | None = None) -> dict[tuple[str, str], Problem]:
    """(earlier id, later id) → problem for every pair of similar titles (with `only`: pairs that hold one
    of those). `parts`: title → (key, Latin words), filled here, so a caller that keeps it does not take
    every title apart again.

    difflib's ratio 2·M/(la+lb) is at most 2·I/(la+lb), I the characters two keys share (as multisets), so
    a pair can reach the threshold only if I ≥ α(la) = t·la/(2−t) for each side. Candidates are found by
    prefix filtering (as in set-similarity joins): with every key's characters (the n-th occurrence of a
    character counted as its own token) in one order, rarest first, two keys sharing α tokens share a token
    among the first la−α+1 of either. Only pairs with the same Latin words (SCR is not SNCR), lengths that
    allow the threshold and a shared prefix token reach the bounds below and difflib. On synthetic titles
    drawn from a few hundred words every same-length pair was compared before: 20k entries took ~45 s."""
    from collections import Counter

    parts = {} if parts is None else parts

    def entry(doc: Document) -> tuple[Document, str, frozenset[str]]:
        found = parts.get(doc.title)
        if found is None:
            found = parts[doc.title] = (_title_key(doc.title), frozenset(_latin(doc.title)))
        return (doc, *found)

    everyone = [item for item in map(entry, technologies) if item[1]]
    probes = everyone if only is None else [item for item in map(entry, only) if item[1]]
    if not probes:
        return {}
    tokens_of: dict[str, list[tuple[str, int]]] = {}
    frequency: Counter = Counter()
    for _, key, _ in everyone + probes:
        if key not in tokens_of:
            seen: Counter = Counter()
            tokens = tokens_of[key] = []
            for ch in key:
                seen[ch] += 1
                tokens.append((ch, seen[ch]))
    for _, key, _ in everyone:
        frequency.update(tokens_of[key])

    def prefix(key: str) -> list[tuple[str, int]]:
        need = max(1, math.ceil(threshold * len(key) / (2 - threshold) - 1e-6))
        ordered = sorted(tokens_of[key], key=lambda token: (frequency[token], token))
        return ordered[: len(key) - need + 1]

    index: dict[tuple[frozenset[str], tuple[str, int]], list[int]] = {}
    for n, (_, key, latin) in enumerate(everyone):
        for token in prefix(key):
            index.setdefault((latin, token), []).append(n)
    chars: dict[str, tuple[frozenset[str], Counter]] = {}

    def char_counts(key: str) -> tuple[frozenset[str], Counter]:
        found = chars.get(key)
        if found is None:
            found = chars[key] = (frozenset(key), Counter(key))
        return found

    pairs: dict[tuple[str, str], Problem] = {}
    for a, ka, latin in probes:
        found = {n for token in prefix(ka) for n in index.get((latin, token), ())}
        counts_a = char_counts(ka)
        for n in found:
            b, kb_, _ = everyone[n]
            if a.id == b.id or (only is None and b.id < a.id):
                continue
            total = len(ka) + len(kb_)
            if 2 * min(len(ka), len(kb_)) < threshold * total:
                continue
            counts_b = char_counts(kb_)
            # difflib's quick_ratio, bounded first by the shared distinct characters (a set operation)
            shared = len(counts_a[0] & counts_b[0])
            if 2 * min(shared + len(ka) - len(counts_a[0]), shared + len(kb_) - len(counts_b[0])) < threshold * total:
                continue
            if 2 * sum((counts_a[1] & counts_b[1]).values()) < threshold * total:
                continue
            first, second = (a, b) if a.id < b.id else (b, a)
            k1, k2 = (ka, kb_) if a.id < b.id else (kb_, ka)
            if k1 == k2 or SequenceMatcher(None, k1, k2).ratio() >= threshold:
                pairs[(first.id, second.id)] = Problem(
                    display_path(Path(second.path)), second.lines.get("title", 2), "title",
                    f"与「{first.id}」（{first.title}）疑似重复：同一技术只应有一个条目")
    return pairs
