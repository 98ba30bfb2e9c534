"""tools/run.py hands each process only the Rasa-hop secrets it uses."""
from __future__ import annotations

import yaml

from tools.run import CHANNEL_TOKEN_ENV, Launcher, Settings, services

SECRETS = set(CHANNEL_TOKEN_ENV.values()) | {"ACTIONS_SECRET"}


def plan(tmp_path, monkeypatch, **env):
    model = tmp_path / "zh-test.tar.gz"
    model.write_bytes(b"")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env({"VAR_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": "1:x",
                                  "VOICE_CONTROL_PORT": "1", **env})
    launcher = Launcher(settings, services(settings, model))
    return settings, {s.name: {**launcher._env({}), **s.env} for s in launcher.plan}


def test_each_process_gets_only_its_own_secrets(tmp_path, monkeypatch):
    settings, envs = plan(tmp_path, monkeypatch, CHANNEL_TOKEN_WEB="given-web",
                          ACTIONS_SECRET="given-secret")
    assert settings.channel_tokens["web"] == "given-web"
    assert settings.actions_secret == "given-secret"
    held = {name: SECRETS & set(env) for name, env in envs.items()}
    assert held == {
        "workorders-api": set(), "notifier": set(), "sweeper": set(),
        "actions": {"ACTIONS_SECRET"},
        "rasa": SECRETS,
        "telegram": {"CHANNEL_TOKEN_TELEGRAM"},
        "voice": {"CHANNEL_TOKEN_VOICE"},
    }
    assert envs["rasa"]["CHANNEL_TOKEN_WEB"] == "given-web"
    assert envs["actions"]["ACTIONS_SECRET"] == envs["rasa"]["ACTIONS_SECRET"] == "given-secret"


def test_unset_secrets_are_random_distinct_and_rasa_sends_the_secret(tmp_path, monkeypatch):
    settings, envs = plan(tmp_path, monkeypatch)
    values = [settings.actions_secret, *settings.channel_tokens.values()]
    assert len(set(values)) == 4 and all(len(v) >= 32 for v in values)
    endpoints = yaml.safe_load((tmp_path / "run" / "endpoints.yml").read_text())
    action = endpoints["action_endpoint"]
    assert action["url"] == f"http://127.0.0.1:{settings.actions_port}/webhook"
    assert action["headers"] == {"Authorization": "Bearer ${ACTIONS_SECRET}"}
    assert "--host" in (argv := next(s for s in services(settings, tmp_path / "zh-test.tar.gz")
                                     if s.name == "actions").argv)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
