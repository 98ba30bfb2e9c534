"""The real embedded stack, started for a test or a benchmark.

Starts what `make run` starts (work-order API, notifier, sweeper, action
server, Rasa with the REST channel), through tools/run.py's Settings,
services and Launcher, on free ports and in a var dir of the caller's
choosing: migrate and load the demo data, start every process, wait until
each is ready.

    from tools.stack import Stack

    with Stack(tmp_path) as stack:                 # or: stack = Stack(tmp_path).start()
        stack.say("web:alice", "你好")             # -> ["您好！我是社区服务助手。…"]
        stack.stop_service("workorders-api")       # stop one process (its process group)
        stack.start_service("workorders-api")      # start it again, wait until ready
        stack.peak_rss_mib("rasa")                 # VmHWM of the process and its children
        stack.staff_password("demo-dispatcher")    # the demo accounts' passwords (and
        stack.staff_token("lixiuying")             # tokens), as load-demo printed them
        stack.console_url                          # http://127.0.0.1:<api port>/console/
    # stack.stop() on leaving: every process group, as run.py stops them

Logs: <var_dir>/log/<service>.log for each process and <var_dir>/log/stack.log
for the harness itself (migration, start, stop); `log_tail(name)` gives the
last lines for a failure message.

Processes started here are in their own process groups (stopped as a whole)
and, on Linux, get SIGTERM if the thread that started them dies
(PR_SET_PDEATHSIG), so a killed test run leaves no Rasa behind. Start the
stack from a thread that lives as long as the stack (the main thread).

Only the application venv (.venv, Python 3.11, httpx) imports this module.
"""
from __future__ import annotations

import atexit
import ctypes
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.model_store import model_path  # noqa: E402
from tools.run import RASA_BIN, Launcher, Service, Settings, services  # noqa: E402

SERVICE_NAMES = ("workorders-api", "notifier", "sweeper", "actions", "rasa")
READY_TIMEOUT_S = 300.0   # Rasa alone needs ~40 s to load a model
RESTART_TIMEOUT_S = 120.0
SAY_TIMEOUT_S = 60.0
WARM_UP_SENDER = "web:stack-warm-up"

PR_SET_PDEATHSIG = 1
_LIBC: ctypes.CDLL | None
try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux: no parent-death signal
    _LIBC = None


class StackError(RuntimeError):
    """The stack could not start, a service died, or Rasa answered with an error."""


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the starting thread goes away."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def newest_model() -> Path | None:
    """The model of the current inputs if trained, else the newest models/zh-*.tar.gz."""
    current = model_path()
    if current.exists():
        return current
    found = sorted((ROOT / "models").glob("zh-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def unavailable_reason() -> str | None:
    """Why a stack cannot be started here (None: it can); for pytest.skip."""
    if not (RASA_BIN / "rasa").exists():
        return "the Rasa environment .venv-rasa is missing: run `make venvs`"
    if newest_model() is None:
        return "no trained model in models/: run `make model`"
    return None


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (all held open while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class _StampedLog:
    """A text file that starts every line with the time (the launcher's messages go here)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._at_line_start = True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self._at_line_start:
                self._file.write(time.strftime("%H:%M:%S "))
            self._file.write(piece)
            self._at_line_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class StaffAccount:
    """A demo staff account as load-demo printed it (once) when the stack started."""

    username: str
    role: str
    password: str
    token: str


#: load-demo's header above one line per new account: username, role, password, token
ACCOUNTS_HEADER = "staff accounts ("


def parse_demo_accounts(text: str) -> dict[str, StaffAccount]:
    """The accounts in load-demo's output (`python -m integrations.workorders load-demo`)."""
    found: dict[str, StaffAccount] = {}
    inside = False
    for line in text.splitlines():
        fields = line.split()
        if line.startswith(ACCOUNTS_HEADER):
            inside = True
        elif inside and line.startswith("  ") and len(fields) == 4:
            username, role, password, token = fields
            found[username] = StaffAccount(username, role, password, token)
        else:
            inside = False
    return found


class _Capture:
    """A text sink that keeps what it is given and passes it on."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()

    @property
    def text(self) -> str:
        return "".join(self.parts)


class Stack:
    """The five processes of the embedded default on free ports in `var_dir`.

    `model`: a models/zh-*.tar.gz (default: the model of the current inputs,
    or the newest one there). `warm_up`: after start, send one message so the
    first real turn does not pay for TensorFlow's first prediction.
    `telegram`: TELEGRAM_* settings (a bot token, the Bot API base of an
    emulator): the notifier gets them and the Telegram channel runs too.
    `voice`: VOICE_* settings (ports, VOSK_MODEL_PATH): the phone line's
    gateway runs too (an empty dict: with its defaults).
    """

    def __init__(self, var_dir: Path | str, model: Path | str | None = None, *,
                 warm_up: bool = True, ready_timeout_s: float = READY_TIMEOUT_S,
                 telegram: dict | None = None, voice: dict | None = None) -> None:
        chosen = Path(model) if model else newest_model()
        if chosen is not None and not chosen.is_absolute() and not chosen.exists():
            chosen = ROOT / chosen  # models/zh-….tar.gz from anywhere
        if chosen is None or not chosen.exists():
            raise StackError(f"no model to serve ({chosen or 'models/ is empty'}): run `make model`")
        self.model = chosen.resolve()
        self.var = Path(var_dir).resolve()
        self.warm_up = warm_up
        self.ready_timeout_s = ready_timeout_s
        rasa_port, actions_port, api_port, audiosocket_port, control_port = free_ports(5)
        if voice is not None:
            voice = {"VOICE_AUDIOSOCKET_PORT": str(audiosocket_port),
                     "VOICE_CONTROL_PORT": str(control_port),
                     # the dialplan's secret (the gateway refuses to start without one)
                     "VOICE_CONTROL_SECRET": secrets.token_urlsafe(32), **voice}
        self.settings = Settings(
            host="127.0.0.1", rasa_port=rasa_port, actions_port=actions_port, api_port=api_port,
            rasa_token=secrets.token_urlsafe(24), actions_token=secrets.token_urlsafe(32),
            telegram_token=secrets.token_urlsafe(32),
            database_url=f"sqlite:///{self.var / 'workorders.db'}", var=self.var,
            telegram=dict(telegram or {}),
            voice=dict(voice) if voice is not None else None,
        )
        self.var.mkdir(parents=True, exist_ok=True)
        self.plan: list[Service] = services(self.settings, self.model)
        for service in self.plan:
            service.env = {**service.env, "PYTHONUNBUFFERED": "1"}  # log tails up to date
        self.launcher = Launcher(self.settings, self.plan)
        self.launcher.preexec_fn = _die_with_parent
        self.log_dir = self.var / "log"
        self._log: _StampedLog | None = None
        self._client: httpx.Client | None = None
        self._stopped_on_purpose: set[str] = set()
        self.started = False
        #: seconds spent in each start phase: prepare, ready, warm_up
        self.timings: dict[str, float] = {}
        #: the demo's staff accounts with their passwords and tokens (filled by start)
        self.staff_accounts: dict[str, StaffAccount] = {}

    # -- addresses -------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.rasa_port}/webhooks/rest/webhook"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.rasa_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def console_url(self) -> str:
        """The web console (served by the work-order API's process)."""
        return f"{self.api_url}/console/"

    @property
    def actions_url(self) -> str:
        return self.settings.actions_url

    @property
    def actions_secret(self) -> str:
        """What Rasa presents to the action server."""
        return self.settings.actions_secret

    def channel_token(self, sender: str) -> str:
        """The REST channel's token for this sender's channel ("web:x" -> the web token)."""
        prefix = sender.partition(":")[0]
        try:
            return self.settings.channel_tokens[prefix]
        except KeyError:
            raise StackError(f"no channel serves senders {prefix}:* "
                             f"(there are {', '.join(self.settings.channel_tokens)})") from None

    @property
    def actions_token(self) -> str:
        """The action server's API credential (resident operations, place resolution)."""
        return self.settings.actions_token

    @property
    def telegram_token(self) -> str:
        """The Telegram adapter's API credential."""
        return self.settings.telegram_token

    @property
    def rasa_token(self) -> str:
        return self.settings.rasa_token

    def staff_password(self, username: str) -> str:
        """The sign-in password of a demo account (demo-dispatcher, lixiuying, ...)."""
        return self._account(username).password

    def staff_token(self, username: str) -> str:
        """The API token of a demo account ('Authorization: Bearer <token>')."""
        return self._account(username).token

    def _account(self, username: str) -> StaffAccount:
        try:
            return self.staff_accounts[username]
        except KeyError:
            raise StackError(f"no demo account {username!r} (there are "
                             f"{', '.join(self.staff_accounts) or 'none'})") from None

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    # -- life cycle ------------------------------------------------------------
    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Stack:
        """Migrate, load the demo data, start every process, wait until all are ready."""
        if self.started:
            return self
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = _StampedLog(self.log_dir / "stack.log")
        self.launcher.out = self.launcher.err = self._log
        self._note(f"stack in {self.var}, model {self.model.name}, ports rasa "
                   f"{self.settings.rasa_port}, actions {self.settings.actions_port}, "
                   f"api {self.settings.api_port}")
        began = time.monotonic()
        try:
            self._prepare_database()
        except StackError:
            self._log.close()
            self._log = None
            raise
        self.timings["prepare"] = time.monotonic() - began
        atexit.register(self.stop)
        self.started = True
        began = time.monotonic()
        try:
            self.launcher.start()
            self._wait_ready(self.plan, self.ready_timeout_s)
            self.timings["ready"] = time.monotonic() - began
            self._client = httpx.Client(timeout=SAY_TIMEOUT_S)
            if self.warm_up:
                began = time.monotonic()
                self.say(WARM_UP_SENDER, "你好")
                self.timings["warm_up"] = time.monotonic() - began
        except BaseException:
            self.stop()
            raise
        self._note("all services ready " + ", ".join(f"{k} {v:.1f} s"
                                                     for k, v in self.timings.items()))
        return self

    def stop(self) -> None:
        """Stop every process (SIGTERM to each process group, then SIGKILL). Idempotent."""
        if not self.started:
            return
        self.started = False
        atexit.unregister(self.stop)
        if self._client is not None:
            self._client.close()
            self._client = None
        self.launcher.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _note(self, message: str) -> None:
        if self._log is not None:
            self._log.write(message + "\n")
            self._log.flush()

    def _wait_ready(self, chosen: list[Service], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(chosen)
        while pending:
            for service in list(pending):
                process = service.process
                assert process is not None, "launched before waiting"
                code = process.poll()
                if code is not None:
                    raise StackError(f"{service.name} exited with code {code} while starting:\n"
                                     + self.log_tail(service.name))
                if service.ready():
                    self._note(f"ready {service.name} (pid {process.pid})")
                    pending.remove(service)
            if pending and time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                raise StackError(f"not ready after {timeout_s:.0f} s: {names}\n"
                                 + "\n".join(self.log_tail(s.name) for s in pending))
            if pending:
                time.sleep(0.25)

    # -- one service -----------------------------------------------------------
    def service(self, name: str) -> Service:
        for service in self.plan:
            if service.name == name:
                return service
        raise KeyError(f"no service {name!r}; there are {', '.join(SERVICE_NAMES)}")

    def running(self, name: str) -> bool:
        process = self.service(name).process
        return process is not None and process.poll() is None

    def pid(self, name: str) -> int | None:
        process = self.service(name).process
        return process.pid if process is not None and self.running(name) else None

    def stop_service(self, name: str) -> None:
        """Stop one process (its whole process group) and wait until it is gone."""
        service = self.service(name)
        self._note(f"stopping {name} (pid {service.process.pid if service.process else '-'})")
        self._stopped_on_purpose.add(name)
        self.launcher.halt([service])
        # forget it: its process group is gone, and a later stop() must not
        # signal that group id again (it may belong to someone else by then)
        service.process = None
        self._note(f"stopped {name}")

    def start_service(self, name: str, timeout_s: float = RESTART_TIMEOUT_S) -> None:
        """Start one stopped process again (same port, same log file) and wait until ready."""
        if not self.started:
            raise StackError("the stack is not running")
        service = self.service(name)
        if self.running(name):
            raise StackError(f"{name} is running already (pid {self.pid(name)})")
        self.launcher.launch(service)
        self._stopped_on_purpose.discard(name)
        began = time.monotonic()
        self._wait_ready([service], timeout_s)
        self._note(f"restarted {name} in {time.monotonic() - began:.1f} s")

    def _prepare_database(self) -> None:
        """Migrate the work-order database and load the demo data; keep the demo accounts."""
        capture = _Capture(self._log)  # load-demo prints each account's password once
        self.launcher.out = capture
        prepared = self.launcher.prepare()
        self.launcher.out = self._log
        if not prepared:
            raise StackError("preparing the work-order database failed:\n" + self.log_tail("stack"))
        self.staff_accounts = parse_demo_accounts(capture.text)

    def fresh_database(self) -> None:
        """Start over on a new work-order database, as a new stack would have (migrated, the
        demo data loaded, new demo passwords), while Rasa and the action server stay up:
        the processes that use the database are stopped, its file is removed and prepared
        again, and they are started again. Rasa's trackers are kept (another file)."""
        if not self.started:
            raise StackError("the stack is not running")
        if not self.database_url.startswith("sqlite:///"):
            raise StackError("only the embedded SQLite database can be started over")
        users = [s.name for s in self.plan if "WORKORDERS_DATABASE_URL" in s.env]
        for name in users:
            if self.running(name):
                self.stop_service(name)
        database = Path(self.database_url.removeprefix("sqlite:///"))
        for path in (database, *(database.with_name(database.name + suffix)
                                 for suffix in ("-wal", "-shm", "-journal"))):
            path.unlink(missing_ok=True)
        self._prepare_database()
        for name in users:
            self.start_service(name)
        self._note("a fresh work-order database")

    def dead_services(self) -> list[str]:
        """Services that exited although nobody stopped them."""
        return [s.name for s in self.plan
                if s.name not in self._stopped_on_purpose
                and s.process is not None and s.process.poll() is not None]

    def pids(self, name: str) -> list[int]:
        """The service's process and all its descendants (empty if not running)."""
        pid = self.pid(name)
        return _descendants(pid) if pid else []

    def peak_rss_mib(self, name: str) -> float | None:
        """Peak resident set size (VmHWM) of the service in MiB, its children added.

        The children's peaks are added as if they coincided, so with children
        this is an upper bound. None if the service is not running.
        """
        peaks = [k for k in (_vm_hwm_kib(p) for p in self.pids(name)) if k is not None]
        return round(sum(peaks) / 1024, 1) if peaks else None

    # -- logs ------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        """var_dir/log/<name>.log; name "stack" is the harness's own log."""
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_path(name)
        try:
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        except OSError:
            return f"--- {path}: (no log) ---"
        return f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text)

    # -- talking to the bot ----------------------------------------------------
    def say(self, sender: str, text: str) -> list[str]:
        """Send `text` as `sender` to the REST channel, with the token of the sender's
        channel (web, tg, voice); the bot's text replies in order."""
        if self._client is None:
            raise StackError("the stack is not running")
        headers = {"Authorization": f"Bearer {self.channel_token(sender)}"}
        try:
            response = self._client.post(self.rest_url, json={"sender": sender, "message": text},
                                         headers=headers)
        except httpx.HTTPError as exc:
            raise StackError(f"the REST channel did not answer {text!r} from {sender}: "
                             f"{type(exc).__name__}: {exc}\n{self.log_tail('rasa', 15)}") from exc
        if response.status_code != 200:
            raise StackError(f"the REST channel answered {response.status_code} to {text!r} from "
                             f"{sender}: {response.text[:500]}\n{self.log_tail('rasa', 15)}")
        return [m["text"] for m in response.json() if m.get("text")]


def main() -> int:
    """`python tools/stack.py [var_dir]`: start a stack, print where it listens, stop on Enter."""
    import tempfile

    var = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="stack-"))
    with Stack(var) as stack:
        print(f"REST {stack.rest_url} (web token {stack.channel_token('web:')})\n"
              f"API  {stack.api_url} (actions token {stack.actions_token})\n"
              f"console {stack.console_url} ("
              + ", ".join(f"{a.username} {a.password}" for a in stack.staff_accounts.values())
              + ")\n"
              f"logs {stack.log_dir}\nstarted in "
              + ", ".join(f"{k} {v:.1f} s" for k, v in stack.timings.items()))
        try:
            input("press Enter to stop ")
        except (EOFError, KeyboardInterrupt):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
