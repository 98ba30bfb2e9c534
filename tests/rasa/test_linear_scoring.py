"""LinearScorer gives the probabilities scikit-learn's predict_proba gives, for every
way a LogisticRegression turns scores into probabilities."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from sklearn.linear_model import LogisticRegression

from bot.components.linear_scoring import LinearScorer


def data(classes: int, rows: int = 120, features: int = 40, seed: int = 3):
    rng = np.random.default_rng(seed)
    dense = rng.random((rows, features)) * (rng.random((rows, features)) < 0.2)
    labels = rng.integers(0, classes, rows)
    dense[np.arange(rows), labels] += 2.0  # learnable
    return scipy.sparse.csr_matrix(dense), np.array([f"c{k}" for k in labels])


@pytest.mark.parametrize(("classes", "options"), [
    (3, {"solver": "saga", "max_iter": 5000}),                    # multinomial (auto)
    (5, {}),                                                      # multinomial, lbfgs
    (2, {}),                                                      # binary: one-vs-rest (auto)
    (2, {"multi_class": "multinomial"}),                          # binary softmax
    (4, {"multi_class": "ovr"}),                                  # one-vs-rest, normalised
    (3, {"solver": "liblinear"}),                                 # liblinear: one-vs-rest
])
def test_same_probabilities_as_scikit_learn(classes, options):
    features, labels = data(classes)
    model = LogisticRegression(class_weight="balanced", random_state=0, **options)
    model.fit(features, labels)
    scorer = LinearScorer(model)
    probe, _ = data(classes, rows=17, seed=11)
    for rows in (probe, probe[:1], probe[5:6].toarray()):
        expected = model.predict_proba(rows)
        got = scorer.predict_proba(rows)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert list(scorer.classes_) == list(model.classes_)


def test_a_matrix_of_the_wrong_width_is_refused():
    features, labels = data(3)
    scorer = LinearScorer(LogisticRegression().fit(features, labels))
    with pytest.raises(ValueError, match="39 features, the model has 40"):
        scorer.predict_proba(features[:, :39])


DOCUMENTS = ["幸福里小区3号楼门口的路灯坏了", "隔壁邻居天天半夜装修吵得睡不着",
             "咨询一下城乡居民养老保险怎么交", "路灯 路灯 路灯 坏了", "", "没见过的字"]


@pytest.mark.parametrize("options", [
    {"analyzer": "char", "ngram_range": (1, 3), "sublinear_tf": True},
    {"analyzer": "char", "ngram_range": (1, 2)},
    {"analyzer": "char", "use_idf": False, "norm": "l1"},
    {"analyzer": "char", "norm": None, "smooth_idf": False},
])
def test_tfidf_weights_are_scikit_learns(options):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from bot.components.linear_scoring import TfidfWeights

    vectorizer = TfidfVectorizer(**options).fit(DOCUMENTS[:4] * 2 + ["养老保险", "装修噪音"])
    weights = TfidfWeights(vectorizer)
    for documents in (DOCUMENTS, DOCUMENTS[:1], [DOCUMENTS[4]]):
        expected = vectorizer.transform(documents)
        got = weights.transform(documents)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.toarray(), expected.toarray(), rtol=1e-12, atol=1e-15)


def test_the_served_classifier_gives_the_trained_models_probabilities():
    """The trained model's own vectorizers and regressions against their fast paths, on
    messages of every kind and style (the model `make model` trained)."""
    import tarfile

    import joblib
    from rasa.shared.nlu.training_data.message import Message

    from bot.components.report_classifier import ReportClassifier
    from bot.model_store import model_path

    path = model_path()
    if not path.exists():
        pytest.fail(f"{path.name} is missing: run `make model` (make test does it first)")
    with tarfile.open(path) as archive:
        member = next(m for m in archive.getmembers()
                      if m.name.endswith("report_classifier.joblib"))
        model = joblib.load(archive.extractfile(member))
    classifier = ReportClassifier({}, None, None, model)
    fast = classifier._fast_model()
    messages = [Message(data={"text": t}) for t in [
        "3号楼门口路灯坏了", "楼上邻居天天半夜跺脚吵得睡不着", "厨房里有很大的煤气味",
        "咨询城乡居民养老保险待遇", "尊敬的领导：您好！我是红星村村民，恳请解决道路破损问题为盼",
        "那个 就是 我家 楼下 着火 了", "幸福里小區群租房擾民", "好的", "取消路桥规费"]]
    assert fast["category_model"].classes_.tolist() == model["category_model"].classes_.tolist()
    slow_features = ReportClassifier._features(model, messages)
    fast_features = ReportClassifier._features(fast, messages)
    np.testing.assert_allclose(fast_features.toarray(), slow_features.toarray(), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(fast["category_model"].predict_proba(fast_features),
                               model["category_model"].predict_proba(slow_features),
                               rtol=1e-9, atol=1e-12)
    if model["emergency_model"] is not None:
        slow = ReportClassifier._emergency_features(model, messages, slow_features)
        quick = ReportClassifier._emergency_features(fast, messages, fast_features)
        np.testing.assert_allclose(fast["emergency_model"].predict_proba(quick),
                                   model["emergency_model"].predict_proba(slow),
                                   rtol=1e-9, atol=1e-12)
