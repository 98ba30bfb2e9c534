"""The console's pages, one module per screen; ``ROUTERS`` is what the console mounts."""

from __future__ import annotations

from fastapi import APIRouter

from . import (
    account,
    admin_areas,
    admin_staff,
    auth,
    callbacks,
    dashboard,
    exports,
    handlers,
    home,
    my_orders,
    order,
    order_actions,
    orders,
    risk_warnings,
    todo,
    weekly_reports,
)

ROUTERS: list[APIRouter] = [auth.router, home.router, account.router]
ROUTERS += [handlers.router, callbacks.router, admin_staff.router, admin_areas.router]
ROUTERS += [todo.router, orders.router, order.router, order_actions.router]
ROUTERS += [my_orders.router, dashboard.router, exports.router]
ROUTERS += [risk_warnings.router, weekly_reports.router]
