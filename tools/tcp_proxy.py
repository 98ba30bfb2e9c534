"""A TCP proxy a test can cut: the way to make PostgreSQL, Redis or RabbitMQ vanish.

Standard library only. ``TcpProxy(host, port).start()`` listens on 127.0.0.1
(``.port``; a free port unless ``listen_port`` is given) and forwards every
connection to ``host:port``, in background threads (one accept thread, two
pump threads per connection).

``cut()`` closes every open connection both ways (the client sees its
connection end at once, as when a server dies or a network link drops) and,
until ``restore()``, closes each new connection as soon as it is accepted, so
clients get a fast, clear failure instead of a hang. ``restore()`` forwards
again; clients reconnect on their own.

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/db"
        ...
        proxy.cut(); ...; proxy.restore()
"""

from __future__ import annotations

import logging
import socket
import threading
from types import TracebackType

__all__ = ["TcpProxy"]

log = logging.getLogger("tools.tcp_proxy")

_CHUNK = 64 * 1024
_ACCEPT_POLL_S = 0.2
_CONNECT_TIMEOUT_S = 5.0


def _shutdown(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self._lock = threading.Lock()
        self._open_pumps = 2
        self._closed = False

    def pump(self, source: socket.socket, target: socket.socket, on_done) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    _shutdown(target, socket.SHUT_WR)  # pass the half-close on
                    break
                target.sendall(data)
        except OSError:
            self.cut()  # an error on either side ends both directions
        finally:
            with self._lock:
                self._open_pumps -= 1
                last = self._open_pumps == 0
            if last:
                self._close()
                on_done(self)

    def cut(self) -> None:
        """End both directions now (wakes the pumps, which then close the sockets)."""
        _shutdown(self.client)
        _shutdown(self.upstream)

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for sock in (self.client, self.upstream):
            try:
                sock.close()
            except OSError:
                pass


class TcpProxy:
    """Forward 127.0.0.1:``port`` to ``target_host:target_port``; ``cut()``/``restore()`` it."""

    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target_host = target_host
        self.target_port = int(target_port)
        self._listen_port = int(listen_port)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._cut = False
        self._stopping = threading.Event()
        self.port = 0
        #: connections forwarded / turned away (cut, or the target unreachable) so far
        self.accepted = 0
        self.refused = 0

    # -- life cycle ------------------------------------------------------------
    def start(self) -> TcpProxy:
        if self._thread is not None:
            raise RuntimeError("the proxy is already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self._listen_port))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        listener.settimeout(_ACCEPT_POLL_S)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every connection (idempotent)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._cut_links()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------
    def cut(self) -> None:
        """Close every open connection both ways and turn new ones away until ``restore()``."""
        with self._lock:
            self._cut = True
        self._cut_links()
        log.info("proxy :%s -> %s:%s cut", self.port, self.target_host, self.target_port)

    def restore(self) -> None:
        """Accept and forward connections again."""
        with self._lock:
            self._cut = False
        log.info("proxy :%s -> %s:%s restored", self.port, self.target_host, self.target_port)

    @property
    def is_cut(self) -> bool:
        return self._cut

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    # -- plumbing --------------------------------------------------------------
    def _cut_links(self) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            link.cut()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            client.settimeout(None)
            if self._cut:
                self._turn_away(client)
                continue
            threading.Thread(target=self._open, args=(client,), daemon=True,
                             name=f"tcp-proxy-{self.port}-connect").start()

    def _turn_away(self, client: socket.socket) -> None:
        with self._lock:
            self.refused += 1
        _shutdown(client)
        client.close()

    def _open(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(
                (self.target_host, self.target_port), timeout=_CONNECT_TIMEOUT_S)
        except OSError as error:
            log.warning("proxy :%s: cannot reach %s:%s: %s", self.port, self.target_host,
                        self.target_port, error)
            self._turn_away(client)
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, upstream)
        with self._lock:
            # cut (or stopped) while connecting: this connection must not live on
            refuse = self._cut or self._stopping.is_set()
            if not refuse:
                self._links.add(link)
                self.accepted += 1
        if refuse:
            upstream.close()
            self._turn_away(client)
            return
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=link.pump, args=(source, target, self._forget), daemon=True,
                             name=f"tcp-proxy-{self.port}-pump").start()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
