"""Use cases of the work-order service (the API, notifier and CLI build on these).

Every function takes a ``UnitOfWork`` first and, if it changes anything, the
current time ``now`` (timezone-aware) last; the clock is never read here.
Results are plain dataclasses (``views``); failures are typed exceptions
(``errors`` and ``domain.errors``), never error values.
"""

from .areas import (
    add_alias,
    add_area,
    get_area,
    get_area_details,
    list_area_details,
    list_areas,
    resolve_area,
    set_fallback_area,
)
from .attachments import (
    add_attachment,
    attachment_counts,
    get_attachment_file,
    list_attachments,
    set_order_location,
    upload_attachment,
)
from .audit_trail import verify_audit
from .callbacks import (
    get_callback,
    list_callbacks,
    mark_callback_done,
    open_callbacks,
    request_callback,
)
from .config import CHINA_TZ, ServiceConfig
from .dispatching import dispatch_queued
from .errors import (
    Conflict,
    Forbidden,
    ImageTooLarge,
    InvalidInput,
    NotFound,
    ServiceError,
    TooManyAttempts,
    UnsupportedImage,
)
from .handlers import (
    create_handler,
    find_handler_by_phone,
    get_handler,
    handler_load,
    list_handlers,
    set_capacity,
    set_duty,
    update_handler,
)
from .handling import accept, decline, progress, resolve
from .metrics import Metrics, metrics
from .orders import OpenedOrder, create_order, open_order
from .queries import (
    find_open_duplicate,
    get_order,
    get_order_for_reporter,
    history,
    latest_open_order_for_reporter,
    list_orders,
    reporter_contact,
    resident_view,
)
from .reclassifying import reclassify
from .resident_actions import answer_satisfaction, attach_report_to, cancel
from .staff import create_staff_user, set_password, set_staff_active, staff_by_token
from .staff_actions import reassign, reopen
from .sweeper import SweepReport, run_time_limits
from .telegram_links import (
    LinkCodeView,
    LinkedAccount,
    LinkView,
    issue_link_code,
    linked_account,
    redeem_link_code,
    unlink_chat,
)
from .uow import UnitOfWork
from .views import (
    AreaDetailView,
    AreaMatchView,
    AreaView,
    AttachmentFile,
    AttachmentView,
    CallbackCreate,
    CallbackView,
    EventView,
    HandlerCreate,
    HandlerUpdate,
    HandlerView,
    OrderCreate,
    OrderFilters,
    OrderView,
    Page,
    Reclassified,
    ResidentOrderView,
    StaffView,
    TranscriptLine,
)

__all__ = [
    "CHINA_TZ",
    "AreaDetailView",
    "AreaMatchView",
    "AreaView",
    "AttachmentFile",
    "AttachmentView",
    "CallbackCreate",
    "CallbackView",
    "Conflict",
    "EventView",
    "Forbidden",
    "HandlerCreate",
    "HandlerUpdate",
    "HandlerView",
    "ImageTooLarge",
    "InvalidInput",
    "Metrics",
    "NotFound",
    "OrderCreate",
    "OrderFilters",
    "OrderView",
    "Page",
    "Reclassified",
    "ResidentOrderView",
    "ServiceConfig",
    "ServiceError",
    "StaffView",
    "SweepReport",
    "TranscriptLine",
    "UnitOfWork",
    "UnsupportedImage",
    "accept",
    "add_alias",
    "add_attachment",
    "add_area",
    "answer_satisfaction",
    "attachment_counts",
    "attach_report_to",
    "cancel",
    "create_handler",
    "create_order",
    "open_order",
    "OpenedOrder",
    "create_staff_user",
    "decline",
    "dispatch_queued",
    "find_handler_by_phone",
    "find_open_duplicate",
    "get_area",
    "get_area_details",
    "get_attachment_file",
    "get_callback",
    "get_handler",
    "get_order",
    "get_order_for_reporter",
    "handler_load",
    "history",
    "latest_open_order_for_reporter",
    "list_area_details",
    "list_areas",
    "list_attachments",
    "list_callbacks",
    "list_handlers",
    "list_orders",
    "mark_callback_done",
    "metrics",
    "open_callbacks",
    "progress",
    "reassign",
    "reclassify",
    "reopen",
    "reporter_contact",
    "request_callback",
    "resident_view",
    "resolve",
    "resolve_area",
    "run_time_limits",
    "set_capacity",
    "set_duty",
    "set_fallback_area",
    "set_order_location",
    "set_password",
    "set_staff_active",
    "staff_by_token",
    "update_handler",
    "upload_attachment",
    "verify_audit",
]
__all__ += [
    "LinkCodeView",
    "LinkView",
    "LinkedAccount",
    "TooManyAttempts",
    "issue_link_code",
    "linked_account",
    "redeem_link_code",
    "unlink_chat",
]

# Desk actions of dispatchers and admins, callback requests to orders, staff accounts.
from .access_log import AccessEntry, access_log  # noqa: E402
from .callback_actions import (  # noqa: E402
    CallbackOrder,
    callback_to_order,
    reveal_callback_transcript,
)
from .desk_actions import (  # noqa: E402
    add_staff_note,
    cancel_by_staff,
    reveal_contact,
    set_priority,
)
from .staff import get_staff, list_staff, update_staff  # noqa: E402

__all__ += [
    "AccessEntry",
    "CallbackOrder",
    "access_log",
    "add_staff_note",
    "callback_to_order",
    "cancel_by_staff",
    "get_staff",
    "list_staff",
    "reveal_callback_transcript",
    "reveal_contact",
    "set_priority",
    "update_staff",
]

# the console's lists: the dispatcher's inbox (待办) and the overdue rule
from .queries import order_is_overdue, overdue_since  # noqa: E402
from .worklist import (  # noqa: E402
    SECTION_LABELS,
    SECTIONS,
    WorkItem,
    Worklist,
    worklist,
    worklist_version,
)

__all__ += [
    "SECTIONS",
    "SECTION_LABELS",
    "WorkItem",
    "Worklist",
    "order_is_overdue",
    "overdue_since",
    "worklist",
    "worklist_version",
]

# 研判预警: a surge's orders under one parent (合并办理), the weekly 研判 reports
from .linking import SurgeLinks, link_surge, surge_links  # noqa: E402
from .weekly_reports import (  # noqa: E402
    WeeklyReportView,
    build_weekly_report,
    get_weekly_report,
    list_weekly_reports,
    run_weekly_reports,
    week_of,
)

__all__ += [
    "SurgeLinks",
    "WeeklyReportView",
    "build_weekly_report",
    "get_weekly_report",
    "link_surge",
    "list_weekly_reports",
    "run_weekly_reports",
    "surge_links",
    "week_of",
]
