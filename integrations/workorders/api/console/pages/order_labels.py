"""What the order pages share: their URLs, names of areas and handlers, who did something."""

from __future__ import annotations

from datetime import datetime

from ....domain.taxonomy import Taxonomy
from ....service import HandlerView, UnitOfWork, list_areas, list_handlers
from ..labels import PRIORITY_NAMES, local_time, tier_zh
from ..web import PREFIX

ORDERS_PATH = f"{PREFIX}/orders"
#: Who, in an event's ``actor``, is not a staff member or a handler.
ACTOR_NAMES = {"resident": "反映人", "co-reporter": "其他居民", "system": "系统"}


def order_url(number: str) -> str:
    return f"{ORDERS_PATH}/{number}"


def area_names(uow: UnitOfWork) -> dict[str, str]:
    return {a.code: a.name for a in list_areas(uow)}


def handlers_by_id(uow: UnitOfWork) -> dict[int, HandlerView]:
    return {h.id: h for h in list_handlers(uow)}


def actor_label(actor: str, handlers: dict[int, HandlerView]) -> str:
    """``staff:alice`` -> ``alice（工作人员）``, ``handler:3`` -> the handler's name."""
    if actor in ACTOR_NAMES:
        return ACTOR_NAMES[actor]
    kind, _, rest = actor.partition(":")
    if kind == "staff" and rest:
        return f"{rest}（工作人员）"
    if kind == "handler" and rest.isdigit():
        handler = handlers.get(int(rest))
        return f"{handler.name}（处理人员）" if handler else f"处理人员 {rest}"
    return actor


#: Words of the service's audit notes, as the timeline shows them.
NOTE_WORDS = {"reassign": "改派", "had_contact": "有联系电话", "no_contact": "未留联系电话",
              "sham": "疑似假性整改", "risk": "矛盾激化风险"}


def note_text(note: str | None, handlers: dict[int, HandlerView], taxonomy: Taxonomy) -> str:
    """An audit note for people: ``handler:3 tier:grid`` -> ``处理人员：王调解 层级：网格``.

    The service writes its own facts as ``key:value`` words; the words a person
    wrote (a reason, a progress note) are shown as they are.
    """
    if not note:
        return ""

    def name(value: str) -> str:
        if value in taxonomy.categories:
            return taxonomy.categories[value].name
        return PRIORITY_NAMES.get(value) or tier_zh(value) or value

    words = []
    for word in note.split(" "):
        key, sep, value = word.partition(":")
        if word in NOTE_WORDS:
            words.append(NOTE_WORDS[word])
        elif not sep or not value:
            words.append(word)
        elif key == "handler" and value.isdigit():
            handler = handlers.get(int(value))
            words.append(f"处理人员：{handler.name if handler else value}")
        elif key == "tier":
            before, _, after = value.partition("->")
            words.append(f"层级：{tier_zh(before)}" + (f" → {tier_zh(after)}" if after else ""))
        elif key == "from":
            words.append(f"原为「{name(value)}」")
        elif key == "to":
            words.append(f"改为「{name(value)}」")
        elif key == "earlier":
            words.append(f"此前工单：{value.replace(',', '、')}")
        elif key == "score":
            words.append(f"风险分：{value}")
        elif key == "attachment":
            words.append("照片")
        elif key in ("accept_by", "resolve_by"):
            words.append(f"{'签收' if key == 'accept_by' else '办结'}时限：{_when(value)}")
        else:
            words.append(word)
    return " ".join(words)


def _when(value: str) -> str:
    try:
        return local_time(datetime.fromisoformat(value))
    except ValueError:
        return value
