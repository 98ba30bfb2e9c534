"""``/api/v1/audit``: verify the hash chains of order histories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ...domain.numbers import normalize
from ...service import NotFound, verify_audit
from ..deps import AUDITORS, Principal, UowDep
from ..schemas.audit import AuditPublic, BrokenChain
from ..schemas.common import AUTH_ERRORS, ErrorBody
from . import API_V1

router = APIRouter(prefix=f"{API_V1}/audit", tags=["audit"],
                   responses={**AUTH_ERRORS, 404: {"model": ErrorBody}})


@router.get("/verify", response_model=AuditPublic,
            summary="Orders whose history was altered, with the first broken event")
def verify(
    uow: UowDep,
    principal: Annotated[Principal, Depends(AUDITORS)],
    number: Annotated[str | None, Query(max_length=32, description="One order; all if left out")] = None,
) -> AuditPublic:
    canonical = None
    if number is not None:
        canonical = normalize(number)
        if canonical is None:
            raise NotFound("order", number)
    broken = verify_audit(uow, canonical)
    return AuditPublic(
        number=canonical, ok=not broken,
        broken=[BrokenChain(number=n, first_broken_seq=seq) for n, seq in broken],
    )
