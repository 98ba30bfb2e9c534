"""研判预警 and 研判周报 in a real headless Chromium against the real stack (issue 14).

One short scenario: the dispatcher opens 研判预警 (the nav item shows the open
count), opens a warning, acknowledges it with a note and sees it acknowledged;
then generates this week's 研判周报, whose trend chart is drawn, without an error
in the browser's console. The warning is planted in the stack's database (the
detectors have tests of their own); screenshots ``warnings`` and ``weekly-report``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from integrations.workorders.adapters.orm import RiskWarning, WarningEvent
from integrations.workorders.demo import XINGFULI
from tests.app.console.browser.browser_support import CANVAS_PIXELS_JS

pytestmark = pytest.mark.slow

NOTE = "已请网格员今天上门调解，并告知双方社区民警电话。"


def _plant(db) -> int:
    now = datetime.now(UTC)
    with db.session() as s:
        warning = RiskWarning(
            kind="dispute_risk", level="urgent", state="open", area_code=XINGFULI,
            category="dispute.neighbor", dedupe_key=f"browser:{now.isoformat()}",
            explanation="幸福里社区 邻里纠纷 风险评分85分：描述中有暴力威胁，同一地点多次纠纷。",
            details={"score": 85, "reasons": [
                {"code": "threat", "points": 45, "text": "描述中有暴力威胁：“跟他拼了”"},
                {"code": "same_place", "points": 25, "text": "同一地点90天内第3次纠纷"}],
                "same_place_disputes": 2, "waited_hours": 6.0},
            order_id=None, created_at=now, updated_at=now, version=1)
        s.add(warning)
        s.flush()
        s.add(WarningEvent(warning_id=warning.id, action="raise", actor="system", at=now,
                           level="urgent", note=None))
        for minutes, kind, level, category, text in (
                (40, "surge", "warning", "incident.water",
                 "幸福里社区 供排水问题 近3小时6件（平时每天约1件）"),
                (180, "repeat", "attention", "incident.facility",
                 "幸福里社区 人民路12号 路灯损坏 7天前已办结（王建国），现又有人反映，疑似假性整改。")):
            at = now - timedelta(minutes=minutes)
            s.add(RiskWarning(kind=kind, level=level, state="open", area_code=XINGFULI,
                              category=category, dedupe_key=f"browser:{kind}:{now.isoformat()}",
                              explanation=text, details={}, order_id=None, created_at=at,
                              updated_at=at, version=1))
        s.commit()
        return warning.id


def test_a_dispatcher_acknowledges_a_warning_and_reads_the_weekly_report(
        stack, db, login, base, browse, screenshots):
    wid = _plant(db)
    page = browse("office").new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} {m.location.get('url', '')}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    login(page, "demo-dispatcher")

    nav = page.get_by_role("navigation", name="主菜单").get_by_role("link", name=re.compile("研判预警"))
    expect(nav.locator(".nav-count")).to_have_text(re.compile(r"^[1-9]\d*条待处理$"))
    nav.click()
    expect(page.get_by_role("heading", name="研判预警", level=1)).to_be_visible()
    item = page.locator(".warning-item", has_text="风险评分85分")
    expect(item).to_contain_text("矛盾激化风险")
    expect(item).to_contain_text("待处理")
    screenshots.shoot(page, "warnings")

    item.get_by_role("link", name="查看详情").click()
    expect(page).to_have_url(re.compile(rf"/console/warnings/{wid}$"))
    expect(page.get_by_text("描述中有暴力威胁：“跟他拼了”")).to_be_visible()
    page.get_by_role("button", name="确认知悉").click()  # without a note: the browser asks
    expect(page).to_have_url(re.compile(rf"/console/warnings/{wid}$"))
    page.locator("#k-note").fill(NOTE)
    page.get_by_role("button", name="确认知悉").click()
    expect(page.locator(".flash-ok")).to_contain_text("已知悉")
    expect(page.locator("h1")).to_contain_text("已知悉")
    expect(page.get_by_role("button", name="确认知悉")).to_have_count(0)
    with db.session() as s:
        row = s.scalar(select(RiskWarning).where(RiskWarning.id == wid))
        assert row is not None and row.state == "acknowledged" and row.ack_note == NOTE
        assert row.acknowledged_by == "staff:demo-dispatcher"

    page.get_by_role("link", name="研判周报").click()
    page.get_by_role("button", name="生成本周报告").click()
    expect(page).to_have_url(re.compile(r"/console/reports/township:qy-chengguan/\d{4}-\d\d-\d\d$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("研判周报")
    page.wait_for_function(f"() => ({CANVAS_PIXELS_JS})().length > 0")
    page.wait_for_function(f"() => ({CANVAS_PIXELS_JS})().every(n => n > 0)")
    screenshots.shoot(page, "weekly-report")
    assert errors == [], errors

    phone = browse("phone").new_page()
    login(phone, "demo-dispatcher", next_path="/console/warnings")
    expect(phone.get_by_role("heading", name="研判预警", level=1)).to_be_visible()
    screenshots.shoot(phone, "warnings")
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    wide = phone.evaluate("""() => Array.from(document.querySelectorAll('body *'))
      .filter(e => e.getBoundingClientRect().right > 392)
      .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
      .slice(0, 15)""")
    assert width <= 390 + 1, (width, wide)  # no sideways scrolling on a phone
    screenshots.shoot(phone, "warnings")
