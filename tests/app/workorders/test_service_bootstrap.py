"""Settings from WORKORDERS_* once, and the wiring an entrypoint gets from them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.shared.paths import REPO_ROOT
from integrations.shared.privacy import EXAMPLE_KEY, PrivacyKeyError, generate_key
from integrations.workorders.adapters.db import migrate
from integrations.workorders.bootstrap import bootstrap
from integrations.workorders.service import add_area, list_areas
from integrations.workorders.settings import load_settings


def test_defaults_are_absolute_paths_under_the_repository(monkeypatch):
    for name in ("DATABASE_URL", "SECRET_KEY", "DEVELOPMENT", "TAXONOMY_PATH", "WEBHOOK_URL"):
        monkeypatch.delenv(f"WORKORDERS_{name}", raising=False)
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{REPO_ROOT / 'var' / 'workorders.db'}"
    assert settings.taxonomy_path == REPO_ROOT / "taxonomy.yml"
    assert (settings.secret_key, settings.development, settings.follow_up_hours) == (
        EXAMPLE_KEY, True, 72)
    assert (settings.webhook_url, settings.api_port) == (None, 8000)
    assert not hasattr(settings, "service_token")  # the API has one credential per channel
    assert EXAMPLE_KEY not in repr(settings)


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKORDERS_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("WORKORDERS_FOLLOW_UP_HOURS", "24")
    monkeypatch.setenv("WORKORDERS_DEVELOPMENT", "false")
    monkeypatch.setenv("WORKORDERS_WEBHOOK_URL", "https://example.org/hook")
    settings = load_settings()
    assert settings.follow_up_hours == 24 and settings.development is False
    assert load_settings(follow_up_hours=5).follow_up_hours == 5


def test_bootstrap_refuses_the_example_key_in_production(tmp_path):
    url = f"sqlite:///{tmp_path / 'wo.db'}"
    with pytest.raises(PrivacyKeyError):
        bootstrap(load_settings(database_url=url, development=False, secret_key=EXAMPLE_KEY))
    settings = load_settings(database_url=url, development=False, secret_key=generate_key(),
                             webhook_url="https://example.org/hook", follow_up_hours=24)
    app = bootstrap(settings)
    try:
        assert app.config.webhook_enabled and app.config.follow_up == timedelta(hours=24)
        assert "dispute.neighbor" in app.config.taxonomy.categories
        migrate(settings.database_url)
        add_area(app.uow(), "county:qy", "青阳县", "county")
        assert [a.code for a in list_areas(app.uow())] == ["county:qy"]
    finally:
        app.dispose()
