"""A fault-injecting TCP proxy for the chaos suite and the simulated cluster.

It listens on a local address and forwards every connection to an upstream host:port, through
faults set from Python while it runs (from any thread):

    with FaultProxy("127.0.0.1", 6379) as proxy:          # Redis behind proxy.port
        proxy.latency = 0.05                               # seconds added each way
        proxy.bandwidth = 1_000_000                        # bytes/s per direction and connection
        proxy.reset_rate = 0.01                            # chance per chunk of a TCP reset
        proxy.stall(2.0)                                   # hold every byte for 2 s, then deliver
        proxy.cut(5.0)                                     # reset all, refuse new ones for 5 s

A stall is a partition that heals: bytes are held, never lost, as TCP would retransmit them;
connections made during it are held too. A cut is a partition the peers notice: every open
connection gets a TCP reset and new ones are reset at once until it ends. Latency is a delay
line (chunks keep their order and throughput is not divided by the round trip); the
bandwidth cap paces each direction of each connection. `stats` counts what happened.

`tc netem` does not work on these machines; this runs in user space with asyncio in a
daemon thread. Run by hand: `python -m tests.faults.proxy --upstream 127.0.0.1:6379
--latency 0.05`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    """What the proxy did since it started (read them; the proxy thread writes them)."""

    accepted: int = 0
    refused: int = 0  # connections reset on arrival during a cut
    upstream_failed: int = 0  # connections whose upstream could not be reached
    resets: int = 0  # connections reset by reset_rate, cut() or reset_all()
    bytes_up: int = 0  # client -> upstream
    bytes_down: int = 0  # upstream -> client
    open: int = 0
    events: list[str] = field(default_factory=list)  # "cut 5.0s", "stall 2.0s", ... in order


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0) rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One proxied connection: the client side, the upstream side, and its two pumps."""

    def __init__(self, proxy: FaultProxy, client: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task] = []
        self.dead = False

    def reset(self) -> None:
        """Reset both sides now."""
        if self.dead:
            return
        self.dead = True
        self.proxy.stats.resets += 1
        for w in (self.client, self.upstream):
            if w is not None:
                _rst(w)
        for t in self.tasks:
            t.cancel()


class FaultProxy:
    """A TCP proxy to `upstream_host:upstream_port` with controllable faults (see module doc)."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        seed: int | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listen = (listen_host, listen_port)
        self.latency = 0.0  # seconds added to every chunk, each direction
        self.jitter = 0.0  # plus a uniform random 0..jitter seconds (order is kept)
        self.bandwidth: float | None = None  # bytes/s per direction per connection
        self.reset_rate = 0.0  # probability per forwarded chunk of resetting the connection
        self.stats = ProxyStats()
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._links: set[_Link] = set()
        self._flowing: asyncio.Event | None = None
        self._cut_until = 0.0
        self._stall_timer: asyncio.TimerHandle | None = None
        self._bound: tuple[str, int] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        """Listen and serve in a daemon thread; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._open())
            except BaseException as exc:  # surfaced to start()'s caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _open(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, *self.listen)
        self._bound = self._server.sockets[0].getsockname()[:2]

    def stop(self) -> None:
        """Close every connection and the listener, and end the thread."""
        if self._thread is None:
            return

        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for link in list(self._links):
                link.reset()
            await asyncio.sleep(0)

        with contextlib.suppress(RuntimeError, TimeoutError):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port clients connect to."""
        assert self._bound is not None, "start() the proxy first"
        return self._bound[1]

    @property
    def host(self) -> str:
        """The address clients connect to."""
        assert self._bound is not None, "start() the proxy first"
        return self._bound[0]

    def url(self, scheme: str, path: str = "") -> str:
        """`scheme://host:port/path`, e.g. url("redis", "15") for a Redis client."""
        return f"{scheme}://{self.host}:{self.port}/{path}"

    # -- faults (callable from any thread) ------------------------------------------------
    def _call(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        """Run `fn(*args)` on the proxy's loop and wait for it."""
        done = threading.Event()

        def wrapped() -> None:
            try:
                fn(*args)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(wrapped)
        done.wait(10)

    def stall(self, seconds: float | None = None) -> None:
        """Hold every byte in both directions (and new connections) until resume(), or for
        `seconds`; nothing is lost."""
        self.stats.events.append(f"stall {seconds if seconds is not None else 'open'}")
        self._call(self._stall, seconds)

    def _stall(self, seconds: float | None) -> None:
        assert self._flowing is not None
        self._flowing.clear()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        if seconds is not None:
            self._stall_timer = self._loop.call_later(seconds, self._resume)

    def resume(self) -> None:
        """End a stall: held bytes flow again, in order."""
        self.stats.events.append("resume")
        self._call(self._resume)

    def _resume(self) -> None:
        assert self._flowing is not None
        self._stall_timer = None
        self._flowing.set()

    def cut(self, seconds: float) -> None:
        """Reset every open connection and reset new ones on arrival for `seconds`."""
        self.stats.events.append(f"cut {seconds:g}s")
        self._call(self._cut, seconds)

    def _cut(self, seconds: float) -> None:
        self._cut_until = time.monotonic() + seconds
        for link in list(self._links):
            link.reset()

    @property
    def cutting(self) -> bool:
        """Whether a cut is in force."""
        return time.monotonic() < self._cut_until

    def heal(self) -> None:
        """End a cut and a stall now."""
        self.stats.events.append("heal")
        self._cut_until = 0.0
        self._call(self._resume)

    def reset_all(self) -> None:
        """Reset every open connection once (new ones are welcome)."""
        self.stats.events.append("reset all")
        self._call(lambda: [link.reset() for link in list(self._links)])

    def clear(self) -> None:
        """No latency, jitter, bandwidth cap or random resets; end any cut or stall."""
        self.latency = self.jitter = 0.0
        self.bandwidth = None
        self.reset_rate = 0.0
        self.heal()

    # -- forwarding -----------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cutting:
            self.stats.refused += 1
            _rst(writer)
            return
        self.stats.accepted += 1
        link = _Link(self, writer)
        self._links.add(link)
        self.stats.open += 1
        try:
            assert self._flowing is not None
            await self._flowing.wait()  # a connection made during a stall waits with it
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                self.stats.upstream_failed += 1
                link.dead = True
                _rst(writer)
                return
            link.upstream = up_writer
            if link.dead:  # cut while connecting
                _rst(up_writer)
                return
            link.tasks = [
                asyncio.ensure_future(self._pump(link, reader, up_writer, "up")),
                asyncio.ensure_future(self._pump(link, up_reader, writer, "down")),
            ]
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self._links.discard(link)
            self.stats.open -= 1
            if not link.dead:
                for w in (writer, link.upstream):
                    if w is not None:
                        w.close()

    async def _pump(
        self, link: _Link, src: asyncio.StreamReader, dst: asyncio.StreamWriter, way: str
    ) -> None:
        """Read from `src`, delay, pace and write to `dst`; EOF is passed on as a half-close."""
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            try:
                while data := await src.read(CHUNK):
                    delay = self.latency + (self._rng.uniform(0, self.jitter) if self.jitter else 0)
                    line.put_nowait((time.monotonic() + delay, data))
            except (ConnectionError, OSError):
                pass
            line.put_nowait((0.0, b""))

        reading = asyncio.ensure_future(read())
        next_free = time.monotonic()
        try:
            while True:
                due, data = await line.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                assert self._flowing is not None
                await self._flowing.wait()
                if self.reset_rate and self._rng.random() < self.reset_rate:
                    link.reset()
                    return
                if self.bandwidth:
                    now = time.monotonic()
                    next_free = max(next_free, now) + len(data) / self.bandwidth
                    if next_free > now:
                        await asyncio.sleep(next_free - now)
                # Counted before the write: a reader that has the bytes must see them counted.
                if way == "up":
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                dst.write(data)
                await dst.drain()
            if dst.can_write_eof():
                with contextlib.suppress(OSError):
                    dst.write_eof()
        except (ConnectionError, OSError):
            link.reset()
        finally:
            reading.cancel()


@contextlib.contextmanager
def proxied(host: str, port: int, **kw: object) -> Iterator[FaultProxy]:
    """A started FaultProxy in front of host:port, stopped afterwards."""
    proxy = FaultProxy(host, port, **kw)  # type: ignore[arg-type]
    with proxy:
        yield proxy


def main(argv: list[str] | None = None) -> None:
    """Run a proxy by hand until Ctrl-C; prints its address."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="host:port to forward to")
    ap.add_argument("--listen", default="127.0.0.1:0", help="host:port to listen on")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--jitter", type=float, default=0.0)
    ap.add_argument("--bandwidth", type=float, default=None, help="bytes/s")
    ap.add_argument("--reset-rate", type=float, default=0.0)
    args = ap.parse_args(argv)
    up_host, _, up_port = args.upstream.rpartition(":")
    host, _, port = args.listen.rpartition(":")
    proxy = FaultProxy(up_host, int(up_port), listen_host=host, listen_port=int(port))
    proxy.latency, proxy.jitter = args.latency, args.jitter
    proxy.bandwidth, proxy.reset_rate = args.bandwidth, args.reset_rate
    with proxy:
        print(f"{proxy.host}:{proxy.port} -> {args.upstream}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
