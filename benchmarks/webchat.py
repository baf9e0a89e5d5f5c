"""Web chat turn latency through the page's own transport: socket.io over a WebSocket to `ccm serve`.

The real assistant (action server and Rasa 3.6) and the product's web server (`ccm serve`, a real
process) run on a fresh SQLite database. Each customer is a socket.io client on the WebSocket
transport, as the chat page connects: it asks for a session (``session_request``), then sends
messages (``user_uttered``) and waits for the assistant's answer (``bot_uttered``). A turn is timed
from sending the message to the first answer on the socket. Two kinds of turn, each with one
customer and with ``--concurrency`` at once:

* greeting: "hello" in a started conversation (a rule, no database work in the dialogue);
* complaint: the opening message of a complaint (custom actions, the topic buttons come back).

    .venv/bin/python -m benchmarks.webchat [--concurrency N] [--turns N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import socketio

from benchmarks.lifecycle import milliseconds_at, table
from ccm_core.adapters.migrations import upgrade
from ccm_core.bootstrap import bootstrap
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.harness import AssistantProcesses, AssistantUnavailable

CCM = Path(sys.executable).parent / "ccm"
ANSWER_TIMEOUT_SECONDS = 60
OPENING = "my parcel arrived broken and nobody answers the phone"


class Customer:
    """One browser tab: a socket.io client on the WebSocket transport with its session."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.session_id = uuid.uuid4().hex
        self.answers: asyncio.Queue[dict] = asyncio.Queue()
        self.client.on("bot_uttered", self.answers.put)

    async def open(self) -> None:
        confirmed = asyncio.Event()
        self.client.on("session_confirm", lambda _session: confirmed.set())
        await self.client.connect(self.url, transports=["websocket"], socketio_path="socket.io")
        await self.client.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(confirmed.wait(), ANSWER_TIMEOUT_SECONDS)

    async def turn(self, text: str) -> float:
        while not self.answers.empty():  # late parts of the previous answer
            self.answers.get_nowait()
        start = time.perf_counter()
        await self.client.emit(
            "user_uttered", {"message": text, "session_id": self.session_id, "customData": {"language": "en"}}
        )
        await asyncio.wait_for(self.answers.get(), ANSWER_TIMEOUT_SECONDS)
        seconds = time.perf_counter() - start
        await asyncio.sleep(0.3)  # let the rest of the answer arrive before the next turn
        return seconds


async def measure(url: str, kind: str, customers: int, turns: int) -> list[float]:
    tabs = [Customer(url) for _ in range(customers)]
    await asyncio.gather(*(tab.open() for tab in tabs))
    if kind == "greeting":  # start the conversations first: the timed turns are in a started conversation
        await asyncio.gather(*(tab.turn("hello") for tab in tabs))

    async def talk(tab: Customer) -> list[float]:
        times = []
        for _ in range(turns):
            if kind == "complaint":
                tab.session_id = uuid.uuid4().hex  # a new conversation for each opening
                await tab.client.emit("session_request", {"session_id": tab.session_id})
                await asyncio.sleep(0.1)
            times.append(await tab.turn(OPENING if kind == "complaint" else "hello"))
        return times

    try:
        results = await asyncio.gather(*(talk(tab) for tab in tabs))
    finally:
        await asyncio.gather(*(tab.client.disconnect() for tab in tabs))
    return [seconds for times in results for seconds in times]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10, help="timed turns per customer (default 10)")
    args = parser.parse_args()
    print(
        f"Web chat turns over socket.io (WebSocket), {platform.node()}: {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    with tempfile.TemporaryDirectory(prefix="ccm-bench-") as workdir:
        url = f"sqlite:///{Path(workdir) / 'ccm.db'}"
        upgrade(url)
        core = bootstrap(CoreSettings(data_dir=Path(workdir), database_url=url))
        seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
        core.engine.dispose()
        assistant = AssistantProcesses(url, Path(workdir))
        port = free_port()
        server = None
        try:
            assistant.start()
            server = subprocess.Popen(
                [str(CCM), "serve", "--port", str(port)],
                env={
                    **os.environ,
                    "CCM_DATABASE_URL": url,
                    "CCM_DATA_DIR": workdir,
                    "CCM_RASA_URL": assistant.url,
                    "CCM_LOG_LEVEL": "WARNING",
                    "CCM_CHAT_RATE_LIMIT": "100000",
                },
                stdout=(Path(workdir) / "serve.log").open("w"),
                stderr=subprocess.STDOUT,
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    print("ccm serve did not start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            rows = [["turn", "customers", "turns", "p50 ms", "p95 ms"]]
            for kind in ("greeting", "complaint"):
                for customers in (1, args.concurrency):
                    turns = args.turns * 2 if customers == 1 else args.turns
                    times = asyncio.run(measure(base, kind, customers, turns))
                    rows.append(
                        [
                            kind,
                            str(customers),
                            str(len(times)),
                            f"{milliseconds_at(times, 50):.0f}",
                            f"{milliseconds_at(times, 95):.0f}",
                        ]
                    )
        except AssistantUnavailable as missing:
            print(missing, file=sys.stderr)
            return 1
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            assistant.stop()
    print("\n".join(table(rows)))
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
