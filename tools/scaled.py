"""`make run-scaled`: every process doubled behind haproxy, every state on a server.

    python tools/scaled.py         # what `make run-scaled` calls after set-up

Work orders and Rasa's trackers live in PostgreSQL, Rasa's per-sender locks in
Redis, and Rasa publishes its conversation events to RabbitMQ (Rasa's Pika
broker, bot/endpoints.scaled.yml). Two of each process: the work-order API,
the notifier, the sweeper, the action server and Rasa, and haproxy in front of
Rasa, the API and the action servers (deploy/haproxy.cfg). With the analytics
consumer (integrations.conversations) installed it runs too; the phone line's
gateway twice with VOSK_MODEL_PATH or VOICE_* set; one Telegram poller with
TELEGRAM_BOT_TOKEN.

The servers (README, "Scaled"): SCALED_POSTGRES_URL, SCALED_WORKORDERS_DB,
SCALED_TRACKER_DB, SCALED_REDIS_URL, SCALED_RABBITMQ_URL, SCALED_EVENTS_QUEUE.
Before anything starts, each server is checked and every missing one is named
(`error: PostgreSQL not reachable at ...`); the two databases are created if
missing, the work-order database is migrated and, in development mode on an
empty database, the demo data loaded. Ports: RASA_PORT, API_PORT,
ACTIONS_PORT are haproxy's (5005, 8000, 5055); instance n listens on the
port + 9 + n (5015/5016, 8010/8011, 5065/5066); the statistics page on
STATS_PORT (8404). Processes, logs and secrets as in tools/run.py (whose
Service and Launcher this uses), in VAR_DIR (default var-scaled/).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from integrations.shared.startup import StartupRefused, check_start_from_env  # noqa: E402
from tools.run import (  # noqa: E402
    PER_SERVICE_SECRETS,
    TELEGRAM_OFF,
    Launcher,
    Service,
    Settings,
    run_until_stopped,
    services,
    telegram_service,
    voice_service,
)

DEFAULTS = {
    "SCALED_POSTGRES_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    "SCALED_WORKORDERS_DB": "workorders",
    "SCALED_TRACKER_DB": "rasa_tracker",
    "SCALED_REDIS_URL": "redis://127.0.0.1:6379/0",
    "SCALED_RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/%2F",
    "SCALED_EVENTS_QUEUE": "rasa_events",
}
#: the Redis databases used when SCALED_REDIS_URL names db 0 (or none)
RASA_LOCK_DB, VOICE_REDIS_DB = 1, 2
DEFAULT_EXCHANGE = "rasa-exchange"
ENDPOINTS = ROOT / "bot" / "endpoints.scaled.yml"
HAPROXY_TEMPLATE = ROOT / "deploy" / "haproxy.cfg"
ANALYTICS_MODULE = "integrations.conversations"
#: instance n of a kind listens on the balancer's port + INSTANCE_OFFSET + n
INSTANCE_OFFSET = 9
#: How long a conversation's ticket lock lives (Rasa's TICKET_LOCK_LIFETIME, 60 s by default):
#: an instance killed in the middle of a turn leaves its ticket behind, and the resident's
#: next message waits for it to expire. 30 s is above a slow turn (three action calls, each
#: with the actions' client's retries) and close to the channels' relay timeout (20 s).
TICKET_LOCK_LIFETIME_S = "30"
CHECK_TIMEOUT_S = 3.0
#: addresses and passwords of the servers: no child inherits them from the launcher
#: (each process is given only what it uses)
SERVER_VARS = frozenset({
    *DEFAULTS, "WORKORDERS_DATABASE_URL", "WORKORDERS_TRACKER_DATABASE_URL", "VOICE_REDIS_URL",
    "TRACKER_DB_PASSWORD", "REDIS_PASSWORD", "RABBITMQ_PASSWORD"})


# ----------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Address:
    """host, port, user, password, path of a server URL."""

    scheme: str
    host: str
    port: int
    user: str
    password: str
    path: str  # without the leading "/", unquoted

    @classmethod
    def parse(cls, url: str, default_port: int) -> Address:
        parts = urlsplit(url)
        return cls(parts.scheme, parts.hostname or "127.0.0.1", parts.port or default_port,
                   unquote(parts.username or ""), unquote(parts.password or ""),
                   unquote(parts.path[1:]))

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, path: str | None = None, scheme: str | None = None) -> str:
        auth = ""
        if self.user or self.password:
            auth = quote(self.user, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        tail = self.path if path is None else path
        return f"{scheme or self.scheme}://{auth}{host}:{self.port}/{quote(tail, safe='')}"

    def via(self, host: str, port: int) -> Address:
        """The same server reached through host:port (a proxy)."""
        return dataclasses.replace(self, host=host, port=port)


@dataclass(frozen=True)
class Servers:
    """Where PostgreSQL, Redis and RabbitMQ are, and the names used on them."""

    postgres: Address   # path: the maintenance database
    workorders_db: str
    tracker_db: str
    redis: Address      # path: the db ("" or "0": Rasa's locks in 1, the phone line's registry in 2)
    rabbitmq: Address   # path: the virtual host
    events_queue: str
    events_exchange: str = DEFAULT_EXCHANGE

    @classmethod
    def from_env(cls, env: dict) -> Servers:
        get = {k: (env.get(k) or "").strip() or v for k, v in DEFAULTS.items()}
        return cls(
            postgres=Address.parse(get["SCALED_POSTGRES_URL"], 5432),
            workorders_db=get["SCALED_WORKORDERS_DB"], tracker_db=get["SCALED_TRACKER_DB"],
            redis=Address.parse(get["SCALED_REDIS_URL"], 6379),
            rabbitmq=Address.parse(get["SCALED_RABBITMQ_URL"], 5672),
            events_queue=get["SCALED_EVENTS_QUEUE"])

    @property
    def admin_url(self) -> str:
        """The maintenance database (psycopg form): where databases are created."""
        return self.postgres.url(scheme="postgresql")

    @property
    def workorders_url(self) -> str:
        """WORKORDERS_DATABASE_URL (SQLAlchemy with psycopg 3)."""
        return self.postgres.url(self.workorders_db, scheme="postgresql+psycopg")

    @property
    def tracker_url(self) -> str:
        """The tracker database (the sweeper's WORKORDERS_TRACKER_DATABASE_URL)."""
        return self.postgres.url(self.tracker_db, scheme="postgresql")

    @property
    def lock_db(self) -> int:
        return int(self.redis.path) if self.redis.path not in ("", "0") else RASA_LOCK_DB

    @property
    def voice_redis_url(self) -> str:
        db = self.redis.path if self.redis.path not in ("", "0") else str(VOICE_REDIS_DB)
        return self.redis.url(db)

    @property
    def rabbitmq_url(self) -> str:
        return self.rabbitmq.url()

    def rasa_env(self) -> dict:
        """The variables bot/endpoints.scaled.yml reads (but ACTIONS_URL and ACTIONS_SECRET)."""
        rabbit_host = self.rabbitmq.host
        if self.rabbitmq.path not in ("", "/"):  # Rasa's Pika broker takes a vhost in a URL only
            rabbit_host = f"amqp://{self.rabbitmq.host}/{quote(self.rabbitmq.path, safe='')}"
        return {
            "TRACKER_DB_HOST": self.postgres.host, "TRACKER_DB_PORT": str(self.postgres.port),
            "TRACKER_DB_NAME": self.tracker_db, "TRACKER_DB_USER": self.postgres.user,
            "TRACKER_DB_PASSWORD": self.postgres.password,
            "REDIS_HOST": self.redis.host, "REDIS_PORT": str(self.redis.port),
            "REDIS_DB": str(self.lock_db), "REDIS_PASSWORD": self.redis.password,
            "RABBITMQ_HOST": rabbit_host, "RABBITMQ_PORT": str(self.rabbitmq.port),
            "RABBITMQ_USER": self.rabbitmq.user, "RABBITMQ_PASSWORD": self.rabbitmq.password,
            "RABBITMQ_QUEUE": self.events_queue, "RABBITMQ_EXCHANGE": self.events_exchange,
            "TICKET_LOCK_LIFETIME": os.environ.get("TICKET_LOCK_LIFETIME") or TICKET_LOCK_LIFETIME_S,
        }

    def via(self, postgres: tuple[str, int] | None = None, redis: tuple[str, int] | None = None,
            rabbitmq: tuple[str, int] | None = None) -> Servers:
        """The same servers, some reached through proxies (host, port)."""
        return dataclasses.replace(
            self, postgres=self.postgres.via(*postgres) if postgres else self.postgres,
            redis=self.redis.via(*redis) if redis else self.redis,
            rabbitmq=self.rabbitmq.via(*rabbitmq) if rabbitmq else self.rabbitmq)


def redis_command(address: Address, *args: str | int, db: int | None = None,
                  timeout: float = CHECK_TIMEOUT_S) -> object:
    """Send one command to Redis (after AUTH and SELECT when needed); its reply.

    A minimal RESP client (the application venv has no Redis library): replies
    are str, int, None or lists; an error reply raises RuntimeError.
    """
    commands: list[tuple[str | int, ...]] = []
    if address.password:
        commands.append(("AUTH", address.user, address.password) if address.user
                        else ("AUTH", address.password))
    if db is not None:
        commands.append(("SELECT", db))
    commands.append(args)
    with socket.create_connection((address.host, address.port), timeout=timeout) as sock:
        payload = b"".join(_resp_encode(c) for c in commands)
        sock.sendall(payload)
        reader = sock.makefile("rb")
        reply: object = None
        for _ in commands:
            reply = _resp_read(reader)
        return reply


def _resp_encode(args: tuple[str | int, ...]) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = str(arg).encode("utf-8")
        parts.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(parts)


def _resp_read(reader) -> object:
    line = reader.readline()
    if not line:
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2].decode("utf-8", "replace")
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2].decode("utf-8", "replace")
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_resp_read(reader) for _ in range(size)]
    raise ConnectionError(f"not a Redis reply: {line[:40]!r}")


# ---------------------------------------------------------------------------- preflight

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def check_postgres(servers: Servers) -> str | None:
    import psycopg
    try:
        with psycopg.connect(servers.admin_url, connect_timeout=int(CHECK_TIMEOUT_S)):
            return None
    except psycopg.Error as exc:
        return _one_line(exc)


def check_redis(servers: Servers) -> str | None:
    try:
        reply = redis_command(servers.redis, "PING")
    except (OSError, RuntimeError) as exc:
        return _one_line(exc)
    return None if reply == "PONG" else f"answered {reply!r} to PING"


def check_rabbitmq(servers: Servers) -> str | None:
    """Opens an AMQP 0-9-1 connection far enough to see the server's Connection.Start."""
    address = servers.rabbitmq
    try:
        with socket.create_connection((address.host, address.port),
                                      timeout=CHECK_TIMEOUT_S) as sock:
            sock.sendall(AMQP_HEADER)
            head = sock.recv(7)
    except OSError as exc:
        return _one_line(exc)
    if len(head) < 7 or head[0] != 1:  # a method frame (Connection.Start)
        return f"not an AMQP 0-9-1 server (answered {head[:8]!r})"
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


def preflight(servers: Servers, haproxy: str | None) -> list[str]:
    """Every reason the scaled system cannot start here (empty: it can), as `error:` lines."""
    problems = []
    for name, variable, address, check in (
            ("PostgreSQL", "SCALED_POSTGRES_URL", servers.postgres, check_postgres),
            ("Redis", "SCALED_REDIS_URL", servers.redis, check_redis),
            ("RabbitMQ", "SCALED_RABBITMQ_URL", servers.rabbitmq, check_rabbitmq)):
        reason = check(servers)
        if reason is not None:
            problems.append(f"error: {name} not reachable at {address.where} ({variable}): {reason}")
    if haproxy is None:
        problems.append("error: haproxy is not installed: run `make scaled-deps` "
                        "(Debian/Ubuntu: apt-get install haproxy)")
    return problems


def ensure_databases(servers: Servers) -> list[str]:
    """Create the work-order and tracker databases if missing; the names created."""
    import psycopg
    from psycopg import sql
    created = []
    with psycopg.connect(servers.admin_url, autocommit=True,
                         connect_timeout=int(CHECK_TIMEOUT_S)) as conn:
        for name in (servers.workorders_db, servers.tracker_db):
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                continue
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:  # created meanwhile by someone else
                continue
            created.append(name)
    return created


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Layout:
    """How many of each process and where each instance listens."""

    rasa_ports: tuple[int, ...]
    actions_ports: tuple[int, ...]
    api_ports: tuple[int, ...]
    stats_port: int
    notifiers: int = 2
    sweepers: int = 2
    #: (AudioSocket port, dialplan API port) of each phone-line gateway; () = no phone line
    voice_ports: tuple[tuple[int, int], ...] = ()
    #: run the analytics consumer (when its module is installed)
    analytics: bool = True

    @classmethod
    def from_env(cls, settings: Settings, env: dict, count: int = 2) -> Layout:
        voice: tuple[tuple[int, int], ...] = ()
        if voice_enabled(env):
            audio = int(env.get("VOICE_AUDIOSOCKET_PORT") or 9092)
            control = int(env.get("VOICE_CONTROL_PORT") or 9093)
            voice = tuple((audio + 10 * i, control + 10 * i) for i in range(count))
        return cls(
            rasa_ports=_ports(settings.rasa_port, count),
            actions_ports=_ports(settings.actions_port, count),
            api_ports=_ports(settings.api_port, count),
            stats_port=int(env.get("STATS_PORT") or 8404), voice_ports=voice)


def _ports(base: int, count: int) -> tuple[int, ...]:
    return tuple(base + INSTANCE_OFFSET + n for n in range(1, count + 1))


def voice_enabled(env: dict) -> bool:
    return any(v for k, v in env.items()
               if (k == "VOSK_MODEL_PATH" or k.startswith("VOICE_")) and k != "VOICE_REDIS_URL")


def analytics_installed() -> bool:
    try:
        return importlib.util.find_spec(ANALYTICS_MODULE) is not None
    except ImportError:
        return False


def _one_of(plan: list[Service], name: str, new_name: str, **env: str) -> Service:
    """The service `name` of run.py's plan, renamed, with `env` added."""
    service = next(s for s in plan if s.name == name)
    service.name = new_name
    # run.py's descriptions start with a label in 19 columns: the instance's name instead
    service.describe = f"{new_name:<19}{service.describe[19:]}"
    service.env = {**service.env, **env}
    return service


def scaled_services(settings: Settings, servers: Servers, layout: Layout,
                    model: Path | None = None) -> list[Service]:
    """The processes of the scaled system: run.py's, doubled, on the servers, behind haproxy.

    `settings` carries the balancer's ports (what clients and Rasa call) and
    database_url = servers.workorders_url; each instance is run.py's service of
    the same kind, on its own loopback port.
    """
    def instance_plan(rasa: int | None = None, actions: int | None = None,
                      api: int | None = None) -> list[Service]:
        return services(dataclasses.replace(
            settings, host="127.0.0.1", rasa_port=rasa or settings.rasa_port,
            actions_port=actions or settings.actions_port, api_port=api or settings.api_port),
            model)

    rasa_env = {**servers.rasa_env(), "ACTIONS_URL": f"{settings.actions_url}/webhook"}
    plan: list[Service] = []
    for n, port in enumerate(layout.api_ports, 1):
        plan.append(_one_of(instance_plan(api=port), "workorders-api", f"workorders-api-{n}"))
    for n in range(1, layout.notifiers + 1):
        plan.append(_one_of(services(settings, model), "notifier", f"notifier-{n}"))
    for n in range(1, layout.sweepers + 1):
        plan.append(_one_of(services(settings, model), "sweeper", f"sweeper-{n}",
                            WORKORDERS_TRACKER_DATABASE_URL=servers.tracker_url))
    for n, port in enumerate(layout.actions_ports, 1):
        plan.append(_one_of(instance_plan(actions=port), "actions", f"actions-{n}"))
    for n, port in enumerate(layout.rasa_ports, 1):
        rasa = _one_of(instance_plan(rasa=port), "rasa", f"rasa-{n}", **rasa_env)
        at = rasa.argv.index("--endpoints")
        rasa.argv[at + 1] = str(ENDPOINTS)
        plan.append(rasa)
    # run.py's services() wrote the embedded default's endpoints; not used here
    (settings.var / "run" / "endpoints.yml").unlink(missing_ok=True)
    if layout.analytics and analytics_installed():
        plan.append(Service(
            name="conversations-1",
            argv=[str(ROOT / ".venv" / "bin" / "python"), "-m", ANALYTICS_MODULE, "consume"],
            health_url=None,
            describe=(f"analytics consumer conversation events from RabbitMQ queue "
                      f"{servers.events_queue} into the work-order database"),
            env={"WORKORDERS_DATABASE_URL": servers.workorders_url,
                 "SCALED_RABBITMQ_URL": servers.rabbitmq_url,
                 "SCALED_EVENTS_QUEUE": servers.events_queue,
                 "SCALED_EVENTS_EXCHANGE": servers.events_exchange}))
    for n, (audio, control) in enumerate(layout.voice_ports, 1):
        voice = {**(settings.voice or {}), "VOICE_AUDIOSOCKET_PORT": str(audio),
                 "VOICE_CONTROL_PORT": str(control), "VOICE_REDIS_URL": servers.voice_redis_url}
        gateway = voice_service(dataclasses.replace(settings, voice=voice))
        gateway.name = f"voice-{n}"
        gateway.describe = f"{gateway.name:<19}{gateway.describe[19:]}"
        plan.append(gateway)
    if settings.telegram_enabled:
        plan.append(telegram_service(settings))
    plan.append(balancer_service(settings, layout))
    return plan


def haproxy_config(layout: Layout) -> str:
    """deploy/haproxy.cfg with each `{n}` line repeated once per instance of its backend."""
    counts = {"rasa": len(layout.rasa_ports), "api": len(layout.api_ports),
              "actions": len(layout.actions_ports)}
    lines: list[str] = []
    section = ""
    for line in HAPROXY_TEMPLATE.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words and not line[0].isspace():
            section = words[1] if words[0] == "backend" and len(words) > 1 else ""
        if "{n}" in line and not line.lstrip().startswith("#"):
            if section not in counts:
                raise ValueError(f"{HAPROXY_TEMPLATE}: {{n}} outside a known backend: {line!r}")
            lines.extend(line.replace("{n}", str(n)) for n in range(1, counts[section] + 1))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def balancer_env(settings: Settings, layout: Layout) -> dict:
    """What haproxy expands in the generated configuration."""
    env = {"BIND_HOST": settings.host, "RASA_PORT": str(settings.rasa_port),
           "API_PORT": str(settings.api_port), "ACTIONS_HOST": settings.actions_host,
           "ACTIONS_PORT": str(settings.actions_port), "STATS_PORT": str(layout.stats_port)}
    for kind, ports in (("RASA", layout.rasa_ports), ("API", layout.api_ports),
                        ("ACTIONS", layout.actions_ports)):
        host = settings.actions_host if kind == "ACTIONS" else "127.0.0.1"
        for n, port in enumerate(ports, 1):
            env[f"{kind}_{n}_ADDR"] = f"{host}:{port}"
    return env


def balancer_service(settings: Settings, layout: Layout) -> Service:
    from tools.run import secure_dir, write_private
    path = secure_dir(settings.var / "run") / "haproxy.cfg"
    write_private(path, haproxy_config(layout))
    host = settings.host
    return Service(
        name="balancer",
        argv=[shutil.which("haproxy") or "haproxy", "-db", "-f", str(path)],
        health_url=f"http://127.0.0.1:{layout.stats_port}/stats",
        describe=(f"haproxy            Rasa http://{host}:{settings.rasa_port}, API "
                  f"http://{host}:{settings.api_port}, actions {settings.actions_url} "
                  f"(statistics http://127.0.0.1:{layout.stats_port}/stats)"),
        env=balancer_env(settings, layout),
        checks_start=False,  # not ours: the launcher writes the development-mode note
    )


def scaled_settings(env: dict, servers: Servers) -> Settings:
    """run.py's settings for the scaled system: the balancer's ports, var-scaled/, PostgreSQL."""
    env = {**env, "VAR_DIR": env.get("VAR_DIR") or str(ROOT / "var-scaled")}
    settings = Settings.from_env(env)
    return dataclasses.replace(settings, database_url=servers.workorders_url,
                               voice=settings.voice if voice_enabled(env) else None)


def scaled_launcher(settings: Settings, plan: list[Service]) -> Launcher:
    launcher = Launcher(settings, plan)
    launcher.withheld = PER_SERVICE_SECRETS | SERVER_VARS
    return launcher


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    env = dict(os.environ)
    servers = Servers.from_env(env)
    settings = scaled_settings(env, servers)
    try:
        check_start_from_env("make run-scaled", env, bind_hosts=[settings.host,
                                                                 settings.actions_host],
                             log=logging.getLogger("launcher"))
    except StartupRefused as exc:
        print(f"error: refusing to start: {exc}", file=sys.stderr, flush=True)
        return 2
    problems = preflight(servers, shutil.which("haproxy"))
    if problems:
        print("\n".join(problems) + "\nnothing was started", file=sys.stderr, flush=True)
        return 1
    for name in ensure_databases(servers):
        print(f"created database {name} on {servers.postgres.where}", flush=True)
    layout = Layout.from_env(settings, env)
    launcher = scaled_launcher(settings, scaled_services(settings, servers, layout))
    if not settings.telegram_enabled:
        launcher.say(TELEGRAM_OFF)
    if layout.analytics and not analytics_installed():
        launcher.say(f"analytics consumer off: {ANALYTICS_MODULE} is not installed")
    return run_until_stopped(launcher)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Address", "Layout", "Servers", "balancer_env", "balancer_service", "ensure_databases",
           "haproxy_config", "preflight", "redis_command", "scaled_launcher", "scaled_services",
           "scaled_settings"]
