"""GeoReport v2 documents as JSON or XML, and its error shape.

XML follows the specification's examples: a root (``services``,
``service_requests``, ``service_definition``, ``errors``) holding one element
per item (``service``, ``request``, ``error``), field elements inside, empty
elements for missing values, ``true``/``false`` for booleans. Characters XML 1.0
cannot carry (control characters but tab, newline and carriage return; lone
surrogates; U+FFFE, U+FFFF) are left out of the text, so the document parses
whatever a resident typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi.responses import Response

PREFIX = "/open311/"
FORMATS = ("json", "xml")

#: The element of each item in a list-valued element.
_ITEM_TAG = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}


#: What XML 1.0 does not allow in character data (its ``Char`` production, negated).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry."""
    return _NOT_XML_CHAR.sub("", text)


def is_open311_path(path: str) -> bool:
    return path.startswith(PREFIX)


def format_of_path(path: str) -> str:
    """``xml`` if the path ends in ``.xml``, else ``json`` (also for errors before routing)."""
    return "xml" if path.endswith(".xml") else "json"


def _append(parent: Element, tag: str, value: Any) -> None:
    element = SubElement(parent, tag)
    _fill(element, tag, value)


def _fill(element: Element, tag: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _append(element, str(key), item)
    elif isinstance(value, (list, tuple)):
        item_tag = _ITEM_TAG.get(tag, "item")
        for item in value:
            _append(element, item_tag, item)
    else:
        element.text = xml_text(str(value))


def to_xml(root: str, value: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    element = Element(root)
    _fill(element, root, value)
    return b'<?xml version="1.0" encoding="utf-8"?>' + tostring(element, encoding="unicode").encode(
        "utf-8"
    )


def render(
    fmt: str,
    root: str,
    value: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``value`` as JSON (as is) or XML (under ``root``)."""
    if fmt == "xml":
        return Response(to_xml(root, value), status_code=status_code,
                        media_type="application/xml; charset=utf-8", headers=headers)
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def open311_error(
    path: str, status: int, detail: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    """GeoReport v2 errors: ``[{"code", "description"}]`` / ``<errors><error>...``.

    The specification answers bad or missing parameters with 400, so our 422 becomes 400.
    """
    status = 400 if status == 422 else status
    reason_zh, reason = detail.get("reason_zh", ""), detail.get("reason", "")
    description = f"{reason_zh} ({reason})" if reason else str(reason_zh)
    errors = [{"code": status, "description": description}]
    return render(format_of_path(path), "errors", errors, status_code=status, headers=headers)
