"""Outbox delivery throughput: how many messages per second one and two `ccm worker` processes deliver.

The real assistant (our action server and a Rasa 3.6 server) and the workers run against a fresh
PostgreSQL database on ``CCM_TEST_POSTGRES_URL``'s server. For each round, ``--messages``
acknowledgements wait for as many web chat customers (one per conversation, so the workers can
work in parallel); the workers are started first and the messages then released at once, so worker
start-up is not timed. Each message goes the whole way: claimed, Rasa's ``EXTERNAL_notice`` on the
customer's conversation (the action reads the notice from the database), the reply stored for the
customer's page, and the message marked delivered. The clock stops when the last one is delivered.

    .venv/bin/python -m benchmarks.delivery [--messages N] [--batch N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select, update

from benchmarks.lifecycle import fresh_database, table
from ccm_core.adapters.migrations import upgrade
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.service_layer import services
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.harness import AssistantProcesses, AssistantUnavailable

CCM = Path(sys.executable).parent / "ccm"
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
ROUND_TIMEOUT_SECONDS = 600


def queue_messages(core: Core, count: int) -> list[int]:
    """``count`` web chat complaints recorded by an agent: each leaves an acknowledgement to deliver."""
    for number in range(count):
        services.record_complaint(
            core.unit_of_work(),
            Actor.system("call_centre"),
            channel="web",
            language=("tr", "en", "de")[number % 3],
            category="delivery",
            description="Paketim hasarlı geldi ve kimse telefona cevap vermiyor.",
            customer=CustomerDetails(channel_identity=f"web:{uuid.uuid4().hex}"),
        )
    with core.unit_of_work() as uow:
        ids = list(uow.session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "pending")))
        uow.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(available_at=FAR_FUTURE)
        )
        uow.session.commit()
    return ids


def delivered(core: Core, ids: list[int]) -> int:
    with core.unit_of_work() as uow:
        return uow.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == "delivered")
        )


def run_round(
    core: Core, environment: dict[str, str], workers: int, count: int, logs: Path
) -> tuple[float, int]:
    ids = queue_messages(core, count)
    processes = [
        subprocess.Popen(
            [str(CCM), "worker", "--id", f"bench-{workers}-{n}"],
            env=environment,
            stdout=(logs / f"worker-{workers}-{n}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for n in range(workers)
    ]
    try:
        time.sleep(5)  # the workers are up and polling an outbox with nothing due
        with core.unit_of_work() as uow:
            uow.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(available_at=dt.datetime.now(dt.UTC))
            )
            uow.session.commit()
        start = time.perf_counter()
        deadline = start + ROUND_TIMEOUT_SECONDS
        while (done := delivered(core, ids)) < count and time.perf_counter() < deadline:
            time.sleep(0.05)
        return time.perf_counter() - start, done
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="messages per round (default 200)")
    parser.add_argument("--batch", type=int, default=8, help="messages a worker delivers at once (default 8)")
    args = parser.parse_args()
    print(f"Outbox delivery on PostgreSQL, {args.messages} messages per round, batch {args.batch}")
    print(f"{platform.node()}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    rows = [["workers", "messages", "seconds", "messages/s"]]
    with fresh_database("postgresql") as url, tempfile.TemporaryDirectory(prefix="ccm-bench-") as workdir:
        upgrade(url)
        core = bootstrap(CoreSettings(data_dir=Path(workdir), database_url=url))
        seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
        assistant = AssistantProcesses(url, Path(workdir))
        try:
            assistant.start()
        except AssistantUnavailable as missing:
            print(missing, file=sys.stderr)
            return 1
        environment = {
            **os.environ,
            "CCM_DATABASE_URL": url,
            "CCM_DATA_DIR": workdir,
            "CCM_RASA_URL": assistant.url,
            "CCM_WORKER_BATCH": str(args.batch),
            "CCM_WORKER_POLL_SECONDS": "0.2",
            "CCM_LOG_LEVEL": "WARNING",
        }
        failed = False
        try:
            for workers in (1, 2):
                seconds, done = run_round(core, environment, workers, args.messages, Path(workdir))
                failed |= done < args.messages
                rows.append(
                    [str(workers), f"{done}/{args.messages}", f"{seconds:.1f}", f"{done / seconds:.1f}"]
                )
        finally:
            assistant.stop()
            core.engine.dispose()
    print("\n".join(table(rows)))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if failed:
        print("Not every message was delivered within the time limit.", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
