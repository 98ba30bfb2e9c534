"""GeoReport v2 requests to work orders and back.

In: ``service_code`` -> category (public ones only), ``description``, ``lat`` /
``long``, ``address_string`` -> location text, ``attribute[area_code]`` (or
the configured default) -> grid, ``email`` / ``device_id`` -> reporter ref
``open311:<email or device id>`` (an anonymous report gets
``open311:<random uuid>``), ``phone`` -> contact (stored encrypted). Names
(``first_name``, ``last_name``) and ``media_url`` are not collected.

Out: no personal data at all: no contact, no reporter ref, and phone numbers
inside descriptions masked.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from integrations.shared.privacy import redact

from ...domain.lifecycle import Status
from ...service import CHINA_TZ, InvalidInput, OrderCreate, OrderView
from .catalog import Catalog

AREA_ATTRIBUTE: Final = "attribute[area_code]"

#: Statuses reported as ``closed``; everything else is ``open``.
CLOSED_STATUSES = frozenset(
    s.value for s in (Status.RESOLVED, Status.CLOSED, Status.ARCHIVED, Status.CANCELLED)
)
OPEN_STATUSES = frozenset(s.value for s in Status) - CLOSED_STATUSES

AGENCY_BY_TIER = {"grid": "网格", "township": "乡镇（街道）", "county": "县级"}

_EMAIL = re.compile(r"[^@\s:]+@[^@\s:]+\.[^@\s:]+")
_DEVICE = re.compile(r"[A-Za-z0-9._:-]+")
_ANONYMOUS = uuid.UUID("6f1d2c3e-8a47-4b0e-9d51-0e3a7c9b2f10")  # namespace of derived ids


class BodyError(ValueError):
    """The body is neither a form nor a JSON object."""


class RequestCreate(BaseModel):
    """``POST requests`` parameters (form fields or JSON keys); unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    service_code: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=2000)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=120)
    device_id: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    area_code: str | None = Field(default=None, alias=AREA_ATTRIBUTE, max_length=64)


def parse_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    """The parameters of a form-encoded (the specification) or JSON body."""
    media = (content_type or "").split(";")[0].strip().lower()
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    if media == "application/json" or media.endswith("+json"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise BodyError("the body is not valid JSON") from None
        if not isinstance(document, Mapping):
            raise BodyError("the JSON body must be an object")
        fields = {k: v for k, v in document.items() if k != "attribute"}
        attributes = document.get("attribute")
        if isinstance(attributes, Mapping):
            fields.update({f"attribute[{k}]": v for k, v in attributes.items()})
        return fields
    if media in ("application/x-www-form-urlencoded", ""):
        return dict(parse_qsl(text, keep_blank_values=False))
    raise BodyError(f"unsupported content type {media!r}")


def validate(fields: Mapping[str, Any]) -> RequestCreate:
    """``RequestCreate`` from the parameters; pydantic's ``ValidationError`` if they are bad."""
    return RequestCreate.model_validate(dict(fields))


def reporter_of(req: RequestCreate, client_ref: str | None = None) -> tuple[str, bool]:
    """``(reporter ref, anonymous)``; InvalidInput for a malformed email or device id.

    Without email and device id the reporter is a random uuid, or one derived
    from the idempotency key (a retry must be the same reporter to be a replay).
    """
    if req.email:
        email = req.email.strip().lower()
        if not _EMAIL.fullmatch(email):
            raise InvalidInput("email", "not an email address", "电子邮箱格式不正确。")
        return f"open311:{email}", False
    if req.device_id:
        device = req.device_id.strip()
        if not _DEVICE.fullmatch(device):
            raise InvalidInput("device_id", "letters, digits and . _ : - only", "设备标识格式不正确。")
        return f"open311:{device}", False
    anonymous_id = uuid.uuid5(_ANONYMOUS, client_ref) if client_ref else uuid.uuid4()
    return f"open311:{anonymous_id.hex}", not (req.phone and req.phone.strip())


def to_order(
    req: RequestCreate, catalog: Catalog, default_area: str | None, client_ref: str | None
) -> OrderCreate:
    """The work order a request asks for (``InvalidInput`` for what the spec calls a 400)."""
    if catalog.get(req.service_code) is None:  # unknown, or not public: never offered
        raise InvalidInput("service_code", f"no service {req.service_code!r}", "不支持的服务类别。")
    area = (req.area_code or "").strip() or default_area
    if not area:
        raise InvalidInput(AREA_ATTRIBUTE, "required (no default area is configured)",
                           "请提供所在网格（attribute[area_code]）。")
    location = (req.address_string or "").strip()
    if not location:
        if req.lat is None or req.long is None:
            raise InvalidInput("address_string", "address_string or lat and long are required",
                               "请提供地址或经纬度。")
        location = f"经纬度 {req.lat:.6f},{req.long:.6f}"
    reporter_ref, anonymous = reporter_of(req, client_ref)
    return OrderCreate(
        category=req.service_code, description=req.description, location_text=location,
        area_code=area, reporter_channel="open311", reporter_ref=reporter_ref,
        reporter_contact=req.phone or None, anonymous=anonymous, client_ref=client_ref,
        latitude=req.lat, longitude=req.long,
    )


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(CHINA_TZ).isoformat()


def status_of(view: OrderView) -> str:
    return "closed" if view.status in CLOSED_STATUSES else "open"


def request_record(view: OrderView) -> dict[str, Any]:
    """One ``request`` of ``GET requests``: the order without anything about its reporter."""
    return {
        "service_request_id": view.number,
        "status": status_of(view),
        "status_notes": view.resident_label,
        "service_name": view.category_name,
        "service_code": view.category,
        "description": redact(view.description),
        "agency_responsible": AGENCY_BY_TIER.get(view.tier, view.tier),
        "service_notice": None,
        "requested_datetime": _time(view.created_at),
        "updated_datetime": _time(view.updated_at),
        "expected_datetime": _time(view.resolve_by),
        "address": redact(view.location_text),
        "address_id": None,
        "zipcode": None,
        "lat": view.latitude,
        "long": view.longitude,
        "media_url": None,
    }


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors with their location under ``body`` (as FastAPI reports them)."""
    return [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
