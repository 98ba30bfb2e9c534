"""The scaled system (tools/scaled.py), started for a test or a benchmark.

What `make run-scaled` starts, on free ports and throw-away server state:
fresh PostgreSQL databases for the work orders and the trackers (dropped on
stop), a Redis database of its own (flushed on start and stop), a RabbitMQ
queue and fanout exchange of its own (deleted on stop). With `proxies=True`
(the default) every process reaches PostgreSQL, Redis and RabbitMQ through a
tools/tcp_proxy.py TcpProxy, so a test can cut one (`stack.pg_proxy.cut()`).

    from tools.scaled_stack import ScaledStack, scaled_unavailable_reason

    with ScaledStack(tmp_path) as stack:
        stack.say("web:alice", "你好")           # through haproxy
        stack.kill("rasa-1")                      # SIGKILL its process group
        stack.start_service("rasa-1")             # again, until haproxy has it back
        stack.served("rasa-2")                    # requests haproxy sent to it
        stack.database_url                        # direct, for assertions

Servers: SCALED_POSTGRES_URL, SCALED_REDIS_URL, SCALED_RABBITMQ_URL as for
`make run-scaled` (README, "Scaled"). Logs: <var_dir>/log/<name>.log, and
<var_dir>/log/stack.log for the harness. Only the application venv imports
this module.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import random
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.pg import temporary_database  # noqa: E402
from tools.run import Service, Settings  # noqa: E402
from tools.scaled import (  # noqa: E402
    Layout,
    Servers,
    preflight,
    redis_command,
    scaled_launcher,
    scaled_services,
)
from tools.stack import (  # noqa: E402
    READY_TIMEOUT_S,
    RESTART_TIMEOUT_S,
    Stack,
    StackError,
    _die_with_parent,
    free_ports,
    unavailable_reason,
)
from tools.tcp_proxy import TcpProxy  # noqa: E402

SCALED_READY_TIMEOUT_S = 2 * READY_TIMEOUT_S  # two Rasa instances load at once
#: one Rasa instance loading while the rest of the system serves (measured up to ~115 s)
SCALED_RESTART_TIMEOUT_S = max(300.0, RESTART_TIMEOUT_S)
BALANCED_TIMEOUT_S = 30.0
WARM_UP_SENDER = "web:scaled-warm-up"
#: the Redis databases a stack may take (0-2: `make run-scaled`'s)
REDIS_DBS = range(3, 16)
REDIS_OWNER_KEY = "scaled-stack:owner"
#: service name prefix -> haproxy backend and server prefix
BACKENDS = {"rasa": "rasa", "actions": "actions", "workorders-api": "api"}
KINDS = {"api": "workorders-api", "conversations": "conversations"}



def scaled_unavailable_reason() -> str | None:
    """Why a ScaledStack cannot start here (None: it can): Rasa, model, servers, haproxy."""
    reason = unavailable_reason()
    if reason:
        return reason
    problems = preflight(Servers.from_env(dict(os.environ)), shutil.which("haproxy"))
    return "; ".join(p.removeprefix("error: ") for p in problems) or None


class ScaledStack(Stack):
    """The scaled system on free ports: `rasa` Rasa instances, `actions` action servers ...

    `voice`: VOICE_* settings, two phone-line gateways run (VOICE_REDIS_URL set);
    `telegram`: TELEGRAM_* settings, one poller runs; `analytics`: the analytics
    consumer runs when its module exists. `warm_up`: one message to each Rasa
    instance directly before the stack counts as started.
    """

    def __init__(self, var_dir: Path | str, model: Path | str | None = None, *, rasa: int = 2,
                 actions: int = 2, api: int = 2, notifiers: int = 2, sweepers: int = 2,
                 voice: dict | None = None, telegram: dict | None = None, proxies: bool = True,
                 analytics: bool = True, warm_up: bool = True,
                 ready_timeout_s: float = SCALED_READY_TIMEOUT_S) -> None:
        super().__init__(var_dir, model, warm_up=False, ready_timeout_s=ready_timeout_s)
        self.scaled_warm_up = warm_up
        self.proxies = proxies
        self.counts = {"rasa": rasa, "actions": actions, "api": api, "notifiers": notifiers,
                       "sweepers": sweepers}
        self._voice = dict(voice) if voice is not None else None
        self._telegram = dict(telegram or {})
        self._analytics = analytics
        token = secrets.token_hex(4)
        base = Servers.from_env(dict(os.environ))
        #: the servers as the stack's processes see them (proxies), set by start()
        self.process_servers: Servers | None = None
        #: the servers reached directly (for assertions); databases named by start()
        self.servers = Servers(base.postgres, "", "", base.redis, base.rabbitmq,
                               events_queue=f"scaled_events_{token}",
                               events_exchange=f"scaled-exchange-{token}")
        self.redis_db: int | None = None
        self.pg_proxy: TcpProxy | None = None
        self.redis_proxy: TcpProxy | None = None
        self.rabbit_proxy: TcpProxy | None = None
        self.layout: Layout | None = None
        self._resources: contextlib.ExitStack | None = None

    # -- addresses -------------------------------------------------------------
    # rasa_url, rest_url, api_url, console_url, actions_url (Stack's): the balancer's
    @property
    def database_url(self) -> str:
        """The work-order database, directly (postgresql+psycopg://; not through the proxy)."""
        return self.servers.workorders_url

    @property
    def tracker_database_url(self) -> str:
        """Rasa's tracker database, directly (postgresql://, as psycopg takes it)."""
        return self.servers.tracker_url

    @property
    def stats_url(self) -> str:
        assert self.layout is not None, "start() first"
        return f"http://127.0.0.1:{self.layout.stats_port}/stats"

    def instances(self, kind: str) -> list[str]:
        """The services of a kind: "rasa" -> ["rasa-1", "rasa-2"] ("api" = "workorders-api")."""
        prefix = KINDS.get(kind, kind) + "-"
        return [s.name for s in self.plan
                if s.name.startswith(prefix) and s.name[len(prefix):].isdigit()]

    def instance_url(self, name: str) -> str:
        """Where one Rasa, API or action server instance listens (not through the balancer)."""
        health = self.service(name).health_url
        if not health or name == "balancer":
            raise StackError(f"{name} has no HTTP address")
        return health.rsplit("/", 1)[0] if health.endswith("/health") else health.rstrip("/")

    # -- life cycle ------------------------------------------------------------
    def __enter__(self) -> ScaledStack:
        return self.start()

    def start(self) -> ScaledStack:
        if self.started:
            return self
        began = time.monotonic()
        try:
            self._take_servers()
            self.timings["servers"] = time.monotonic() - began
            super().start()
            self._wait_balanced(BALANCED_TIMEOUT_S)
            if self.scaled_warm_up:
                began = time.monotonic()
                for name in self.instances("rasa"):
                    self._say_to(f"{self.instance_url(name)}/webhooks/rest/webhook",
                                 WARM_UP_SENDER, "你好", None, name)
                self.timings["warm_up"] = time.monotonic() - began
        except BaseException:
            self.stop()
            raise
        self._note("scaled stack ready " + ", ".join(f"{k} {v:.1f} s"
                                                     for k, v in self.timings.items()))
        return self

    def stop(self) -> None:
        """Stop every process, then the proxies; drop the databases, the Redis db, the queue."""
        super().stop()
        resources, self._resources = self._resources, None
        if resources is not None:
            resources.close()

    def _take_servers(self) -> None:
        resources = contextlib.ExitStack()
        self._resources = resources
        direct = self.servers
        workorders = resources.enter_context(temporary_database(direct.admin_url, "scaled_wo"))
        tracker = resources.enter_context(temporary_database(direct.admin_url, "scaled_tr"))
        self.redis_db = self._claim_redis_db()
        resources.callback(self._release_redis_db, self.redis_db)
        resources.callback(self._delete_queue)
        direct = dataclasses.replace(
            direct, workorders_db=workorders.rsplit("/", 1)[1],
            tracker_db=tracker.rsplit("/", 1)[1],
            redis=dataclasses.replace(direct.redis, path=str(self.redis_db)))
        self.servers = direct
        seen = direct
        if self.proxies:
            self.pg_proxy = TcpProxy(direct.postgres.host, direct.postgres.port).start()
            self.redis_proxy = TcpProxy(direct.redis.host, direct.redis.port).start()
            self.rabbit_proxy = TcpProxy(direct.rabbitmq.host, direct.rabbitmq.port).start()
            for proxy in (self.pg_proxy, self.redis_proxy, self.rabbit_proxy):
                resources.callback(proxy.stop)
            seen = direct.via(postgres=("127.0.0.1", self.pg_proxy.port),
                              redis=("127.0.0.1", self.redis_proxy.port),
                              rabbitmq=("127.0.0.1", self.rabbit_proxy.port))
        self.process_servers = seen
        self._plan_processes(seen)

    def _plan_processes(self, servers: Servers) -> None:
        counts = self.counts
        ports = free_ports(4 + counts["rasa"] + counts["actions"] + counts["api"]
                           + (4 if self._voice is not None else 0))
        rasa_port, actions_port, api_port, stats_port = ports[:4]
        rest = ports[4:]

        def take(count: int) -> tuple[int, ...]:
            taken = tuple(rest[:count])
            del rest[:count]
            return taken

        layout = Layout(rasa_ports=take(counts["rasa"]), actions_ports=take(counts["actions"]),
                        api_ports=take(counts["api"]), stats_port=stats_port,
                        notifiers=counts["notifiers"], sweepers=counts["sweepers"],
                        analytics=self._analytics)
        voice = None
        if self._voice is not None:
            a1, c1, a2, c2 = take(4)
            layout = dataclasses.replace(layout, voice_ports=((a1, c1), (a2, c2)))
            voice = {"VOICE_CONTROL_SECRET": secrets.token_urlsafe(32), **self._voice}
        old = self.settings
        self.settings = Settings(
            host="127.0.0.1", rasa_port=rasa_port, actions_port=actions_port, api_port=api_port,
            rasa_token=old.rasa_token, actions_token=old.actions_token,
            telegram_token=old.telegram_token, database_url=servers.workorders_url,
            var=self.var, telegram=self._telegram, voice=voice)
        self.layout = layout
        self.plan: list[Service] = scaled_services(self.settings, servers, layout, self.model)
        for service in self.plan:
            service.env = {**service.env, "PYTHONUNBUFFERED": "1"}
        self.launcher = scaled_launcher(self.settings, self.plan)
        self.launcher.preexec_fn = _die_with_parent
        self._note(f"servers: work orders {servers.workorders_db}, trackers {servers.tracker_db}, "
                   f"redis db {self.redis_db}, queue {servers.events_queue}"
                   + (" (through proxies)" if self.proxies else ""))

    def _claim_redis_db(self) -> int:
        address = self.servers.redis
        choices = list(REDIS_DBS)
        random.shuffle(choices)
        for db in choices:
            try:
                if redis_command(address, "DBSIZE", db=db) != 0:
                    continue
            except RuntimeError:  # fewer databases configured
                continue
            # the claim: only one stack sets the owner key of an empty database
            if redis_command(address, "SET", REDIS_OWNER_KEY, str(self.var), "NX", db=db) != "OK":
                continue
            if redis_command(address, "DBSIZE", db=db) != 1:  # someone wrote meanwhile
                redis_command(address, "DEL", REDIS_OWNER_KEY, db=db)
                continue
            return db
        raise StackError(f"no empty Redis database among {REDIS_DBS.start}-{REDIS_DBS.stop - 1} "
                         f"at {address.where}")

    def _release_redis_db(self, db: int) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            redis_command(self.servers.redis, "FLUSHDB", db=db)

    def _amqp(self, action: str) -> int:
        """Delete the stack's queue and exchange ("delete"), or count its messages ("count")."""
        import pika
        connection = pika.BlockingConnection(pika.URLParameters(self.servers.rabbitmq_url))
        try:
            channel = connection.channel()
            if action == "count":
                declared = channel.queue_declare(self.servers.events_queue, durable=True,
                                                 passive=True)
                return int(declared.method.message_count)
            channel.queue_delete(self.servers.events_queue)
            channel.exchange_delete(self.servers.events_exchange)
            return 0
        finally:
            connection.close()

    def _delete_queue(self) -> None:
        try:
            self._amqp("delete")
        except Exception as exc:  # pika's errors have no common base
            self._note(f"could not delete queue {self.servers.events_queue}: {exc}")

    def queued_events(self) -> int:
        """Messages waiting in the stack's RabbitMQ queue (not yet consumed)."""
        return self._amqp("count")

    # -- one service -----------------------------------------------------------
    def service(self, name: str) -> Service:
        for service in self.plan:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r}; there are {', '.join(s.name for s in self.plan)}")

    def kill(self, name: str) -> None:
        """SIGKILL the service's whole process group (no clean-up) and reap it."""
        service = self.service(name)
        process = service.process
        if process is None or process.poll() is not None:
            raise StackError(f"{name} is not running")
        self._note(f"killing {name} (pid {process.pid})")
        self._stopped_on_purpose.add(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        service.process = None  # its group id may be reused: never signal it again

    def start_service(self, name: str, timeout_s: float = SCALED_RESTART_TIMEOUT_S) -> None:
        """Start it again, wait until ready (and, behind haproxy, until haproxy sends it work)."""
        super().start_service(name, timeout_s)
        self._wait_balanced(BALANCED_TIMEOUT_S, only=name)

    # -- the balancer ----------------------------------------------------------
    def balancer_stats(self) -> list[dict[str, str]]:
        """haproxy's statistics: one row per frontend, server and backend (pxname, svname, ...)."""
        response = httpx.get(self.stats_url + ";csv", timeout=5)
        response.raise_for_status()
        return list(csv.DictReader(io.StringIO(response.text.lstrip("# "))))

    def _server_row(self, name: str, rows: list[dict[str, str]]) -> dict[str, str]:
        kind, _, n = name.rpartition("-")
        backend = BACKENDS.get(kind)
        if backend is None:
            raise StackError(f"{name} is not behind the balancer")
        for row in rows:
            if row["pxname"] == backend and row["svname"] == f"{backend}-{n}":
                return row
        raise StackError(f"haproxy has no server {backend}-{n}")

    def served(self, name: str) -> int:
        """How many requests haproxy has sent to this instance (its sessions in total)."""
        return int(self._server_row(name, self.balancer_stats())["stot"] or 0)

    def balancer_status(self, name: str) -> str:
        """haproxy's view of an instance: "UP", "DOWN", "UP 1/2" ..."""
        return self._server_row(name, self.balancer_stats())["status"]

    def _wait_balanced(self, timeout_s: float, only: str | None = None) -> None:
        """Until haproxy has every running instance (or `only`) UP."""
        names = [only] if only else [s.name for s in self.plan
                                     if s.name.rpartition("-")[0] in BACKENDS
                                     and s.process is not None]
        names = [n for n in names if n.rpartition("-")[0] in BACKENDS]
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                rows = self.balancer_stats()
                waiting = [n for n in names if self._server_row(n, rows)["status"] != "UP"]
            except httpx.HTTPError as exc:
                waiting = [f"(statistics page: {exc})"]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise StackError(f"haproxy does not have {', '.join(waiting)} UP after "
                                 f"{timeout_s:.0f} s\n" + self.log_tail("balancer"))
            time.sleep(0.25)

    # -- talking to the bot ----------------------------------------------------
    def say(self, sender: str, text: str, *, token: str | None = None) -> list[str]:
        """`text` as `sender` to the REST channel through haproxy; the bot's text replies."""
        return self._say_to(self.rest_url, sender, text, token, "balancer")

    def say_raw(self, sender: str, text: str, *, token: str | None = None) -> httpx.Response:
        """The REST channel's whole answer (any status) through haproxy."""
        if self._client is None:
            raise StackError("the stack is not running")
        headers = {"Authorization": f"Bearer {token or self.channel_token(sender)}"}
        return self._client.post(self.rest_url, json={"sender": sender, "message": text},
                                 headers=headers)

    def _say_to(self, url: str, sender: str, text: str, token: str | None, log: str) -> list[str]:
        if self._client is None:
            raise StackError("the stack is not running")
        headers = {"Authorization": f"Bearer {token or self.channel_token(sender)}"}
        try:
            response = self._client.post(url, json={"sender": sender, "message": text},
                                         headers=headers)
        except httpx.HTTPError as exc:
            raise StackError(f"the REST channel did not answer {text!r} from {sender}: "
                             f"{type(exc).__name__}: {exc}\n{self._rasa_tails(log)}") from exc
        if response.status_code != 200:
            raise StackError(f"the REST channel answered {response.status_code} to {text!r} from "
                             f"{sender}: {response.text[:500]}\n{self._rasa_tails(log)}")
        return [m["text"] for m in response.json() if m.get("text")]

    def _rasa_tails(self, first: str) -> str:
        names = [first] + [n for n in self.instances("rasa") if n != first]
        return "\n".join(self.log_tail(n, 10) for n in names)


def main() -> int:
    """`python tools/scaled_stack.py [var_dir]`: start a scaled stack, stop on Enter."""
    import tempfile

    var = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="scaled-"))
    with ScaledStack(var) as stack:
        print(f"REST {stack.rest_url} (web token {stack.channel_token('web:')})\n"
              f"API  {stack.api_url}\nstatistics {stack.stats_url}\n"
              f"work orders {stack.database_url}\ntrackers {stack.tracker_database_url}\n"
              f"logs {stack.log_dir}\nstarted in "
              + ", ".join(f"{k} {v:.1f} s" for k, v in stack.timings.items()))
        try:
            input("press Enter to stop ")
        except (EOFError, KeyboardInterrupt):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
