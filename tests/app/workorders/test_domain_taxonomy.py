"""Taxonomy parsing, lookups and deadlines, on the real taxonomy.yml."""

import copy
import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from integrations.workorders.domain import (
    Category,
    Deadlines,
    InvalidTaxonomy,
    Priority,
    Taxonomy,
    UnknownCategory,
    UnknownKind,
    UnknownPriority,
    UnknownTier,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
# shared/ sits beside the repository (on CI too); the repo may carry a copy.
CANDIDATES = [REPO_ROOT.parent / "shared" / "taxonomy.yml", REPO_ROOT / "taxonomy.yml"]

T0 = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def raw():
    for path in CANDIDATES:
        if path.is_file():
            return yaml.safe_load(path.read_text(encoding="utf-8"))
    pytest.skip(f"taxonomy.yml not found (looked at {', '.join(map(str, CANDIDATES))})")


@pytest.fixture(scope="module")
def taxonomy(raw):
    return Taxonomy.from_dict(raw)


def test_parses_the_real_file(taxonomy, raw):
    assert taxonomy.kinds == {"dispute": "mediator", "incident": "grid_worker",
                              "request": "staff"}
    assert taxonomy.kind_names == {"dispute": "矛盾纠纷", "incident": "事件隐患",
                                   "request": "其他诉求"}
    assert taxonomy.tiers == ("grid", "township", "county")
    assert set(taxonomy.categories) == set(raw["categories"])
    assert taxonomy.normal_accept_minutes == 120
    assert taxonomy.urgent_accept_minutes == 15
    assert taxonomy.urgent_resolve_hours == 4
    assert taxonomy.category("dispute.neighbor") == Category(
        code="dispute.neighbor", name="邻里纠纷", kind="dispute", resolve_hours=168
    )
    assert taxonomy.category("request.consult") == Category(
        code="request.consult", name="政策咨询", kind="request", resolve_hours=72
    )
    for code, category in taxonomy.categories.items():
        assert category.kind == code.split(".")[0]
        assert category.resolve_hours == raw["categories"][code]["resolve_hours"]
        assert category.public is raw["categories"][code].get("public", False)


def test_only_the_flagged_incident_categories_are_public(taxonomy):
    assert [c.code for c in taxonomy.public_categories()] == [
        "incident.facility", "incident.water", "incident.sanitation"]
    assert not any(c.public for c in taxonomy.categories.values()
                   if c.kind in ("dispute", "request"))


def test_lookups(taxonomy):
    assert taxonomy.handler_role("dispute") == "mediator"
    assert taxonomy.handler_role("incident") == "grid_worker"
    assert taxonomy.handler_role("request") == "staff"
    assert taxonomy.kind_name("request") == "其他诉求"
    assert taxonomy.kind_name("complaint") == "complaint"
    with pytest.raises(UnknownKind):
        taxonomy.handler_role("complaint")
    with pytest.raises(UnknownCategory) as info:
        taxonomy.category("dispute.nope")
    assert info.value.code == "dispute.nope"
    assert "dispute.nope" in info.value.reason_zh


def test_next_tier(taxonomy):
    assert taxonomy.next_tier("grid") == "township"
    assert taxonomy.next_tier("township") == "county"
    assert taxonomy.next_tier("county") is None
    with pytest.raises(UnknownTier):
        taxonomy.next_tier("province")


@pytest.mark.parametrize(
    ("code", "hours"),
    [("dispute.neighbor", 168), ("dispute.labor", 120), ("dispute.land", 240),
     ("incident.water", 48), ("incident.safety", 24), ("incident.facility", 72)],
)
def test_normal_deadlines(taxonomy, code, hours):
    assert taxonomy.deadlines(code, Priority.NORMAL, T0) == Deadlines(
        accept_by=T0 + timedelta(minutes=120), resolve_by=T0 + timedelta(hours=hours)
    )


def test_urgent_deadlines_for_every_category(taxonomy):
    for code in taxonomy.categories:
        accept_by, resolve_by = taxonomy.deadlines(code, "urgent", T0)
        assert accept_by == T0 + timedelta(minutes=15)
        assert resolve_by == T0 + timedelta(hours=4)


def test_normal_deadlines_for_every_category(taxonomy, raw):
    for code, spec in raw["categories"].items():
        d = taxonomy.deadlines(code, "normal", T0)
        assert d.accept_by - T0 == timedelta(minutes=raw["normal"]["accept_minutes"])
        assert d.resolve_by - T0 == timedelta(hours=spec["resolve_hours"])


def test_deadlines_are_in_utc(taxonomy):
    beijing = timezone(timedelta(hours=8))
    local = T0.astimezone(beijing)
    d = taxonomy.deadlines("incident.order", "normal", local)
    assert d.accept_by.utcoffset() == timedelta(0)
    assert d == taxonomy.deadlines("incident.order", "normal", T0)


def test_deadline_errors(taxonomy):
    with pytest.raises(ValueError):
        taxonomy.deadlines("dispute.neighbor", "normal", datetime(2025, 3, 1, 8, 30))
    with pytest.raises(UnknownPriority):
        taxonomy.deadlines("dispute.neighbor", "high", T0)
    with pytest.raises(UnknownCategory):
        taxonomy.deadlines("dispute.nope", "normal", T0)


def test_is_immutable(taxonomy):
    with pytest.raises(TypeError):
        taxonomy.categories["x"] = None
    with pytest.raises(TypeError):
        taxonomy.kinds["x"] = "y"
    with pytest.raises(dataclasses.FrozenInstanceError):
        taxonomy.tiers = ("grid",)


MINIMAL = {
    "kinds": {"dispute": {"name": "矛盾纠纷", "handler": "mediator"}},
    "categories": {"dispute.neighbor": {"name": "邻里纠纷", "resolve_hours": 168}},
    "urgent": {"accept_minutes": 15, "resolve_hours": 4},
    "normal": {"accept_minutes": 120},
    "tiers": ["grid", "township", "county"],
}


def edited(path, value):
    d = copy.deepcopy(MINIMAL)
    *parents, last = path
    target = d
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return d


def test_minimal_document_parses():
    taxonomy = Taxonomy.from_dict(MINIMAL)
    assert taxonomy.category("dispute.neighbor").kind == "dispute"
    assert taxonomy.category("dispute.neighbor").public is False
    assert taxonomy.public_categories() == ()


def test_a_kind_without_a_name_is_named_by_its_code():
    d = edited(("kinds", "dispute", "name"), KeyError)
    assert Taxonomy.from_dict(d).kind_name("dispute") == "dispute"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("kinds",), KeyError),
        (("urgent",), KeyError),
        (("normal", "accept_minutes"), KeyError),
        (("kinds", "dispute"), "mediator"),
        (("kinds", "dispute", "handler"), KeyError),
        (("categories", "dispute.neighbor", "resolve_hours"), 0),
        (("categories", "dispute.neighbor", "resolve_hours"), "168"),
        (("categories", "dispute.neighbor", "resolve_hours"), True),
        (("categories", "dispute.neighbor", "name"), KeyError),
        (("categories", "incident.water"), {"name": "供排水问题", "resolve_hours": 48}),
        (("urgent", "accept_minutes"), -15),
        (("tiers",), []),
        (("tiers",), ["grid", "grid"]),
        (("tiers",), "grid"),
        (("categories", "dispute.neighbor", "public"), "yes"),
        (("categories", "dispute.neighbor", "public"), 1),
    ],
)
def test_malformed_documents_are_rejected(path, value):
    with pytest.raises(InvalidTaxonomy) as info:
        Taxonomy.from_dict(edited(path, value))
    assert info.value.reason.startswith("invalid taxonomy")
    assert info.value.reason_zh.startswith("事项分类配置")


def test_explicit_kind_overrides_the_prefix():
    d = edited(("categories", "neighbor"), {"name": "邻里", "kind": "dispute", "resolve_hours": 1})
    assert Taxonomy.from_dict(d).category("neighbor").kind == "dispute"


def test_urgent_is_never_looser_than_normal():
    d = edited(("categories", "dispute.quick"), {"name": "快", "resolve_hours": 2})
    d["urgent"]["accept_minutes"] = 200
    accept_by, resolve_by = Taxonomy.from_dict(d).deadlines("dispute.quick", "urgent", T0)
    assert accept_by == T0 + timedelta(minutes=120)
    assert resolve_by == T0 + timedelta(hours=2)
