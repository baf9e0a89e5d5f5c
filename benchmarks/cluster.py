"""The cluster's throughput with 1 and with 2 replicas of every process, each replica pinned to a core.

For each configuration the benchmark starts the real cluster as an operator does, ``make run-cluster
REPLICAS=n PIN=1`` (a fresh PostgreSQL database the command creates, free ports, its own Redis db),
waits until every replica is healthy, measures, and stops it with Ctrl-C; then the next one.

* Complaint and plain turns: Locust (``benchmarks.cluster_load``, one process, FastHttpUser,
  ``--users`` customers each sending its next message as soon as the last was answered) writes
  to the product's WhatsApp webhook through nginx: the way customers' messages reach a real
  deployment (nginx, a web replica, Rasa's balancer, a Rasa server, the action servers'
  balancer, an action server), not Rasa's customer channel, which only the web replicas reach.
  A complaint conversation files a delivery complaint (5 turns); a plain conversation greets
  and thanks (8 turns). After the warm-up, turns/s, p50 and p95 are taken over a fixed window;
  every complaint conversation filed is then checked in the database and at the WhatsApp
  stand-in (which got the reference).
* Outbox delivery: with the workers stopped, ``--messages`` WhatsApp complaints are recorded
  through the service layer (each owes its customer an acknowledgement), held, and released at
  once when the workers run again; the clock stops when the last one is delivered to the
  WhatsApp stand-in (a real HTTP server in this process): its delivery time in the database, which
  the benchmark reads once a second. Each message goes the whole way: claimed, ``EXTERNAL_notice``
  through Rasa and an action server, sent, marked delivered. A message the stand-in got twice is
  counted as a duplicate. The CPU time the product's processes and the engines used meanwhile,
  per message, says how far the cores limit the rate.

Pinning: replica i's web server, Rasa server, action server and worker run on core i (taskset),
and for the run nginx, PostgreSQL and Redis run on the replicas' cores (``os.sched_setaffinity``,
put back to every core afterwards): 1 against 2 replicas compares the whole product on one core
with the whole product on two. The load generator and the WhatsApp stand-in, the world outside,
are not pinned: with one replica they have the other core to themselves, with two they share
both cores with the product, so the ratio 2/1 errs low.

    .venv/bin/python -m benchmarks.cluster [--seconds S] [--warm-up S] [--users N] [--messages N] [--quick]
        [--delivery-only] [--replicas 1 2]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, select, update

from benchmarks.lifecycle import table
from ccm.cluster import core_of, supervisor
from ccm_core.adapters.tables import JobStatus, ReportRun
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.service_layer import chat, services
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.settings import CoreSettings
from tests.cluster_harness import Cluster, running_cluster
from tests.fakes.whatsapp import PHONE_NUMBER_ID, TOKEN, FakeWhatsApp, fake_whatsapp

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("CCM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")  # the tests use /7–/9
APP_SECRET = "bench-app-secret"
DELIVERY_TIMEOUT_SECONDS = 600
SETTLE_TIMEOUT_SECONDS = 120
ENGINES = {"postgres", "redis-server", "nginx"}  # the shared engines, by process name
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
LANGUAGES = ("tr", "en", "de")


@dataclass
class Figures:
    """One kind of turn in one configuration, over the measured window."""

    turns: int
    seconds: float
    p50_ms: float
    p95_ms: float
    failures: int

    @property
    def per_second(self) -> float:
        return self.turns / self.seconds


@dataclass
class Measured:
    replicas: int
    complaint: Figures | None = None
    plain: Figures | None = None
    delivered: int = 0
    delivery_seconds: float = 0.0
    half_delivered_seconds: float = 0.0  # until half the messages were delivered
    retried: int = 0  # messages delivered at a later attempt (a refusal or timeout on the way)
    duplicates: int = 0
    delivery_cpu_seconds: float = 0.0  # the product's processes and the engines, while delivering
    problems: list[str] = field(default_factory=list)

    @property
    def messages_per_second(self) -> float:
        return self.delivered / self.delivery_seconds if self.delivery_seconds else 0.0

    @property
    def cpu_ms_per_message(self) -> float:
        return 1000 * self.delivery_cpu_seconds / self.delivered if self.delivered else 0.0


@contextmanager
def pinned_cluster(replicas: int, whatsapp: FakeWhatsApp, directory: Path) -> Iterator[Cluster]:
    """The cluster with ``replicas`` pinned replicas on a fresh database and a flushed Redis db,
    WhatsApp pointed at the stand-in."""
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()
    channels = {
        "CCM_WHATSAPP_TOKEN": TOKEN,
        "CCM_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "CCM_WHATSAPP_APP_SECRET": APP_SECRET,
        "CCM_WHATSAPP_VERIFY_TOKEN": "bench-verify-token",
        "CCM_WHATSAPP_API_URL": whatsapp.url,
    }
    try:
        with running_cluster(directory, replicas, REDIS_URL, channels, pin=True) as cluster:
            yield cluster
    finally:
        store.flushdb()
        store.close()


@contextmanager
def engines_on_cores(cores: set[int]) -> Iterator[None]:
    """PostgreSQL, Redis and nginx on ``cores`` only (every thread; backends forked meanwhile inherit it).

    With one replica they share its core, so 1 against 2 replicas compares the whole product on one
    core with the whole product on two; afterwards they may run on every core again.
    """
    pin_engines(cores)
    try:
        yield
    finally:
        pin_engines(set(range(os.cpu_count() or 1)))


def pin_engines(cores: set[int]) -> None:
    for pid in engine_pids():
        with contextlib.suppress(OSError):
            for thread in Path(f"/proc/{pid}/task").iterdir():
                os.sched_setaffinity(int(thread.name), cores)


def engine_pids() -> list[int]:
    """PostgreSQL's, Redis's and nginx's processes (PostgreSQL's backends among them)."""
    found = []
    for process in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if process.name.isdigit() and (process / "comm").read_text().strip() in ENGINES:
                found.append(int(process.name))
    return found


def core_of_cluster(cluster: Cluster) -> Core:
    return bootstrap(
        CoreSettings(
            data_dir=cluster.layout.directory / "data", database_url=cluster.environment["CCM_DATABASE_URL"]
        )
    )


def load(cluster: Cluster, kind: str, users: int, warm_up: float, seconds: float) -> dict[str, Any]:
    """One Locust run against the cluster (``benchmarks.cluster_load``), its figures."""
    command = [sys.executable, "-m", "benchmarks.cluster_load", "--host", cluster.layout.url, "--kind", kind]
    command += ["--users", str(users), "--warm-up", str(warm_up), "--seconds", str(seconds)]
    command += ["--phone-number-id", PHONE_NUMBER_ID, "--app-secret", APP_SECRET]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=warm_up + seconds + 300)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def figures_of(result: dict[str, Any]) -> Figures:
    return Figures(result["turns"], result["seconds"], result["p50_ms"], result["p95_ms"], result["failures"])


def check_filed(core: Core, whatsapp: FakeWhatsApp, result: dict[str, Any]) -> list[str]:
    """Every complaint conversation the load generator finished is a WhatsApp complaint in the database,
    and its customer got the reference at the stand-in; no other was filed."""
    problems = []
    with core.unit_of_work() as uow:
        recorded = uow.session.scalar(
            select(func.count()).select_from(Complaint).where(Complaint.channel == "whatsapp")
        )
    if recorded != len(result["filed"]):
        problems.append(
            f"{len(result['filed'])} complaint conversations finished, {recorded} complaints recorded"
        )
    deadline = time.monotonic() + 30  # the web replicas send the last replies after answering the webhook
    missing = result["filed"]
    while missing and time.monotonic() < deadline:
        missing = [
            number for number in missing if not any("CMP-" in json.dumps(m) for m in whatsapp.sent_to(number))
        ]
        time.sleep(0.5)
    if missing:
        problems.append(f"{len(missing)} customers never got their complaint's reference")
    return problems


def queue_acknowledgements(core: Core, count: int) -> tuple[list[int], list[str]]:
    """``count`` WhatsApp complaints recorded by the call centre, each owing its customer an acknowledgement
    (held until released); the customers wrote just now, so free-form messages may go.

    Returns the messages' ids and the customers' numbers."""
    numbers = [f"49{random.randrange(10**10, 10**11)}" for _ in range(count)]
    for index, number in enumerate(numbers):
        services.record_complaint(
            core.unit_of_work(),
            Actor.system("call_centre"),
            channel="whatsapp",
            language=LANGUAGES[index % 3],
            category="delivery",
            description="Paketim hasarlı geldi ve kimse telefona cevap vermiyor.",
            customer=CustomerDetails(channel_identity=f"whatsapp:{number}"),
        )
        chat.note_customer_contact(core.unit_of_work(), "whatsapp", f"whatsapp:{number}")
    with core.unit_of_work() as uow:
        ids = list(
            uow.session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.recipient.in_([f"whatsapp:{n}" for n in numbers]),
                )
            )
        )
        uow.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(available_at=FAR_FUTURE)
        )
        uow.session.commit()
    return ids, numbers


def outbox_counts(core: Core, ids: list[int]) -> Counter[str]:
    with core.unit_of_work() as uow:
        rows = uow.session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.id.in_(ids))
            .group_by(OutboxMessage.status)
        )
        return Counter({status: count for status, count in rows})


def settle(core: Core) -> None:
    """Wait until a worker has produced last month's report, as it does once on a new database.

    Rendering it takes a core for seconds; measured over, it would be counted against the turns or
    the deliveries, and a worker stopped mid-render renders it again when started.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with core.unit_of_work() as uow:
            statuses = set(uow.session.scalars(select(ReportRun.status)))
        if statuses and statuses <= {JobStatus.DONE, JobStatus.FAILED}:
            return
        time.sleep(1)
    print(f"    no report for last month after {SETTLE_TIMEOUT_SECONDS} s; measuring anyway", flush=True)


def wait_until_idle(pids: list[int], timeout: float = 60) -> None:
    """Wait until the processes use less than a tenth of a core, two seconds running."""
    deadline = time.monotonic() + timeout
    quiet = 0
    before = cpu_seconds(pids)
    while quiet < 2 and time.monotonic() < deadline:
        time.sleep(1)
        now = cpu_seconds(pids)
        quiet = quiet + 1 if now - before < 0.1 else 0
        before = now


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes used so far (Linux's /proc)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure_delivery(
    cluster: Cluster, core: Core, whatsapp: FakeWhatsApp, messages: int, measured: Measured
) -> None:
    """The workers stopped, the messages queued and held, the workers started, the messages released."""
    rpc = supervisor(cluster.layout).supervisor
    rpc.stopProcessGroup("worker")
    ids, numbers = queue_acknowledgements(core, messages)
    if len(ids) != messages:
        measured.problems.append(f"{messages} complaints recorded, {len(ids)} acknowledgements queued")
    rpc.startProcessGroup("worker")
    # The workers are up and polling an outbox with nothing due once they have loaded.
    wait_until_idle([rpc.getProcessInfo(f"worker:{name}")["pid"] for name in cluster.layout.workers])
    working = [info["pid"] for info in rpc.getAllProcessInfo() if info["pid"]] + engine_pids()
    cpu_before = cpu_seconds(working)
    released = dt.datetime.now(dt.UTC)
    with core.unit_of_work() as uow:
        uow.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(available_at=released)
        )
        uow.session.commit()
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    # Seldom looked at, so as not to take the cores from the workers: the time is the database's own.
    while (counts := outbox_counts(core, ids))["pending"] and time.monotonic() < deadline:
        time.sleep(1)
    measured.delivery_cpu_seconds = cpu_seconds(working) - cpu_before
    with core.unit_of_work() as uow:
        rows = uow.session.execute(
            select(OutboxMessage.delivered_at, OutboxMessage.attempts).where(OutboxMessage.id.in_(ids))
        ).all()
    done = sorted((at - released).total_seconds() for at, _ in rows if at is not None)
    measured.delivery_seconds = done[-1] if done else 0.0
    measured.half_delivered_seconds = done[len(done) // 2] if done else 0.0
    measured.retried = sum(1 for _, attempts in rows if attempts > 1)
    measured.delivered = counts["delivered"]
    if counts["delivered"] != len(ids):
        measured.problems.append(f"{len(ids)} messages queued, delivered: {dict(counts)}")
    sent = Counter(
        (
            call.body.get("to"),
            json.dumps(call.body.get("text") or call.body.get("interactive"), sort_keys=True),
        )
        for call in whatsapp.calls()
        if call.status == 200 and call.body.get("to") in set(numbers)
    )
    measured.duplicates = sum(count - 1 for count in sent.values())
    reached = {to for to, _ in sent}
    if len(reached) != len(numbers):
        measured.problems.append(f"{len(numbers) - len(reached)} customers got no message at the stand-in")


def run_configuration(replicas: int, args: argparse.Namespace, whatsapp: FakeWhatsApp) -> Measured:
    measured = Measured(replicas)
    with tempfile.TemporaryDirectory(prefix="ccm-bc-") as directory:  # short: supervisord's socket path
        print(f"==> Starting the cluster with {replicas} replica(s) pinned to cores", flush=True)
        cores = {core_of(replica) for replica in range(1, replicas + 1)}
        with pinned_cluster(replicas, whatsapp, Path(directory)) as cluster, engines_on_cores(cores):
            core = core_of_cluster(cluster)
            try:
                settle(core)
                if not args.delivery_only:
                    print("==> Complaint conversations", flush=True)
                    result = load(cluster, "complaint", args.users, args.warm_up, args.seconds)
                    measured.complaint = figures_of(result)
                    measured.problems += result["errors"] + check_filed(core, whatsapp, result)
                    print("==> Plain turns", flush=True)
                    result = load(cluster, "plain", args.users, args.warm_up, args.seconds)
                    measured.plain = figures_of(result)
                    measured.problems += result["errors"]
                print(f"==> Outbox delivery of {args.messages} messages", flush=True)
                measure_delivery(cluster, core, whatsapp, args.messages, measured)
            finally:
                core.engine.dispose()
    return measured


def report(results: list[Measured]) -> list[str]:
    rows = [["", "turns/s", "p50 ms", "p95 ms", "turns", "failed"]]
    for kind in ("complaint", "plain"):
        for result in results:
            found: Figures | None = getattr(result, kind)
            if found:
                rows.append(
                    [
                        f"{kind} turns, {result.replicas} replica(s)",
                        f"{found.per_second:.1f}",
                        f"{found.p50_ms:.0f}",
                        f"{found.p95_ms:.0f}",
                        str(found.turns),
                        str(found.failures),
                    ]
                )
    heading = ["messages", "seconds", "messages/s", "half after s", "CPU ms/message", "retried", "duplicates"]
    delivery = [["outbox delivery (WhatsApp)", *heading]]
    for result in results:
        delivery.append(
            [
                f"{result.replicas} worker(s), {result.replicas} Rasa",
                str(result.delivered),
                f"{result.delivery_seconds:.1f}",
                f"{result.messages_per_second:.1f}",
                f"{result.half_delivered_seconds:.1f}",
                f"{result.cpu_ms_per_message:.0f}",
                str(result.retried),
                str(result.duplicates),
            ]
        )
    lines = [*table(rows), "", *table(delivery)]
    if len(results) == 2 and all(result.complaint and result.plain for result in results):
        one, two = results
        assert one.complaint and two.complaint and one.plain and two.plain
        ratios = [
            f"complaint turns {two.complaint.per_second / one.complaint.per_second:.2f}×",
            f"plain turns {two.plain.per_second / one.plain.per_second:.2f}×",
        ]
        if one.messages_per_second:
            ratios.append(f"outbox delivery {two.messages_per_second / one.messages_per_second:.2f}×")
        lines += ["", "2 replicas against 1: " + ", ".join(ratios)]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="measured seconds per kind of turn (60)")
    parser.add_argument("--warm-up", type=float, default=20, help="seconds of load before measuring (20)")
    parser.add_argument("--users", type=int, default=12, help="customers at once (12)")
    parser.add_argument("--messages", type=int, default=300, help="outbox messages per delivery round (300)")
    parser.add_argument("--quick", action="store_true", help="10 s per kind, 5 s warm-up, 60 messages")
    parser.add_argument("--delivery-only", action="store_true", help="the outbox delivery alone, no turns")
    parser.add_argument(
        "--replicas", type=int, nargs="+", default=[1, 2], choices=[1, 2], help="configurations (1 2)"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warm_up, args.messages = 10, 5, 60
    cores = os.cpu_count() or 1
    print(
        f"Cluster benchmark on {platform.node()}: {cores} cores, load average {os.getloadavg()[0]:.2f} "
        f"at start; {args.users} customers, {args.warm_up:.0f} s warm-up and {args.seconds:.0f} s measured "
        f"per kind of turn, {args.messages} outbox messages"
    )
    print(
        "Pinned (taskset): replica i's web server, Rasa server, action server and worker on core i "
        f"(1 replica: core {core_of(1)}; 2 replicas: cores {core_of(1)} and {core_of(2)}), and nginx, "
        "PostgreSQL and Redis on the replicas' cores. Not pinned, on any core: the load generator "
        "(Locust, one process) and the WhatsApp stand-in."
    )
    results = []
    with fake_whatsapp() as whatsapp:
        for replicas in args.replicas:
            results.append(run_configuration(replicas, args, whatsapp))
            whatsapp.reset()
    print()
    print("\n".join(report(results)))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    problems = [
        f"{result.replicas} replica(s): {problem}" for result in results for problem in result.problems
    ]
    problems += [
        f"{result.replicas} replica(s): {result.duplicates} duplicates"
        for result in results
        if result.duplicates
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
