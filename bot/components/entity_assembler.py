"""EntityAssembler: tidies the entities of a message after all extractors ran.

- Every place becomes one usable `location`: it grows each `location` entity over the numbered
address parts that follow it (幸福里小区 → 幸福里小区3号楼2单元), merges
neighbouring pieces of one place, and adds numbered address runs (三号楼二单元)
that the model missed. The span rules live in `bot.components.address`.
- Fixed-shape entities (phone, order_number) found both by the entity model
  and by RegexEntityExtractor are kept once, the regex's version winning.
"""
from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.address import assemble

LOCATION = "location"


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class EntityAssembler(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "entity": LOCATION,
            "add_address_runs": True,
            "preferred_extractor": "RegexEntityExtractor",
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = {**self.get_default_config(), **config}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EntityAssembler:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._assemble(message)
        return messages

    def _assemble(self, message: Message) -> None:
        text = message.get(TEXT) or ""
        if not text:
            return
        name = self._config["entity"]
        entities = self._deduplicate(list(message.get(ENTITIES) or []))
        places = [e for e in entities if e.get("entity") == name]
        others = [e for e in entities if e.get("entity") != name]
        spans = assemble(
            text,
            [(int(e["start"]), int(e["end"])) for e in places],
            add_runs=self._config["add_address_runs"],
        )
        assembled = []
        for start, end in spans:
            parts = [e for e in places if e["start"] < end and start < e["end"]]
            entity = {
                "entity": name,
                "start": start,
                "end": end,
                "value": text[start:end],
                "extractor": parts[0]["extractor"] if parts else self.__class__.__name__,
            }
            if parts and "confidence_entity" in parts[0]:
                entity["confidence_entity"] = max(
                    float(p.get("confidence_entity") or 0.0) for p in parts
                )
            if parts and (len(parts) > 1 or (parts[0]["start"], parts[0]["end"]) != (start, end)):
                entity["processors"] = [self.__class__.__name__]
            assembled.append(entity)
        message.set(
            ENTITIES,
            sorted(others + assembled, key=lambda e: (e["start"], e["end"])),
            add_to_output=True,
        )

    def _deduplicate(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop an entity overlapped by one of the same type from the preferred extractor."""
        preferred = [
            e for e in entities if e.get("extractor") == self._config["preferred_extractor"]
        ]
        kept = []
        for entity in entities:
            shadowed = any(
                p is not entity
                and p["entity"] == entity["entity"]
                and p["start"] < entity["end"]
                and entity["start"] < p["end"]
                for p in preferred
            )
            if not shadowed or entity.get("extractor") == self._config["preferred_extractor"]:
                kept.append(entity)
        return kept
