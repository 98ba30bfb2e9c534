"""TokenLimiter: caps the token sequence the featurizers and DIET see.

Formal letters run to a hundred tokens and more, where 95 % of messages have
at most 31; DIET pads every batch to its longest message, so the few letters
spread over the batches made training eight times slower, and parsing a
letter slow. What a letter is about is said near its start (who writes, from
where, what happened) and repeated in its closing request, so the first
``head`` and the last ``tail`` tokens are kept. The ReportClassifier still
reads the whole text: the full token list is kept under FULL_TOKENS.
Entity annotations of training examples that fall in the dropped middle are
dropped with it (DIET could not tag them).
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

FULL_TOKENS = "full_text_tokens"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class TokenLimiter(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"head": 24, "tail": 8}

    def __init__(self, config: dict[str, Any]) -> None:
        config = {**self.get_default_config(), **config}
        self._head, self._tail = int(config["head"]), int(config["tail"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TokenLimiter:
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._limit(message, training=True)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._limit(message, training=False)
        return messages

    def _limit(self, message: Message, training: bool) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not tokens:
            return
        message.set(FULL_TOKENS, tokens)
        if len(tokens) <= self._head + self._tail:
            return
        kept = tokens[:self._head] + tokens[-self._tail:] if self._tail else tokens[:self._head]
        message.set(TOKENS_NAMES[TEXT], kept)
        if training and message.get(ENTITIES):
            spans = [(t.start, t.end) for t in kept]
            message.set(ENTITIES, [
                e for e in message.get(ENTITIES)
                if ENTITY_ATTRIBUTE_START not in e
                or any(s <= e[ENTITY_ATTRIBUTE_START] < end for s, end in spans)
                and any(s < e[ENTITY_ATTRIBUTE_END] <= end for s, end in spans)
            ])
