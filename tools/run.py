"""Start every process of the embedded default, report where each listens,
and stop them all cleanly on Ctrl-C (or SIGTERM).

    python tools/run.py            # what `make run` calls after set-up

Ports and the bind address come from the environment (see README):
RASA_PORT (5005), ACTIONS_PORT (5055), API_PORT (8000), BIND_HOST
(127.0.0.1), ACTIONS_HOST (127.0.0.1). Secrets not set in the environment are
generated per run: the action server's ACTIONS_SECRET and the REST channel's
CHANNEL_TOKEN_WEB / _TELEGRAM / _VOICE (written to var/run/); each process
gets only the ones it uses. Before starting, the work-order database is
migrated and, in development mode on an empty database, the demo data set is
loaded. Each process logs to var/log/<name>.log. If a process dies, the
others are stopped and the launcher exits non-zero with the tail of the dead
one's log.

Privacy fails closed (integrations/shared/startup.py): in development mode
(WORKORDERS_DEVELOPMENT, default true) the launcher refuses a BIND_HOST other
than loopback; outside it, it refuses to start without a real
WORKORDERS_SECRET_KEY. var/ and its directories are 0700, every file in them
0600, and every process starts with umask 077, so what they create is 0600 too.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.model_store import model_path  # noqa: E402
from integrations.shared.startup import StartupRefused, check_start_from_env  # noqa: E402

RASA_BIN = ROOT / ".venv-rasa" / "bin"
APP_PYTHON = ROOT / ".venv" / "bin" / "python"
ALIVE_AFTER_S = 2.0  # a process without a health URL is ready once it has lived this long
READY_TIMEOUT_S = float(os.environ.get("READY_TIMEOUT_S", "300"))
STOP_TIMEOUT_S = 20.0
DEVELOPMENT_NOTE = ("WARNING {name} is running in DEVELOPMENT MODE (WORKORDERS_DEVELOPMENT=true), "
                    "started by the launcher on loopback only; not for real residents' data\n")
#: Every child process starts with this umask: the files it creates are 0600, its directories 0700.
CHILD_UMASK = 0o077


def secure_dir(path: Path) -> Path:
    """Create ``path`` (0700) if needed; make it and everything in it owner-only.

    Directories 0700, files 0600 (also what earlier runs left world-readable).
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(full, 0o600)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only the owner can read, never readable by others meanwhile."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


#: the REST channel's sender prefix -> the environment variable of its token (bot/channels.py)
CHANNEL_TOKEN_ENV = {"web": "CHANNEL_TOKEN_WEB", "tg": "CHANNEL_TOKEN_TELEGRAM",
                     "voice": "CHANNEL_TOKEN_VOICE"}
#: var/run/<file> holding each channel's token (web front ends, tools and tests read the first)
CHANNEL_TOKEN_FILES = {"web": "channel-token", "tg": "channel-token-telegram",
                       "voice": "channel-token-voice"}
#: never inherited from the launcher's environment: only the services that use one get it
#: The API credentials: each process gets only its own.
CREDENTIAL_VARS = ("WORKORDERS_ACTIONS_TOKEN", "WORKORDERS_TELEGRAM_TOKEN")
#: Never inherited from the launcher's environment: each goes only to the process that uses it.
PER_SERVICE_SECRETS = frozenset({"ACTIONS_SECRET", *CHANNEL_TOKEN_ENV.values(), *CREDENTIAL_VARS})


def channel_tokens_from_env(env: dict) -> dict:
    """{prefix: token} for web, tg and voice: from the environment, else random."""
    return {prefix: env.get(name) or secrets.token_urlsafe(32)
            for prefix, name in CHANNEL_TOKEN_ENV.items()}


def loopback_if_any(host: str) -> str:
    """The address to call a server on that listens on `host`."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


@dataclass(frozen=True)
class Settings:
    host: str
    rasa_port: int
    actions_port: int
    api_port: int
    rasa_token: str
    #: the work-order API's credentials: the action server's and the Telegram adapter's
    actions_token: str
    telegram_token: str
    database_url: str
    var: Path
    #: the action server listens here (ACTIONS_HOST); only Rasa calls it
    actions_host: str = "127.0.0.1"
    #: what Rasa presents to the action server (Authorization: Bearer)
    actions_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    #: {"web": ..., "tg": ..., "voice": ...}: the REST channel's token of each channel
    channel_tokens: dict = field(default_factory=lambda: channel_tokens_from_env({}), repr=False)
    #: TELEGRAM_* settings (tokens, API base, mode); the bots run when a token is set
    telegram: dict = field(default_factory=dict)
    #: VOSK_MODEL_PATH and VOICE_* settings; None: the phone line's gateway does not run
    voice: dict | None = None

    @classmethod
    def from_env(cls, env: dict) -> Settings:
        var = Path(env.get("VAR_DIR", ROOT / "var")).resolve()
        return cls(
            host=env.get("BIND_HOST", "127.0.0.1"),
            rasa_port=int(env.get("RASA_PORT", "5005")),
            actions_port=int(env.get("ACTIONS_PORT", "5055")),
            api_port=int(env.get("API_PORT", "8000")),
            # protects Rasa's HTTP API (trackers, /model/parse); the REST
            # channel used by residents' channels does not need it
            rasa_token=env.get("RASA_AUTH_TOKEN") or secrets.token_urlsafe(24),
            # what the action server and the Telegram adapter present to the work-order API
            actions_token=env.get("WORKORDERS_ACTIONS_TOKEN") or secrets.token_urlsafe(32),
            telegram_token=env.get("WORKORDERS_TELEGRAM_TOKEN") or secrets.token_urlsafe(32),
            database_url=env.get("WORKORDERS_DATABASE_URL") or f"sqlite:///{var / 'workorders.db'}",
            var=var,
            actions_host=env.get("ACTIONS_HOST") or "127.0.0.1",
            actions_secret=env.get("ACTIONS_SECRET") or secrets.token_urlsafe(32),
            channel_tokens=channel_tokens_from_env(env),
            telegram={k: v for k, v in env.items() if k.startswith("TELEGRAM_") and v},
            voice={"VOICE_CONTROL_SECRET": secrets.token_urlsafe(32),  # the dialplan's
                   **{k: v for k, v in env.items()
                      if (k.startswith("VOICE_") or k == "VOSK_MODEL_PATH") and v}},
        )

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram.get("TELEGRAM_BOT_TOKEN"))

    def app_env(self) -> dict:
        """Environment of the work-order processes (their settings read it); no credential:
        the notifier and the sweeper never call the API."""
        return {
            "WORKORDERS_DATABASE_URL": self.database_url,
            "WORKORDERS_API_PORT": str(self.api_port),
        }

    @property
    def actions_url(self) -> str:
        return f"http://{loopback_if_any(self.actions_host)}:{self.actions_port}"


class TextSink(Protocol):
    """Where the launcher's messages go: a text stream (default: stdout, stderr)."""

    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...


@dataclass
class Service:
    name: str
    argv: list[str]
    health_url: str | None  # None: ready once alive for ALIVE_AFTER_S
    describe: str
    env: dict = field(default_factory=dict)
    #: False for processes that are not ours (Rasa, the action server): the launcher
    #: writes the development-mode warning at the head of their log for them
    checks_start: bool = True
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    started_at: float = 0.0

    def ready(self) -> bool:
        if self.health_url is None:
            return time.monotonic() - self.started_at >= ALIVE_AFTER_S
        return is_up(self.health_url)


def write_endpoints(settings: Settings) -> Path:
    """bot/endpoints.yml with this run's action server port and tracker path."""
    text = (ROOT / "bot" / "endpoints.yml").read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:5055/webhook", f"{settings.actions_url}/webhook")
    text = text.replace("db: var/rasa-tracker.db", f"db: {settings.var / 'rasa-tracker.db'}")
    path = secure_dir(settings.var / "run") / "endpoints.yml"
    write_private(path, text)
    return path


def services(settings: Settings, model: Path | None = None) -> list[Service]:
    """The processes to start; `model` defaults to the one of the current inputs."""
    model = model or model_path()
    if not model.exists():
        sys.exit(f"error: model {model.name} is missing: run `make model` (make run does it)")
    endpoints = write_endpoints(settings)
    host = settings.host
    app_env = settings.app_env()
    workorders = [str(APP_PYTHON), "-m", "integrations.workorders"]
    return [
        Service(
            name="workorders-api",
            argv=[str(APP_PYTHON), "-m", "integrations.workorders.api", "--no-migrate",
                  "--host", host, "--port", str(settings.api_port)],
            health_url=f"http://127.0.0.1:{settings.api_port}/health",
            describe=(f"work-order API     http://{host}:{settings.api_port}/api/v1"
                      f"  (OpenAPI /docs; channel tokens in var/run/*-token)\n"
                      f"         web console http://{host}:{settings.api_port}/console/"
                      f"  (sign in with a staff account and its password)"),
            env={**app_env, "WORKORDERS_ACTIONS_TOKEN": settings.actions_token,
                 "WORKORDERS_TELEGRAM_TOKEN": settings.telegram_token},
        ),
        Service(
            name="notifier",
            argv=[str(APP_PYTHON), "-m", "integrations.notifier"],
            health_url=None,
            describe=("notifier           delivers the outbox ("
                      + ("Telegram, " if settings.telegram_enabled else "")
                      + "log and webhook senders)"),
            env={**app_env, **settings.telegram},
        ),
        Service(
            name="sweeper",
            argv=[*workorders, "sweep", "--interval", "30"],
            health_url=None,
            describe=("sweeper            accept/resolve time limits, follow-up window, "
                      "retention (staged photos, outbox, Rasa conversations)"),
            env={**app_env, "WORKORDERS_TRACKER_DATABASE_URL":
                 f"sqlite:///{settings.var / 'rasa-tracker.db'}"},
        ),
        Service(
            name="actions",
            # rasa_sdk's app behind the shared secret and a body cap (bot/action_server.py)
            argv=[str(RASA_BIN / "python"), "-m", "bot.action_server", "--actions", "actions",
                  "--host", settings.actions_host, "--port", str(settings.actions_port)],
            health_url=f"{settings.actions_url}/health",
            describe=(f"action server      {settings.actions_url}/webhook"
                      f"  (Rasa only: shared secret in var/run/actions-secret)"),
            env={"WORKORDERS_URL": f"http://127.0.0.1:{settings.api_port}",
                 "WORKORDERS_ACTIONS_TOKEN": settings.actions_token,
                 "ACTIONS_SECRET": settings.actions_secret},
            checks_start=False,
        ),
        Service(
            name="rasa",
            argv=[str(RASA_BIN / "python"), "-m", "bot.serve", "run", "--model", str(model),
                  "--endpoints", str(endpoints), "--credentials", "bot/credentials.yml",
                  "--interface", host, "--port", str(settings.rasa_port),
                  # one argument: a random token may begin with "-"
                  "--enable-api", f"--auth-token={settings.rasa_token}"],
            health_url=f"http://127.0.0.1:{settings.rasa_port}/",
            describe=(f"Rasa REST channel  http://{host}:{settings.rasa_port}/webhooks/rest/webhook"
                      f"  (web:* with the token in var/run/channel-token;"
                      f" API token in var/run/rasa-token)"),
            checks_start=False,
            env={"ACTIONS_SECRET": settings.actions_secret,
                 **{CHANNEL_TOKEN_ENV[p]: t for p, t in settings.channel_tokens.items()}},
        ),
    ] + ([telegram_service(settings)] if settings.telegram_enabled else []) \
      + ([voice_service(settings)] if settings.voice is not None else [])


def voice_service(settings: Settings) -> Service:
    """The phone line's gateway (voice/): AudioSocket for the PBX, Vosk, espeak-ng."""
    voice = dict(settings.voice or {})
    port = voice.get("VOICE_AUDIOSOCKET_PORT", "9092")
    control = voice.setdefault("VOICE_CONTROL_PORT", "9093")
    model = voice.get("VOSK_MODEL_PATH")
    hears = f"Vosk model {model}" if model else "no speech model: callers are offered 0 for a person"
    return Service(
        name="voice",
        argv=[str(APP_PYTHON), "-m", "voice"],
        health_url=f"http://127.0.0.1:{control}/health",
        describe=(f"phone line         AudioSocket 127.0.0.1:{port}, dialplan API :{control} "
                  f"({hears}; its secret in var/run/voice-control-secret)"),
        env={**voice, "RASA_URL": f"http://127.0.0.1:{settings.rasa_port}",
             "CHANNEL_TOKEN_VOICE": settings.channel_tokens["voice"]},
    )


TELEGRAM_OFF = ("Telegram channel off: set TELEGRAM_BOT_TOKEN (and TELEGRAM_HANDLER_BOT_TOKEN for "
                "a separate handlers' bot) to start the bots")


def telegram_service(settings: Settings) -> Service:
    """The residents' and handlers' bots (integrations/telegram), relaying to Rasa's REST channel."""
    mode = settings.telegram.get("TELEGRAM_MODE", "polling")
    base = settings.telegram.get("TELEGRAM_API_BASE", "https://api.telegram.org")
    bots = "two bots" if settings.telegram.get("TELEGRAM_HANDLER_BOT_TOKEN") else "one bot"
    return Service(
        name="telegram",
        argv=[str(APP_PYTHON), "-m", "integrations.telegram"],
        health_url=None,
        describe=f"Telegram channel   {bots}, {mode}, Bot API {base}",
        env={**settings.app_env(), **settings.telegram,
             "WORKORDERS_TELEGRAM_TOKEN": settings.telegram_token,
             "RASA_URL": f"http://127.0.0.1:{settings.rasa_port}",
             "CHANNEL_TOKEN_TELEGRAM": settings.channel_tokens["tg"],
             "WORKORDERS_API_URL": f"http://127.0.0.1:{settings.api_port}"},
    )


def is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Launcher:
    def __init__(self, settings: Settings, plan: list[Service]) -> None:
        self.settings = settings
        self.plan = plan
        self.stopping = False
        # where progress and error messages go (None: stdout and stderr at the time);
        # tools/stack.py sends them to its own log file
        self.out: TextSink | None = None
        self.err: TextSink | None = None
        # run in each child before exec (tools/stack.py: die with the test process)
        self.preexec_fn: Callable[[], None] | None = None
        # variables of the launcher's environment no child inherits (each service that
        # needs one gets it in its own env); tools/scaled.py adds the servers' addresses
        self.withheld: frozenset[str] = PER_SERVICE_SECRETS
        # development mode (checked by main() before anything starts)
        self.development = os.environ.get("WORKORDERS_DEVELOPMENT", "true").strip().lower() \
            not in ("0", "false", "no", "off", "f", "n")

    def say(self, message: str, error: bool = False) -> None:
        stream = (self.err or sys.stderr) if error else (self.out or sys.stdout)
        print(message, file=stream, flush=True)

    def prepare(self) -> bool:
        """Migrate the work-order database; load the demo data into an empty one."""
        env = self._env(self.settings.app_env())
        steps = [[str(APP_PYTHON), "-m", "integrations.workorders", "migrate"]]
        if os.environ.get("WORKORDERS_DEVELOPMENT", "true").lower() in ("1", "true", "yes"):
            steps.append([str(APP_PYTHON), "-m", "integrations.workorders", "load-demo", "--if-empty"])
        secure_dir(self.settings.var)
        for argv in steps:
            result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                                    umask=CHILD_UMASK)
            if result.stdout.strip():
                self.say(result.stdout.strip())
            if result.returncode != 0:
                self.say(f"error: `{' '.join(argv[1:])}` failed:\n{result.stderr[-2000:]}",
                         error=True)
                return False
        return True

    def _env(self, extra: dict) -> dict:
        inherited = {k: v for k, v in os.environ.items()
                     if k not in self.withheld}
        return {**inherited, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONPATH": str(ROOT), **extra}

    def start(self) -> None:
        secure_dir(self.settings.var)
        run_dir = secure_dir(self.settings.var / "run")
        secrets_ = [("rasa-token", self.settings.rasa_token),
                    ("actions-token", self.settings.actions_token),
                    ("telegram-token", self.settings.telegram_token),
                    ("actions-secret", self.settings.actions_secret),
                    *((CHANNEL_TOKEN_FILES[p], t) for p, t in self.settings.channel_tokens.items())]
        if self.settings.voice is not None:  # the dialplan presents it to the phone line
            secrets_.append(("voice-control-secret", self.settings.voice["VOICE_CONTROL_SECRET"]))
        for name, secret in secrets_:
            write_private(run_dir / name, secret)
        for service in self.plan:
            self.launch(service)

    def launch(self, service: Service) -> None:
        """Start one service (again), appending to var/log/<name>.log."""
        log_dir = secure_dir(self.settings.var / "log")
        service.log_path = log_dir / f"{service.name}.log"
        fd = os.open(service.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        log = os.fdopen(fd, "ab")
        if not service.checks_start and self.development:
            log.write(DEVELOPMENT_NOTE.format(name=service.name).encode("utf-8"))
            log.flush()
        service.process = subprocess.Popen(
            service.argv, cwd=ROOT, env={**self._env({}), **service.env},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: we stop the whole tree
            preexec_fn=self.preexec_fn,
            umask=CHILD_UMASK,  # what it creates (databases, logs) is owner-only
        )
        log.close()
        service.started_at = time.monotonic()
        self.say(f"starting {service.name} (pid {service.process.pid}), log {service.log_path}")

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = list(self.plan)
        while pending and not self.stopping:
            for service in list(pending):
                if self.dead(service):
                    return False
                if service.ready():
                    self.say(f"ready    {service.describe}")
                    pending.remove(service)
            if time.monotonic() > deadline:
                self.say(f"error: not ready after {READY_TIMEOUT_S:.0f} s: "
                         f"{', '.join(s.name for s in pending)}", error=True)
                return False
            time.sleep(0.5)
        return not self.stopping

    def dead(self, service: Service) -> bool:
        assert service.process is not None and service.log_path is not None, "launch() first"
        code = service.process.poll()
        if code is None:
            return False
        lines = service.log_path.read_text(errors="replace").splitlines()[-15:]
        self.say(f"error: {service.name} exited with code {code}; last lines of {service.log_path}:\n"
                 + "\n".join("    " + line for line in lines), error=True)
        return True

    def watch(self) -> int:
        while not self.stopping:
            if any(self.dead(s) for s in self.plan):
                return 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        self.halt(self.plan)
        self.say("all processes stopped")

    def halt(self, chosen: list[Service]) -> None:
        """SIGTERM each one's process group, wait, then SIGKILL what is left of the groups."""
        for service in reversed(chosen):
            if service.process and service.process.poll() is None:
                try:
                    os.killpg(service.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for service in chosen:
            if not service.process:
                continue
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{service.name} did not stop in {STOP_TIMEOUT_S:.0f} s: killing it",
                         error=True)
            # whatever is left in the group (workers, children) goes too
            try:
                os.killpg(service.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            service.process.wait()


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    settings = Settings.from_env(dict(os.environ))
    try:
        # before anything is created, bound or started
        check_start_from_env("make run", os.environ, bind_hosts=[settings.host, settings.actions_host],
                             log=logging.getLogger("launcher"))
    except StartupRefused as exc:
        print(f"error: refusing to start: {exc}", file=sys.stderr, flush=True)
        return 2
    launcher = Launcher(settings, services(settings))
    if not settings.telegram_enabled:
        launcher.say(TELEGRAM_OFF)
    secure_dir(settings.var)
    return run_until_stopped(launcher)


def run_until_stopped(launcher: Launcher) -> int:
    """Prepare, start every process, wait until ready, watch them until Ctrl-C or
    SIGTERM (or one dies), then stop them all; the exit code."""

    def on_signal(signum, frame):
        launcher.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if not launcher.prepare():
        return 1
    launcher.start()
    code = 0
    try:
        if launcher.wait_ready():
            print("all services ready; press Ctrl-C to stop", flush=True)
            code = launcher.watch()
        elif not launcher.stopping:
            code = 1
    finally:
        launcher.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
