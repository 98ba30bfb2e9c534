"""ReportClassifier: a Rasa graph component that gives every report a
category code of taxonomy.yml and an emergency flag.

It is trained by `rasa train` on the same NLU data as the intent model: each
report block carries its category and emergency flag as intent metadata
(`metadata: {category: incident.water, emergency: false}`), and the
`emergency_cue` lookup table lists danger phrases. At parse time it adds two
output properties to the message, which reach `/model/parse`, the tracker and
the actions:

    "category":  {"name": "incident.water" | null, "kind": "incident" | null,
                  "confidence": 0.93, "ranking": [{"name", "confidence"}, ...]}
    "emergency": {"flag": true, "confidence": 0.88, "cues": ["爆管"]}
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

import joblib
import numpy as np
import scipy.sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.report_labels import (
    EMERGENCY_MODEL_INTENTS,
    NO_CATEGORY,
    choose_threshold,
    decide_category,
    find_cues,
    is_emergency,
)

logger = logging.getLogger(__name__)

MODEL_FILE = "report_classifier.joblib"
CATEGORY = "category"
EMERGENCY = "emergency"


def _tokens(words: List[Text]) -> List[Text]:
    """Identity for pre-tokenized input (module level so it pickles)."""
    return words


def _words(message: Message) -> List[Text]:
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    return [t.text for t in tokens if t.text.strip()]


def _intent_metadata(message: Message) -> Dict[Text, Any]:
    metadata = message.get(METADATA) or {}
    return metadata.get(METADATA_INTENT) or {}


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class ReportClassifier(GraphComponent):
    """Category and emergency models over word and character n-grams."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # inverse regularisation strength of the category model
            "C": 20.0,
            # ... and of the emergency model (both chosen by cross-validated
            # average precision on the training data)
            "emergency_C": 20.0,
            # the emergency threshold is chosen at training time by
            # cross-validation (best F-beta); a number here fixes it instead.
            # beta 3 weighs recall nine times as much as precision: a missed
            # emergency costs far more than an urgent order that was not
            # needed (the dialogue can still confirm before telling the
            # resident to call 110/119/120)
            "emergency_threshold": None,
            "emergency_beta": 3.0,
            "cross_validation_folds": 5,
            # category for `inform` messages only above this probability
            "describing_threshold": 0.6,
            # name of the lookup table with danger phrases
            "emergency_lookup": "emergency_cue",
            # put the category's report intent on the message when the two
            # models disagree on the kind (dispute vs incident)
            "align_intent": True,
            "random_seed": 42,
        }

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "scipy", "joblib"]

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[Dict[Text, Any]] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ReportClassifier":
        return cls(config, model_storage, resource)

    # ------------------------------------------------------------------ train
    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT)]
        if not examples:
            logger.warning("ReportClassifier: no intent examples, nothing trained.")
            return self._resource

        categories = [
            str(_intent_metadata(m).get(CATEGORY) or NO_CATEGORY) for m in examples
        ]
        emergencies = [bool(_intent_metadata(m).get(EMERGENCY)) for m in examples]

        word_vectorizer = TfidfVectorizer(
            tokenizer=_tokens, preprocessor=_tokens, token_pattern=None,
            lowercase=False, sublinear_tf=True, ngram_range=(1, 2),
        )
        char_vectorizer = TfidfVectorizer(
            analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1
        )
        texts = [m.get(TEXT) for m in examples]
        word_vectorizer.fit([_words(m) for m in examples])
        char_vectorizer.fit(texts)
        model = {
            "word_vectorizer": word_vectorizer,
            "char_vectorizer": char_vectorizer,
            "cues": self._lookup(training_data),
        }
        features = self._features(model, examples)

        seed = self._config["random_seed"]
        category_model = LogisticRegression(
            C=self._config["C"], max_iter=5000, class_weight="balanced",
            random_state=seed,
        )
        category_model.fit(features, categories)
        model["category_model"] = category_model

        # The emergency model judges reports and descriptions only (other
        # intents are flagged by cues alone), so it learns from those alone.
        judged = [i for i, m in enumerate(examples) if m.get(INTENT) in EMERGENCY_MODEL_INTENTS]
        labels = np.array([emergencies[i] for i in judged], dtype=int)
        model["emergency_model"] = None
        model["emergency_threshold"] = self._config["emergency_threshold"] or 0.5
        if len(set(labels.tolist())) == 2:
            judged_features = features[judged]
            emergency_model = LogisticRegression(
                C=self._config["emergency_C"], max_iter=5000, class_weight="balanced",
                random_state=seed,
            )
            if self._config["emergency_threshold"] is None:
                model["emergency_threshold"] = self._cross_validated_threshold(
                    emergency_model, judged_features, labels,
                    [examples[i] for i in judged], model["cues"])
            emergency_model.fit(judged_features, labels)
            model["emergency_model"] = emergency_model

        self._model = model
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(model, directory / MODEL_FILE)
        logger.info(
            "ReportClassifier trained on %d examples, %d categories, %d emergencies.",
            len(examples), len(set(categories)) - 1, sum(emergencies),
        )
        return self._resource

    def _cross_validated_threshold(self, estimator, features, labels, examples, cues) -> float:
        folds = min(self._config["cross_validation_folds"], int(labels.sum()), int((1 - labels).sum()))
        if folds < 2:
            return 0.5
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self._config["random_seed"])
        probabilities = cross_val_predict(
            clone(estimator), features, labels, cv=splitter, method="predict_proba")[:, 1]
        threshold = choose_threshold(
            probabilities,
            labels.astype(bool),
            [True] * len(examples),
            [bool(find_cues(m.get(TEXT), cues)) for m in examples],
            beta=self._config["emergency_beta"],
        )
        logger.info("ReportClassifier: emergency threshold %.3f (cross-validated)", threshold)
        return threshold

    def _lookup(self, training_data: TrainingData) -> List[Text]:
        name = self._config["emergency_lookup"]
        for table in training_data.lookup_tables:
            if table.get("name") == name:
                return [str(e).strip() for e in table.get("elements", []) if str(e).strip()]
        return []

    @staticmethod
    def _features(model: Dict[Text, Any], messages: List[Message]):
        words = model["word_vectorizer"].transform([_words(m) for m in messages])
        chars = model["char_vectorizer"].transform([m.get(TEXT) or "" for m in messages])
        return scipy.sparse.hstack([words, chars]).tocsr()

    # ------------------------------------------------------------------- load
    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "ReportClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                model = joblib.load(directory / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("ReportClassifier: no trained model in storage.")
            model = None
        return cls(config, model_storage, resource, model)

    # ---------------------------------------------------------------- process
    def process(self, messages: List[Message]) -> List[Message]:
        if not self._model:
            return messages
        texts = [m for m in messages if m.get(TEXT)]
        if not texts:
            return messages
        features = self._features(self._model, texts)
        category_model = self._model["category_model"]
        category_probs = category_model.predict_proba(features)
        emergency_model = self._model["emergency_model"]
        emergency_probs = (
            emergency_model.predict_proba(features)[:, 1]
            if emergency_model is not None
            else np.zeros(len(texts))
        )
        for message, probs, p_emergency in zip(texts, category_probs, emergency_probs):
            self._annotate(message, dict(zip(category_model.classes_, probs)), float(p_emergency))
        return messages

    def _annotate(self, message: Message, probs: Dict[Text, float], p_emergency: float) -> None:
        intent = message.get(INTENT) or {}
        decision = decide_category(
            probs,
            intent.get("name"),
            message.get("intent_ranking") or [],
            describing_threshold=self._config["describing_threshold"],
        )
        if (
            self._config["align_intent"]
            and decision.intent
            and decision.intent != intent.get("name")
        ):
            self._align_intent(message, decision.intent)

        message.set(
            CATEGORY,
            {
                "name": decision.category,
                "kind": decision.kind,
                "confidence": round(decision.confidence, 4),
                "ranking": [
                    {"name": c, "confidence": round(float(p), 4)} for c, p in decision.ranking
                ],
            },
            add_to_output=True,
        )
        cues = find_cues(message.get(TEXT), self._model["cues"])
        message.set(
            EMERGENCY,
            {
                "flag": is_emergency(p_emergency, cues, self._model["emergency_threshold"],
                                     (message.get(INTENT) or {}).get("name")),
                "confidence": round(p_emergency, 4),
                "cues": cues,
            },
            add_to_output=True,
        )

    @staticmethod
    def _align_intent(message: Message, report_intent: Text) -> None:
        """Swap the top intent for the report intent of the chosen category."""
        ranking = message.get("intent_ranking") or []
        confidence = next(
            (float(e["confidence"]) for e in ranking if e.get("name") == report_intent),
            0.0,
        )
        old = message.get(INTENT) or {}
        # the report is certain; which kind it is was decided jointly
        confidence = max(confidence, float(old.get("confidence") or 0.0))
        message.set(INTENT, {"name": report_intent, "confidence": confidence}, add_to_output=True)
