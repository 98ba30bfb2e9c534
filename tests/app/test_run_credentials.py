"""`make run` hands each process only its own work-order API credential."""
from __future__ import annotations

from tools.run import CREDENTIAL_VARS, Launcher, Settings, services

ACTIONS, TELEGRAM = "WORKORDERS_ACTIONS_TOKEN", "WORKORDERS_TELEGRAM_TOKEN"


def test_each_process_gets_only_its_own_credential(tmp_path, monkeypatch):
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    given = Settings.from_env({"VAR_DIR": str(tmp_path), ACTIONS: "given-" + "a" * 30})
    assert given.actions_token == "given-" + "a" * 30
    # credentials exported in the launcher's own shell do not leak into every process
    monkeypatch.setenv(ACTIONS, "exported-" + "a" * 30)
    monkeypatch.setenv(TELEGRAM, "exported-" + "t" * 30)
    settings = Settings.from_env({"VAR_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": "1:x"})
    other = Settings.from_env({"VAR_DIR": str(tmp_path)})
    assert settings.actions_token != settings.telegram_token
    assert other.telegram_token != settings.telegram_token  # random per run
    plan = {s.name: s for s in services(settings, model)}
    launcher = Launcher(settings, list(plan.values()))
    envs = {name: launcher._env(s.env) for name, s in plan.items()}

    assert envs["workorders-api"][ACTIONS] == settings.actions_token
    assert envs["workorders-api"][TELEGRAM] == settings.telegram_token
    assert envs["actions"][ACTIONS] == settings.actions_token
    assert TELEGRAM not in envs["actions"]
    assert envs["telegram"][TELEGRAM] == settings.telegram_token
    assert ACTIONS not in envs["telegram"]
    for name in ("notifier", "sweeper", "rasa"):
        assert not set(CREDENTIAL_VARS) & set(envs[name]), name
    assert not any("SERVICE_TOKEN" in k for env in envs.values() for k in env)


def test_the_run_files_are_private(tmp_path):
    settings = Settings.from_env({"VAR_DIR": str(tmp_path)})
    launcher = Launcher(settings, [])
    launcher.start()
    for name, value in (("actions-token", settings.actions_token),
                        ("telegram-token", settings.telegram_token)):
        path = tmp_path / "run" / name
        assert path.read_text() == value
        assert path.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "run" / "service-token").exists()
