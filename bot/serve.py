"""The Rasa server's entry point: Rasa's own command line, with one measured
fix applied first.

    python -m bot.serve run --model models/zh-….tar.gz ...   (what tools/run.py starts)

Rasa 3.6 checks every action server answer with ``jsonschema.validate``,
which first re-validates the (constant) answer schema against its
metaschema. Profiling the server under `make bench-dialogue` (py-spy) put
two thirds of its CPU per turn there, since a form turn makes two or three
action calls. Here the validator is built once, on first use, and then only
checks the answers, with the same schema and the same error message, each
event against its own type's part of the schema
(bot/action_response_validation.py).

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

And measured savings of CPU per turn (``benchmarks/results/rasa-turn-profile.md``):
event classes found by name once (``install_event_class_cache``),
``install_fast_tracker_store``, ``install_kept_action_connections`` and the
model graph run without dask's scheduler (bot/graph_runner.py).
"""
from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

log = logging.getLogger(__name__)


#: a failed action call is made again this many times, ACTION_RETRY_PAUSE_S * n apart
ACTION_RETRIES = 2
ACTION_RETRY_PAUSE_S = 0.5
#: haproxy's answers when the instance died mid-request or none is up
RETRYABLE_ACTION_STATUS = frozenset({502, 503})
#: an action call's connection is kept open this long for the next call: less than
#: the action server's own keep-alive (Sanic's 5 s), so the server never closes
#: first a connection about to be used
ACTION_KEEPALIVE_S = 2.0


class TrackerStoreUnavailable(Exception):
    """The tracker store failed: the turn is not served (nothing was saved)."""


def install_cached_response_validation() -> None:
    from jsonschema import ValidationError
    from rasa.core.actions import action as rasa_action
    from rasa.shared.constants import DOCS_BASE_URL

    from bot.action_response_validation import ActionResponseValidator

    compiled: dict[str, Any] = {}

    def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        validator = compiled.get("validator")
        if validator is None:
            validator = compiled.setdefault(
                "validator", ActionResponseValidator(self.action_response_format_spec()))
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


class _KeptSession:
    """What ``EndpointConfig.session()`` gives to Rasa's ``async with``: the endpoint's
    one client session, left open when the block ends."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc_info: Any) -> None:
        return None


def kept_session(endpoint: Any) -> _KeptSession:
    """The endpoint's client session on the running loop, made on first use, with
    the headers, authentication and timeout of Rasa's ``EndpointConfig.session()``;
    its connections stay open ``ACTION_KEEPALIVE_S`` between calls."""
    import aiohttp
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    kept = endpoint.__dict__.get("_kept_session")
    if kept is None or kept[0] is not loop or kept[1].closed:
        auth = (aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
                if endpoint.basic_auth else None)
        session = aiohttp.ClientSession(
            headers=endpoint.headers, auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=ACTION_KEEPALIVE_S))
        kept = endpoint.__dict__["_kept_session"] = (loop, session)
    return _KeptSession(kept[1])


def install_kept_action_connections() -> None:
    """Rasa opens a new client session, so a new TCP connection, for every call to the
    action server (2-3 a form turn; 2.7 % of a scaled instance's CPU, and the action
    server and haproxy accept each one). The action endpoint's calls share one
    session, whose connections are kept open between calls."""
    from rasa.core.actions.action import RemoteAction

    original = RemoteAction.run
    if getattr(original, "kept_connections", False):
        return

    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        endpoint = self.action_endpoint
        if endpoint is not None and "session" not in endpoint.__dict__:
            endpoint.session = functools.partial(kept_session, endpoint)
        return await original(self, *args, **kwargs)

    run.kept_connections = True  # type: ignore[attr-defined]
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
    alone, with no ORM objects. Together they were 19 % of Rasa's CPU per turn.
    With an event broker (the scaled system), the new events are published after
    the commit, the ones the count of stored events says are new: Rasa read the
    whole session back for that (4.5 % of a scaled instance's CPU), and published
    before the commit, so a turn whose commit failed (and which the channel sends
    again) reached the analytics twice."""
    import itertools
    import json

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    if getattr(SQLTrackerStore.save, "fast", False):
        return

    async def save(self: Any, tracker: Any) -> None:
        with self.session_scope() as session:
            stored = session.execute(_events_statement(self, count=True),
                                     {"sender_id": tracker.sender_id}).scalar_one()
            new_events = list(itertools.islice(tracker.events, stored, len(tracker.events)))
            rows = []
            for event in new_events:
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
        if self.event_broker is not None and new_events:
            # the events just stored, once they are stored (Rasa's stream_events read the
            # whole session back to find them, and published them before the commit)
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

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
    install_kept_action_connections()
    from bot.graph_runner import install_ordered_graph_runner

    install_ordered_graph_runner()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
