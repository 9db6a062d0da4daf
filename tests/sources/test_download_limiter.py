"""HostLimiter: per-host concurrency and rate caps shared through a real Redis, leases expire."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.errors import DownloadError
from tests.ia_server import IAServer, ServedFile
from tests.services import unavailable
from worker.sources.download import RetryPolicy, download_file
from worker.sources.politeness import HostLimiter, LocalHostLimiter, SlotTimeout

URL = os.environ.get("SAMPLEMILL_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
pytestmark = pytest.mark.redis


@pytest.fixture
def rc() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(
            "Redis", "start redis-server on 127.0.0.1:6379 or set SAMPLEMILL_TEST_REDIS_URL", exc
        )
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _worker(url: str, n: int, hold: float, cap: int) -> None:
    """Child process: 4 threads each taking `n` slots, tracking concurrency in Redis."""
    client = redis.Redis.from_url(url)
    lim = HostLimiter(client, concurrency=cap, rate=1000, burst=1000, poll=0.005)

    def run() -> None:
        for _ in range(n):
            with lim.slot("example.org"):
                now = client.incr("t:active")
                client.eval(
                    "if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') "
                    "then redis.call('SET', KEYS[1], ARGV[1]) end",
                    1,
                    "t:max",
                    now,
                )
                time.sleep(hold)
                client.decr("t:active")

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrency_cap_across_processes(rc: redis.Redis) -> None:
    """3 processes x 4 threads never hold more than 3 slots at once, and do reach 3."""
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(URL, 5, 0.02, 3)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert int(rc.get("t:max")) == 3 and int(rc.get("t:active")) == 0
    assert rc.zcard("samplemill:politeness:example.org:leases") == 0


def test_rate_cap(rc: redis.Redis) -> None:
    """At 20/s with burst 1, 25 slots over 6 threads take >= 1.2 s; no 1 s window sees > 21."""
    lim = HostLimiter(rc, concurrency=6, rate=20, poll=0.005)
    stamps: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        with lim.slot("rate.example"), lock:
            stamps.append(time.monotonic())

    t0 = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(one, range(25)))
    assert 1.15 <= time.monotonic() - t0 < 4
    stamps.sort()
    assert max(sum(1 for s in stamps if a <= s < a + 1) for a in stamps) <= 21


def _leak(url: str) -> None:
    """Child process: take the only slot, then die without releasing it."""
    lim = HostLimiter(redis.Redis.from_url(url), concurrency=1, rate=100, lease_seconds=1.0)
    with lim.slot("leaky.example"):
        os._exit(0)


def test_leaked_lease_expires(rc: redis.Redis) -> None:
    """A worker dying inside a slot blocks the host only until its lease expires."""
    p = mp.get_context("spawn").Process(target=_leak, args=(URL,))
    p.start()
    p.join(30)
    assert rc.zcard("samplemill:politeness:leaky.example:leases") == 1
    lim = HostLimiter(rc, concurrency=1, rate=100, lease_seconds=1.0, poll=0.02)
    t0 = time.monotonic()
    with lim.slot("leaky.example", timeout=5):
        waited = time.monotonic() - t0
    assert 0.2 < waited < 2.0


def test_held_lease_is_renewed(rc: redis.Redis) -> None:
    """A slot held past lease_seconds stays held (renewed), so others time out meanwhile."""
    lim = HostLimiter(rc, concurrency=1, rate=100, lease_seconds=1.0, poll=0.02)
    inside = threading.Event()

    def hold() -> None:
        with lim.slot("busy.example"):
            inside.set()
            time.sleep(2.5)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(5)
    with pytest.raises(SlotTimeout), lim.slot("busy.example", timeout=1.8):
        pass
    t.join()
    with lim.slot("busy.example", timeout=1):
        pass


def test_hosts_are_independent(rc: redis.Redis) -> None:
    """A full host does not block another host."""
    lim = HostLimiter(rc, concurrency=1, rate=100)
    with lim.slot("a.example"), lim.slot("b.example", timeout=0.5):
        pass


def test_in_process_fallback_caps_threads() -> None:
    """Without Redis the same interface caps concurrency among threads."""
    for lim in (
        HostLimiter(None, concurrency=2, rate=1000, burst=100),
        LocalHostLimiter(concurrency=2, rate=1000, burst=100),
    ):
        active, peak = [0], [0]
        lock = threading.Lock()

        def one(_: int, lim=lim, active=active, peak=peak, lock=lock) -> None:
            with lim.slot("x"):
                with lock:
                    active[0] += 1
                    peak[0] = max(peak[0], active[0])
                time.sleep(0.01)
                with lock:
                    active[0] -= 1

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(40)))
        assert peak[0] == 2
        with pytest.raises(SlotTimeout), lim.slot("y"), lim.slot("y"), lim.slot("y", timeout=0.1):
            pass


def test_downloads_through_limiter(rc: redis.Redis, tmp_path: Path) -> None:
    """download_file takes a slot per attempt: 8 downloads with cap 2 all verify, slots freed."""
    with IAServer() as srv:
        srv.add_item(
            "i", {}, [ServedFile(f"{k}.mp4", os.urandom(100_000), rate=500_000) for k in range(8)]
        )
        lim = HostLimiter(rc, concurrency=2, rate=50, burst=8, poll=0.005)

        def fetch(k: int):
            f = srv.file("i", f"{k}.mp4")
            return download_file(
                srv.download_url("i", f.name),
                tmp_path / f.name,
                expected_size=f.size,
                expected_md5=f.md5,
                limiter=lim,
                policy=RetryPolicy(2, 0.01, 0.1, 0),
                timeout=5,
            )

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(fetch, range(8)))
        assert srv.max_inflight == 2  # the cap was reached and never exceeded
    assert all(r.attempts == 1 for r in results)
    assert rc.zcard("samplemill:politeness:127.0.0.1:leases") == 0


def test_redis_down_is_a_transient_download_error() -> None:
    """An unreachable Redis surfaces as DownloadError(permanent=False), not a hang."""
    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    lim = HostLimiter(dead, concurrency=1, rate=1)
    with pytest.raises(DownloadError) as ei, lim.slot("x"):
        pass
    assert not ei.value.permanent
