"""The TCP proxy the fault tests cut (tools/tcp_proxy.py), against a real echo server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tools.stack import free_ports
from tools.tcp_proxy import TcpProxy

TIMEOUT_S = 3.0


class EchoServer:
    """Echoes what it receives; on EOF from the client it closes its side."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self.listener.settimeout(0.1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        self.listener.close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", echo.port) as started:
        yield started


def connect(proxy: TcpProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT_S)
    return sock


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def ended(sock: socket.socket) -> bool:
    """True if the peer closed (EOF or reset) within the timeout."""
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def wait_for(condition, timeout_s: float = TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_it_forwards_both_ways_on_many_connections(proxy: TcpProxy, echo: EchoServer):
    assert proxy.port and proxy.port != echo.port
    socks = [connect(proxy) for _ in range(5)]
    try:
        for i, sock in enumerate(socks):
            assert round_trip(sock, f"hello {i}".encode()) == f"hello {i}".encode()
        big = bytes(range(256)) * 8192  # 2 MiB, many chunks
        assert round_trip(socks[0], big) == big
        assert wait_for(lambda: proxy.open_connections == 5)
        assert proxy.accepted == 5 and echo.accepted == 5
    finally:
        for sock in socks:
            sock.close()
    assert wait_for(lambda: proxy.open_connections == 0)


def test_a_half_close_is_passed_on(proxy: TcpProxy):
    with connect(proxy) as sock:
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(1024):
            received += chunk
        assert received == b"last words"  # the echo answered, then closed its side


def test_cut_ends_open_connections_and_turns_new_ones_away_until_restored(
        proxy: TcpProxy, echo: EchoServer):
    open_sock = connect(proxy)
    assert round_trip(open_sock, b"before") == b"before"

    started = time.monotonic()
    proxy.cut()
    assert proxy.is_cut
    assert ended(open_sock), "an open connection outlived the cut"
    assert time.monotonic() - started < 1.0
    open_sock.close()
    assert wait_for(lambda: proxy.open_connections == 0)

    accepted_upstream = echo.accepted
    for _ in range(3):  # new connections: accepted by the kernel, then closed at once
        with connect(proxy) as sock:
            try:
                sock.sendall(b"during")
            except OSError:
                pass
            assert ended(sock), "a connection made during the cut was not closed"
    assert wait_for(lambda: proxy.refused >= 3)
    assert echo.accepted == accepted_upstream, "the proxy reached the server during the cut"

    proxy.restore()
    assert not proxy.is_cut
    with connect(proxy) as sock:
        assert round_trip(sock, b"after") == b"after"
    assert echo.accepted == accepted_upstream + 1


def test_cut_wakes_a_client_blocked_on_a_read(proxy: TcpProxy):
    sock = connect(proxy)
    sock.settimeout(10)
    assert round_trip(sock, b"x") == b"x"
    outcome: list[bool] = []
    reader = threading.Thread(target=lambda: outcome.append(ended(sock)))
    reader.start()
    time.sleep(0.2)  # the reader waits for an answer that never comes
    started = time.monotonic()
    proxy.cut()
    reader.join(timeout=5)
    assert outcome == [True] and time.monotonic() - started < 2.0
    sock.close()


def test_an_unreachable_target_closes_the_client_at_once():
    (dead_port,) = free_ports(1)
    with TcpProxy("127.0.0.1", dead_port) as proxy:
        with connect(proxy) as sock:
            assert ended(sock)
        assert wait_for(lambda: proxy.refused == 1)
        assert proxy.accepted == 0


def test_stop_closes_everything_and_a_fixed_port_can_be_reused(echo: EchoServer):
    (port,) = free_ports(1)
    proxy = TcpProxy("127.0.0.1", echo.port, listen_port=port).start()
    assert proxy.port == port
    sock = connect(proxy)
    assert round_trip(sock, b"ping") == b"ping"
    proxy.stop()
    assert ended(sock)
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    proxy.stop()  # idempotent
    with TcpProxy("127.0.0.1", echo.port, listen_port=port) as again:
        with connect(again) as sock2:
            assert round_trip(sock2, b"pong") == b"pong"
