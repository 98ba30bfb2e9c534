"""ReportClassifier: a Rasa graph component that gives every report a
category code of taxonomy.yml and an emergency level.

It is trained by `rasa train` on the same NLU data as the intent model: each
report block carries its category and emergency level as intent metadata
(`metadata: {category: incident.water, emergency: false}`; `emergency` is
true = present danger, check = possible danger, false), and the
`emergency_cue` lookup table lists explicit danger phrases. At parse time it
adds two output properties to the message, which reach `/model/parse`, the
tracker and the actions:

    "category":  {"name": "incident.water" | null, "kind": "incident" | null,
                  "confidence": 0.93, "ranking": [{"name", "confidence"}, ...]}
    "emergency": {"flag": true, "level": "emergency" | "check" | "none",
                  "check": false, "confidence": 0.88, "danger": 0.95,
                  "cues": ["爆管"], "category": "incident.water"}

`flag` (act at once) and `check` (ask one question first) come from the
emergency model; `category` there is the incident category the report takes
if the danger is confirmed. It also corrects the intent: a message the intent
model read as an answer, a greeting or a cancellation but whose text is a
whole report (a headline, a complaint that contains 取消) gets the report's
intent, and a present emergency is always an incident.
"""
from __future__ import annotations

import logging
import re
from typing import Any

import joblib
import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, INTENT, METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from bot.components.linear_scoring import LinearScorer, TfidfWeights
from bot.components.report_labels import (
    ACT,
    CHECK,
    EMERGENCY_MODEL_INTENTS,
    INTENT_OF_KIND,
    LEVELS,
    NO_CATEGORY,
    NONE,
    EmergencyThresholds,
    best_incident,
    choose_thresholds,
    decide_category,
    emergency_label,
    emergency_level,
    find_cues,
)
from bot.components.token_limiter import FULL_TOKENS

logger = logging.getLogger(__name__)

MODEL_FILE = "report_classifier.joblib"
CATEGORY = "category"
EMERGENCY = "emergency"


def _tokens(words: list[str]) -> list[str]:
    """Identity for pre-tokenized input (module level so it pickles)."""
    return words


def _words(message: Message) -> list[str]:
    tokens = message.get(FULL_TOKENS) or message.get(TOKENS_NAMES[TEXT]) or []
    return [t.text for t in tokens if t.text.strip()]


def _intent_metadata(message: Message) -> dict[str, Any]:
    metadata = message.get(METADATA) or {}
    return metadata.get(METADATA_INTENT) or {}


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class ReportClassifier(GraphComponent):
    """Category and emergency models over word and character n-grams."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # inverse regularisation strength of the category model
            "C": 20.0,
            # ... and of the emergency model
            "emergency_C": 10.0,
            # thresholds chosen at training time by cross-validation: acting
            # at once on at most this share of ordinary reports ...
            "max_false_act": 0.01,
            # ... and acting on or asking about at least this share of real
            # emergencies (in cross-validation, where the minimal pairs of
            # the training data make it pessimistic: 0.95 there flagged every
            # emergency of both held-out sets); numbers here fix the
            # thresholds instead
            "min_flagged": 0.95,
            "act_threshold": None,
            "check_threshold": None,
            "cross_validation_folds": 5,
            # category for `inform` messages only above this probability
            "describing_threshold": 0.6,
            # a message of another intent is a report when the category model
            # gives "not a report" at most this probability ...
            "reread_max_none": 0.3,
            # ... and it has at least this many characters of content
            "reread_min_chars": 4,
            # name of the lookup table with danger phrases
            "emergency_lookup": "emergency_cue",
            # put the category's report intent on the message when the two
            # models disagree on the kind
            "align_intent": True,
            # how much the intent model's kind confidence weighs in the
            # choice of a report's category (0: the category model alone)
            "kind_weight": 0.0,
            "random_seed": 42,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn", "scipy", "joblib"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: dict[str, Any] | None = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model
        #: the model with per-message fast paths, built on first use (_fast_model)
        self._fast: dict[str, Any] | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ReportClassifier:
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
        levels = [emergency_label(_intent_metadata(m).get(EMERGENCY)) for m in examples]

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
            C=self._config["C"], max_iter=5000, class_weight="balanced", solver="saga",
            random_state=seed,
        )
        category_model.fit(features, categories)
        model["category_model"] = category_model

        # The emergency model judges reports and descriptions only (other
        # intents are asked about on a cue at most), so it learns from those.
        judged = [i for i, m in enumerate(examples) if m.get(INTENT) in EMERGENCY_MODEL_INTENTS]
        judged_levels = [levels[i] for i in judged]
        model["emergency_model"] = None
        model["emergency_thresholds"] = EmergencyThresholds(
            act=self._config["act_threshold"] or 0.5,
            check=self._config["check_threshold"] or 0.3)
        if ACT in judged_levels and NONE in judged_levels:
            judged_examples = [examples[i] for i in judged]
            judged_features = self._emergency_features(model, judged_examples, features[judged])
            emergency_model = LogisticRegression(
                C=self._config["emergency_C"], max_iter=5000, class_weight="balanced",
                random_state=seed,
            )
            labels = np.array([LEVELS.index(level) for level in judged_levels])
            if self._config["act_threshold"] is None or self._config["check_threshold"] is None:
                chosen = self._cross_validated_thresholds(
                    emergency_model, judged_features, labels, judged_levels, judged_examples,
                    model["cues"])
                model["emergency_thresholds"] = EmergencyThresholds(
                    act=self._config["act_threshold"] or chosen.act,
                    check=self._config["check_threshold"] or chosen.check)
            emergency_model.fit(judged_features, labels)
            model["emergency_model"] = emergency_model

        self._model = model
        self._fast = None
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(model, directory / MODEL_FILE)
        logger.info(
            "ReportClassifier trained on %d examples, %d categories, %d emergencies, "
            "%d possible ones; thresholds %s.",
            len(examples), len(set(categories)) - 1, levels.count(ACT), levels.count(CHECK),
            model["emergency_thresholds"],
        )
        return self._resource

    def _cross_validated_thresholds(self, estimator, features, labels, levels, examples,
                                    cues) -> EmergencyThresholds:
        counts = np.bincount(labels, minlength=len(LEVELS))
        folds = min(self._config["cross_validation_folds"], *[int(c) for c in counts if c])
        if folds < 2:
            return EmergencyThresholds(act=0.5, check=0.3)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=self._config["random_seed"])
        probabilities = cross_val_predict(
            clone(estimator), features, labels, cv=splitter, method="predict_proba")
        p_act, p_danger = self._act_and_danger(probabilities, np.unique(labels))
        thresholds = choose_thresholds(
            p_act, p_danger, levels,
            [bool(find_cues(m.get(TEXT), cues)) for m in examples],
            max_false_act=self._config["max_false_act"],
            min_flagged=self._config["min_flagged"],
        )
        logger.info("ReportClassifier: emergency thresholds %s (cross-validated)", thresholds)
        return thresholds

    @staticmethod
    def _act_and_danger(probabilities, classes):
        """P(present danger) and P(present or possible danger) per row."""
        columns = {int(c): i for i, c in enumerate(classes)}
        act = probabilities[:, columns[LEVELS.index(ACT)]]
        check = (probabilities[:, columns[LEVELS.index(CHECK)]]
                 if LEVELS.index(CHECK) in columns else np.zeros(len(act)))
        return act, act + check

    def _lookup(self, training_data: TrainingData) -> list[str]:
        name = self._config["emergency_lookup"]
        for table in training_data.lookup_tables:
            if table.get("name") == name:
                return [str(e).strip() for e in table.get("elements", []) if str(e).strip()]
        return []

    @staticmethod
    def _features(model: dict[str, Any], messages: list[Message]):
        words = model["word_vectorizer"].transform([_words(m) for m in messages])
        chars = model["char_vectorizer"].transform([m.get(TEXT) or "" for m in messages])
        return scipy.sparse.hstack([words, chars], format="csr")

    @staticmethod
    def _emergency_features(model: dict[str, Any], messages: list[Message], features):
        """The text features plus the danger lexicon as features: a present
        cue, and a cue that only voices a worry or something past."""
        rows = []
        for message in messages:
            text = message.get(TEXT) or ""
            present = find_cues(text, model["cues"])
            anywhere = [c for c in model["cues"] if c in text]
            rows.append([1.0 if present else 0.0,
                         1.0 if anywhere and not present else 0.0])
        return scipy.sparse.hstack([features, scipy.sparse.csr_matrix(np.array(rows))],
                                   format="csr")

    # ------------------------------------------------------------------- load
    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> ReportClassifier:
        try:
            with model_storage.read_from(resource) as directory:
                model = joblib.load(directory / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("ReportClassifier: no trained model in storage.")
            model = None
        return cls(config, model_storage, resource, model)

    # ---------------------------------------------------------------- process
    def _fast_model(self) -> dict[str, Any]:
        """The trained model with its vectorizers and regressions replaced by their
        per-message fast paths (bot/components/linear_scoring.py: same numbers)."""
        if self._fast is None:
            assert self._model is not None
            emergency = self._model["emergency_model"]
            self._fast = {
                **self._model,
                "word_vectorizer": TfidfWeights(self._model["word_vectorizer"]),
                "char_vectorizer": TfidfWeights(self._model["char_vectorizer"]),
                "category_model": LinearScorer(self._model["category_model"]),
                "emergency_model": LinearScorer(emergency) if emergency is not None else None,
            }
        return self._fast

    def process(self, messages: list[Message]) -> list[Message]:
        if not self._model:
            return messages
        texts = [m for m in messages if m.get(TEXT)]
        if not texts:
            return messages
        model = self._fast_model()
        features = self._features(model, texts)
        category_model, emergency_model = model["category_model"], model["emergency_model"]
        category_probs = category_model.predict_proba(features)
        if emergency_model is not None:
            probabilities = emergency_model.predict_proba(
                self._emergency_features(model, texts, features))
            p_act, p_danger = self._act_and_danger(probabilities, emergency_model.classes_)
        else:
            p_act = p_danger = np.zeros(len(texts))
        for message, probs, act, danger in zip(texts, category_probs, p_act, p_danger, strict=False):
            self._annotate(message, dict(zip(category_model.classes_, probs, strict=False)),
                           float(act), float(danger))
        return messages

    def _annotate(self, message: Message, probs: dict[str, float], p_act: float,
                  p_danger: float) -> None:
        intent = message.get(INTENT) or {}
        text = message.get(TEXT) or ""
        # what the message says beyond a place it names: "就在解放路的工地上"
        # answers "where?", "幸福里小区群租房扰民" reports a problem
        content = _content_chars(_without_places(message, text))
        decision = decide_category(
            probs,
            intent.get("name"),
            message.get("intent_ranking") or [],
            describing_threshold=self._config["describing_threshold"],
            reread_max_none=self._config["reread_max_none"],
            content_chars=content,
            reread_min_chars=self._config["reread_min_chars"],
            text=text,
            kind_weight=self._config["kind_weight"],
        )
        category, kind = decision.category, decision.kind
        new_intent = decision.intent if self._config["align_intent"] else None
        intent_name = new_intent or intent.get("name")

        cues = find_cues(text, self._model["cues"])
        level = emergency_level(p_act, p_danger, cues, self._model["emergency_thresholds"],
                                intent_name, content_chars=content,
                                min_chars=self._config["reread_min_chars"])
        incident = best_incident(probs)
        if level == ACT and incident and kind != "incident":
            # present danger goes to a grid worker at once, whatever started it
            category, kind = incident, "incident"
            if self._config["align_intent"]:
                new_intent = INTENT_OF_KIND["incident"]
        text_confidence = 1.0 - float(probs.get(NO_CATEGORY, 0.0))
        if new_intent and (new_intent != intent.get("name")
                           or float(intent.get("confidence") or 0.0) < text_confidence):
            # also when DIET chose this intent but doubted it (a long
            # transcript): the whole text says it is a report, so the
            # fallback must not take it
            self._align_intent(message, new_intent, text_confidence)

        message.set(
            CATEGORY,
            {
                "name": category,
                "kind": kind,
                "confidence": round(decision.confidence if category == decision.category
                                    else float(probs.get(category, 0.0)), 4),
                "ranking": [
                    {"name": c, "confidence": round(float(p), 4)} for c, p in decision.ranking
                ],
            },
            add_to_output=True,
        )
        message.set(
            EMERGENCY,
            {
                "flag": level == ACT,
                "level": level,
                "check": level == CHECK,
                "confidence": round(p_act, 4),
                "danger": round(p_danger, 4),
                "cues": cues,
                "category": incident,
            },
            add_to_output=True,
        )

    @staticmethod
    def _align_intent(message: Message, report_intent: str, text_confidence: float) -> None:
        """Make the report intent of the chosen category the top intent, with
        the intent ranking reshaped so the fallback does not undo it."""
        ranking = message.get("intent_ranking") or []
        own = next((float(e["confidence"]) for e in ranking if e.get("name") == report_intent), 0.0)
        old = message.get(INTENT) or {}
        # the report is certain; which kind it is was decided jointly
        confidence = min(1.0, max(own, float(old.get("confidence") or 0.0), text_confidence))
        others = [e for e in ranking if e.get("name") != report_intent]
        total = sum(float(e.get("confidence") or 0.0) for e in others) or 1.0
        rest = 1.0 - confidence
        message.set(INTENT, {"name": report_intent, "confidence": confidence}, add_to_output=True)
        message.set("intent_ranking",
                    [{"name": report_intent, "confidence": confidence}]
                    + [{**e, "confidence": float(e.get("confidence") or 0.0) * rest / total}
                       for e in others],
                    add_to_output=True)


_NOT_CONTENT = re.compile(
    r"[\W\d_]+|是的|好的|对的|没错|你好|您好|谢谢|就在|这边|那边|附近|旁边|那个|这个|就是|啥|"
    r"[嗯喂呃哦哎啊呀吧呢的了在]")


def _without_places(message: Message, text: str) -> str:
    for entity in message.get(ENTITIES) or []:
        if entity.get("entity") == "location" and isinstance(entity.get("value"), str):
            text = text.replace(entity["value"], "")
    return text


def _content_chars(text: str) -> int:
    """Characters of a message beyond yes/no words, greetings and punctuation."""
    return len(_NOT_CONTENT.sub("", text or ""))
