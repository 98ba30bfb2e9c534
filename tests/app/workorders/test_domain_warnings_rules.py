"""研判预警 settings: defaults, the documented file, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.workorders.adapters.warning_rules_file import load_warning_rules
from integrations.workorders.domain.warning_rules import (
    RepeatRules,
    WarningRules,
    default_rules,
    parse_rules,
)
from integrations.workorders.domain.warnings import (
    KIND_LABELS,
    LEVEL_LABELS,
    STATE_LABELS,
    Level,
    WarningKind,
    WarningState,
    higher,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SETTINGS = REPO_ROOT / "warnings.yml"


def test_the_settings_file_is_exactly_the_defaults():
    assert load_warning_rules(SETTINGS) == default_rules()


def test_every_key_of_the_settings_file_has_a_comment_above_it():
    lines = SETTINGS.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            assert lines[i - 1].strip().startswith("#"), f"no comment above {stripped!r}"
            if line.startswith("  "):  # a setting: its comment states the default
                key, value = stripped.split(":", 1)
                comment = " ".join(c.strip() for c in lines[max(0, i - 4):i] if c.strip().startswith("#"))
                assert "default" in comment, key


def test_labels_cover_every_value():
    assert set(KIND_LABELS) == {k.value for k in WarningKind}
    assert set(LEVEL_LABELS) == {v.value for v in Level}
    assert set(STATE_LABELS) == {s.value for s in WarningState}
    assert KIND_LABELS["dispute_risk"] == "矛盾激化风险" and LEVEL_LABELS["urgent"] == "紧急"
    assert STATE_LABELS["acknowledged"] == "已知悉"


def test_levels_rank_by_severity():
    assert [lv.rank for lv in (Level.ATTENTION, Level.WARNING, Level.URGENT)] == [0, 1, 2]
    assert Level("warning") is Level.WARNING and Level.URGENT == "urgent"
    assert higher(Level.WARNING, Level.URGENT) is Level.URGENT
    assert higher(Level.WARNING, Level.ATTENTION) is Level.WARNING


def test_missing_sections_and_keys_keep_their_defaults():
    assert parse_rules({}) == parse_rules(None) == default_rules() == WarningRules()
    rules = parse_rules({"surge": {"alpha": 1e-4, "windows_hours": [2, 6]},
                         "repeat": {"sham_days": 7}, "hotspot": None})
    assert rules.surge.alpha == 1e-4 and rules.surge.windows_hours == (2.0, 6.0)
    assert rules.surge.min_count == 3
    assert rules.repeat == RepeatRules(sham_days=7)
    assert rules.hotspot == default_rules().hotspot


def test_window_days_per_kind():
    rules = RepeatRules()
    assert (rules.window_days("incident"), rules.window_days("dispute"),
            rules.window_days("request")) == (30, 90, 30)
    with pytest.raises(ValueError, match="unknown category kind 'other'"):
        rules.window_days("other")


@pytest.mark.parametrize("data, message", [
    ([1, 2], "must be a mapping of sections"),
    ({"surges": {}}, "unknown section 'surges'"),
    ({"surge": {"alpah": 0.1}}, r"unknown setting surge\.alpah"),
    ({"surge": [1]}, "surge must be a mapping"),
    ({"surge": {"alpha": 0.7}}, r"surge\.alpha must be more than 0 and less than 0\.5"),
    ({"surge": {"alpha": "small"}}, r"surge\.alpha must be a number"),
    ({"surge": {"min_count": 2.5}}, r"surge\.min_count must be a whole number"),
    ({"surge": {"min_count": True}}, r"surge\.min_count must be a whole number"),
    ({"surge": {"windows_hours": []}}, r"surge\.windows_hours must be a non-empty list"),
    ({"surge": {"windows_hours": "1,3"}}, r"surge\.windows_hours must be a non-empty list"),
    ({"surge": {"windows_hours": [1, "x"]}}, r"surge\.windows_hours must be a list of numbers"),
    ({"surge": {"windows_hours": [0, 3]}}, r"surge\.windows_hours: each window"),
    ({"surge": {"windows_hours": [3, 3]}}, "twice"),
    ({"surge": {"prior_weeks": 0}}, r"surge\.prior_weeks must be more than 0"),
    ({"surge": {"default_weekly_rate": -1}}, r"surge\.default_weekly_rate"),
    ({"surge": {"urgent_count": 2}}, r"surge\.urgent_count must be at least 3"),
    ({"repeat": {"sham_days": 0}}, r"repeat\.sham_days must be at least 1"),
    ({"dispute_risk": {"threshold": 90}}, r"dispute_risk\.urgent_at must be between"),
    ({"dispute_risk": {"threshold": 0}}, r"dispute_risk\.threshold must be between 1 and 100"),
    ({"dispute_risk": {"repeat_points": -5}}, r"dispute_risk\.repeat_points must be at least 0"),
    ({"hotspot": {"top": 0}}, r"hotspot\.top must be at least 1"),
    ({"report": {"weekday": 7}}, r"report\.weekday must be 0 \(Monday\) to 6"),
    ({"report": {"hour": 24}}, r"report\.hour must be 0 to 23"),
])
def test_bad_settings_are_refused_with_the_key_named(data, message):
    with pytest.raises(ValueError, match=message):
        parse_rules(data)


def test_the_file_loader_names_the_file(tmp_path):
    bad = tmp_path / "warnings.yml"
    bad.write_text("surge:\n  alpha: 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"warnings\.yml: surge\.alpha"):
        load_warning_rules(bad)
    bad.write_text("surge: [\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_warning_rules(bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_warning_rules(tmp_path / "missing.yml")
    empty = tmp_path / "empty.yml"
    empty.write_text("# nothing set\n", encoding="utf-8")
    assert load_warning_rules(empty) == default_rules()
