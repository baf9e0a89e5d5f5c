"""Whether a turn's cost grows with the conversation's history: a fresh conversation against one
with about 5,000 earlier events over sixty sessions (a customer who has talked to us for years).

For each tracker store the product can run with, a real Rasa server and our action server start on
a fresh PostgreSQL database (``tests.harness.AssistantProcesses``), the long history is written by
the store's own ``save`` in the Rasa environment (``benchmarks/history_seed.py``), and the two
conversations take turns: a greeting each, alternating which goes first, every answer timed on its
own over Rasa's customer channel. Stores measured:

* ``sql``: Rasa's SQL tracker store on PostgreSQL, what the product runs without Redis;
* ``redis``: our session store on Redis (``rasa_project/server/tracker_store.py``), what the product
  runs with ``CCM_REDIS_URL``;
* ``rasa-redis``: Rasa's own Redis store, for comparison: the store the product no longer uses.

At the end the history conversation's events are read back through Rasa's tracker API: all of the
history is still there, with the new turns after it. The figures are only as good as the machine is
quiet: the load average is printed.

    .venv/bin/python -m benchmarks.history [--events N] [--turns N] [--stores sql,redis,rasa-redis]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
import yaml

from benchmarks.chat import aligned, load_average
from benchmarks.lifecycle import fresh_database, milliseconds_at
from ccm_core.adapters.migrations import upgrade
from ccm_core.bootstrap import bootstrap
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.harness import PROJECT_ROOT, AssistantProcesses, AssistantUnavailable, RasaClient

REDIS_URL = os.environ.get("CCM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
STORES = ("sql", "redis", "rasa-redis")
GREETINGS = ("merhaba", "hello", "hallo")
WARM_UP_TURNS = 3


@dataclass
class Measured:
    store: str
    fresh: list[float]
    long: list[float]
    stored_before: int
    stored_after: int


def timed_turn(client: RasaClient, conversation: str, text: str) -> float:
    began = time.perf_counter()
    replies = client.say(conversation, text)
    elapsed = time.perf_counter() - began
    if not replies:
        raise RuntimeError(f"no answer to a greeting in {conversation}")
    return elapsed


def seed_history(processes: AssistantProcesses, conversation: str, events: int) -> int:
    """Writes the history with the Rasa environment's Python, through the configured store."""
    python = Path(processes.rasa_bin).with_name("python")
    done = subprocess.run(
        [
            str(python),
            str(PROJECT_ROOT / "benchmarks" / "history_seed.py"),
            *(str(processes.endpoints_file), conversation, str(events)),
        ],
        cwd=PROJECT_ROOT / "rasa_project",
        env={**processes.environment, "PYTHONPATH": str(PROJECT_ROOT / "rasa_project")},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


def measure_store(store: str, database_url: str, events: int, turns: int) -> Measured:
    prefix = f"bench{uuid.uuid4().hex[:8]}"  # alphanumeric: Rasa's own Redis store ignores others
    env = {"CCM_REDIS_URL": REDIS_URL if store != "sql" else ""}
    with tempfile.TemporaryDirectory(prefix="ccm-bench-history-") as directory:
        upgrade(database_url)
        core = bootstrap(CoreSettings(data_dir=Path(directory), database_url=database_url))
        seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
        core.engine.dispose()
        processes = AssistantProcesses(database_url, Path(directory), env, redis_prefix=prefix)
        if store == "rasa-redis":
            config = yaml.safe_load(processes.endpoints_file.read_text())
            config["tracker_store"]["type"] = "redis"
            processes.endpoints_file.write_text(yaml.safe_dump(config))
        long, fresh = f"history-{uuid.uuid4().hex[:8]}", f"fresh-{uuid.uuid4().hex[:8]}"
        stored_before = seed_history(processes, long, events)
        client = RasaClient(processes.url, timeout=120)
        try:
            processes.start()
            for number in range(WARM_UP_TURNS):  # the first turn of each starts a new session
                for conversation in (long, fresh):
                    timed_turn(client, conversation, GREETINGS[number % len(GREETINGS)])
            timings: dict[str, list[float]] = {long: [], fresh: []}
            for number in range(turns):
                order = (long, fresh) if number % 2 else (fresh, long)
                for conversation in order:
                    text = GREETINGS[number % len(GREETINGS)]
                    timings[conversation].append(timed_turn(client, conversation, text))
            stored_after = len(client.events(long))
        finally:
            client.close()
            processes.stop()
            if store != "sql":
                keys = redis.Redis.from_url(REDIS_URL)
                for key in keys.scan_iter(f"{prefix}:*"):
                    keys.delete(key)
                keys.close()
    return Measured(store, timings[fresh], timings[long], stored_before, stored_after)


def report(results: Sequence[Measured], turns: int) -> None:
    rows = [
        [
            "store",
            "history events",
            "fresh p50 ms",
            "fresh p95 ms",
            "history p50 ms",
            "history p95 ms",
            "p50 ratio",
            "events after",
        ]
    ]
    for found in results:
        fresh, long = milliseconds_at(found.fresh, 50), milliseconds_at(found.long, 50)
        rows.append(
            [
                found.store,
                f"{found.stored_before:,}",
                f"{fresh:.0f}",
                f"{milliseconds_at(found.fresh, 95):.0f}",
                f"{long:.0f}",
                f"{milliseconds_at(found.long, 95):.0f}",
                f"{long / fresh:.2f}x",
                f"{found.stored_after:,}",
            ]
        )
    print(
        f"\n{turns} timed greetings per conversation, after {WARM_UP_TURNS} untimed", *aligned(rows), sep="\n"
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5_000, help="earlier events in the long conversation")
    parser.add_argument("--turns", type=int, default=30, help="timed turns per conversation")
    parser.add_argument("--stores", default=",".join(STORES), help=f"comma-separated, of {', '.join(STORES)}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    stores = [store for store in arguments.stores.split(",") if store]
    unknown = set(stores) - set(STORES)
    if unknown:
        sys.exit(f"Unknown store(s): {', '.join(sorted(unknown))}; choose from {', '.join(STORES)}.")
    print(f"CCM history benchmark: a turn with {arguments.events:,} earlier events against a fresh one")
    print(f"{os.cpu_count()} CPUs, {load_average()}", flush=True)
    results = []
    try:
        for store in stores:
            with fresh_database("postgresql") as url:
                print(f"- {store}: starting Rasa and the action server, writing the history", flush=True)
                results.append(measure_store(store, url, arguments.events, arguments.turns))
    except AssistantUnavailable as exc:
        sys.exit(f"The assistant did not start: {exc}")
    report(results, arguments.turns)
    print(f"\n{load_average()}")
    lost = [found.store for found in results if found.stored_after < found.stored_before]
    if lost:
        sys.exit(f"FAILED: history lost on {', '.join(lost)}")


if __name__ == "__main__":
    main()
