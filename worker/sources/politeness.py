"""Per-host politeness shared by all workers: a concurrency cap and a requests-per-second cap.

Backed by Redis (a semaphore of expiring leases in a sorted set, and a token bucket in a hash,
both updated by Lua scripts using the server's clock), or in-process when no Redis is given.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import DownloadError

# KEYS[1] lease zset; ARGV: token, cap, lease_ms. Drops expired leases, then takes one if free.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
  return 1
end
return 0
"""

# KEYS[1] lease zset; ARGV: token, lease_ms. Extends a lease still held; 0 if it was lost.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""

# KEYS[1] bucket hash; ARGV: rate per second, burst. Returns 0 if a token was taken, else the
# milliseconds until one will be available.
_TOKEN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 60000)
return wait
"""


class SlotTimeout(DownloadError):
    """No slot for a host became free within the caller's timeout (transient)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class LocalHostLimiter:
    """In-process politeness with the same interface as HostLimiter (threads of one process)."""

    def __init__(self, *, concurrency: int, rate: float, burst: float = 1.0) -> None:
        if concurrency < 1 or rate <= 0:
            raise ValueError("concurrency must be >= 1 and rate > 0")
        self.concurrency, self.rate, self.burst = concurrency, rate, max(1.0, burst)
        self._cond = threading.Condition()
        self._active: dict[str, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}

    def _take_token(self, host: str) -> float:
        """Take a rate token for `host`; return 0 or seconds to wait before asking again."""
        with self._cond:
            now = time.monotonic()
            tokens, ts = self._buckets.get(host, (self.burst, now))
            tokens = min(self.burst, tokens + (now - ts) * self.rate)
            if tokens >= 1:
                self._buckets[host] = (tokens - 1, now)
                return 0.0
            self._buckets[host] = (tokens, now)
            return (1 - tokens) / self.rate

    @contextmanager
    def slot(self, host: str, timeout: float | None = None) -> Iterator[None]:
        """Hold one of `concurrency` slots for `host` and one rate token while the body runs."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._active.get(host, 0) >= self.concurrency:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise SlotTimeout(f"no download slot for {host} within {timeout}s")
                self._cond.wait(left)
            self._active[host] = self._active.get(host, 0) + 1
        try:
            while (wait := self._take_token(host)) > 0:
                time.sleep(wait)
            yield
        finally:
            with self._cond:
                self._active[host] -= 1
                self._cond.notify_all()


class HostLimiter:
    """Politeness per host across processes via Redis; in-process when `redis_client` is None.

    Each `slot(host)` holds a lease that expires after `lease_seconds` unless renewed; a
    background thread renews it every lease_seconds/3 while the body runs, so a killed worker
    frees its slot within `lease_seconds`. The rate cap is a token bucket of `burst` tokens
    refilled at `rate` per second, taken once per slot.
    """

    def __init__(
        self,
        redis_client: Any | None,
        *,
        concurrency: int,
        rate: float,
        lease_seconds: float = 300,
        burst: float = 1.0,
        prefix: str = "samplemill:politeness",
        poll: float = 0.05,
    ) -> None:
        if concurrency < 1 or rate <= 0 or lease_seconds <= 0:
            raise ValueError("concurrency must be >= 1, rate > 0 and lease_seconds > 0")
        self.concurrency, self.rate, self.burst = concurrency, rate, max(1.0, burst)
        self.lease_seconds, self.prefix, self.poll = lease_seconds, prefix, poll
        self._redis = redis_client
        self._local = None
        if redis_client is None:
            self._local = LocalHostLimiter(concurrency=concurrency, rate=rate, burst=burst)
        else:
            self._acquire = redis_client.register_script(_ACQUIRE)
            self._renew = redis_client.register_script(_RENEW)
            self._token = redis_client.register_script(_TOKEN)

    def _keys(self, host: str) -> tuple[str, str]:
        return f"{self.prefix}:{host}:leases", f"{self.prefix}:{host}:bucket"

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds * random.uniform(0.8, 1.2))

    def _renewer(self, key: str, token: str, stop: threading.Event) -> None:
        """Keep the lease alive while the slot is held."""
        lease_ms = int(self.lease_seconds * 1000)
        while not stop.wait(self.lease_seconds / 3):
            with contextlib.suppress(Exception):  # a missed renewal only risks an early expiry
                self._renew(keys=[key], args=[token, lease_ms])

    @contextmanager
    def slot(self, host: str, timeout: float | None = None) -> Iterator[None]:
        """Block until a slot and a rate token for `host` are ours; release the slot on exit."""
        if self._local is not None:
            with self._local.slot(host, timeout):
                yield
            return
        leases, bucket = self._keys(host)
        token = uuid.uuid4().hex
        lease_ms = int(self.lease_seconds * 1000)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._acquire(keys=[leases], args=[token, self.concurrency, lease_ms]):
                if deadline is not None and time.monotonic() >= deadline:
                    raise SlotTimeout(f"no download slot for {host} within {timeout}s")
                self._sleep(self.poll)
        except SlotTimeout:
            raise
        except Exception as exc:  # redis down: a transient failure of the download
            raise DownloadError(f"politeness store unreachable: {exc}") from exc
        stop = threading.Event()
        renewer = threading.Thread(target=self._renewer, args=(leases, token, stop), daemon=True)
        renewer.start()
        try:
            try:
                while (
                    wait_ms := int(self._token(keys=[bucket], args=[self.rate, self.burst]))
                ) > 0:
                    time.sleep(wait_ms / 1000)
            except Exception as exc:
                raise DownloadError(f"politeness store unreachable: {exc}") from exc
            yield
        finally:
            stop.set()
            renewer.join(timeout=5)
            with contextlib.suppress(Exception):  # if Redis is gone the lease expires by itself
                self._redis.zrem(leases, token)
