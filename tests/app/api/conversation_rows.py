"""Rows of the ``conversations`` table planted directly (as the analytics consumer
would fold them), and the planted set the API and console tests share.

    add_conversation(db, "tg:1", "2025-03-01 10:00", turns=4, report_started=True, ...)
    plant_conversations(db)   # PLANTED: 9 conversations on 2025-03-01/02, 1 on 2025-02-20
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from integrations.workorders.adapters.conversation_tables import Conversation
from integrations.workorders.service import CHINA_TZ
from tests.app.world import Db


def add_conversation(db: Db, sender_id: str, started: str, **facts: Any) -> None:
    """One conversation that started at ``started`` (China time, ``YYYY-MM-DD HH:MM``)."""
    started_at = datetime.fromisoformat(started).replace(tzinfo=CHINA_TZ)
    turns = facts.pop("turns", 1)
    row = Conversation(
        sender_id=sender_id, started_at=started_at, channel=sender_id.partition(":")[0],
        day=started_at.date(), last_event_at=started_at + timedelta(minutes=turns),
        turns=turns, intents=json.dumps(facts.pop("intents", ["report"])),
        fallbacks=facts.pop("fallbacks", 0),
        report_started=facts.pop("report_started", False),
        report_opened=facts.pop("report_opened", False),
        order_number=facts.pop("order_number", None),
        seconds_to_order=facts.pop("seconds_to_order", None),
        handed_off=facts.pop("handed_off", False),
        dropped_at=facts.pop("dropped_at", None),
        updated_at=started_at + timedelta(hours=1),
    )
    assert not facts, f"unknown facts {sorted(facts)}"
    with db.session() as s:
        s.add(row)
        s.commit()


def _opened(number: str, seconds: float) -> dict[str, Any]:
    return {"report_started": True, "report_opened": True, "order_number": number,
            "seconds_to_order": seconds}


#: sender, start (China time), facts. Expected figures: see the tests.
PLANTED: list[tuple[str, str, dict[str, Any]]] = [
    # Telegram: 5 conversations, 4 reports started, 3 opened, 1 stopped at the place
    ("tg:1", "2025-03-01 09:00", {"turns": 4, "fallbacks": 1, **_opened("57401001", 60)}),
    ("tg:2", "2025-03-01 10:00", {"turns": 6, **_opened("57401002", 120)}),
    ("tg:3", "2025-03-01 11:00", {"turns": 3, "fallbacks": 2, "report_started": True,
                                  "dropped_at": "location"}),
    ("tg:4", "2025-03-02 09:00", {"turns": 2, "handed_off": True, "intents": ["handoff"]}),
    ("tg:5", "2025-03-02 23:30", {"turns": 5, "fallbacks": 1, **_opened("57401003", 300)}),
    # the web: 3 conversations, 2 reports started, 1 opened, 1 stopped at the phone number
    ("web:a", "2025-03-02 08:00", {"turns": 6, "fallbacks": 2, "report_started": True,
                                   "dropped_at": "contact"}),
    ("web:b", "2025-03-02 08:30", {"turns": 2, "fallbacks": 1, "handed_off": True}),
    ("web:c", "2025-03-02 09:00", {"turns": 4, **_opened("57401004", 90)}),
    # the phone: 1 conversation in the period, 1 long before it
    ("voice:h:" + "a" * 32, "2025-03-01 12:00", {"turns": 3, **_opened("57401005", 30)}),
    ("voice:h:" + "b" * 32, "2025-02-20 12:00", {"turns": 9, "fallbacks": 9,
                                                 "report_started": True, "dropped_at": "danger"}),
]


def plant_conversations(db: Db) -> None:
    for sender, started, facts in PLANTED:
        add_conversation(db, sender, started, **dict(facts))
