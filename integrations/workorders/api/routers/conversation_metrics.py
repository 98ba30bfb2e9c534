"""``/api/v1/metrics/conversations``: what residents' conversations with the bot came to.

Per day and channel (``web``, ``tg``, ``voice``) and over the whole period:
conversations, 报事完成率, where unfinished reports stopped, 未听懂率, 转人工率,
the median turns and the median time to an order number. The figures come
from the ``conversations`` table, which the analytics consumer of the scaled
deployment fills from Rasa's event broker (``service.conversations``).

Supervisors and admins only (conversations carry no area yet); dispatchers,
handlers and the channel accounts 403.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ...service import CHINA_TZ
from ...service.conversations import conversation_metrics
from ..deps import ADMIN, SUPERVISOR, NowDep, Principal, UowDep, require
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.conversations import ConversationChannel, ConversationMetricsPublic
from . import API_V1

router = APIRouter(prefix=f"{API_V1}/metrics", tags=["metrics"],
                   responses={**AUTH_ERRORS, 422: {"model": ErrorBody}})

#: Who may read the figures (conversations carry no area, so no dispatcher scope yet).
ANALYSTS = require(SUPERVISOR, ADMIN)
#: The default period: the last 7 days, today included.
DEFAULT_DAYS = 7


def default_period(since: date | None, until: date | None, now: datetime) -> tuple[date, date]:
    """``(since, until)``, both included: by default the 7 days up to today (China time).
    ``conversation_metrics`` refuses ``since`` after ``until`` and periods over
    ``MAX_RANGE_DAYS`` (366) days (``InvalidInput``, 422)."""
    last = until or now.astimezone(CHINA_TZ).date()
    return since or last - timedelta(days=DEFAULT_DAYS - 1), last


@router.get("/conversations", response_model=ConversationMetricsPublic,
            summary="Residents' conversations with the bot: completion, drop-outs, fallbacks, "
                    "hand-offs, turns, time to an order number (per day and channel)")
def conversation_metrics_view(
    uow: UowDep,
    now: NowDep,
    principal: Annotated[Principal, Depends(ANALYSTS)],
    since: Annotated[date | None, Query(
        description="First day, YYYY-MM-DD, included (China time); default 6 days before 'until'")
    ] = None,
    until: Annotated[date | None, Query(
        description="Last day, YYYY-MM-DD, included (China time); default today")] = None,
    channel: Annotated[ConversationChannel | None, Query(
        description="Only this channel; default all")] = None,
) -> ConversationMetricsPublic:
    first, last = default_period(since, until, now)
    figures = conversation_metrics(uow, since=first, until=last, channel=channel, now=now)
    return ConversationMetricsPublic.model_validate({**figures, "channel": channel})
