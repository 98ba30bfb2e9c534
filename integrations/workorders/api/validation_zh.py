"""Chinese reasons for pydantic's validation errors (what a person sees in a 422).

``translate(error)`` takes one entry of ``RequestValidationError.errors()`` and
returns the field (English, dotted, without the ``body``/``query`` prefix) and
a Chinese sentence, e.g. ``("description", "描述不能超过2000字")``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

#: Chinese names of the fields people send; unknown fields are shown as sent.
FIELD_ZH: Mapping[str, str] = {
    "description": "描述",
    "location_text": "地点",
    "location": "地点",
    "note": "说明",
    "reason": "原因",
    "category": "事项类别",
    "area_code": "所在区域",
    "area": "区域",
    "reporter_ref": "反映人标识",
    "reporter_channel": "反映渠道",
    "reporter_contact": "联系电话",
    "priority": "紧急程度",
    "kind": "事项类型",
    "client_ref": "请求标识",
    "Idempotency-Key": "幂等键",
    "latitude": "纬度",
    "longitude": "经度",
    "lat": "纬度",
    "long": "经度",
    "handler_id": "处理人员",
    "assignee": "处理人员",
    "answer": "回访结果",
    "name": "姓名",
    "phone": "联系电话",
    "role": "岗位",
    "tier": "层级",
    "skills": "擅长类别",
    "areas": "负责区域",
    "capacity": "承办上限",
    "on_duty": "在岗状态",
    "is_supervisor": "是否督办人",
    "telegram_chat_id": "Telegram 会话标识",
    "limit": "每页条数",
    "offset": "起始位置",
    "status": "状态",
    "from": "开始时间",
    "to": "结束时间",
    "created_from": "开始时间",
    "created_to": "结束时间",
    "group_by": "分组方式",
    "number": "工单号",
    "service_code": "服务类别",
    "address_string": "地址",
    "email": "电子邮箱",
    "device_id": "设备标识",
    "start_date": "开始时间",
    "end_date": "结束时间",
    "service_request_id": "工单号",
    "attribute[area_code]": "所在网格",
    "text": "地点描述",
    "alias": "别名",
    "transcript": "对话记录",
    "transcript.text": "对话内容",
    "speaker": "说话人",
    "contact": "联系电话",
    "order_number": "工单号",
    "since": "开始日期",
    "until": "结束日期",
    "channel": "渠道",
}

_LOCATIONS = {"body", "query", "path", "header", "cookie"}
_CJK = re.compile("[\u4e00-\u9fff]")


def field_of(loc: Sequence[Any]) -> str | None:
    """The dotted field name of an error location, without its ``body``/``query`` part."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in _LOCATIONS)]
    return ".".join(parts) or None


def label_of(loc: Sequence[Any]) -> str:
    """The Chinese name of the field at ``loc``: of its dotted path without list
    indexes if ``FIELD_ZH`` names it (``transcript.text``), else of the innermost
    named field ("请求内容" if none)."""
    names = [p for p in loc if isinstance(p, str) and p not in _LOCATIONS]
    dotted = ".".join(names)
    if dotted in FIELD_ZH:
        return FIELD_ZH[dotted]
    for part in reversed(names):
        return FIELD_ZH.get(part, part)
    return "请求内容"


def _choices(ctx: Mapping[str, Any]) -> str:
    expected = str(ctx.get("expected", ""))
    return expected.replace("'", "").replace(" or ", "、").replace(", ", "、")


def reason_zh(error: Mapping[str, Any]) -> str:
    """A Chinese sentence for one pydantic error."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    label = label_of(error.get("loc") or ())
    if kind == "missing":
        return f"缺少{label}"
    if kind == "string_too_long":
        return f"{label}不能超过{ctx.get('max_length')}字"
    if kind == "string_too_short":
        minimum = ctx.get("min_length", 1)
        return f"{label}不能为空" if minimum == 1 else f"{label}不能少于{minimum}字"
    if kind in ("enum", "literal_error"):
        return f"{label}的取值不正确，可选：{_choices(ctx)}"
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size"):
        return f"{label}必须是整数"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"{label}必须是数字"
    if kind in ("bool_parsing", "bool_type"):
        return f"{label}必须是 true 或 false"
    if kind.startswith("date_"):
        return f"{label}不是有效的日期，格式应为YYYY-MM-DD"
    if kind.startswith(("datetime_", "date_", "timezone_")):
        return f"{label}不是有效的日期时间"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return f"{label}不能小于{bound}" if kind == "greater_than_equal" else f"{label}必须大于{bound}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"{label}不能大于{bound}" if kind == "less_than_equal" else f"{label}必须小于{bound}"
    if kind == "too_long":
        return f"{label}最多{ctx.get('max_length')}项"
    if kind == "too_short":
        return f"{label}至少{ctx.get('min_length')}项"
    if kind in ("string_type", "string_unicode"):
        return f"{label}应为文本"
    if kind == "list_type":
        return f"{label}应为列表"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "请求内容应为 JSON 对象"
    if kind == "json_invalid":
        return "请求内容不是有效的 JSON"
    if kind == "none_required":
        if field_of(error.get("loc") or ()) == "telegram_chat_id":
            return "Telegram 只能通过绑定码绑定；此处只能填 null 解除绑定"
        return f"{label}只能为 null"
    if kind == "extra_forbidden":
        return f"不支持的字段：{field_of(error.get('loc') or ()) or label}"
    if kind == "value_error":
        message = str(ctx.get("error", ""))
        return message if _CJK.search(message) else f"{label}格式不正确"
    return f"{label}不正确"


def translate(error: Mapping[str, Any]) -> dict[str, Any]:
    """``{"field", "location", "reason", "reason_zh"}`` for one pydantic error."""
    loc = tuple(error.get("loc") or ())
    return {
        "field": field_of(loc),
        "location": str(loc[0]) if loc and loc[0] in _LOCATIONS else None,
        "reason": str(error.get("msg", "invalid")),
        "reason_zh": reason_zh(error),
    }
