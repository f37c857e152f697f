"""The recommender reads its matrices with pread (kb/recommend/stored_matrix.py): the same values as the saved,
memory-mapped matrices, bit for bit, and no page of the matrix files mapped into the process by a request."""
from __future__ import annotations

import numpy as np

from kb.recommend.model import load_model
from kb.recommend.profile import parse_profile
from kb.recommend.recommender import Recommender
from kb.recommend.stored_matrix import StoredSparse


def test_rows_and_columns_read_with_pread_equal_the_mapped_matrices(bundled_kb):
    model_dir = bundled_kb.generation / "model"
    data = load_model(model_dir)
    rng = np.random.default_rng(3)
    for name, rows, columns in (("tech", data.tech_matrix, data.tech_columns),
                                ("case", data.case_matrix, data.case_columns)):
        stored_rows, stored_columns = StoredSparse(model_dir, name, "csr"), StoredSparse(model_dir, name, "csc")
        try:
            for which in (np.arange(rows.shape[0]), np.sort(rng.choice(rows.shape[0], 7, replace=False)),
                          np.array([rows.shape[0] - 1, 0, 3]), np.zeros(0, dtype=np.int64)):
                ours, theirs = stored_rows.rows(which), rows[which]
                assert ours.shape == theirs.shape
                assert ours.indptr.tolist() == theirs.indptr.tolist()
                assert ours.indices.tolist() == theirs.indices.tolist()
                assert ours.data.tobytes() == theirs.data.tobytes()
            picked = rng.choice(columns.shape[1], 25, replace=False)
            lengths, indices, values = stored_columns.major(picked)
            expected = [columns.indices[columns.indptr[c]:columns.indptr[c + 1]] for c in picked]
            assert lengths.tolist() == [len(e) for e in expected]
            assert indices.tolist() == np.concatenate(expected).tolist()
            assert values.tobytes() == np.concatenate(
                [columns.data[columns.indptr[c]:columns.indptr[c + 1]] for c in picked]).tobytes()
        finally:
            stored_rows.close()
            stored_columns.close()


def _mapped_model_kb(model_dir) -> float:
    """kB of the model's indices and values files resident in this process's mappings (/proc/self/smaps)."""
    total, current = 0, None
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                current = head[5] if len(head) > 5 else None
            elif head and head[0] == "Rss:" and current and current.startswith(str(model_dir)) \
                    and current.endswith((".data.npy", ".indices.npy")):
                total += int(head[1])
    return total


def test_recommendations_map_no_page_of_the_matrix_files(bundled_kb):
    """Mapped, a recommendation's few rows and columns brought whole page-cache folios into the process (about
    145 MB at 20k after a few requests); read with pread, none of the matrix files is resident in the process."""
    model_dir = bundled_kb.generation / "model"
    recommender = Recommender(model_dir, bundled_kb)
    profiles = [{"sector": "印染", "problem": "废水回用 蒸汽消耗大"}, {"sector": "焦化", "problem": "熄焦用水"},
                {"sector": "电镀", "problem": "含镍废水", "focus": ["节水"]}]
    before = _mapped_model_kb(model_dir)
    for profile in profiles:
        assert recommender.recommend(parse_profile(profile, bundled_kb.taxonomy))["results"]
    assert _mapped_model_kb(model_dir) == before
    recommender.close()
