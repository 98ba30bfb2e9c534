"""Prometheus metrics and the access log of the HTTP API.

One ``CollectorRegistry`` per application (not the process-global one), so
several apps in one process (tests) never clash. Request counters and
latencies are labelled by route template (``/api/v1/orders/{number}``), never
by raw path, so order numbers do not explode the label space. Gauges of open
orders and of the outbox are computed when Prometheus scrapes, by one GROUP BY
query each.

With ``--workers N`` every process keeps its own counters and a scrape reaches
one of them; scrape each process (or run one worker per container).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..adapters.orm import CallbackRequest, OutboxMessage, WorkOrder
from ..adapters.outbox_table import DEAD, PENDING
from ..domain.lifecycle import Status
from ..service.uow import UnitOfWork

access_log = logging.getLogger("integrations.workorders.api.access")

#: Statuses whose orders are still being worked on (the gauge's label values).
OPEN_ORDER_STATUSES = tuple(
    s.value for s in Status if s not in (Status.CLOSED, Status.ARCHIVED, Status.CANCELLED)
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StateGauges(Collector):
    """Open orders and outbox rows by status, open callback requests, counted at scrape time."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow_factory = uow_factory

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # computed only on collect; nothing to describe up front

    def collect(self) -> Iterator[GaugeMetricFamily]:
        uow = self._uow_factory()
        with uow.read_only():
            orders = dict(uow.session.execute(
                select(WorkOrder.status, func.count())
                .where(WorkOrder.status.in_(OPEN_ORDER_STATUSES))
                .group_by(WorkOrder.status)
            ).all())
            callbacks = uow.session.scalar(
                select(func.count()).select_from(CallbackRequest)
                .where(CallbackRequest.status == "open")
            )
            outbox = dict(uow.session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.status.in_((PENDING, DEAD)))
                .group_by(OutboxMessage.status)
            ).all())
        open_orders = GaugeMetricFamily(
            "workorders_orders_open", "Work orders not yet closed, by status", labels=["status"]
        )
        for status in OPEN_ORDER_STATUSES:
            open_orders.add_metric([status], float(orders.get(status, 0)))
        yield open_orders
        messages = GaugeMetricFamily(
            "workorders_outbox_messages", "Outbox rows waiting (pending) or given up (dead)",
            labels=["status"],
        )
        for status in (PENDING, DEAD):
            messages.add_metric([status], float(outbox.get(status, 0)))
        yield messages
        yield GaugeMetricFamily(
            "workorders_callbacks_open", "Callback requests waiting for a call",
            value=float(callbacks or 0),
        )


class Telemetry:
    """The application's metrics."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "workorders_http_requests", "HTTP requests by method, route template and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "workorders_http_request_duration_seconds", "HTTP request latency by route template",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.orders_created = Counter(
            "workorders_orders_created", "Work orders created through the API, by channel",
            ["channel"], registry=self.registry,
        )
        self.callbacks_requested = Counter(
            "workorders_callbacks_requested", "Callback requests (转人工) filed, by reason",
            ["reason"], registry=self.registry,
        )
        self.contact_reveals = Counter(
            "workorders_contact_reveals", "Reporter contacts revealed to staff",
            registry=self.registry,
        )
        self.registry.register(_StateGauges(uow_factory))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format (runs the gauges' queries)."""
        return generate_latest(self.registry)


class TelemetryMiddleware:
    """Counts and times every HTTP request and writes one JSON access-log line.

    The log line has the route template, never the query string (which may
    carry a resident's channel id).
    """

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.telemetry.observe(scope["method"], route, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(json.dumps({
                    "method": scope["method"], "route": route, "status": status,
                    "ms": round(elapsed * 1000, 1),
                }))
