"""``make run-cluster`` started for tests and benchmarks: the whole product behind nginx on free ports.

The command itself creates the cluster's PostgreSQL database (dropped on exit), renders nginx's
and supervisord's configurations into a temporary directory, and supervisord restarts any replica
that dies. The caller chooses Redis and may point the outside channels at local stand-ins.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from ccm.cluster import ClusterError, Health, Layout, Replica, cluster_health
from ccm_core.adapters.db import normalise_url
from tests.conftest import POSTGRES_ADMIN_URL
from tests.harness import PROJECT_ROOT

READY_SECONDS = 420  # the Rasa servers load their model side by side: about two minutes on two cores
AGENT = "lukas.schmidt@example.com"  # an agent of logistics, where delivery complaints go
CCM = Path(sys.executable).parent / "ccm"
ACCESS_LINE = re.compile(r"\] \d+ (?P<method>\S+) (?P<area>\S+) (?P<status>\d+) \S+ \S+ upstream=(?P<to>.*)$")
# Every outside channel off unless the caller turns it on, whatever the environment running the tests says.
CHANNELS_OFF = dict.fromkeys(
    ["CCM_TELEGRAM_BOT_TOKEN", "CCM_WHATSAPP_TOKEN", "CCM_SLACK_BOT_TOKEN", "CCM_SMTP_HOST"], ""
)


@dataclass
class Cluster:
    layout: Layout
    environment: dict[str, str]
    make: subprocess.Popen[bytes]
    output: Path

    @property
    def url(self) -> str:
        return self.layout.url

    @property
    def database_url(self) -> str:
        return self.environment["CCM_DATABASE_URL"]

    def health(self) -> dict[str, Health]:
        rasa_token = self.environment.get("CCM_RASA_TOKEN", "")
        return {health.name: health for health in cluster_health(self.layout, rasa_token)}

    def wait_until(self, what: str, done: Callable[[dict[str, Health]], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.make.poll() is None, f"make run-cluster exited:\n{self.output.read_text()[-3000:]}"
            try:
                if done(self.health()):
                    return
            except ClusterError:  # supervisord has not started yet: make is still installing or migrating
                pass
            time.sleep(2)
        states = "\n".join(f"{h.name} {h.state} {h.detail}" for h in self.health().values())
        raise AssertionError(f"{what} not within {seconds} s:\n{states}\n{self.output.read_text()[-3000:]}")

    def all_healthy(self, seconds: float) -> None:
        self.wait_until(
            "every replica healthy", lambda found: all(h.healthy for h in found.values()), seconds
        )

    def token(self) -> str:
        """An agent's API token, made as an operator makes one."""
        created = subprocess.run(
            [str(CCM), "tokens", "create", "--role", "agent", "--staff", AGENT],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        return created.stdout.strip().splitlines()[-1]

    def routed(self) -> list[dict[str, str]]:
        """nginx's access log, one entry per request: the part of the product and the replicas tried."""
        lines = (self.layout.log_dir / "nginx-access.log").read_text().splitlines()
        return [found.groupdict() for line in lines if (found := ACCESS_LINE.search(line))]

    def chat_replica(self) -> str:
        """The web replica that answered the last socket.io request (after any that failed)."""
        chat = [entry["to"] for entry in self.routed() if entry["area"] == "/socket.io"]
        return chat[-1].split(", ")[-1]

    @staticmethod
    def address(replica: Replica) -> str:
        return f"127.0.0.1:{replica.port}"

    def stop(self) -> None:
        """Ctrl-C, as a terminal sends it: SIGINT to make and everything in its foreground group."""
        if self.make.poll() is None:
            os.killpg(self.make.pid, signal.SIGINT)
            try:
                self.make.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.make.pid, signal.SIGKILL)
                self.make.wait()


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that nothing holds."""
    for _ in range(100):
        first = random.randrange(20000, 60000 - count)
        taken: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                taken.append(socket.socket())
                taken[-1].bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in taken:
                sock.close()
    raise AssertionError(f"no {count} consecutive free ports")


@contextmanager
def running_cluster(
    directory: Path,
    replicas: int,
    redis_url: str,
    channels: Mapping[str, str] | None = None,
    pin: bool = False,
) -> Iterator[Cluster]:
    """``make run-cluster`` with ``replicas`` of every process on a database of its own, every replica
    healthy; stopped with Ctrl-C and its database dropped on exit. ``channels`` turns outside
    channels on (``CCM_TELEGRAM_BOT_TOKEN``, …); all others stay off. ``pin`` puts replica i's
    processes on core i (``PIN=1``), as the cluster benchmark measures them.

    ``directory`` should have a short path: supervisord's socket path has a length limit.
    """
    first = consecutive_free_ports(3 + 3 * replicas)
    layout = Layout(
        directory=directory,
        replicas=replicas,
        port=first,
        rasa_balancer_port=first + 1,
        actions_balancer_port=first + 2,
        web_port=first + 3,
        rasa_port=first + 3 + replicas,
        actions_port=first + 3 + 2 * replicas,
        pin=pin,
    )
    server_url = normalise_url(POSTGRES_ADMIN_URL)
    database = f"ccm_cluster_{os.getpid()}_{uuid.uuid4().hex[:8]}"  # the command creates it
    outer = {
        name: value for name, value in os.environ.items() if name not in ("CCM_SECRET_KEY", "CCM_PUBLIC_URL")
    }
    environment = {
        **outer,
        "CCM_DATABASE_URL": make_url(server_url).set(database=database).render_as_string(hide_password=False),
        "CCM_REDIS_URL": redis_url,
        "CCM_DATA_DIR": str(directory / "data"),
        **CHANNELS_OFF,
        **(channels or {}),
    }
    ports = {
        "--web-port": layout.web_port,
        "--rasa-port": layout.rasa_port,
        "--actions-port": layout.actions_port,
        "--rasa-balancer-port": layout.rasa_balancer_port,
        "--actions-balancer-port": layout.actions_balancer_port,
    }
    command = ["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "run-cluster", f"REPLICAS={replicas}"]
    command += [f"CLUSTER_PORT={layout.port}", f"CLUSTER_DIR={directory}", f"PIN={int(pin)}"]
    command.append("CLUSTER_ARGS=" + shlex.join(f"{option}={port}" for option, port in ports.items()))
    output = directory / "make.log"
    with output.open("wb") as log:
        make = subprocess.Popen(
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = Cluster(layout, environment, make, output)
    try:
        running.all_healthy(READY_SECONDS)
        yield running
    finally:
        running.stop()
        engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()
