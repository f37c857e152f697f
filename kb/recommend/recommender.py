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
from pathlib import Path
from typing import Any

import numpy as np

from .. import analysis as analysis_mod
from ..taxonomy import CROSS_SECTOR, load_taxonomy
from .model import ModelData, load_model
from .profile import Profile, parse_profile

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


class Recommender:
    def __init__(self, model_dir: Path, kb: Any = None, analysis: analysis_mod.Analysis | None = None):
        self.kb = kb
        self.taxonomy = getattr(kb, "taxonomy", None) or load_taxonomy()
        # the knowledge base's analysis: problems are read the way the model's entries were
        self.analysis = analysis or getattr(kb, "analysis", None) or analysis_mod.load_analysis()
        self._load(load_model(Path(model_dir)))

    # -- load: everything about the corpus, once ----------------------------------------------
    def _load(self, data: ModelData) -> None:
        self.data = data
        self.tech_info = data.tech_info
        self.n = len(data.tech_ids)
        self.matrix = data.tech_matrix.tocsr() if data.tech_matrix is not None else None
        # by column too: a profile has a few dozen terms, so similarity reads only their columns
        self.columns = self.matrix.tocsc() if self.matrix is not None else None
        if self.matrix is not None:
            self.matrix.sort_indices()
            self.vocabulary: dict[str, int] = data.vectorizer.vocabulary_
            self.idf = np.asarray(data.vectorizer.idf_, dtype=np.float64)
            self.terms = [""] * len(self.vocabulary)
            for term, index in self.vocabulary.items():
                self.terms[index] = term
        else:
            self.vocabulary, self.idf, self.terms = {}, np.zeros(0), []

        self.confidence_boost = np.array([CONFIDENCE_BOOST.get(info.get("confidence") or "", 0.0)
                                          for info in self.tech_info], dtype=np.float64)
        self.sector_sets = [frozenset(info["sectors"]) for info in self.tech_info]
        self.cross = np.array([CROSS_SECTOR in s for s in self.sector_sets], dtype=bool)
        self._by_sector = {name: np.array([name in s for s in self.sector_sets], dtype=bool)
                           for name in self.taxonomy.names}

        # tag / category (folded) → entry indices
        labels: dict[str, list[int]] = defaultdict(list)
        for i, info in enumerate(self.tech_info):
            for label in {*(info.get("tags") or []), *([info["category"]] if info.get("category") else [])}:
                labels[_fold(label)].append(i)
        self.label_index = {k: np.array(v, dtype=np.int64) for k, v in labels.items()}
        self.labels_of = [
            {_fold(t): t for t in [*(info.get("tags") or []), *([info["category"]] if info.get("category") else [])]}
            for info in self.tech_info
        ]

        # process text → entry indices (few distinct values, so matching a profile's process is cheap);
        # "熟料烧成（窑头篦冷机、窑尾预热器废气）" is matched by each of its parts
        processes: dict[str, list[int]] = defaultdict(list)
        for i, info in enumerate(self.tech_info):
            if info.get("process"):
                processes[_fold(info["process"])].append(i)
        self.process_index = {k: np.array(v, dtype=np.int64) for k, v in processes.items()}
        self.process_parts = {k: [p for p in _PROCESS_SPLIT.split(k) if len(p) >= 2] for k in self.process_index}

        # words too common to explain anything (排放, 利用, 车间): not named in reasons
        if self.matrix is not None and self.n:
            df = np.bincount(self.matrix.indices, minlength=len(self.terms))
            self.common = df > max(2, COMMON_TERM_SHARE * self.n)
        else:
            self.common = np.zeros(len(self.terms), dtype=bool)

        def _num(value: Any) -> float:
            try:
                return float(value) if value is not None and value != "" else math.nan
            except (TypeError, ValueError):
                return math.nan

        self.investment = np.array([_num(i.get("investment_wan")) for i in self.tech_info], dtype=np.float64)
        self.payback = np.array([_num(i.get("payback_years")) for i in self.tech_info], dtype=np.float64)

        # cases
        self.case_info = data.case_info
        self.case_matrix = data.case_matrix.tocsr() if data.case_matrix is not None else None
        self.cases_of_tech: dict[str, list[int]] = defaultdict(list)
        self.cases_of_sector: dict[str, list[int]] = defaultdict(list)
        for j, info in enumerate(self.case_info):
            for tech_id in info.get("technologies") or []:
                self.cases_of_tech[tech_id].append(j)
            for sector in info.get("sectors") or []:
                self.cases_of_sector[sector].append(j)

    # -- query side ----------------------------------------------------------------------------
    def _query_vector(self, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
        """The profile as a tf-idf vector over the model's vocabulary, L2-normalised (zeros if no known
        word), and a mask of the terms that came from the problem text itself (for the reasons)."""
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
        for terms in self._problem_terms(profile).values():
            for term in terms:
                add(analysis.query_tokens(term), PROBLEM_TERM_WEIGHT, True)
        for tag in profile.focus:
            add(analysis.query_tokens(tag), FOCUS_WORD_WEIGHT, False)
        if profile.process:
            add(analysis.query_tokens(profile.process), PROCESS_WORD_WEIGHT, False)

        vector = np.zeros(len(self.vocabulary), dtype=np.float64)
        mask = np.zeros(len(self.vocabulary), dtype=bool)
        for word, weight in weights.items():
            index = self.vocabulary[word]
            vector[index] = weight * self.idf[index]
            mask[index] = word in from_problem
        norm = np.linalg.norm(vector)
        return (vector / norm if norm > 0 else vector), mask

    def _problem_terms(self, profile: Profile) -> dict[str, tuple[str, ...]]:
        """Colloquial phrases in the problem (费电, 味道大) → technical words, from the glossary groups of
        the profile's sector and 通用 only (冒白汽 means 湿法熄焦 to a coking plant, not to a dyer)."""
        analysis = self.analysis
        sectors = frozenset({profile.sector, CROSS_SECTOR})
        phrases = {_fold(p): terms for p, terms in analysis.glossary.problem_phrases(sectors).items()}
        norm = _fold(profile.problem)
        return {phrase: phrases[phrase] for _, _, phrase in analysis.problem_spans(norm, phrases)}

    def focus_choices(self) -> list[str]:
        """The tags and categories of the technologies: what a focus value can name."""
        return sorted({label for info in self.tech_info for label in [*info.get("tags", []), info.get("category")]
                       if label})

    def unknown_focus(self, tags: list[str]) -> list[str]:
        """The focus values that name no tag or category (nor a synonym of one)."""
        return [tag for tag in tags if not self._focus_keys(tag) & self.label_index.keys()]

    def _focus_keys(self, tag: str) -> set[str]:
        analysis = self.analysis
        keys = {_fold(tag)}
        keys.update(_fold(s) for s in analysis.synonyms(tag))
        keys.update(_fold(s) for s in FOCUS_ALIASES.get(_fold(tag), ()))
        keys.update(_fold(s) for s in FOCUS_ALIASES.get(tag, ()))
        return keys

    def _process_hits(self, process: str | None) -> np.ndarray:
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
    def recommend(self, profile: Profile | dict) -> dict:
        if not isinstance(profile, Profile):
            profile = parse_profile(profile)
        sector = profile.sector
        notes: list[str] = []
        excluded: list[dict] = []
        result = {"profile": profile.normalised(), "results": [], "notes": notes, "excluded": excluded}
        if self.n == 0 or self.matrix is None:
            notes.append("知识库中还没有技术条目，无法推荐。")
            return result

        query, explain = self._query_vector(profile)
        if not explain.any():
            notes.append("问题描述中的词语在技术库中都没有出现，结果仅按行业和关注点排列；"
                         "可换用更具体的说法（工序、污染物、设备名称等）。")
        terms = np.flatnonzero(query)
        similarity = np.asarray(self.columns[:, terms] @ query[terms]).ravel() if len(terms) else np.zeros(self.n)

        # boosts
        focus_matches = np.zeros(self.n, dtype=np.int64)
        focus_keys: list[tuple[str, set[str]]] = []
        for tag in profile.focus:
            keys = self._focus_keys(tag)
            focus_keys.append((tag, keys))
            hit = np.zeros(self.n, dtype=bool)
            for key in keys:
                if key in self.label_index:
                    hit[self.label_index[key]] = True
            if not hit.any():
                notes.append(f"关注点「{tag}」没有对应的技术标签或类别，未参与加权。")
            focus_matches += hit
        process_hits = self._process_hits(profile.process)
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
        tier = np.where(in_sector, 0, 1)
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

        indices = np.flatnonzero(candidates)
        rounded = np.round(score[indices], 9)
        # tech_ids are sorted by id in the model, so the index itself breaks ties by id
        order = np.lexsort((indices, -rounded, tier[indices]))
        chosen = indices[order][: profile.limit]

        for i in chosen:
            result["results"].append(self._result(int(i), profile, query, explain, float(score[i]), bool(tier[i] == 0),
                                                  int(focus_matches[i]), focus_keys, bool(process_hits[i])))
        return result

    # -- one result, explained -----------------------------------------------------------------
    def _matched_terms(self, i: int, query: np.ndarray) -> list[str]:
        start, end = self.matrix.indptr[i], self.matrix.indptr[i + 1]
        cols = self.matrix.indices[start:end]
        contribution = self.matrix.data[start:end] * query[cols]
        matched = [self.terms[c] for c, v in zip(cols, contribution) if v > 0]
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

    def _result(self, i: int, profile: Profile, query: np.ndarray, explain: np.ndarray, score: float, in_sector: bool,
                focus_count: int, focus_keys: list[tuple[str, set[str]]], process_hit: bool) -> dict:
        info = self.tech_info[i]
        reasons: list[str] = []
        terms = self._matched_terms(i, query * explain)
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

        cases, linked = self._cases(i, profile, query)
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
            "url": f"/documents/{info['id']}",
        }

    def _not_audit(self, row: int) -> bool:
        """Whether a case is not a cleaner-production audit (audit cases are cited first where they exist)."""
        return self.case_info[row].get("kind") != AUDIT_KIND

    def _elsewhere(self, row: int, profile: Profile) -> bool:
        """Whether a case is outside the profile's province (False when no province was given)."""
        return bool(profile.province) and self.case_info[row].get("province") != profile.province

    def _cases(self, i: int, profile: Profile, query: np.ndarray) -> tuple[list[dict], bool]:
        info = self.tech_info[i]
        if not self.case_info or self.case_matrix is None:
            return [], False
        linked = self.cases_of_tech.get(info["id"], [])
        if linked:
            rows = np.array(linked, dtype=np.int64)
            relevance = np.asarray(self.case_matrix[rows] @ query).ravel()
            # the profile's own sector first: an 印染 consultant cites an 印染 enterprise before a paper mill;
            # then the enterprise's own province, then real audit cases before retrofit news and programmes
            order = sorted(range(len(rows)), key=lambda k: (
                profile.sector not in (self.case_info[rows[k]].get("sectors") or []),
                self._elsewhere(rows[k], profile),
                self._not_audit(rows[k]),
                -round(float(relevance[k]), 9), self.case_info[rows[k]]["id"]))
            picked = [int(rows[k]) for k in order[:MAX_LINKED_CASES]]
            return [{"id": self.case_info[j]["id"], "title": self.case_info[j]["title"]} for j in picked], True
        sectors = [profile.sector] if profile.sector in info["sectors"] or CROSS_SECTOR in info["sectors"] else info["sectors"]
        pool = sorted({j for s in sectors for j in self.cases_of_sector.get(s, [])})
        if not pool:
            return [], False
        rows = np.array(pool, dtype=np.int64)
        sub = self.case_matrix[rows]
        tech_row = self.matrix[i]
        similarity = np.asarray((sub @ tech_row.T).todense()).ravel() + 0.5 * np.asarray(sub @ query).ravel()
        similarity *= np.where([self._not_audit(int(r)) for r in rows], 1.0, SIMILAR_AUDIT_WEIGHT)
        order = sorted((k for k in range(len(rows)) if similarity[k] > 0),
                       key=lambda k: (self._elsewhere(rows[k], profile), -round(float(similarity[k]), 9),
                                      self.case_info[rows[k]]["id"]))
        picked = [int(rows[k]) for k in order[:MAX_SIMILAR_CASES]]
        return [{"id": self.case_info[j]["id"], "title": self.case_info[j]["title"]} for j in picked], False
