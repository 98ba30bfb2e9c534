"""Opening an order and knowing whether this call made it (201) or replayed one (200)."""

from __future__ import annotations

from datetime import datetime

from ..domain.numbers import new_number
from ..service import OrderCreate, OrderView, UnitOfWork, create_order


class _Draws:
    """The ``numbers`` source of ``create_order``, remembering its last draw.

    ``create_order`` draws a number only to insert a new order, so the order
    it returns was made by this call exactly when its number is the last one
    drawn: a replay (an idempotency key seen before) draws nothing, and a lost
    race against a concurrent retry of the same key returns the other call's order.
    """

    def __init__(self) -> None:
        self.last: str | None = None

    def __call__(self) -> str:
        self.last = new_number()
        return self.last


def open_order(uow: UnitOfWork, data: OrderCreate, now: datetime) -> tuple[OrderView, bool]:
    """``create_order`` and whether the returned order is new."""
    draws = _Draws()
    view = create_order(uow, data, now, numbers=draws)
    return view, draws.last == view.number
