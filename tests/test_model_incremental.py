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


def test_idf_from_document_frequencies_and_the_models_tfidf_equal_sklearns_bit_for_bit():
    """An edit's idf (kb.recommend.model.idf_of, from kept document frequencies) is what scikit-learn's fit
    gives, every bit, and the model's fit and transform are sklearn's, on the bundled entries' counts and on
    random counts with empty rows and columns."""
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
        kept = model_mod.idf_of(np.bincount(fitted_on.indices, minlength=fitted_on.shape[1]), fitted_on.shape[0])
        assert kept.tobytes() == reference.idf_.tobytes()
        for counts in (fitted_on, others) if others is not None else (fitted_on,):
            counts = sparse.csr_matrix(counts, dtype=np.float64)
            theirs = sparse.csr_matrix(reference.transform(counts))
            ours = model_mod.tfidf_transform(counts.copy(), idf)
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


def test_an_edit_refits_only_its_rows_and_equals_a_full_fit_bit_for_bit(tmp_path, monkeypatch):
    """build_model after each edit (kept TermCounts: the refit path) writes the same model files, bit for bit,
    as a fit of every row with fresh counts: a new word, a word leaving, a word cases held before it
    entered the vocabulary, a case edited, a technology rewritten."""
    import dataclasses

    from kb.analysis import load_analysis
    from kb.config import BUNDLED_CONTENT
    from kb.fields import PreparedWords
    from kb.loader import load_content
    from kb.recommend import model as model_mod

    analysis = load_analysis()
    docs = {d.id: d for d in load_content([BUNDLED_CONTENT]).documents.values()}
    techs = sorted(d.id for d in docs.values() if d.type == "technology")
    cases = sorted(d.id for d in docs.values() if d.type == "case")
    counts = model_mod.TermCounts()
    fits = []
    original_fit = model_mod._fit
    monkeypatch.setattr(model_mod, "_fit", lambda *a: (fits.append(1), original_fit(*a))[1])
    model_mod.build_model(list(docs.values()), tmp_path / "m0", PreparedWords(analysis), counts)
    vocabulary = set(model_mod.load_model(tmp_path / "m0").vectorizer.vocabulary_)
    words = PreparedWords(analysis)
    case_only = next(t for c in cases for t in model_mod.document_tokens(docs[c], words)
                     if t not in vocabulary and len(t) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in t))

    def edited(doc_id, body):
        doc = docs[doc_id]
        return dataclasses.replace(doc, body=body, content_hash=f"{doc.content_hash}-{len(fits)}-{body[-6:]}")

    edits = [
        (techs[3], docs[techs[3]].body + "\n\n测编甲乙丙丁。", True),
        (techs[3], docs[techs[3]].body + "\n\n测编戊己庚辛。", True),
        (techs[7], docs[techs[7]].body + f"\n\n{case_only}。", True),
        (cases[2], docs[cases[2]].body + "\n\n测编壬癸。", True),
        (techs[11], "改写后的正文：余热回收。", False),      # common words' idf change: refitted or not, equal
    ]
    for k, (doc_id, body, refit) in enumerate(edits, start=1):
        docs[doc_id] = edited(doc_id, body)
        before = len(fits)
        model_mod.build_model(list(docs.values()), tmp_path / f"m{k}", PreparedWords(analysis), counts)
        assert not refit or len(fits) == before, f"edit {k} refitted every row"
        model_mod.build_model(list(docs.values()), tmp_path / f"f{k}", PreparedWords(analysis),
                              model_mod.TermCounts())
        ours, full = model_mod.load_model(tmp_path / f"m{k}"), model_mod.load_model(tmp_path / f"f{k}")
        assert ours.vectorizer.vocabulary_ == full.vectorizer.vocabulary_
        assert ours.vectorizer.idf_.tobytes() == full.vectorizer.idf_.tobytes()
        for name in ("tech", "case"):
            for layout in ("csr", "csc"):
                for part in model_mod.MATRIX_PARTS:
                    a = np.load(tmp_path / f"m{k}" / f"{name}.{layout}.{part}.npy")
                    b = np.load(tmp_path / f"f{k}" / f"{name}.{layout}.{part}.npy")
                    assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (k, name, layout, part)
        assert ours.tech_info == full.tech_info and ours.case_info == full.case_info
    assert case_only in model_mod.load_model(tmp_path / "m3").vectorizer.vocabulary_


def test_a_new_process_refits_from_the_live_generations_model(kb, settings, content, tmp_path, monkeypatch):
    """With its counts cleared (a new process), an edit's build still refits only the edited rows, from the
    live generation's model, and writes what a full build writes."""
    from kb.build import build
    from kb.config import load_settings
    from kb.recommend import model as model_mod

    fits = []
    original_fit = model_mod._fit
    monkeypatch.setattr(model_mod, "_fit", lambda *a: (fits.append(1), original_fit(*a))[1])
    kb.term_counts.clear()
    _edit(content, "编辑后的正文：余热锅炉产生蒸汽，用于发电或供热。测编甲乙。")
    monkeypatch.setattr(model_mod, "REFIT_SHARE", 1.0)     # five entries: any edit touches most rows
    ours = settings.index_root / kb.build().generation / "model"
    assert not fits
    fresh_settings = load_settings(tmp_path / "fresh", bundled_content=content, editable_content=tmp_path / "e2")
    full = fresh_settings.index_root / build(fresh_settings, full=True).generation / "model"
    assert fits
    for name in ("tech", "case"):
        for layout in ("csr", "csc"):
            for part in model_mod.MATRIX_PARTS:
                a = np.load(ours / f"{name}.{layout}.{part}.npy")
                b = np.load(full / f"{name}.{layout}.{part}.npy")
                assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (name, layout, part)
    assert load_model(ours).vectorizer.vocabulary_ == load_model(full).vectorizer.vocabulary_


def test_a_full_fit_transforms_in_place_and_lets_each_matrix_go_before_the_next(kb, settings, content, monkeypatch):
    """A build's memory peaked where the count matrices, their TF-IDF copies and both saved matrices were alive at
    once: the transform works on the counts in place, the case matrix is made only after the technologies' matrix
    was saved and let go, and both are gone before the term counts are written."""
    import gc
    import weakref

    from kb.recommend import model as model_mod

    events, alive = [], []
    transform, save_matrix, save_counts = model_mod.tfidf_transform, model_mod._save_matrix, counts_mod.TermCounts.save

    def spy_transform(counts, idf):
        gc.collect()
        freed = [ref() is None for ref in alive]          # the matrices saved before this one: let go?
        out = transform(counts, idf)
        events.append(("transform", freed, np.shares_memory(out.data, counts.data)))
        return out

    def spy_save(out_dir, name, matrix):
        save_matrix(out_dir, name, matrix)
        events.append(("save", name))
        alive.append(weakref.ref(matrix))

    def spy_counts(self, *args, **kwargs):
        gc.collect()
        events.append(("counts", [ref() is None for ref in alive]))
        return save_counts(self, *args, **kwargs)

    monkeypatch.setattr(model_mod, "tfidf_transform", spy_transform)
    monkeypatch.setattr(model_mod, "_save_matrix", spy_save)
    monkeypatch.setattr(counts_mod.TermCounts, "save", spy_counts)
    kb.term_counts.clear()                 # a full fit, as in a new process
    _edit(content, "全量拟合：余热锅炉产生蒸汽。")
    kb.build(full=True)
    assert events == [("transform", [], True), ("save", "tech"),
                      ("transform", [True], True), ("save", "case"), ("counts", [True, True])]


def test_the_model_lets_the_builds_words_go_once_it_has_its_rows(tmp_path):
    """The recommender model is a build's last reader of its words (at 20k about 100 MB): it releases them
    before the fit instead of holding them through it; asked again, a text is segmented afresh, alike."""
    from kb.analysis import load_analysis
    from kb.config import BUNDLED_CONTENT
    from kb.fields import PreparedWords
    from kb.loader import load_content
    from kb.recommend import model as model_mod

    docs = list(load_content([BUNDLED_CONTENT]).documents.values())[:40]
    analysis = load_analysis()
    words = PreparedWords(analysis)
    texts = words.texts(docs)
    words.learn(texts, [analysis.words(t) for t in texts])
    assert len(words) == len(texts) > 0
    model_mod.build_model(docs, tmp_path / "model", words, model_mod.TermCounts())
    assert len(words) == 0
    assert words.words(texts[0]) == analysis.words(texts[0])
