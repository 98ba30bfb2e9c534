"""Exports for supervisors (导出): orders of a period, and the scorecard, as XLSX or CSV.

    tables = [order_table(uow, start, end)]              # or scorecard_tables(...)
    data = to_xlsx(tables)   /   data = to_csv(tables)

Headers are Chinese; times are China time. No personal data leaves this way:
never the resident's phone, channel id or name, nor the report's free text
(it may hold them), only what staff need to count and follow up. An order
export holds at most ``MAX_EXPORT_ORDERS`` orders: a longer period is refused
(``InvalidInput``, 422) with a request to export it in parts, so one request
never builds a file of unbounded size. XLSX: one sheet per table, the header
row frozen, columns sized to their content; CSV: UTF-8 with a byte-order mark
(so Excel reads the Chinese), tables one after another under their titles.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select

from ..adapters.orm import WorkOrder
from ..domain.lifecycle import STATUS_LABELS, Status
from .common import category_label
from .config import CHINA_TZ
from .dashboard import labels_in
from .errors import InvalidInput
from .messages import TIER_NAMES
from .metrics import LABELS_ZH, Metrics, Tally, cards, fold, period_filter, tallies
from .uow import UnitOfWork
from .views import SATISFACTION_LABELS

#: The most orders one export holds (a longer period: export it in parts).
MAX_EXPORT_ORDERS = 50_000
PRIORITY_LABELS = {"normal": "普通", "urgent": "紧急"}
ORDER_HEADERS = ("工单编号", "类型", "类别", "地点", "所属网格", "状态", "优先级", "处理层级",
                 "处理人", "受理时间", "签收时间", "办结时间", "是否超时", "满意度")
#: Scorecard columns after the group's name; rates are shares (0..1).
SCORECARD_FIELDS = tuple(LABELS_ZH)
RATE_FIELDS = frozenset({"resolution_rate", "on_time_rate", "accept_timely_rate",
                         "satisfaction_rate", "repeat_rate"})
TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class Table:
    """A sheet: ``title`` (the sheet's name), Chinese ``headers``, ``rows`` of plain cells
    (str, int, float, China-time naive datetime, None), and per-column cell kinds."""

    title: str
    headers: tuple[str, ...]
    rows: list[list[Any]]
    #: column index -> "rate" (a share shown as a percentage) or "time"
    kinds: dict[int, str] = field(default_factory=dict)


def _china(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(CHINA_TZ).replace(tzinfo=None)


def order_table(
    uow: UnitOfWork,
    period_start: datetime,
    period_end: datetime,
    area_codes: Collection[str] | None = None,
) -> Table:
    """Orders created in ``[period_start, period_end)`` (in ``area_codes`` if given),
    oldest first; ``InvalidInput`` beyond ``MAX_EXPORT_ORDERS``."""
    taxonomy = uow.config.taxonomy
    where = period_filter(period_start, period_end, area_codes)
    columns = (WorkOrder.number, WorkOrder.kind, WorkOrder.category, WorkOrder.location_text,
               WorkOrder.area_code, WorkOrder.status, WorkOrder.priority, WorkOrder.tier,
               WorkOrder.assignee_id, WorkOrder.created_at, WorkOrder.accepted_at,
               WorkOrder.resolved_at, WorkOrder.breached, WorkOrder.satisfaction)
    with uow.read_only():
        session = uow.session
        count = session.scalar(select(func.count()).select_from(WorkOrder).where(*where)) or 0
        if count > MAX_EXPORT_ORDERS:
            raise InvalidInput(
                "from", f"{count} orders; at most {MAX_EXPORT_ORDERS} per export",
                f"该时间段共有{count}条工单，超过单次导出上限{MAX_EXPORT_ORDERS}条，"
                "请缩短时间范围分批导出。",
            )
        areas = labels_in(uow, session, "area")
        handlers = labels_in(uow, session, "handler")
        rows = []
        for (number, kind, category, location, area, status, priority, tier, assignee,
             created, accepted, resolved, breached, satisfaction) in session.execute(
                select(*columns).where(*where).order_by(WorkOrder.created_at, WorkOrder.id)
        ).yield_per(2000):
            rows.append([
                number, taxonomy.kind_names.get(kind, kind), category_label(taxonomy, category),
                location, areas.get(area, area), STATUS_LABELS[Status(status)],
                PRIORITY_LABELS.get(priority, priority), TIER_NAMES.get(tier, tier),
                "" if assignee is None else handlers.get(str(assignee), str(assignee)),
                _china(created), _china(accepted), _china(resolved), "是" if breached else "否",
                SATISFACTION_LABELS.get(satisfaction, "") if satisfaction else "",
            ])
    return Table("工单明细", ORDER_HEADERS, rows, {9: "time", 10: "time", 11: "time"})


def scorecard_tables(
    uow: UnitOfWork,
    period_start: datetime,
    period_end: datetime,
    area_codes: Collection[str] | None = None,
) -> list[Table]:
    """The scorecard of the period: overall, by area (grid) and by category (three tables)."""
    found = tallies(uow, period_start, period_end, ("area", "category"), area_codes)
    with uow.read_only():
        areas = labels_in(uow, uow.session, "area")
    taxonomy = uow.config.taxonomy
    overall = sum(found.values(), Tally()).result(None)
    span = (f"{_china(period_start):{TIME_FORMAT}} 至 {_china(period_end):{TIME_FORMAT}}")
    return [
        _scorecard("总体", "统计期间", [(span, overall)]),
        _scorecard("按区域", "区域", [(areas.get(m.group or "", m.group), m)
                                  for m in cards(fold(found, 0))]),
        _scorecard("按类别", "类别", [(category_label(taxonomy, m.group or ""), m)
                                  for m in cards(fold(found, 1))]),
    ]


def _scorecard(title: str, first: str, rows: Sequence[tuple[str | None, Metrics]]) -> Table:
    headers = (first, *(LABELS_ZH[name] for name in SCORECARD_FIELDS))
    kinds = {i + 1: "rate" for i, name in enumerate(SCORECARD_FIELDS) if name in RATE_FIELDS}
    body = [[label, *(_round(getattr(card, name)) for name in SCORECARD_FIELDS)]
            for label, card in rows]
    return Table(title, headers, body, kinds)


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


# ------------------------------------------------------------------------ writers


def _text(value: Any, kind: str | None) -> str:
    if value is None:
        return ""
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _width(text: str) -> int:
    """Display width: CJK characters count double."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """An XLSX workbook, a sheet per table (header row frozen, columns sized)."""
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in tables:
        sheet = book.create_sheet(title=table.title[:31])
        sheet.freeze_panes = "A2"
        widths = [_width(h) for h in table.headers]
        for row in table.rows[:500]:  # size columns by the first rows
            for i, value in enumerate(row):
                widths[i] = max(widths[i], _width(_text(value, table.kinds.get(i))))
        for i, width in enumerate(widths):
            sheet.column_dimensions[get_column_letter(i + 1)].width = min(max(width + 2, 8), 60)
        header = []
        for title in table.headers:
            cell = WriteOnlyCell(sheet, value=title)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        formats = {i: ("0.0%" if kind == "rate" else "yyyy-mm-dd hh:mm")
                   for i, kind in table.kinds.items()}
        for row in table.rows:
            if formats:
                cells: list[Any] = []
                for i, value in enumerate(row):
                    if i in formats and value is not None:
                        cell = WriteOnlyCell(sheet, value=value)
                        cell.number_format = formats[i]
                        cells.append(cell)
                    else:
                        cells.append(value)
                sheet.append(cells)
            else:
                sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_csv(tables: Sequence[Table]) -> bytes:
    """CSV in UTF-8 with a byte-order mark; with several tables, each under its title."""
    out = io.StringIO()
    writer = csv.writer(out)
    for index, table in enumerate(tables):
        if len(tables) > 1:
            if index:
                writer.writerow([])
            writer.writerow([table.title])
        writer.writerow(table.headers)
        for row in table.rows:
            writer.writerow([_text(v, table.kinds.get(i)) for i, v in enumerate(row)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
