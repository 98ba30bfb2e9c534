"""The report classifier's fitted models, applied to one message at a time.

scikit-learn's ``predict_proba`` validates its input and multiplies the sparse
features by ``coef_.T``, a transposed (non-contiguous) view, on every call;
for the one-row matrices of a conversation turn that overhead is most of the
cost (profile: ``benchmarks/results/rasa-turn-profile.md``). ``LinearScorer``
keeps the coefficients transposed and contiguous once and computes the same
probabilities as the estimator it was built from (the unit tests compare both).
``TfidfWeights`` does the same for a fitted ``TfidfVectorizer``'s transform.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy.special import expit, softmax
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize


class LinearScorer:
    """``predict_proba`` of a fitted ``LogisticRegression``, without its per-call checks."""

    def __init__(self, model: LogisticRegression) -> None:
        self.classes_ = model.classes_
        self._weights = np.ascontiguousarray(model.coef_.T, dtype=np.float64)
        self._intercept = np.asarray(model.intercept_, dtype=np.float64)
        # scikit-learn 1.1: one-vs-rest for two classes (or liblinear), else multinomial
        multi_class = getattr(model, "multi_class", "auto")
        self._one_vs_rest = multi_class in ("ovr", "warn") or (
            multi_class == "auto" and (model.classes_.size <= 2 or model.solver == "liblinear"))

    @property
    def n_features(self) -> int:
        return self._weights.shape[0]

    def predict_proba(self, features: scipy.sparse.spmatrix | np.ndarray) -> np.ndarray:
        if features.shape[1] != self.n_features:
            raise ValueError(f"{features.shape[1]} features, the model has {self.n_features}")
        decision = np.asarray(features @ self._weights) + self._intercept
        if decision.shape[1] == 1:  # two classes: one column of scores
            decision = decision[:, 0]
            if self._one_vs_rest:
                positive = expit(decision)
                return np.column_stack([1.0 - positive, positive])
            return softmax(np.column_stack([-decision, decision]), axis=1)
        if self._one_vs_rest:
            scores = expit(decision)
            return scores / scores.sum(axis=1, keepdims=True)
        return softmax(decision, axis=1)



class TfidfWeights:
    """``transform`` of a fitted ``TfidfVectorizer``, at the cost of the documents' own terms.

    scikit-learn recomputes ``idf_`` from a diagonal matrix as wide as the vocabulary
    (140,000 n-grams here) and multiplies the counts by that matrix, on every call: as
    costly for a one-line message as for a page. Here the weights are taken once and
    applied to the stored counts alone."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self._vectorizer = vectorizer
        self._idf = np.array(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None

    def transform(self, documents: list[str]) -> scipy.sparse.csr_matrix:
        vectorizer = self._vectorizer
        features = CountVectorizer.transform(vectorizer, documents).astype(np.float64)
        if vectorizer.sublinear_tf:
            np.log(features.data, features.data)
            features.data += 1.0
        if self._idf is not None:
            features.data *= self._idf[features.indices]
        if vectorizer.norm:
            features = normalize(features, norm=vectorizer.norm, copy=False)
        return features
