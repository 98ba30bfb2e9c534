"""Several server processes on one port (``--workers N``), each with its own socket.

Why not uvicorn's ``--workers``: it shares one listening socket, and an idle
asyncio loop accepts every pending connection in one go, so long-lived
keep-alive clients all landed on one process while the other idled (measured:
all 32 benchmark connections on one of two workers in two runs of three, half
the throughput). Here each worker binds its own ``SO_REUSEPORT`` socket and
the kernel spreads new connections over them. The sockets are created with
``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on every connection
(uvicorn's shared socket had protocol 0, and each response then waited about
40 ms for the client's delayed ACK).

The supervisor restarts a worker that dies after it started serving, stops
everything if one dies while starting (the same error would repeat), and on
SIGTERM/SIGINT stops the workers gracefully.

Every process runs uvicorn with ``UVICORN_OPTIONS``: ``loop="auto"`` and
``http="auto"`` choose uvloop and httptools when they are installed
(``requirements.txt`` pins both), asyncio and h11 otherwise.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess

import uvicorn

log = logging.getLogger("integrations.workorders.api")

#: What every server process passes to uvicorn besides host, port and log level.
UVICORN_OPTIONS: dict[str, object] = {
    "loop": "auto",  # uvloop if installed
    "http": "auto",  # httptools if installed
    "access_log": False,  # telemetry writes its own access log
    "server_header": False,
    "proxy_headers": False,
}


def event_loop_and_parser() -> str:
    """What ``loop="auto"`` / ``http="auto"`` pick here, e.g. ``"uvloop + httptools"``."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop} + {http}"


#: A worker that dies sooner than this after its start failed to start.
STARTUP_GRACE_S = 10.0
STOP_TIMEOUT_S = 30.0


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other workers may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(host: str, port: int, log_level: str) -> None:
    """One worker process: its own socket, its own application (settings from the environment)."""
    from .entrypoint import from_environment  # in the child, after spawn

    sock = reuseport_socket(host, port)
    config = uvicorn.Config(from_environment(), host=host, port=port, log_level=log_level,
                            **UVICORN_OPTIONS)  # type: ignore[arg-type]
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    def __init__(self, host: str, port: int, workers: int, log_level: str) -> None:
        self.args = (host, port, log_level)
        self.count = workers
        self.context = multiprocessing.get_context("spawn")
        self.stop = threading.Event()
        self.processes: list[tuple[BaseProcess, float]] = []

    def _start(self) -> tuple[BaseProcess, float]:
        process = self.context.Process(target=_worker, args=self.args, daemon=False)
        process.start()
        return process, time.monotonic()

    def run(self) -> int:
        """Serve until a signal; 1 if a worker failed to start, else 0."""
        if not hasattr(socket, "SO_REUSEPORT"):
            raise RuntimeError("--workers needs SO_REUSEPORT; run one process per port instead")
        reuseport_socket(self.args[0], self.args[1]).close()  # the port is usable: fail early
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop.set())
        self.processes = [self._start() for _ in range(self.count)]
        log.info("started %d workers on %s:%d", self.count, self.args[0], self.args[1])
        failed = False
        while not self.stop.wait(0.5):
            for index, (process, started) in enumerate(self.processes):
                if process.is_alive():
                    continue
                if time.monotonic() - started < STARTUP_GRACE_S:
                    log.error("worker %s exited (%s) while starting; stopping", process.pid,
                              process.exitcode)
                    failed = True
                    self.stop.set()
                    break
                log.warning("worker %s died (%s); starting another", process.pid, process.exitcode)
                self.processes[index] = self._start()
        self._stop_all()
        return 1 if failed else 0

    def _stop_all(self) -> None:
        for process, _ in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes requests in flight
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process, _ in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
