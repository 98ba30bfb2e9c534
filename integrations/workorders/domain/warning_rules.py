"""The thresholds and windows of 研判预警, in one place (read from ``warnings.yml``).

Every field has a default; ``warnings.yml`` at the repository root states the
same defaults with a comment for each key, and a test checks that the file
parses to exactly ``default_rules()``. ``parse_rules`` accepts the parsed YAML
(any missing section or key keeps its default) and raises ``ValueError`` with
the dotted name of the offending key for anything it cannot use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RepeatRules:
    """How far back an earlier order at the same place counts (days), per category kind."""

    incident_days: int = 30
    dispute_days: int = 90
    request_days: int = 30
    # an earlier order resolved less than this many days before the new report: 疑似假性整改
    sham_days: int = 14

    def window_days(self, kind: str) -> int:
        """The look-back window for a category kind (incident, dispute, request)."""
        windows = {"incident": self.incident_days, "dispute": self.dispute_days,
                   "request": self.request_days}
        try:
            return windows[kind]
        except KeyError:
            raise ValueError(f"unknown category kind {kind!r} "
                             f"(expected one of {', '.join(windows)})") from None


@dataclass(frozen=True)
class DisputeRiskRules:
    """Points of the dispute risk score (0-100) and the levels it leads to."""

    threshold: int = 60          # score at or above: a warning (预警)
    urgent_at: int = 80          # score at or above: urgent (紧急)
    lookback_days: int = 180     # earlier disputes at the same place counted this far back
    threat_max: int = 70         # cap on the points from threats in the texts
    extra_threat_points: int = 10  # each further distinct threat after the strongest
    worry_points: int = 10       # a worry without a threat ("怕他动手"), counted once
    repeat_points: int = 10      # per earlier dispute at the same place
    repeat_max: int = 30
    reopen_points: int = 15      # per reopening after 不满意
    reopen_max: int = 30
    co_reporter_points: int = 5  # per further resident reporting the same dispute
    co_reporter_max: int = 15
    wait_grace_hours: float = 48.0  # waiting longer than this starts to add points
    wait_points_per_day: int = 5    # per full day waited beyond the grace
    wait_max: int = 15


@dataclass(frozen=True)
class SurgeRules:
    """The surge test (see ``domain/surges.py`` for the reasoning behind alpha)."""

    windows_hours: tuple[float, ...] = (1.0, 3.0, 24.0)
    history_weeks: int = 8          # weeks of history the baseline is estimated from
    alpha: float = 1e-5             # significance for one test, split evenly among the windows
    min_count: int = 3              # fewer reports than this in a window never make a surge
    prior_weeks: float = 4.0        # weight of the prior rate, in weeks of history
    default_weekly_rate: float = 2.0  # prior reports per week per grid when the county has no history
    urgent_count: int = 10          # a surge of at least this many reports is urgent (紧急)


@dataclass(frozen=True)
class HotspotRules:
    top: int = 5            # places listed among the hotspots (and among the slowest)
    compare_weeks: int = 4  # this week's count is compared with the mean of this many weeks before
    min_count: int = 2      # a place needs at least this many orders in the week to be a hotspot


@dataclass(frozen=True)
class ReportRules:
    weekday: int = 0  # 0 = Monday ... 6 = Sunday (China time)
    hour: int = 8     # 0-23, China time


@dataclass(frozen=True)
class WarningRules:
    repeat: RepeatRules = RepeatRules()
    dispute_risk: DisputeRiskRules = DisputeRiskRules()
    surge: SurgeRules = SurgeRules()
    hotspot: HotspotRules = HotspotRules()
    report: ReportRules = ReportRules()


def default_rules() -> WarningRules:
    return WarningRules()


_SECTIONS: dict[str, type] = {
    "repeat": RepeatRules,
    "dispute_risk": DisputeRiskRules,
    "surge": SurgeRules,
    "hotspot": HotspotRules,
    "report": ReportRules,
}


def parse_rules(data: Mapping[str, Any] | None) -> WarningRules:
    """``WarningRules`` from a parsed settings document; missing keys keep their defaults.

    Raises ``ValueError`` naming the key (``surge.alpha``) for unknown keys,
    wrong types and values out of range.
    """
    if data is None:
        return default_rules()
    if not isinstance(data, Mapping):
        raise ValueError("the warning settings must be a mapping of sections "
                         f"({', '.join(_SECTIONS)}), not {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in _SECTIONS)
    if unknown:
        raise ValueError(f"unknown section {unknown[0]!r} in the warning settings "
                         f"(known: {', '.join(_SECTIONS)})")
    sections = {name: _parse_section(name, cls, data.get(name)) for name, cls in _SECTIONS.items()}
    rules = WarningRules(**sections)
    _check(rules)
    return rules


def _parse_section(name: str, cls: type, raw: Any) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name} must be a mapping of settings, not {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ValueError(f"unknown setting {name}.{key} (known: {', '.join(fields)})")
        default = fields[key].default
        values[key] = _coerce(f"{name}.{key}", value, default)
    return cls(**values)


def _coerce(where: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):  # not used today; keep bools from passing as ints
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, not {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be a whole number, not {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number, not {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{where} must be a non-empty list of numbers, not {value!r}")
        items = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise ValueError(f"{where} must be a list of numbers; {item!r} is not a number")
            items.append(float(item))
        return tuple(items)
    raise ValueError(f"{where}: unsupported setting")  # pragma: no cover


def _at_least(where: str, value: float, low: float) -> None:
    if value < low:
        raise ValueError(f"{where} must be at least {low:g}, not {value:g}")


def _check(r: WarningRules) -> None:
    for key in ("incident_days", "dispute_days", "request_days", "sham_days"):
        _at_least(f"repeat.{key}", getattr(r.repeat, key), 1)
    d = r.dispute_risk
    for f in dataclasses.fields(d):
        _at_least(f"dispute_risk.{f.name}", getattr(d, f.name), 0)
    if not 1 <= d.threshold <= 100:
        raise ValueError(f"dispute_risk.threshold must be between 1 and 100, not {d.threshold}")
    if not d.threshold <= d.urgent_at <= 100:
        raise ValueError("dispute_risk.urgent_at must be between dispute_risk.threshold "
                         f"({d.threshold}) and 100, not {d.urgent_at}")
    _at_least("dispute_risk.lookback_days", d.lookback_days, 1)
    s = r.surge
    for hours in s.windows_hours:
        if not 0 < hours <= 168:
            raise ValueError(f"surge.windows_hours: each window must be more than 0 and at most "
                             f"168 hours, not {hours:g}")
    if len(set(s.windows_hours)) != len(s.windows_hours):
        raise ValueError("surge.windows_hours must not list a window twice")
    _at_least("surge.history_weeks", s.history_weeks, 1)
    if not 0 < s.alpha < 0.5:
        raise ValueError(f"surge.alpha must be more than 0 and less than 0.5, not {s.alpha:g}")
    _at_least("surge.min_count", s.min_count, 1)
    if s.prior_weeks <= 0:
        raise ValueError(f"surge.prior_weeks must be more than 0, not {s.prior_weeks:g}")
    if s.default_weekly_rate <= 0:
        raise ValueError("surge.default_weekly_rate must be more than 0, "
                         f"not {s.default_weekly_rate:g}")
    _at_least("surge.urgent_count", s.urgent_count, s.min_count)
    _at_least("hotspot.top", r.hotspot.top, 1)
    _at_least("hotspot.compare_weeks", r.hotspot.compare_weeks, 1)
    _at_least("hotspot.min_count", r.hotspot.min_count, 1)
    if not 0 <= r.report.weekday <= 6:
        raise ValueError(f"report.weekday must be 0 (Monday) to 6 (Sunday), not {r.report.weekday}")
    if not 0 <= r.report.hour <= 23:
        raise ValueError(f"report.hour must be 0 to 23, not {r.report.hour}")
