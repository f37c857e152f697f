"""Enterprise profile → ranked technologies, each with reasons a consultant can paste and cases to cite.

Scoring, per request (only the problem text is tokenised; everything about the corpus is
precomputed when the model is loaded, once per index generation):

1. candidates: technologies of the profile's sector plus cross-sector (通用) ones; entries whose
   source STATES an investment or payback above the profile's maximum are dropped (entries that do
   not state it stay, with a reason saying so). When fewer than `limit` remain, entries of other
   sectors that relate to the problem are added in a second tier, always ranked below, with a note.
2. similarity: cosine of the problem's TF-IDF vector (same jieba analysis and vocabulary as the
   model; glossary synonyms, focus tags and the process added at a lower weight) to each entry.
3. boosts: focus tags matching the entry's tags or category (case-insensitive, through glossary
   synonyms and a few consultant words such as 节水 → 水耗), the process matching the entry's
   process, and a small bonus for entries written for the sector itself rather than 通用.
4. order: tier, score (rounded so float noise cannot reorder), then id — deterministic.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import analysis as analysis_mod
from ..taxonomy import CROSS_SECTOR, load_taxonomy
from .model import ModelData, load_model
from .profile import Profile, parse_profile
from .stored_matrix import LoadedSparse, StoredSparse

# Weights of the extra query words relative to the problem's own words.
SYNONYM_WEIGHT = 0.5
PROBLEM_TERM_WEIGHT = 0.5   # technical words a colloquial phrase of the problem means (glossary `problems`)
FOCUS_WORD_WEIGHT = 0.3
PROCESS_WORD_WEIGHT = 0.5
SINGLE_CHAR_WEIGHT = 0.3   # lone characters (高, 大, 水) left by jieba carry little topic
INNER_WEIGHT = 0.5         # dictionary words found inside a longer word the user typed
# Additive boosts on top of the cosine similarity (which is in [0, 1], typically 0.05-0.4).
FOCUS_BOOST = 0.08          # per matched focus tag …
FOCUS_BOOST_MAX = 0.16      # … up to this
PROCESS_BOOST = 0.06
SECTOR_BOOST = 0.03         # written for this sector, not a 通用 entry
# source.confidence of the entry: a small nudge between otherwise equal entries, never a topic signal
CONFIDENCE_BOOST = {"高": 0.01, "中": 0.005, "低": 0.0}
AUDIT_KIND = "清洁生产审核"
SIMILAR_AUDIT_WEIGHT = 1.25  # an audit case's similarity counts this much more when picking similar cases
MAX_TERMS_SHOWN = 5
MAX_LINKED_CASES = 3
MAX_SIMILAR_CASES = 2

# Words consultants use for a focus, beyond the tag/category itself and the glossary synonyms.
FOCUS_ALIASES: dict[str, tuple[str, ...]] = {
    "节能": ("能耗", "电耗", "煤耗", "蒸汽", "余热", "余压", "天然气"),
    "降耗": ("能耗", "电耗", "煤耗", "原料消耗", "水耗"),
    "节电": ("电耗",),
    "节煤": ("煤耗",),
    "节水": ("水耗",),
    "水耗": ("节水",),
    "能耗": ("节能",),
    "降碳": ("二氧化碳", "甲烷", "co2"),
    "减碳": ("降碳", "二氧化碳", "甲烷", "co2"),
    "碳排放": ("降碳", "二氧化碳", "甲烷"),
    "废水": ("cod", "氨氮", "总氮", "总磷", "盐分", "废水"),
    "污水": ("废水", "cod", "氨氮"),
    "废气": ("vocs", "so2", "nox", "颗粒物", "恶臭"),
    "大气": ("vocs", "so2", "nox", "颗粒物"),
    "粉尘": ("颗粒物",),
    "除尘": ("颗粒物",),
    "脱硫": ("so2",),
    "脱硝": ("nox",),
    "固废": ("固废", "危险废物"),
    "固体废物": ("固废", "危险废物"),
    "危废": ("危险废物",),
    "vocs": ("溶剂",),
    "voc": ("vocs", "溶剂"),
    "挥发性有机物": ("vocs", "溶剂"),
    "资源化": ("资源综合利用",),
    "综合利用": ("资源综合利用",),
    "减污": ("末端治理",),
    "治理": ("末端治理",),
    "替代": ("源头替代",),
}

# Words consultants write around the problem that say nothing about which technology fits; dropped
# from the problem (besides the query stopwords of search) and never named as a matched term.
GENERIC_WORDS = frozenset(
    "大量 全部 全都 使用 采用 设备 达到 只能 白白 直接 没有 仍然 仍 还 还在 还是 已经 一直 经常 比较 非常 特别 "
    "偏高 偏低 较高 较低 很高 很大 很多 严重 主要 其他 其它 各种 各股 一起 提高 降低 减少 增加 存在 产生 造成 导致 "
    "影响 要求 当地 企业 工厂 厂里 车间 生产 过程 环节 效果 运行 情况 目前 现在 今年 明年 想 希望 打算 考虑 "
    "可能 应该 必须 不能 不够 不足 组织 压力 费用 成本 问题 大 小 多 少 高 低".split()
)
_NUM_FMT = re.compile(r"\.?0+$")
_PROCESS_SPLIT = re.compile(r"[、，,；;（）()/\\—–\-+\s]+")
COMMON_TERM_SHARE = 0.3     # a word in more than this share of entries is not named as a matched term


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return _NUM_FMT.sub("", f"{value:.2f}")


def _fold(text: str) -> str:
    return analysis_mod.normalize(str(text)).strip().lower()


class _Folder(dict):
    """_fold with memory, for one load: labels and processes repeat across entries."""

    def __missing__(self, text: str) -> str:
        folded = self[text] = _fold(text)
        return folded


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None and value != "" else math.nan
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Query:
    """A profile's tf-idf vector by its non-zero terms (sorted column indices), L2-normalised."""
    terms: np.ndarray       # int64 column indices, ascending
    values: np.ndarray      # float64 weights
    explains: np.ndarray    # bool: the term came from the problem text (may be named in a reason)

    def dense(self, width: int, explaining_only: bool = False) -> np.ndarray:
        vector = np.zeros(width, dtype=np.float64)
        if explaining_only:
            vector[self.terms[self.explains]] = self.values[self.explains]
        else:
            vector[self.terms] = self.values
        return vector


class Recommender:
    """The recommender of one index generation: everything about the corpus is read and arranged once,
    here, and lives exactly as long as this object (the knowledge base drops it with its generation)."""

    def __init__(self, model_dir: Path, kb: Any = None, analysis: analysis_mod.Analysis | None = None):
        self.kb = kb
        self.taxonomy = getattr(kb, "taxonomy", None) or load_taxonomy()
        # the knowledge base's analysis: problems are read the way the model's entries were
        self.analysis = analysis or getattr(kb, "analysis", None) or analysis_mod.load_analysis()
        data = load_model(Path(model_dir))
        # what a request reads: rows and columns with pread (kb/recommend/stored_matrix.py); the memory-mapped
        # matrices below stay for tools and tests
        self._readers = _readers(Path(model_dir), data)
        self._load_terms(data)
        self._load_technologies(data.tech_info)
        self._load_labels()
        self._load_processes()
        self._load_cases(data)
        # the glossary phrases of each sector asked about, folded (bounded by the number of sectors)
        self._phrases_analysis: Any = None
        self._phrases: dict[str, dict[str, tuple[str, ...]]] = {}

    # -- load: everything about the corpus, once ----------------------------------------------
    def _load_terms(self, data: ModelData) -> None:
        """The technologies' tf-idf rows, by row (reasons) and by column (similarity reads only the few
        dozen columns of a profile's words), the vocabulary, and the words too common to explain anything."""
        self.n = len(data.tech_ids)
        self.matrix = data.tech_matrix              # by row, and by column: both memory-mapped, indices sorted
        self.columns = data.tech_columns
        if self.matrix is not None:
            self.vocabulary: dict[str, int] = data.vectorizer.vocabulary_
            self.idf = np.asarray(data.vectorizer.idf_, dtype=np.float64)
            self.terms = [""] * len(self.vocabulary)
            for term, index in self.vocabulary.items():
                self.terms[index] = term
        else:
            self.vocabulary, self.idf, self.terms = {}, np.zeros(0), []
        # words too common to explain anything (排放, 利用, 车间): not named in reasons
        if self.matrix is not None and self.n:
            # per column, its number of rows: from the column pointers, without reading every row's indices
            df = np.diff(self._readers["tech csc"].indptr)
            self.common = df > max(2, COMMON_TERM_SHARE * self.n)
        else:
            self.common = np.zeros(len(self.terms), dtype=bool)

    def _load_technologies(self, tech_info: list[dict]) -> None:
        """Per-technology arrays: sectors, source confidence, and the stated investment and payback."""
        self.tech_info = tech_info
        self.confidence_boost = np.array([CONFIDENCE_BOOST.get(info.get("confidence") or "", 0.0)
                                          for info in tech_info], dtype=np.float64)
        self.sector_sets = [frozenset(info["sectors"]) for info in tech_info]
        self.cross = np.array([CROSS_SECTOR in s for s in self.sector_sets], dtype=bool)
        self._by_sector = {name: np.array([name in s for s in self.sector_sets], dtype=bool)
                           for name in self.taxonomy.names}
        self.investment = np.array([_number(i.get("investment_wan")) for i in tech_info], dtype=np.float64)
        self.payback = np.array([_number(i.get("payback_years")) for i in tech_info], dtype=np.float64)

    def _load_labels(self) -> None:
        """tag / category (folded) → entry indices, and each entry's labels (folded → as written)."""
        labels: dict[str, list[int]] = defaultdict(list)
        self.labels_of = []
        fold = _Folder()      # a few hundred distinct labels over thousands of entries
        for i, info in enumerate(self.tech_info):
            written = [*(info.get("tags") or []), *([info["category"]] if info.get("category") else [])]
            folded = {fold[t]: t for t in written}
            for key in folded:
                labels[key].append(i)
            self.labels_of.append(folded)
        self.label_index = {k: np.array(v, dtype=np.int64) for k, v in labels.items()}

    def _load_processes(self) -> None:
        """process text → entry indices (few distinct values, so matching a profile's process is cheap);
        "熟料烧成（窑头篦冷机、窑尾预热器废气）" is matched by each of its parts."""
        processes: dict[str, list[int]] = defaultdict(list)
        fold = _Folder()
        for i, info in enumerate(self.tech_info):
            if info.get("process"):
                processes[fold[info["process"]]].append(i)
        self.process_index = {k: np.array(v, dtype=np.int64) for k, v in processes.items()}
        self.process_parts = {k: [p for p in _PROCESS_SPLIT.split(k) if len(p) >= 2] for k in self.process_index}

    def _load_cases(self, data: ModelData) -> None:
        """The cases arranged for citing: each technology's linked case rows, each sector's pool of case
        rows, and per-case arrays for the sort keys (sector, province, audit or not, id)."""
        self.case_info = data.case_info
        m = len(self.case_info)
        self.case_matrix = data.case_matrix if m else None
        self.case_columns = data.case_columns if m else None
        self.case_sectors = [frozenset(info.get("sectors") or []) for info in self.case_info]
        self.case_not_audit = np.array([info.get("kind") != AUDIT_KIND for info in self.case_info], dtype=bool)
        self.case_weight = np.where(self.case_not_audit, 1.0, SIMILAR_AUDIT_WEIGHT)
        provinces = sorted({info["province"] for info in self.case_info if info.get("province")})
        self.province_code = {name: k for k, name in enumerate(provinces)}
        self.case_province = np.array([self.province_code.get(info.get("province") or "", -1)
                                       for info in self.case_info], dtype=np.int64)
        # rank by id: the last tie-break (rows are stored in id order, but the rank does not rely on it)
        self.case_rank = np.empty(m, dtype=np.int64)
        self.case_rank[sorted(range(m), key=lambda j: self.case_info[j]["id"])] = np.arange(m)
        linked: dict[str, list[int]] = defaultdict(list)
        pools: dict[str, set[int]] = defaultdict(set)
        for j, info in enumerate(self.case_info):
            for tech_id in info.get("technologies") or []:
                linked[tech_id].append(j)
            for sector in info.get("sectors") or []:
                pools[sector].add(j)
        empty = np.zeros(0, dtype=np.int64)
        self.linked_cases = [np.array(linked[info["id"]], dtype=np.int64) if info["id"] in linked else empty
                             for info in self.tech_info]
        self.case_pool = {sector: np.array(sorted(rows), dtype=np.int64) for sector, rows in pools.items()}

    # -- query side ----------------------------------------------------------------------------
    def query_vector(self, profile: Profile) -> Query:
        """The profile as a sparse tf-idf vector over the model's vocabulary, L2-normalised (empty if no
        known word), and which of its terms came from the problem text itself (for the reasons)."""
        analysis = self.analysis
        weights: dict[str, float] = Counter()
        whole = set(analysis.query_tokens(profile.problem))
        counts = Counter(w for w in analysis.words(profile.problem)
                         if w not in analysis_mod.QUERY_STOPWORDS and w not in GENERIC_WORDS)
        for word, count in counts.items():
            if word in self.vocabulary:
                factor = 1.0 if word in whole else INNER_WEIGHT  # 处理 inside 前处理 is not the topic
                if len(word) == 1 and not word.isascii():
                    factor = min(factor, SINGLE_CHAR_WEIGHT)
                weights[word] += (1.0 + math.log(count)) * factor
        from_problem = set(weights)

        def add(words: list[str], weight: float, explains: bool) -> None:
            for w in set(words):
                if w in self.vocabulary and w not in counts and len(w) >= 2:
                    weights[w] = max(weights.get(w, 0.0), weight)
                    if explains:
                        from_problem.add(w)

        # Extra words are added whole (挥发性有机物, not its pieces 有机, 发性), at a lower weight.
        for word in whole:
            for synonym in analysis.synonyms(word):
                add(analysis.query_tokens(synonym), SYNONYM_WEIGHT, True)
        for terms in self.problem_terms(profile).values():
            for term in terms:
                add(analysis.query_tokens(term), PROBLEM_TERM_WEIGHT, True)
        for tag in profile.focus:
            add(analysis.query_tokens(tag), FOCUS_WORD_WEIGHT, False)
        if profile.process:
            add(analysis.query_tokens(profile.process), PROCESS_WORD_WEIGHT, False)

        by_index = sorted((self.vocabulary[word], weight, word in from_problem) for word, weight in weights.items())
        terms = np.array([t for t, _, _ in by_index], dtype=np.int64)
        values = np.array([w for _, w, _ in by_index], dtype=np.float64) * self.idf[terms]
        explains = np.array([e for _, _, e in by_index], dtype=bool)
        # the norm from the non-zeros only: a dot product over the whole vocabulary (10k+ terms at 20k
        # entries) crosses OpenBLAS' threading threshold and costs ~0.5 ms instead of ~2 µs
        norm = math.sqrt(float(values @ values)) if len(values) else 0.0
        return Query(terms, values / norm if norm > 0 else values, explains)

    def problem_terms(self, profile: Profile) -> dict[str, tuple[str, ...]]:
        """Colloquial phrases in the problem (费电, 味道大) → technical words, from the glossary groups of
        the profile's sector and 通用 only (冒白汽 means 湿法熄焦 to a coking plant, not to a dyer)."""
        analysis = self.analysis
        phrases = self._sector_phrases(analysis, profile.sector)
        norm = _fold(profile.problem)
        return {phrase: phrases[phrase] for _, _, phrase in analysis.problem_spans(norm, phrases)}

    def _sector_phrases(self, analysis: Any, sector: str) -> dict[str, tuple[str, ...]]:
        """The folded glossary phrases of a sector and 通用, folded once per sector (a few hundred phrases:
        folding them on every request cost ~3 ms). Kept for this recommender's analysis only."""
        if self._phrases_analysis is not analysis:
            self._phrases_analysis, self._phrases = analysis, {}
        found = self._phrases.get(sector)
        if found is None:
            sectors = frozenset({sector, CROSS_SECTOR})
            found = self._phrases[sector] = {_fold(p): terms
                                             for p, terms in analysis.glossary.problem_phrases(sectors).items()}
        return found

    def focus_choices(self) -> list[str]:
        """The tags and categories of the technologies: what a focus value can name."""
        return sorted({label for info in self.tech_info for label in [*info.get("tags", []), info.get("category")]
                       if label})

    def unknown_focus(self, tags: list[str]) -> list[str]:
        """The focus values that name no tag or category (nor a synonym of one)."""
        return [tag for tag in tags if not self.focus_keys(tag) & self.label_index.keys()]

    def focus_keys(self, tag: str) -> set[str]:
        """A focus tag as the folded labels it matches: itself, its glossary synonyms and its aliases."""
        analysis = self.analysis
        keys = {_fold(tag)}
        keys.update(_fold(s) for s in analysis.synonyms(tag))
        keys.update(_fold(s) for s in FOCUS_ALIASES.get(_fold(tag), ()))
        keys.update(_fold(s) for s in FOCUS_ALIASES.get(tag, ()))
        return keys

    def process_hits(self, process: str | None) -> np.ndarray:
        """Which technologies' process the profile's process names (or a part of it), one bool each."""
        hits = np.zeros(self.n, dtype=bool)
        if not process:
            return hits
        wanted = [p for p in _PROCESS_SPLIT.split(_fold(process)) if len(p) >= 2]
        for text, indices in self.process_index.items():
            parts = self.process_parts[text]
            if any(w in part or part in w for w in wanted for part in parts):
                hits[indices] = True
        return hits

    # -- the request ---------------------------------------------------------------------------
    def recommend(self, profile: Profile | dict, url_of: Callable[[str], str] | None = None) -> dict:
        """The ranked technologies for a profile. `url_of(doc_id)` gives an entry's address (the web layer's
        route, the CLI's); without it each result's `url` is None."""
        if not isinstance(profile, Profile):
            profile = parse_profile(profile)
        sector = profile.sector
        notes: list[str] = []
        excluded: list[dict] = []
        result = {"profile": profile.normalised(), "results": [], "notes": notes, "excluded": excluded}
        if self.n == 0 or self.matrix is None:
            notes.append("知识库中还没有技术条目，无法推荐。")
            return result

        query = self.query_vector(profile)
        if not query.explains.any():
            notes.append("问题描述中的词语在技术库中都没有出现，结果仅按行业和关注点排列；"
                         "可换用更具体的说法（工序、污染物、设备名称等）。")
        similarity = _column_products(self._readers["tech csc"], query, self.n)

        # boosts
        focus_matches = np.zeros(self.n, dtype=np.int64)
        focus_keys: list[tuple[str, set[str]]] = []
        for tag in profile.focus:
            keys = self.focus_keys(tag)
            focus_keys.append((tag, keys))
            hit = np.zeros(self.n, dtype=bool)
            for key in keys:
                if key in self.label_index:
                    hit[self.label_index[key]] = True
            if not hit.any():
                notes.append(f"关注点「{tag}」没有对应的技术标签或类别，未参与加权。")
            focus_matches += hit
        process_hits = self.process_hits(profile.process)
        own = self._by_sector.get(sector, np.zeros(self.n, dtype=bool))
        specific = own & (sector != CROSS_SECTOR)
        score = (similarity
                 + np.minimum(focus_matches * FOCUS_BOOST, FOCUS_BOOST_MAX)
                 + process_hits * PROCESS_BOOST
                 + specific * SECTOR_BOOST
                 + self.confidence_boost * (similarity > 0))

        # constraints: only entries that state a figure above the maximum are dropped
        allowed = np.ones(self.n, dtype=bool)
        for limit_value, figures, label, unit in (
            (profile.max_investment_wan, self.investment, "投资上限", "万元"),
            (profile.max_payback_years, self.payback, "回收期上限", "年"),
        ):
            if limit_value is None:
                continue
            over = ~np.isnan(figures) & (figures > limit_value)
            in_scope = own | self.cross
            dropped = int((over & in_scope).sum())
            if dropped:
                notes.append(f"按{label} {_fmt(limit_value)} {unit}，排除了 {dropped} 项来源所述数值超出的技术。")
                # which ones and why, so the enterprise can judge (a source's figure is one project's)
                for j in np.flatnonzero(over & in_scope & allowed):
                    excluded.append({"id": self.tech_info[j]["id"], "title": self.tech_info[j]["title"],
                                     "reason": f"来源所述{label[:-2]} {_fmt(float(figures[j]))} {unit}，"
                                               f"超出{label} {_fmt(limit_value)} {unit}"})
            allowed &= ~over

        in_sector = (own | self.cross) & allowed
        candidates = in_sector.copy()
        available = int(in_sector.sum())
        if available < profile.limit:
            others = allowed & ~in_sector & (score > 0)
            if others.any():
                candidates |= others
                notes.append(
                    f"「{sector}」行业及跨行业通用技术中符合条件的只有 {available} 项（少于 {profile.limit} 项），"
                    f"已补充其他行业的相关技术，排在后面，请结合本企业情况判断是否适用。"
                )
            elif available == 0:
                notes.append(f"「{sector}」行业暂无符合条件的技术条目，其他行业也没有与问题描述相关的技术。")
            else:
                notes.append(f"「{sector}」行业及跨行业通用技术中符合条件的只有 {available} 项，"
                             f"其他行业没有与问题描述相关的技术可补充。")

        # order: tier (own sector and 通用 first), score rounded so float noise cannot reorder, then id
        # (tech rows are sorted by id in the model, so the index itself breaks ties by id)
        chosen = top_rounded([np.flatnonzero(in_sector), np.flatnonzero(candidates & ~in_sector)],
                              score, profile.limit)
        explaining = query.dense(len(self.terms), explaining_only=True)
        cases = self._cases(chosen, profile, query)
        for i, (cited, linked) in zip(chosen.tolist(), cases):
            result["results"].append(self._result(i, profile, explaining, float(score[i]), int(focus_matches[i]),
                                                  focus_keys, bool(process_hits[i]), cited, linked, url_of))
        return result

    # -- one result, explained -----------------------------------------------------------------
    def _matched_terms(self, i: int, query: np.ndarray) -> list[str]:
        _, cols, values = self._readers["tech csr"].major(np.array([i]))
        contribution = values * query[cols]
        matched = [self.terms[c] for c in cols[contribution > 0].tolist()]
        picked: list[str] = []
        for k in np.lexsort((cols, -contribution)):
            if contribution[k] <= 0:
                break
            term = self.terms[cols[k]]
            if (len(term) < 2 and not term.isascii()) or term.isdigit() or self.common[cols[k]]:
                continue
            if any(term != other and term in other for other in matched):
                continue  # 有机 inside 挥发性有机物: name the whole word only
            picked.append(term)
            if len(picked) >= MAX_TERMS_SHOWN:
                break
        return picked

    def _result(self, i: int, profile: Profile, explaining: np.ndarray, score: float, focus_count: int,
                focus_keys: list[tuple[str, set[str]]], process_hit: bool, cases: list[dict], linked: bool,
                url_of: Callable[[str], str] | None) -> dict:
        info = self.tech_info[i]
        reasons: list[str] = []
        terms = self._matched_terms(i, explaining)
        if terms:
            reasons.append(f"问题描述与本技术共同涉及：{'、'.join(terms)}")
        sectors = info["sectors"]
        if profile.sector in sectors and profile.sector != CROSS_SECTOR:
            reasons.append(f"适用于本行业：{profile.sector}")
        elif CROSS_SECTOR in sectors:
            reasons.append("跨行业通用技术")
        else:
            reasons.append(f"其他行业（{'、'.join(sectors)}）的技术，本行业条目不足时补充列出，供参考")
        if focus_count:
            labels = self.labels_of[i]
            matched = [tag for tag, keys in focus_keys if keys & labels.keys()]
            reasons.append(f"针对关注点：{'、'.join(matched)}")
        if process_hit:
            reasons.append(f"对应工序：{info.get('process')}")
        investment, payback = self.investment[i], self.payback[i]
        if profile.max_investment_wan is not None:
            if math.isnan(investment):
                reasons.append("来源未给出投资额，是否在预算内需向供应商核实")
            else:
                reasons.append(f"投资约{_fmt(investment)}万元，在预算内")
        if profile.max_payback_years is not None:
            if math.isnan(payback):
                reasons.append("来源未给出投资回收期，需结合企业数据测算")
            else:
                reasons.append(f"投资回收期约{_fmt(payback)}年，在要求内")

        if cases and linked:
            reasons.append(f"知识库收录了采用本技术的案例 {len(cases)} 个，可引用其实际成效")
        elif cases:
            reasons.append("知识库未收录直接采用本技术的案例，附本行业相近案例供参考")
        return {
            "id": info["id"],
            "title": info["title"],
            "sectors": list(sectors),
            "score": round(score, 4),
            "reasons": reasons,
            "cases": cases,
            "url": url_of(info["id"]) if url_of is not None else None,
        }

    # -- cases to cite -------------------------------------------------------------------------
    def _cases(self, chosen: np.ndarray, profile: Profile, query: Query) -> list[tuple[list[dict], bool]]:
        """For each chosen technology: the cases that used it (up to MAX_LINKED_CASES), or else the most
        similar cases of the sector (up to MAX_SIMILAR_CASES), and whether they are linked. The
        cases' relevance to the profile is one product over the query's columns, and the similarity of
        every unlinked result to its sector's cases one sparse product for all of them."""
        if not self.case_info or self.case_matrix is None:
            return [([], False)] * len(chosen)
        relevance = _column_products(self._readers["case csc"], query, len(self.case_info))
        province = self.province_code.get(profile.province, -2) if profile.province else None
        out: list[tuple[list[dict], bool] | None] = [None] * len(chosen)
        unlinked: list[int] = []
        for position, i in enumerate(chosen.tolist()):
            rows = self.linked_cases[i]
            if len(rows):
                out[position] = (self._case_list(self._linked_order(rows, relevance, profile.sector, province)), True)
            else:
                unlinked.append(position)
        if unlinked:
            pools = [self._pool(int(chosen[p]), profile.sector) for p in unlinked]
            union = np.unique(np.concatenate(pools))
            if len(union):
                # rows: the union of the pools' cases; columns: the unlinked results. The technologies as a
                # dense block: sparse × dense is 5× faster than sparse × sparse here, with the same sums
                shared = self._readers["case csr"].rows(union) @ \
                    self._readers["tech csr"].rows(chosen[unlinked]).T.toarray()
            for k, (position, pool) in enumerate(zip(unlinked, pools)):
                if not len(pool):
                    out[position] = ([], False)
                    continue
                similarity = shared[np.searchsorted(union, pool), k] + 0.5 * relevance[pool]
                similarity *= self.case_weight[pool]
                positive = similarity > 0
                rows, values = pool[positive], similarity[positive]
                groups = (self.case_province[rows] != province).astype(np.int64) if province is not None \
                    else np.zeros(len(rows), dtype=np.int64)
                out[position] = (self._case_list(top_exact(rows, values, groups, self.case_rank, MAX_SIMILAR_CASES)),
                                 False)
        return out

    def _linked_order(self, rows: np.ndarray, relevance: np.ndarray, sector: str, province: int | None) -> list[int]:
        """The profile's own sector first (an 印染 consultant cites an 印染 enterprise before a paper mill),
        then the enterprise's own province, then real audit cases before retrofit news and programmes,
        then relevance to the profile and id."""
        groups = np.array([sector not in self.case_sectors[j] for j in rows.tolist()], dtype=np.int64) * 4
        if province is not None:
            groups += (self.case_province[rows] != province) * 2
        groups += self.case_not_audit[rows]
        return top_exact(rows, relevance[rows], groups, self.case_rank, MAX_LINKED_CASES)

    def close(self) -> None:
        """Close the matrices' files (a generation's recommender is dropped when the next one is live)."""
        for reader in self._readers.values():
            reader.close()

    def _pool(self, i: int, sector: str) -> np.ndarray:
        """The cases a technology without linked cases may be compared with: the profile's sector's when
        the technology is written for it or for 通用, else those of the technology's own sectors."""
        sectors = self.tech_info[i]["sectors"]
        names = [sector] if sector in sectors or CROSS_SECTOR in sectors else sectors
        pools = [self.case_pool[s] for s in dict.fromkeys(names) if s in self.case_pool]
        if len(pools) == 1:
            return pools[0]
        return np.unique(np.concatenate(pools)) if pools else np.zeros(0, dtype=np.int64)

    def _case_list(self, rows: list[int]) -> list[dict]:
        return [{"id": self.case_info[j]["id"], "title": self.case_info[j]["title"]} for j in rows]


def _readers(model_dir: Path, data: ModelData) -> dict[str, StoredSparse | LoadedSparse]:
    """"tech csr", "tech csc", "case csr", "case csc": read with pread where the generation has the matrix
    files, else from the matrices the model's pickle held; none for a model without that kind of entry."""
    readers: dict[str, StoredSparse | LoadedSparse] = {}
    for name in ("tech", "case"):
        rows, columns = getattr(data, f"{name}_matrix"), getattr(data, f"{name}_columns")
        if rows is None:
            continue
        on_file = (model_dir / f"{name}.shape.npy").is_file() and columns is not None
        for layout, matrix in (("csr", rows), ("csc", columns if columns is not None else rows.tocsc())):
            readers[f"{name} {layout}"] = StoredSparse(model_dir, name, layout) if on_file else LoadedSparse(matrix)
    return readers


def _column_products(columns: StoredSparse | LoadedSparse, query: Query, size: int) -> np.ndarray:
    """columns[:, query.terms] @ query.values for a CSC matrix, reading only the query's columns; the
    sums run column by column, in the same order as scipy's own product."""
    if not len(query.terms):
        return np.zeros(size, dtype=np.float64)
    lengths, indices, data = columns.major(query.terms)
    if not len(data):
        return np.zeros(size, dtype=np.float64)
    return np.bincount(indices, weights=data * np.repeat(query.values, lengths), minlength=size)


def top_rounded(tiers: list[np.ndarray], score: np.ndarray, limit: int) -> np.ndarray:
    """The first `limit` indices ordered by tier, -round(score, 9) (numpy's rounding), index — what a
    lexsort of all candidates gives, but argpartition keeps the sort to the few that can make it."""
    picked: list[np.ndarray] = []
    need = limit
    for indices in tiers:
        if need <= 0:
            break
        if not len(indices):
            continue
        keys = -np.round(score[indices], 9)
        if len(indices) > need:
            kth = np.partition(keys, need - 1)[need - 1]
            near = keys <= kth                      # everything that can be among the first `need`, ties too
            indices, keys = indices[near], keys[near]
        order = np.lexsort((indices, keys))[:need]
        picked.append(indices[order])
        need -= len(order)
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


SMALL_SORT = 16


def top_exact(rows: np.ndarray, values: np.ndarray, groups: np.ndarray, rank: np.ndarray, k: int) -> list[int]:
    """The first k rows ordered by (group, -round(value, 9), rank) with Python's own rounding, as
    `sorted` with that key gives; only the rows that can make the first k are sorted in Python."""
    if len(rows) <= SMALL_SORT:       # a technology's few linked cases: sorting them is the cheapest
        order = sorted(range(len(rows)), key=lambda t: (int(groups[t]), -round(float(values[t]), 9), int(rank[rows[t]])))
        return [int(rows[t]) for t in order[:k]]
    picked: list[int] = []
    for group in np.unique(groups).tolist():
        need = k - len(picked)
        if need <= 0:
            break
        in_group = groups == group
        r, v = rows[in_group], values[in_group]
        if len(r) > need:
            kth = np.partition(v, len(v) - need)[len(v) - need]     # the need-th largest value
            # a value more than 1e-8 below it rounds (to 9 places) below every one of the top `need`
            near = v >= kth - 1e-8
            r, v = r[near], v[near]
        order = sorted(range(len(r)), key=lambda t: (-round(float(v[t]), 9), int(rank[r[t]])))
        picked.extend(int(r[t]) for t in order[:need])
    return picked
