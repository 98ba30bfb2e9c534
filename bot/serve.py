"""The Rasa server's entry point: Rasa's own command line, with one measured
fix applied first.

    python -m bot.serve run --model models/zh-….tar.gz ...   (what tools/run.py starts)

Rasa 3.6 checks every action server answer with ``jsonschema.validate``,
which first re-validates the (constant) answer schema against its
metaschema. Profiling the server under `make bench-dialogue` (py-spy) put
two thirds of its CPU per turn there, since a form turn makes two or three
action calls. Here the validator is built once, on first use, and then only
checks the answers, with the same schema and the same error message.

And one fix for outages: Rasa's SQL tracker store pools its PostgreSQL
connections without checking them, so after PostgreSQL went away and came
back, turns failed on connections that were already dead. Each pooled
connection is now checked when taken (SQLAlchemy's ``pool_pre_ping``, as the
work-order service does). And Rasa wraps the tracker store in its
``FailSafeTrackerStore``: when the store fails, Rasa goes on with an empty
tracker kept in memory, so a resident in the middle of a report is greeted as
a stranger and what they say is forgotten once the store is back. Here a
tracker store that fails fails the turn (``TrackerStoreUnavailable``; the REST
channel answers 503 and the channel sends the message again).

And a call to the action servers that failed because the server went away
(connection refused or dropped, haproxy's 502/503: an action server killed
or restarting) is made again, after a short pause, through the balancer to
another instance: haproxy itself retries only requests that fit its buffer,
and Rasa's action calls carry the whole tracker and domain. Rasa would
otherwise drop the action's events and answer nothing. The action servers'
writes to the work-order service carry Idempotency-Keys, so a repeated call
does not repeat them.

And two measured savings of CPU per turn (``benchmarks/results/rasa-turn-profile.md``):
event classes found by name once (``install_event_class_cache``) and
``install_fast_tracker_store``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


#: a failed action call is made again this many times, ACTION_RETRY_PAUSE_S * n apart
ACTION_RETRIES = 2
ACTION_RETRY_PAUSE_S = 0.5
#: haproxy's answers when the instance died mid-request or none is up
RETRYABLE_ACTION_STATUS = frozenset({502, 503})


class TrackerStoreUnavailable(Exception):
    """The tracker store failed: the turn is not served (nothing was saved)."""


def install_cached_response_validation() -> None:
    from jsonschema import ValidationError, validators
    from rasa.core.actions import action as rasa_action
    from rasa.shared.constants import DOCS_BASE_URL

    compiled: dict[str, Any] = {}

    def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        validator = compiled.get("validator")
        if validator is None:
            schema = self.action_response_format_spec()
            cls = validators.validator_for(schema)
            cls.check_schema(schema)
            validator = compiled.setdefault("validator", cls(schema))
        try:
            validator.validate(result)
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your "
                "response from the Action endpoint is valid. For more information about "
                f"the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    rasa_action.RemoteAction._validate_action_result = validate_action_result


def install_tracker_store_pre_ping() -> None:
    from rasa.core import tracker_store

    original = tracker_store.create_engine_kwargs
    if getattr(original, "pre_ping", False):
        return

    def create_engine_kwargs(url: Any) -> dict[str, Any]:
        kwargs = original(url)
        if tracker_store.is_postgresql_url(url):
            kwargs["pool_pre_ping"] = True
        return kwargs

    create_engine_kwargs.pre_ping = True  # type: ignore[attr-defined]
    tracker_store.create_engine_kwargs = create_engine_kwargs


def install_strict_tracker_store() -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    def fail(self: Any, error: Exception) -> None:
        log.error("tracker store unavailable, the turn is not served: %s: %s",
                  type(error).__name__, " ".join(str(error).split())[:300])
        raise TrackerStoreUnavailable(f"tracker store unavailable: {type(error).__name__}") from error

    FailSafeTrackerStore.on_tracker_store_error = fail
    FailSafeTrackerStore.on_tracker_store_retrieve_error = fail


def action_server_went_away(error: BaseException) -> bool:
    """Rasa's error for an action call that failed because the server went away."""
    import aiohttp
    from rasa.utils.endpoints import ClientResponseError

    cause = error.__cause__ or error.__context__
    if isinstance(cause, ClientResponseError):
        return cause.status in RETRYABLE_ACTION_STATUS
    return isinstance(cause, aiohttp.ClientConnectionError)


def install_action_retries() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.exceptions import RasaException

    original = RemoteAction.run
    if getattr(original, "retries", False):
        return

    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(ACTION_RETRIES + 1):
            try:
                return await original(self, *args, **kwargs)
            except RasaException as error:
                if attempt == ACTION_RETRIES or not action_server_went_away(error):
                    raise
                log.warning("action %s: the action server went away (%s); calling again",
                            self.name(), error.__cause__ or error.__context__)
            await asyncio.sleep(ACTION_RETRY_PAUSE_S * (attempt + 1))
        raise AssertionError("unreachable")

    run.retries = True  # type: ignore[attr-defined]
    RemoteAction.run = run


def install_event_class_cache() -> None:
    """Rasa finds an event's class by walking every subclass of ``Event`` for every
    stored event it reads (2 % of a turn's CPU); the classes are fixed once imported,
    so each type name is looked up once."""
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    if getattr(original, "cached", False):
        return
    found: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    resolve_by_type.cached = True  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]


def _events_statement(store: Any, *, count: bool, all_sessions: bool = False) -> Any:
    """Rasa's query for a sender's events (those of the latest session unless
    ``all_sessions``), as one core statement built once per store and kind: the
    stored ``data`` in order, or their count."""
    import sqlalchemy as sa
    from rasa.shared.core.events import SessionStarted

    key = ("count" if count else "data", all_sessions)
    statements = store.__dict__.setdefault("_event_statements", {})
    statement = statements.get(key)
    if statement is not None:
        return statement
    events = store.SQLEvent.__table__
    sender = sa.bindparam("sender_id")
    condition = events.c.sender_id == sender
    if not all_sessions:
        session_start = (sa.select(sa.func.max(events.c.timestamp))
                         .where(events.c.sender_id == sender,
                                events.c.type_name == SessionStarted.type_name)
                         .scalar_subquery())
        condition = sa.and_(condition, sa.or_(events.c.timestamp >= session_start,
                                              session_start.is_(None)))
    if count:
        statement = sa.select(sa.func.count()).select_from(events).where(condition)
    else:
        statement = sa.select(events.c.data).where(condition).order_by(events.c.id)
    return statements.setdefault(key, statement)


def install_fast_tracker_store() -> None:
    """Rasa's SQL tracker store, with the same queries and rows, at less CPU a turn:
    the new events go in as one core ``INSERT`` (not one ORM object each), and the
    statements are built once (not per turn); reading takes the ``data`` column
    alone, with no ORM objects. Together they were 19 % of Rasa's CPU per turn."""
    import itertools
    import json

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    if getattr(SQLTrackerStore.save, "fast", False):
        return

    async def save(self: Any, tracker: Any) -> None:
        await self.stream_events(tracker)
        with self.session_scope() as session:
            stored = session.execute(_events_statement(self, count=True),
                                     {"sender_id": tracker.sender_id}).scalar_one()
            rows = []
            for event in itertools.islice(tracker.events, stored, len(tracker.events)):
                data = event.as_dict()
                rows.append({
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {}).get("intent", {}).get(
                        INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                })
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()

    async def _retrieve(self: Any, sender_id: str, fetch_events_from_all_sessions: bool) -> Any:
        with self.session_scope() as session:
            statement = _events_statement(self, count=False,
                                          all_sessions=fetch_events_from_all_sessions)
            stored = session.execute(statement, {"sender_id": sender_id}).scalars().all()
        events = [json.loads(data) for data in stored]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    save.fast = True  # type: ignore[attr-defined]
    save.original = SQLTrackerStore.save  # type: ignore[attr-defined]
    _retrieve.original = SQLTrackerStore._retrieve  # type: ignore[attr-defined]
    SQLTrackerStore.save = save
    SQLTrackerStore._retrieve = _retrieve


def main() -> None:
    install_cached_response_validation()
    install_event_class_cache()
    install_fast_tracker_store()
    install_tracker_store_pre_ping()
    install_strict_tracker_store()
    install_action_retries()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
