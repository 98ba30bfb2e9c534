"""A TCP forwarder a test can cut: ``tools.tcp_proxy.TcpProxy`` when that module
is there (branch ``faults``/``scaled``), else this small stand-in with the same
API (start, stop, cut, restore, port)."""

from __future__ import annotations

import importlib
import socket
import threading
from typing import Any


class Forwarder:
    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", listen_port))
        self.port: int = self._server.getsockname()[1]
        self._links: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = False
        self._stopped = False

    def start(self) -> Forwarder:
        self._server.listen(64)
        self._server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self._cut = True
        with self._lock:
            links, self._links = self._links, []
        for s in links:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self) -> None:
        self._cut = False

    def stop(self) -> None:
        self._stopped = True
        self.cut()
        self._server.close()


def tcp_proxy(target_host: str, target_port: int) -> Any:
    """A started proxy to ``target_host:target_port``."""
    try:
        module = importlib.import_module("tools.tcp_proxy")
        return module.TcpProxy(target_host, target_port).start()
    except ImportError:
        return Forwarder(target_host, target_port).start()
