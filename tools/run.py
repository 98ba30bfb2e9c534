"""Start every process of the embedded default, report where each listens,
and stop them all cleanly on Ctrl-C (or SIGTERM).

    python tools/run.py            # what `make run` calls after set-up

Ports and the bind address come from the environment (see README):
RASA_PORT (5005), ACTIONS_PORT (5055), API_PORT (8000), BIND_HOST
(127.0.0.1). Before starting, the work-order database is migrated and, in
development mode on an empty database, the demo data set is loaded. Each
process logs to var/log/<name>.log. If a process dies, the others are stopped
and the launcher exits non-zero with the tail of the dead one's log.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.model_store import model_path  # noqa: E402

RASA_BIN = ROOT / ".venv-rasa" / "bin"
APP_PYTHON = ROOT / ".venv" / "bin" / "python"
ALIVE_AFTER_S = 2.0  # a process without a health URL is ready once it has lived this long
READY_TIMEOUT_S = float(os.environ.get("READY_TIMEOUT_S", "300"))
STOP_TIMEOUT_S = 20.0


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
    #: TELEGRAM_* settings (tokens, API base, mode); the bots run when a token is set
    telegram: dict = field(default_factory=dict)
    #: VOSK_MODEL_PATH and VOICE_* settings; None: the phone line's gateway does not run
    voice: Optional[dict] = None

    @classmethod
    def from_env(cls, env: dict) -> "Settings":
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
            telegram={k: v for k, v in env.items() if k.startswith("TELEGRAM_") and v},
            voice={k: v for k, v in env.items()
                   if (k.startswith("VOICE_") or k == "VOSK_MODEL_PATH") and v},
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


#: The API credentials: each process gets only its own (``Launcher._env`` drops the rest).
CREDENTIAL_VARS = ("WORKORDERS_ACTIONS_TOKEN", "WORKORDERS_TELEGRAM_TOKEN")


@dataclass
class Service:
    name: str
    argv: list[str]
    health_url: Optional[str]  # None: ready once alive for ALIVE_AFTER_S
    describe: str
    env: dict = field(default_factory=dict)
    process: Optional[subprocess.Popen] = None
    log_path: Optional[Path] = None
    started_at: float = 0.0

    def ready(self) -> bool:
        if self.health_url is None:
            return time.monotonic() - self.started_at >= ALIVE_AFTER_S
        return is_up(self.health_url)


def write_endpoints(settings: Settings) -> Path:
    """bot/endpoints.yml with this run's action server port and tracker path."""
    text = (ROOT / "bot" / "endpoints.yml").read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:5055/webhook",
                        f"http://127.0.0.1:{settings.actions_port}/webhook")
    text = text.replace("db: var/rasa-tracker.db", f"db: {settings.var / 'rasa-tracker.db'}")
    path = settings.var / "run" / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def services(settings: Settings, model: Optional[Path] = None) -> list[Service]:
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
                      f"  (OpenAPI /docs; channel tokens in var/run/*-token)"),
            env={**app_env, "WORKORDERS_ACTIONS_TOKEN": settings.actions_token,
                 "WORKORDERS_TELEGRAM_TOKEN": settings.telegram_token},
        ),
        Service(
            name="notifier",
            argv=[str(APP_PYTHON), "-m", "integrations.workorders.notifier"],
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
            describe="sweeper            accept/resolve time limits, follow-up window",
            env=app_env,
        ),
        Service(
            name="actions",
            argv=[str(RASA_BIN / "rasa"), "run", "actions", "--actions", "actions",
                  "--port", str(settings.actions_port)],
            health_url=f"http://127.0.0.1:{settings.actions_port}/health",
            describe=f"action server      http://127.0.0.1:{settings.actions_port}/webhook",
            env={"WORKORDERS_URL": f"http://127.0.0.1:{settings.api_port}",
                 "WORKORDERS_ACTIONS_TOKEN": settings.actions_token},
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
                      f"  (API token in var/run/rasa-token)"),
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
        describe=f"phone line         AudioSocket 127.0.0.1:{port}, dialplan API :{control} ({hears})",
        env={**voice, "RASA_URL": f"http://127.0.0.1:{settings.rasa_port}"},
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
        self.out = None
        self.err = None
        # run in each child before exec (tools/stack.py: die with the test process)
        self.preexec_fn = None

    def say(self, message: str, error: bool = False) -> None:
        stream = (self.err or sys.stderr) if error else (self.out or sys.stdout)
        print(message, file=stream, flush=True)

    def prepare(self) -> bool:
        """Migrate the work-order database; load the demo data into an empty one."""
        env = self._env(self.settings.app_env())
        steps = [[str(APP_PYTHON), "-m", "integrations.workorders", "migrate"]]
        if os.environ.get("WORKORDERS_DEVELOPMENT", "true").lower() in ("1", "true", "yes"):
            steps.append([str(APP_PYTHON), "-m", "integrations.workorders", "load-demo", "--if-empty"])
        for argv in steps:
            result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
            if result.stdout.strip():
                self.say(result.stdout.strip())
            if result.returncode != 0:
                self.say(f"error: `{' '.join(argv[1:])}` failed:\n{result.stderr[-2000:]}",
                         error=True)
                return False
        return True

    def _env(self, extra: dict) -> dict:
        inherited = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
        return {**inherited, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONPATH": str(ROOT), **extra}

    def start(self) -> None:
        run_dir = self.settings.var / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        for name, secret in (("rasa-token", self.settings.rasa_token),
                             ("actions-token", self.settings.actions_token),
                             ("telegram-token", self.settings.telegram_token)):
            (run_dir / name).write_text(secret)
            (run_dir / name).chmod(0o600)
        for service in self.plan:
            self.launch(service)

    def launch(self, service: Service) -> None:
        """Start one service (again), appending to var/log/<name>.log."""
        log_dir = self.settings.var / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        service.log_path = log_dir / f"{service.name}.log"
        log = open(service.log_path, "ab")
        service.process = subprocess.Popen(
            service.argv, cwd=ROOT, env={**self._env({}), **service.env},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: we stop the whole tree
            preexec_fn=self.preexec_fn,
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
    settings = Settings.from_env(dict(os.environ))
    launcher = Launcher(settings, services(settings))
    if not settings.telegram_enabled:
        launcher.say(TELEGRAM_OFF)

    def on_signal(signum, frame):
        launcher.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    settings.var.mkdir(parents=True, exist_ok=True)
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
