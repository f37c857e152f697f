"""An edit writes what changed of the recommender's counts: the base file is shared by hard link with the
previous generation and only the edited rows go to a small file of their own; a new process reads both."""
from __future__ import annotations

import os

import numpy as np

from kb.recommend import counts as counts_mod
from kb.recommend.model import load_model

from conftest import technology, write


def _edit(content, body: str) -> None:
    write(content, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        summary="用循环惰性气体冷却红焦，回收显热产生蒸汽发电。", body=body))


def test_an_edit_links_the_counts_base_and_writes_only_the_edited_row(kb, settings, content):
    first = kb.generation / "model"
    _edit(content, "编辑后的正文：余热锅炉产生蒸汽，用于发电或供热。")
    second = settings.index_root / kb.build().generation / "model"
    assert os.path.samefile(first / counts_mod.COUNTS_FILE, second / counts_mod.COUNTS_FILE)
    delta = np.load(second / counts_mod.COUNTS_DELTA_FILE)
    assert [k.split("\x1f")[0] for k in delta["keys"].tolist()] == ["coking-cdq"]

    rows = {k: (v[0].copy(), v[1].copy()) for k, v in kb.term_counts.rows.items()}
    infos = dict(kb.term_counts.infos)
    fresh = counts_mod.TermCounts()            # a new process reads the generation's base and delta
    fresh.warm(second)
    for key, (ids, values) in rows.items():
        assert [fresh.terms[i] for i in fresh.rows[key][0]] == [kb.term_counts.terms[i] for i in ids]
        assert fresh.rows[key][1].tolist() == values.tolist()
        assert fresh.infos[key] == infos[key]

    # a second edit of the same entry: the delta holds its new row only; the model reads its fields back
    _edit(content, "再次编辑：余热锅炉产生蒸汽。")
    base = os.stat(second / counts_mod.COUNTS_FILE).st_ino
    third = settings.index_root / kb.build().generation / "model"
    assert os.stat(third / counts_mod.COUNTS_FILE).st_ino == base
    assert np.load(third / counts_mod.COUNTS_DELTA_FILE)["keys"].shape == (1,)
    data = load_model(third)
    assert "coking-cdq" in data.tech_ids and data.tech_info[data.tech_ids.index("coking-cdq")]["process"] == "熄焦"


def test_the_base_is_written_afresh_when_the_changed_rows_outgrow_their_share(kb, settings, content, monkeypatch):
    monkeypatch.setattr(counts_mod, "DELTA_MIN_ROWS", 0)
    monkeypatch.setattr(counts_mod, "DELTA_SHARE", 0.0)
    first = kb.generation / "model"
    _edit(content, "编辑后的正文：余热锅炉产生蒸汽，用于发电或供热。")
    second = settings.index_root / kb.build().generation / "model"
    assert not os.path.samefile(first / counts_mod.COUNTS_FILE, second / counts_mod.COUNTS_FILE)
    assert not (second / counts_mod.COUNTS_DELTA_FILE).exists()


def test_tfidf_without_sklearn_equals_sklearns_bit_for_bit():
    """The model's TF-IDF (kb.recommend.model.tfidf_idf / tfidf_transform) is scikit-learn's, every bit, on
    the bundled entries' counts and on random counts with empty rows and columns."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    from kb.analysis import load_analysis
    from kb.config import BUNDLED_CONTENT
    from kb.fields import PreparedWords
    from kb.loader import load_content
    from kb.recommend import model as model_mod

    docs = sorted(load_content([BUNDLED_CONTENT]).documents.values(), key=lambda d: d.id)
    words = PreparedWords(load_analysis())
    tokens = [model_mod.document_tokens(d, words) for d in docs]
    techs = [t for t, d in zip(tokens, docs) if d.type == "technology"]
    cases = [t for t, d in zip(tokens, docs) if d.type == "case"]
    vectorizer = CountVectorizer(analyzer=model_mod._identity).fit(techs)
    rng = np.random.default_rng(7)
    random_counts = sparse.random(300, 400, density=0.05, random_state=rng, format="csr",
                                  data_rvs=lambda n: rng.integers(1, 30, n).astype(np.float64))
    random_counts = sparse.csr_matrix(random_counts.multiply((np.arange(300) != 5)[:, None]))   # row 5 empty
    random_counts.eliminate_zeros()
    random_counts.sort_indices()
    assert random_counts[5].nnz == 0
    for fitted_on, others in ((vectorizer.transform(techs), vectorizer.transform(cases)), (random_counts, None)):
        fitted_on = sparse.csr_matrix(fitted_on, dtype=np.float64)
        reference = TfidfTransformer(sublinear_tf=True, norm="l2").fit(fitted_on)
        idf = model_mod.tfidf_idf(fitted_on)
        assert idf.tobytes() == reference.idf_.tobytes()
        for counts in (fitted_on, others) if others is not None else (fitted_on,):
            counts = sparse.csr_matrix(counts, dtype=np.float64)
            ours, theirs = model_mod.tfidf_transform(counts, idf), sparse.csr_matrix(reference.transform(counts))
            assert ours.indptr.tolist() == theirs.indptr.tolist() and ours.indices.tolist() == theirs.indices.tolist()
            assert ours.data.tobytes() == theirs.data.tobytes()


def test_serving_a_generation_does_not_import_sklearn(kb):
    """The recommender of a generation loads without scikit-learn (about 65 MB per process)."""
    import subprocess
    import sys

    code = ("import sys; from kb.recommend.recommender import Recommender; "
            f"Recommender({str(kb.generation / 'model')!r}); print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
