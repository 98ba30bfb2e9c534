"""Write conversations into a tracker store with Rasa's own ``SQLTrackerStore``.

Run with the Rasa environment's Python (tests/app/test_tracker_retention.py does):

    .venv-rasa/bin/python tests/app/rasa_tracker_writer.py '<json>'

The JSON: {"store": {SQLTrackerStore keyword arguments},
           "conversations": {"<sender id>": [<unix timestamp of each user message>, ...]}}
Each timestamp becomes a user message followed by the bot's action, as Rasa logs them.
"""
import asyncio
import json
import sys

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker


async def main(spec: dict) -> None:
    store = SQLTrackerStore(Domain.empty(), **spec["store"])
    for sender, stamps in spec["conversations"].items():
        events = []
        for ts in stamps:
            events += [
                UserUttered("我的电话是13800138000", intent={"name": "report", "confidence": 1.0},
                            timestamp=ts),
                ActionExecuted("utter_ask_place", timestamp=ts + 1),
                BotUttered("请问具体在什么位置？", timestamp=ts + 1),
                ActionExecuted("action_listen", timestamp=ts + 2),
            ]
        await store.save(DialogueStateTracker.from_events(sender, events))


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
