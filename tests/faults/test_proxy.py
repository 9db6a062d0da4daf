"""The fault-injecting TCP proxy on real loopback sockets: bytes pass intact; latency, the
bandwidth cap, random resets, stalls and cut-offs do what they say; and Redis through it
answers slower under latency, fails during a cut and recovers after it."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faults.proxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except ConnectionError:
            pass  # the proxy reset us: expected in these tests


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A threaded echo server on loopback."""
    srv = EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield srv.server_address[:2]
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def proxy(echo: tuple[str, int]) -> Iterator[FaultProxy]:
    with FaultProxy(*echo, seed=7) as p:
        yield p


def connect(p: FaultProxy, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((p.host, p.port), timeout=timeout)


def round_trip(sock: socket.socket, data: bytes) -> bytes:
    """Send `data` (from a thread, so a big echo cannot deadlock) and read as much back."""
    sender = threading.Thread(target=sock.sendall, args=(data,))
    sender.start()
    got = bytearray()
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    sender.join()
    return bytes(got)


def ping(sock: socket.socket) -> float:
    """Seconds for one small message to come back."""
    started = time.monotonic()
    assert round_trip(sock, b"ping") == b"ping"
    return time.monotonic() - started


def test_bytes_pass_intact_both_ways(proxy: FaultProxy) -> None:
    """4 MiB of random bytes echo back identical; the stats count them each way."""
    data = os.urandom(4 << 20)
    with connect(proxy) as s:
        assert round_trip(s, data) == data
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == len(data)
    assert proxy.stats.accepted == 1 and proxy.stats.resets == 0


def test_latency_each_way_is_a_delay_line(proxy: FaultProxy) -> None:
    """100 ms each way: a ping takes 200-400 ms; 20 pipelined messages still take about one
    round trip, not twenty."""
    with connect(proxy) as s:
        base = ping(s)
        proxy.latency = 0.1
        slow = ping(s)
        assert 0.2 <= slow < 0.4 + base, slow
        started = time.monotonic()
        s.sendall(b"x" * 10)
        for _ in range(19):
            time.sleep(0.005)
            s.sendall(b"x" * 10)
        got = b""
        while len(got) < 200:
            got += s.recv(1000)
        assert time.monotonic() - started < 0.6


def test_bandwidth_cap(proxy: FaultProxy) -> None:
    """At 400 kB/s per direction, 400 kB echoes back in about one second (not 10 ms)."""
    data = os.urandom(400_000)
    with connect(proxy) as s:
        proxy.bandwidth = 400_000
        started = time.monotonic()
        assert round_trip(s, data) == data
        took = time.monotonic() - started
    assert 0.85 <= took < 2.5, took


def test_random_resets_are_seeded_and_counted(echo: tuple[str, int]) -> None:
    """reset_rate 1: the first chunk resets the connection; 0.5 over 40 connections resets
    some and not others, the same ones for the same seed."""

    def outcomes(seed: int, rate: float, n: int) -> list[bool]:
        out = []
        with FaultProxy(*echo, seed=seed) as p:
            p.reset_rate = rate
            for _ in range(n):
                with connect(p, timeout=2) as s:
                    try:
                        out.append(round_trip(s, b"hello") == b"hello")
                    except ConnectionResetError:
                        out.append(False)
            assert p.stats.resets == out.count(False)
        return out

    assert outcomes(1, 1.0, 3) == [False] * 3
    first = outcomes(5, 0.5, 40)
    assert 5 < first.count(False) < 35
    assert outcomes(5, 0.5, 40) == first


def test_stall_holds_bytes_then_delivers_them(proxy: FaultProxy) -> None:
    """During a stall nothing comes back (the connection stays open); after it every byte
    arrives in order. A connection made during the stall waits for it too."""
    with connect(proxy) as s:
        assert ping(s) < 0.5
        proxy.stall()
        s.sendall(b"held-1")
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(100)
        late = connect(proxy)
        late.sendall(b"held-2")
        proxy.resume()
        s.settimeout(5)
        late.settimeout(5)
        assert s.recv(100) == b"held-1" and late.recv(100) == b"held-2"
        late.close()
        proxy.stall(0.3)  # a timed stall ends by itself
        # The stall's clock starts before ping's: allow that gap (a normal ping is < 50 ms).
        assert 0.25 <= ping(s) < 1.5


def test_cut_resets_and_refuses_for_n_seconds(proxy: FaultProxy) -> None:
    """cut(0.8): the open connection is reset; new ones are reset on arrival until the cut
    ends; then connections work again."""
    s = connect(proxy, timeout=2)
    assert ping(s) < 0.5
    proxy.cut(0.8)
    started = time.monotonic()
    with pytest.raises(ConnectionResetError):  # a FIN would read b"": it must be a reset
        s.recv(10)
    s.close()
    # The reset may land before connect() returns (then connect raises it) or after.
    with pytest.raises(ConnectionResetError), connect(proxy, timeout=2) as during:
        during.recv(10)
    assert proxy.stats.refused == 1
    time.sleep(max(0.0, 0.85 - (time.monotonic() - started)))
    with connect(proxy) as again:
        assert ping(again) < 0.5
    assert proxy.stats.resets >= 1 and proxy.stats.events == ["cut 0.8s"]


@pytest.mark.redis
def test_redis_through_the_proxy(redis_url: str) -> None:
    """A real Redis behind the proxy: commands succeed with latency added, fail during a cut,
    and the same client works again once the cut is over."""
    from urllib.parse import urlsplit

    import redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    parts = urlsplit(redis_url)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as p:
        client = redis.Redis.from_url(p.url("redis", parts.path.lstrip("/") or "0"),
                                      socket_timeout=2, socket_connect_timeout=2)
        client.set("proxy:key", b"v1")
        assert client.get("proxy:key") == b"v1"
        started = time.monotonic()
        client.ping()
        fast = time.monotonic() - started
        p.latency = 0.05
        started = time.monotonic()
        for _ in range(5):
            client.ping()
        slow = (time.monotonic() - started) / 5
        assert slow >= 0.1 > fast, (slow, fast)
        p.latency = 0.0

        p.cut(1.5)
        failures = 0
        cut_started = time.monotonic()
        while time.monotonic() - cut_started < 1.2:
            try:
                client.set("proxy:key", b"during")
            except RedisConnectionError:
                failures += 1
            time.sleep(0.1)
        assert failures >= 5, "commands must fail while Redis is cut off"
        time.sleep(max(0.0, 1.6 - (time.monotonic() - cut_started)))
        client.set("proxy:key", b"v2")  # the client reconnects by itself
        assert client.get("proxy:key") == b"v2"
        direct = redis.Redis.from_url(redis_url)
        assert direct.get("proxy:key") == b"v2"
        assert p.stats.refused >= 5 and p.stats.accepted >= 2
        direct.delete("proxy:key")
