"""A simulated cluster: worker groups as separate "machines" in network namespaces, joined to
the host (which runs Redis, PostgreSQL and the scheduler) by veth links, each reaching the
services only through its own fault proxy (tests/faults/proxy.py; `tc netem` does not work on
these machines) and with its own scratch directory (TMPDIR).

Runs the same job twice: once on one machine (one worker group on the host, direct
connections), once on N namespaced machines (the same total concurrency, split), optionally
with latency on every link, and prints targets/s and the ratio.

    python -m bench.cluster [--machines 2] [--concurrency 2] [--files 200] [--sleep 0.02]
                            [--latency 0.001] [--broker URL] [--catalog URL]

Needs root (ip netns, veth). The services default to a private redis-server (never the
shared one, which tests flush) and SAMPLEMILL_TEST_POSTGRES_URL (a fresh database is created
and dropped).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from tests.faults.proxy import FaultProxy  # noqa: E402


def ip(*args: str) -> None:
    """Run `ip ARGS`, raising with its message on failure."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@contextmanager
def machine(n: int) -> Iterator[tuple[str, str]]:
    """A network namespace linked to the host by a veth pair; yields (namespace, host-side
    address the namespace reaches the host at). Removed afterwards."""
    ns, host_if, ns_if = f"smc{n}-{os.getpid()}", f"smh{n}x{os.getpid() % 10000}", "eth0"
    host_ip, ns_ip = f"10.232.{n}.1", f"10.232.{n}.2"
    ip("netns", "add", ns)
    try:
        ip("link", "add", host_if, "type", "veth", "peer", "name", f"smp{n}x{os.getpid() % 10000}")
        ip("link", "set", f"smp{n}x{os.getpid() % 10000}", "netns", ns)
        ip("-n", ns, "link", "set", f"smp{n}x{os.getpid() % 10000}", "name", ns_if)
        ip("addr", "add", f"{host_ip}/24", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("-n", ns, "addr", "add", f"{ns_ip}/24", "dev", ns_if)
        ip("-n", ns, "link", "set", ns_if, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        yield ns, host_ip
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def run_job(settings, groups, files: int, sleep_s: float, work: Path) -> float:  # type: ignore[no-untyped-def]
    """Submit a fake_analyze job of `files` files, start `groups` (LocalWorkers), run the
    scheduler until the job is done; returns fake_analyze targets per second."""
    from db.engine import session_scope
    from db.models import Target, TargetStatus
    from scheduler.loop import Scheduler, celery_sender
    from scheduler.submit import submit_file
    from tests.pipeline_harness import catalog, make_folder, write_job
    from worker.app import create_app

    engine = catalog(settings)
    job_id = submit_file(engine, write_job(work, make_folder(work, files), samples_per_file=1,
                                           sleep_s=sleep_s))
    for g in groups:
        g.start()
    stop = threading.Event()
    sched = Scheduler(engine, settings, celery_sender(create_app()))
    loop = threading.Thread(target=sched.run_forever, kwargs={
        "job_ids": [job_id], "until_done": True, "stop": stop.is_set}, daemon=True)
    try:
        loop.start()
        first = last = None
        while loop.is_alive():
            time.sleep(0.2)
        with session_scope(engine) as session:
            from sqlalchemy import func, select

            first, last, done = session.execute(
                select(func.min(Target.started_at), func.max(Target.finished_at), func.count())
                .where(Target.job_id == job_id, Target.stage == "fake_analyze",
                       Target.status == TargetStatus.DONE)).one()
    finally:
        stop.set()
        loop.join(30)
        for g in groups:
            g.stop(grace=2)
    assert done == files, f"{done} of {files} done"
    return files / max(1e-6, (last - first).total_seconds())


def main(argv: list[str] | None = None) -> None:
    """Measure one machine against N namespaced machines on the same services."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=2, help="total worker processes")
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--sleep", type=float, default=0.02, help="seconds of work per target")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added each way")
    ap.add_argument("--broker", default="", help="default: a private redis-server")
    ap.add_argument("--catalog", default="")
    args = ap.parse_args(argv)

    from core.settings import get_settings, reset_settings
    from db.engine import dispose_engines
    from scheduler.embedded import LocalWorkers
    from tests.services import fresh_postgres_database

    class NamespacedWorkers(LocalWorkers):
        """A worker group started inside a network namespace, with its own scratch dir."""

        def __init__(self, settings, *, ns: str, scratch: Path, **kw) -> None:  # type: ignore[no-untyped-def]
            super().__init__(settings, **kw)
            self.ns, self.scratch = ns, scratch

        def command(self) -> list[str]:
            return ["ip", "netns", "exec", self.ns, *super().command()]

        def environment(self) -> dict[str, str]:
            env = super().environment()
            self.scratch.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(self.scratch)
            return env

    with ExitStack() as stack:
        catalog_url = args.catalog or stack.enter_context(fresh_postgres_database())
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cluster-")))
        if not args.broker:
            from tests.faults.own_redis import OwnRedis

            own = OwnRedis(work)
            own.start()
            stack.callback(own.stop)
            args.broker = own.url
        env = {
            "SAMPLEMILL_DATA_DIR": str(work / "data"),
            "SAMPLEMILL_CATALOG_URL": catalog_url,
            "SAMPLEMILL_BROKER_URL": args.broker,
            "SAMPLEMILL_EXTRA_STAGES": '["tests.pipeline_stages"]',
            "SAMPLEMILL_POLL_SECONDS": "0.1",
            "SAMPLEMILL_PRELOAD": "false",
            "SAMPLEMILL_QUEUE_LIMITS": '{"io": 16, "cpu": 16, "render": 2}',
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(env)
        reset_settings()
        dispose_engines()
        settings = get_settings()

        one = settings.model_copy(update={"concurrency": args.concurrency})
        single = run_job(one, [LocalWorkers(one, broker_url=args.broker,
                                            log_path=work / "one.log")],
                         args.files, args.sleep, work / "one")
        groups = []
        per = max(1, args.concurrency // args.machines)
        pg, rd = make_url(catalog_url), urlsplit(args.broker)
        proxies = []
        for n in range(args.machines):
            ns, host_ip = stack.enter_context(machine(n + 1))
            db_proxy = stack.enter_context(FaultProxy(pg.host or "127.0.0.1", pg.port or 5432,
                                                      listen_host=host_ip))
            br_proxy = stack.enter_context(FaultProxy(rd.hostname or "127.0.0.1",
                                                      rd.port or 6379, listen_host=host_ip))
            for p in (db_proxy, br_proxy):
                p.latency = args.latency
            proxies += [db_proxy, br_proxy]
            there = settings.model_copy(update={
                "concurrency": per,
                "catalog_url": pg.set(host=db_proxy.host, port=db_proxy.port)
                .render_as_string(hide_password=False)})
            groups.append(NamespacedWorkers(
                there, ns=ns, scratch=work / f"scratch-{n + 1}",
                broker_url=br_proxy.url("redis", rd.path.lstrip("/") or "0"),
                log_path=work / f"machine-{n + 1}.log"))
        many = run_job(settings, groups, args.files, args.sleep, work / "many")
        through = sum(p.stats.bytes_up + p.stats.bytes_down for p in proxies)
        print(f"{args.files} targets, {args.sleep * 1000:g} ms each, {args.concurrency} worker "
              f"processes in all; load {os.getloadavg()[0]:.1f}")
        print(f"one machine          {single:8.1f} targets/s   1.00")
        print(f"{args.machines} namespaced machines {many:8.1f} targets/s   "
              f"{many / single:4.2f}   (latency {args.latency * 1000:g} ms each way, "
              f"{through / 1e6:.1f} MB through the proxies)")


if __name__ == "__main__":
    main()
