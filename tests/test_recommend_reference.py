"""The recommender's fast path against a plain reference computation on the bundled content.

`Recommender.recommend` reads only the query's columns, computes every result's case similarities in
one sparse product and sorts only the few rows that can make the top. This file recomputes the same
answers the straightforward way (every technology's dot product, Python sorts of every candidate and
every case, per-result slices) for the judged dev set and variants of it, so a future speed-up cannot
silently change a ranking, a score or a cited case.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from kb.recommend import recommender as rec_mod
from kb.recommend.profile import parse_profile
from kb.taxonomy import CROSS_SECTOR

DEVSET = Path(__file__).resolve().parent.parent / "bench" / "recommend_devset.yaml"
FIELDS = ("sector", "problem", "focus", "process", "max_investment_wan", "max_payback_years")


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    from kb.config import BUNDLED_CONTENT
    from kb.loader import load_content
    from kb.recommend.model import build_model

    from kb.analysis import load_analysis
    from kb.fields import PreparedWords

    out = tmp_path_factory.mktemp("model")
    build_model(list(load_content([BUNDLED_CONTENT]).documents.values()), out, PreparedWords(load_analysis()))
    return rec_mod.Recommender(out)


def profiles() -> list[dict]:
    raw = yaml.safe_load(DEVSET.read_text(encoding="utf-8"))
    base = [{k: p[k] for k in FIELDS if p.get(k) is not None} for p in (raw["profiles"] if isinstance(raw, dict) else raw)]
    return (base
            + [dict(p, province="江苏", limit=20) for p in base]
            + [dict(p, province="浙江", limit=50, max_investment_wan=100.0) for p in base[::3]]
            + [dict(p, limit=50, max_payback_years=2.0) for p in base[1::4]])


def reference(r: rec_mod.Recommender, profile) -> list[tuple]:
    """(id, score to display precision, cited case ids, linked) per result, computed plainly."""
    query = r.query_vector(profile).dense(len(r.terms))
    assert abs(np.linalg.norm(query) - 1.0) < 1e-12 or not query.any()
    similarity = r.matrix @ query
    focus = np.zeros(r.n)
    for tag in profile.focus:
        keys = r.focus_keys(tag)
        focus += np.array([bool(keys & labels.keys()) for labels in r.labels_of])
    process = r.process_hits(profile.process)
    own = np.array([profile.sector in info["sectors"] for info in r.tech_info])
    cross = np.array([CROSS_SECTOR in info["sectors"] for info in r.tech_info])
    score = (similarity + np.minimum(focus * rec_mod.FOCUS_BOOST, rec_mod.FOCUS_BOOST_MAX)
             + process * rec_mod.PROCESS_BOOST + (own & (profile.sector != CROSS_SECTOR)) * rec_mod.SECTOR_BOOST
             + np.array([rec_mod.CONFIDENCE_BOOST.get(i.get("confidence") or "", 0.0) for i in r.tech_info]) * (similarity > 0))
    allowed = np.ones(r.n, dtype=bool)
    for limit, figures in ((profile.max_investment_wan, r.investment), (profile.max_payback_years, r.payback)):
        if limit is not None:
            allowed &= ~(~np.isnan(figures) & (figures > limit))
    in_sector = (own | cross) & allowed
    candidates = in_sector | ((allowed & ~in_sector & (score > 0)) if in_sector.sum() < profile.limit else False)
    rounded = np.round(score, 9)
    ranked = sorted(np.flatnonzero(candidates).tolist(),
                    key=lambda i: (not in_sector[i], -rounded[i], r.tech_info[i]["id"]))[: profile.limit]
    return [(r.tech_info[i]["id"], round(float(score[i]), 4), *reference_cases(r, i, profile, query)) for i in ranked]


def reference_cases(r: rec_mod.Recommender, i: int, profile, query: np.ndarray) -> tuple[list[str], bool]:
    cases, info = r.case_info, r.tech_info[i]
    rows = case_rows(r)
    # each dot product summed term by term in column order, as a sparse product does it
    dot = lambda j, vector: sum((rows[j][1] * vector[rows[j][0]]).tolist())
    elsewhere = lambda j: bool(profile.province) and cases[j].get("province") != profile.province
    not_audit = lambda j: cases[j].get("kind") != rec_mod.AUDIT_KIND
    linked = [j for j, c in enumerate(cases) if info["id"] in (c.get("technologies") or [])]
    if linked:
        order = sorted(linked, key=lambda j: (profile.sector not in (cases[j].get("sectors") or []), elsewhere(j),
                                              not_audit(j), -round(dot(j, query), 9), cases[j]["id"]))
        return [cases[j]["id"] for j in order[: rec_mod.MAX_LINKED_CASES]], True
    sectors = [profile.sector] if profile.sector in info["sectors"] or CROSS_SECTOR in info["sectors"] else info["sectors"]
    pool = [j for j, c in enumerate(cases) if set(sectors) & set(c.get("sectors") or [])]
    technology = r.matrix[i].toarray().ravel()
    similarity = {j: (dot(j, technology) + 0.5 * dot(j, query)) * (1.0 if not_audit(j) else rec_mod.SIMILAR_AUDIT_WEIGHT)
                  for j in pool}
    order = sorted((j for j in pool if similarity[j] > 0),
                   key=lambda j: (elsewhere(j), -round(similarity[j], 9), cases[j]["id"]))
    return [cases[j]["id"] for j in order[: rec_mod.MAX_SIMILAR_CASES]], False


_rows: dict[int, list] = {}


def case_rows(r: rec_mod.Recommender) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each case's (columns, tf-idf values), read once per recommender."""
    if id(r) not in _rows:
        m = r.case_matrix
        _rows[id(r)] = [(m.indices[m.indptr[j]:m.indptr[j + 1]], m.data[m.indptr[j]:m.indptr[j + 1]])
                        for j in range(m.shape[0])]
    return _rows[id(r)]


def test_fast_path_equals_the_reference_on_the_dev_set(bundled):
    checked = cited = 0
    for data in profiles():
        profile = parse_profile(data, bundled.taxonomy)
        got = bundled.recommend(profile)["results"]
        observed = [(x["id"], x["score"], [c["id"] for c in x["cases"]],
                     any(reason.startswith("知识库收录了采用本技术的案例") for reason in x["reasons"])) for x in got]
        expected = [(doc_id, score, ids, linked and bool(ids)) for doc_id, score, ids, linked in reference(bundled, profile)]
        assert observed == expected, data
        checked += len(observed)
        cited += sum(bool(ids) for _, _, ids, _ in observed)
    assert checked > 2500 and cited > checked // 2      # the comparison covered real rankings and cases


def test_top_selection_equals_a_full_sort_with_ties_and_rounding_edges():
    rng = random.Random(7)
    for trial in range(300):
        n = rng.randint(0, 60)
        # few distinct values (many exact ties) and values a hair apart (equal after rounding to 9 places)
        base = [rng.choice([0.0, 0.1, 0.25, 1 / 3]) + rng.choice([0.0, 1e-12, 4e-10, 6e-10, 2e-9]) for _ in range(n)]
        values = np.array(base, dtype=np.float64)
        rows = np.array(rng.sample(range(1000), n), dtype=np.int64)
        rank = np.array(rng.sample(range(1000), 1000), dtype=np.int64)
        groups = np.array([rng.randint(0, 3) for _ in range(n)], dtype=np.int64)
        k = rng.randint(1, 8)
        expected = sorted(range(n), key=lambda t: (groups[t], -round(base[t], 9), rank[rows[t]]))[:k]
        assert rec_mod.top_exact(rows, values, groups, rank, k) == [int(rows[t]) for t in expected]

        tier = np.array([rng.random() < 0.7 for _ in range(n)], dtype=bool)
        indices = np.arange(n)
        keys = -np.round(values, 9)
        expected = sorted(range(n), key=lambda t: (not tier[t], keys[t], t))[:k]
        got = rec_mod.top_rounded([indices[tier], indices[~tier]], values, k)
        assert got.tolist() == expected
