"""tools/scaled.py without servers: the preflight's messages, the plan, haproxy's configuration."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.run import PER_SERVICE_SECRETS
from tools.scaled import (
    SERVER_VARS,
    Layout,
    Servers,
    balancer_env,
    haproxy_config,
    scaled_launcher,
    scaled_services,
    scaled_settings,
)
from tools.stack import free_ports

ROOT = Path(__file__).resolve().parents[3]


def closed_ports(count: int) -> list[int]:
    """Ports nothing listens on (chosen free, then released)."""
    return free_ports(count)


def test_unreachable_servers_are_each_named_and_nothing_starts(tmp_path):
    pg, redis, rabbit = closed_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALED_")}
    env.update({
        "SCALED_POSTGRES_URL": f"postgresql://postgres@127.0.0.1:{pg}/postgres",
        "SCALED_REDIS_URL": f"redis://127.0.0.1:{redis}/0",
        "SCALED_RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{rabbit}/%2F",
        "VAR_DIR": str(tmp_path / "var"),
        "PATH": str(tmp_path / "no-bin"),  # no haproxy on it
    })
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "scaled.py")], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    # (the development-mode warning comes first)
    lines = result.stderr.strip().splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("error: ")):]
    assert lines[0].startswith(f"error: PostgreSQL not reachable at 127.0.0.1:{pg} "
                               "(SCALED_POSTGRES_URL): "), lines
    assert "refused" in lines[0].lower(), lines
    assert lines[1] == (f"error: Redis not reachable at 127.0.0.1:{redis} (SCALED_REDIS_URL): "
                        "[Errno 111] Connection refused"), lines
    assert lines[2] == (f"error: RabbitMQ not reachable at 127.0.0.1:{rabbit} "
                        "(SCALED_RABBITMQ_URL): [Errno 111] Connection refused"), lines
    assert lines[3] == ("error: haproxy is not installed: run `make scaled-deps` "
                        "(Debian/Ubuntu: apt-get install haproxy)"), lines
    assert lines[4:] == ["nothing was started"], lines
    assert "starting" not in result.stdout
    assert not (tmp_path / "var").exists()  # no log, no secret, no database file


def test_one_missing_server_is_the_only_one_named(tmp_path):
    if shutil.which("haproxy") is None:
        pytest.skip("needs haproxy on PATH")
    from tools.scaled import preflight
    (redis,) = closed_ports(1)
    servers = Servers.from_env({"SCALED_POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/x",
                                "SCALED_REDIS_URL": f"redis://127.0.0.1:{redis}/0"})
    problems = preflight(servers, shutil.which("haproxy"))
    assert [p.split(" (")[0] for p in problems if "Redis" in p] == [
        f"error: Redis not reachable at 127.0.0.1:{redis}"]
    assert not any("haproxy" in p for p in problems)


def servers_with_passwords() -> Servers:
    return Servers.from_env({
        "SCALED_POSTGRES_URL": "postgresql://wo:pg-secret@db.example:5433/postgres",
        "SCALED_REDIS_URL": "redis://:redis-secret@cache.example:6380/0",
        "SCALED_RABBITMQ_URL": "amqp://rasa:rabbit-secret@mq.example:5673/%2F",
        "SCALED_EVENTS_QUEUE": "events_q"})


def test_the_servers_urls():
    servers = servers_with_passwords()
    assert servers.workorders_url == "postgresql+psycopg://wo:pg-secret@db.example:5433/workorders"
    assert servers.tracker_url == "postgresql://wo:pg-secret@db.example:5433/rasa_tracker"
    assert servers.lock_db == 1
    assert servers.voice_redis_url == "redis://:redis-secret@cache.example:6380/2"
    env = servers.rasa_env()
    assert (env["TRACKER_DB_HOST"], env["TRACKER_DB_PORT"], env["TRACKER_DB_NAME"]) == (
        "db.example", "5433", "rasa_tracker")
    assert (env["REDIS_HOST"], env["REDIS_PORT"], env["REDIS_DB"], env["REDIS_PASSWORD"]) == (
        "cache.example", "6380", "1", "redis-secret")
    assert (env["RABBITMQ_HOST"], env["RABBITMQ_USER"], env["RABBITMQ_QUEUE"]) == (
        "mq.example", "rasa", "events_q")
    explicit = Servers.from_env({"SCALED_REDIS_URL": "redis://127.0.0.1:6379/7"})
    assert explicit.lock_db == 7 and explicit.voice_redis_url.endswith("/7")


@pytest.fixture
def plan(tmp_path):
    model = tmp_path / "zh-test.tar.gz"
    model.write_bytes(b"")
    servers = servers_with_passwords()
    env = {"VAR_DIR": str(tmp_path / "var"), "VOSK_MODEL_PATH": "/models/vosk",
           "TELEGRAM_BOT_TOKEN": "123:abc"}
    settings = scaled_settings(env, servers)
    layout = Layout.from_env(settings, env)
    return settings, layout, scaled_services(settings, servers, layout, model)


def test_the_plan_doubles_every_process_and_gives_each_only_its_own_secrets(plan):
    settings, layout, services = plan
    by_name = {s.name: s for s in services}
    assert {"workorders-api-1", "workorders-api-2", "notifier-1", "notifier-2", "sweeper-1",
            "sweeper-2", "actions-1", "actions-2", "rasa-1", "rasa-2", "voice-1", "voice-2",
            "telegram", "balancer"} <= set(by_name)
    assert layout.rasa_ports == (5015, 5016) and layout.api_ports == (8010, 8011)
    assert layout.actions_ports == (5065, 5066)
    assert by_name["rasa-1"].health_url == "http://127.0.0.1:5015/"
    assert "bot/endpoints.scaled.yml" in " ".join(by_name["rasa-2"].argv)
    assert "--port" in by_name["rasa-2"].argv and "5016" in by_name["rasa-2"].argv
    # Rasa calls the action servers and clients call Rasa and the API through haproxy
    assert by_name["rasa-1"].env["ACTIONS_URL"] == "http://127.0.0.1:5055/webhook"
    assert by_name["actions-2"].env["WORKORDERS_URL"] == "http://127.0.0.1:8000"
    assert by_name["voice-2"].env["RASA_URL"] == "http://127.0.0.1:5005"
    assert by_name["voice-1"].env["VOICE_REDIS_URL"] == by_name["voice-2"].env["VOICE_REDIS_URL"]
    assert by_name["voice-1"].env["VOICE_CONTROL_PORT"] != by_name["voice-2"].env[
        "VOICE_CONTROL_PORT"]
    assert by_name["sweeper-1"].env["WORKORDERS_TRACKER_DATABASE_URL"] == (
        "postgresql://wo:pg-secret@db.example:5433/rasa_tracker")
    # the servers' passwords only where used
    for service in services:
        env = " ".join(f"{k}={v}" for k, v in service.env.items())
        uses_pg = service.name.startswith(("workorders-api", "notifier", "sweeper", "rasa",
                                           "telegram", "conversations"))
        assert ("pg-secret" in env) == uses_pg, service.name
        assert ("rabbit-secret" in env) == service.name.startswith(("rasa", "conversations")), \
            service.name
        assert ("redis-secret" in env) == service.name.startswith(("rasa", "voice")), service.name
        assert ("ACTIONS_SECRET" in service.env) == service.name.startswith(("rasa", "actions"))
    launcher = scaled_launcher(settings, services)
    assert launcher.withheld == PER_SERVICE_SECRETS | SERVER_VARS
    os.environ["SCALED_POSTGRES_URL"] = "postgresql://x:leak@h/db"
    try:
        assert "SCALED_POSTGRES_URL" not in launcher._env({})
    finally:
        del os.environ["SCALED_POSTGRES_URL"]


def test_haproxy_configuration_has_one_server_line_per_instance(plan, tmp_path):
    settings, layout, _ = plan
    layout = Layout(rasa_ports=(1, 2, 3), actions_ports=(4,), api_ports=(5, 6), stats_port=7)
    text = haproxy_config(layout)
    assert [line.split()[1] for line in text.splitlines() if line.strip().startswith("server ")] \
        == ["rasa-1", "rasa-2", "rasa-3", "api-1", "api-2", "actions-1"]
    env = balancer_env(settings, layout)
    assert env["RASA_3_ADDR"] == "127.0.0.1:3" and env["BIND_HOST"] == "127.0.0.1"
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed (make scaled-deps)")
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    checked = subprocess.run([haproxy, "-c", "-f", str(path)], env={**os.environ, **env},
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_harness_plan_uses_the_proxies_and_free_ports(tmp_path):
    from tools.scaled_stack import ScaledStack
    model = tmp_path / "zh-test.tar.gz"
    model.write_bytes(b"")
    stack = ScaledStack(tmp_path / "var", model, rasa=3, voice={}, telegram={
        "TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_API_BASE": "http://127.0.0.1:1"})
    stack.redis_db = 9
    seen = servers_with_passwords().via(postgres=("127.0.0.1", 1001), redis=("127.0.0.1", 1002),
                                        rabbitmq=("127.0.0.1", 1003))
    seen = Servers(seen.postgres, "scaled_wo_x", "scaled_tr_x",
                   Servers.from_env({"SCALED_REDIS_URL": "redis://127.0.0.1:1002/9"}).redis,
                   seen.rabbitmq, "q", "x")
    stack._plan_processes(seen)
    by_name = {s.name: s for s in stack.plan}
    assert stack.instances("rasa") == ["rasa-1", "rasa-2", "rasa-3"]
    assert stack.instances("api") == ["workorders-api-1", "workorders-api-2"]
    assert stack.instances("voice") == ["voice-1", "voice-2"] and "telegram" in by_name
    assert by_name["voice-1"].env["VOICE_REDIS_URL"] == "redis://127.0.0.1:1002/9"
    assert by_name["rasa-3"].env["REDIS_PORT"] == "1002" and by_name["rasa-3"].env["REDIS_DB"] == "9"
    assert by_name["rasa-1"].env["TRACKER_DB_PORT"] == "1001"
    assert by_name["rasa-1"].env["RABBITMQ_EXCHANGE"] == "x"
    assert by_name["workorders-api-1"].env["WORKORDERS_DATABASE_URL"].endswith(
        "@127.0.0.1:1001/scaled_wo_x")
    assert stack.database_url != by_name["workorders-api-1"].env["WORKORDERS_DATABASE_URL"]
    ports = [int(u.split(":")[2].split("/")[0]) for u in
             (s.health_url for s in stack.plan if s.health_url)]
    voice_ports = [int(by_name[v].env[k]) for v in ("voice-1", "voice-2")
                   for k in ("VOICE_AUDIOSOCKET_PORT", "VOICE_CONTROL_PORT")]
    assert len(set(ports + voice_ports)) == len(ports) + 2  # control ports are health ports
    assert stack.rest_url.startswith(f"http://127.0.0.1:{stack.settings.rasa_port}/")


def test_missing_databases_are_created_once(pg_admin_url):
    import secrets

    import psycopg

    from tools.scaled import ensure_databases
    suffix = secrets.token_hex(4)
    servers = Servers.from_env({"SCALED_POSTGRES_URL": pg_admin_url,
                                "SCALED_WORKORDERS_DB": f"scaled_wo_{suffix}",
                                "SCALED_TRACKER_DB": f"scaled_tr_{suffix}"})
    try:
        assert ensure_databases(servers) == [f"scaled_wo_{suffix}", f"scaled_tr_{suffix}"]
        assert ensure_databases(servers) == []
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            for name in (servers.workorders_db, servers.tracker_db):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
