"""TextNormalizer: the first component of the pipeline. Every message, in
training and when served, reaches the tokenizer as simplified, half-width
text, with a speech transcript's word breaks removed (the rules live in
`bot.components.normalization`). Entity annotations of training examples
follow the text."""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.normalization import normalize


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class TextNormalizer(GraphComponent):
    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormalizer:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize(message)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._normalize(message)
        return messages

    @staticmethod
    def _normalize(message: Message) -> None:
        text = message.get(TEXT)
        if not text:
            return
        result = normalize(text)
        if result.text == text:
            return
        message.set(TEXT, result.text)
        entities = []
        for entity in message.get(ENTITIES) or []:
            if ENTITY_ATTRIBUTE_START not in entity:
                entities.append(entity)
                continue
            span = result.span(entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END])
            if span is None:
                continue
            start, end = span
            value = entity.get(ENTITY_ATTRIBUTE_VALUE)
            original = text[entity[ENTITY_ATTRIBUTE_START]:entity[ENTITY_ATTRIBUTE_END]]
            entities.append({
                **entity,
                ENTITY_ATTRIBUTE_START: start,
                ENTITY_ATTRIBUTE_END: end,
                # a synonym's value stays; a value that was the text follows it
                ENTITY_ATTRIBUTE_VALUE: result.text[start:end] if value == original else value,
            })
        if message.get(ENTITIES) is not None:
            message.set(ENTITIES, entities)
