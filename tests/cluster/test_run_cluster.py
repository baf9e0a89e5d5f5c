"""``make run-cluster`` for real: two replicas of every process behind nginx under supervisord.

The cluster runs on a fresh PostgreSQL database (created by the command itself) and its own Redis
db, on free ports, and is reached through nginx only: the API, the chat page and a whole web chat
complaint over socket.io (long polling and WebSocket), the review's notice delivered by a worker,
the admin console. Replicas killed with SIGKILL are restarted by supervisord while requests through
nginx keep succeeding, and Ctrl-C stops every process. Three to four minutes, most of it Rasa loading.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, make_url, text

from actions.conversation import text as assistant_text
from ccm.cluster import ClusterError, Health, Layout, Replica, cluster_health, supervisor
from ccm_core.adapters.db import normalise_url
from ccm_core.i18n import translate
from tests.assistant.test_conversations import DELIVERY, DELIVERY_LABEL
from tests.channels.test_web_chat import Customer, file_complaint, texts
from tests.conftest import POSTGRES_ADMIN_URL
from tests.harness import PROJECT_ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.rasa, pytest.mark.cluster]

REPLICAS = 2
REDIS_URL = "redis://127.0.0.1:6379/9"  # the web chat tests use /8, the Redis store tests /7
READY_SECONDS = 420  # the Rasa servers load their model side by side: about two minutes on two cores
RESTART_SECONDS = 300
AGENT = "lukas.schmidt@example.com"  # an agent of logistics, where delivery complaints go
CCM = Path(sys.executable).parent / "ccm"
ACCESS_LINE = re.compile(r"\] \d+ (?P<method>\S+) (?P<area>\S+) (?P<status>\d+) \S+ \S+ upstream=(?P<to>.*)$")


class WebSocketCustomer(Customer):
    """A browser tab whose socket.io client goes straight to WebSocket, through nginx's upgrade."""

    def connect(self, session_id: str | None = None) -> str:
        self.client.connect(self.url, transports=["websocket"], socketio_path="socket.io", wait_timeout=10)
        return self.request_session(session_id)


@dataclass
class Cluster:
    layout: Layout
    environment: dict[str, str]
    make: subprocess.Popen[bytes]
    output: Path

    @property
    def url(self) -> str:
        return self.layout.url

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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")  # short: supervisord's socket path has a length limit
    first = consecutive_free_ports(3 + 3 * REPLICAS)
    layout = Layout(
        directory=directory,
        replicas=REPLICAS,
        port=first,
        rasa_balancer_port=first + 1,
        actions_balancer_port=first + 2,
        web_port=first + 3,
        rasa_port=first + 3 + REPLICAS,
        actions_port=first + 3 + 2 * REPLICAS,
    )
    server_url = normalise_url(POSTGRES_ADMIN_URL)
    database = f"ccm_cluster_{os.getpid()}_{uuid.uuid4().hex[:8]}"  # the command creates it
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()
    outer = {
        name: value for name, value in os.environ.items() if name not in ("CCM_SECRET_KEY", "CCM_PUBLIC_URL")
    }
    environment = {
        **outer,
        "CCM_DATABASE_URL": make_url(server_url).set(database=database).render_as_string(hide_password=False),
        "CCM_REDIS_URL": REDIS_URL,
        "CCM_DATA_DIR": str(directory / "data"),
        # every outside channel off, whatever the environment running the tests says
        **dict.fromkeys(
            ["CCM_TELEGRAM_BOT_TOKEN", "CCM_WHATSAPP_TOKEN", "CCM_SLACK_BOT_TOKEN", "CCM_SMTP_HOST"], ""
        ),
    }
    ports = {
        "--web-port": layout.web_port,
        "--rasa-port": layout.rasa_port,
        "--actions-port": layout.actions_port,
        "--rasa-balancer-port": layout.rasa_balancer_port,
        "--actions-balancer-port": layout.actions_balancer_port,
    }
    command = ["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "run-cluster", f"REPLICAS={REPLICAS}"]
    command += [f"CLUSTER_PORT={layout.port}", f"CLUSTER_DIR={directory}"]
    command.append("CLUSTER_ARGS=" + shlex.join(f"{option}={port}" for option, port in ports.items()))
    output = directory / "make.log"
    with output.open("wb") as log:
        make = subprocess.Popen(
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = Cluster(layout, environment, make, output)
    try:
        running.wait_until(
            "every replica healthy", lambda found: all(h.healthy for h in found.values()), READY_SECONDS
        )
        yield running
    finally:
        running.stop()
        engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        engine.dispose()
        store.flushdb()
        store.close()


def complaint(url: str, token: str) -> str:
    """A complaint taken by phone through the API; its reference."""
    response = httpx.post(
        f"{url}/api/v1/complaints",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "channel": "phone",
            "language": "tr",
            "category": "delivery",
            "description": "Kargom hasarlı geldi",
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["reference"]


def category_question(language: str) -> str:
    return assistant_text(language, "category_question", category=DELIVERY_LABEL[language])


def test_every_part_of_the_product_answers_through_nginx(cluster: Cluster) -> None:
    url = cluster.url
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "database": "ok"}
    token = cluster.token()  # the demo organisation was seeded into the database the command created
    reference = complaint(url, token)
    for _ in range(4):
        shown = httpx.get(
            f"{url}/api/v1/complaints/{reference}", headers={"Authorization": f"Bearer {token}"}
        )
        assert shown.status_code == 200 and shown.json()["reference"] == reference
    page = httpx.get(f"{url}/chat")
    assert page.status_code == 200 and 'id="composer"' in page.text
    script = re.search(r'src="([^"]+\.js)"', page.text)
    assert script and httpx.get(f"{url}{script.group(1)}").status_code == 200
    login = httpx.get(f"{url}/admin/login")
    assert login.status_code == 200 and 'type="password"' in login.text

    # A whole complaint in the web chat over long polling: web replica -> nginx -> Rasa -> nginx -> actions.
    customer = Customer(url, "en")
    customer.connect()
    filed = file_complaint(customer)
    # The review's interim notice is queued in the outbox; a worker delivers it and the page shows it.
    review = httpx.post(
        f"{url}/api/v1/complaints/{filed}/review", headers={"Authorization": f"Bearer {token}"}
    )
    assert review.status_code == 200, review.text
    interim = translate("en", "outbox.interim_notice", reference=filed, department="Logistics")
    assert interim in texts(customer.messages(first_within=30))
    customer.close()

    over_websocket = WebSocketCustomer(url, "de")
    over_websocket.connect()
    assert texts(over_websocket.say(DELIVERY["de"])) == category_question("de")
    over_websocket.close()

    routed = cluster.routed()
    web = {cluster.address(replica) for replica in cluster.layout.web}
    chat = {entry["to"] for entry in routed if entry["area"] == "/socket.io"}
    api = {entry["to"] for entry in routed if entry["area"] == "/api"}
    assert len(chat) == 1 and chat <= web  # every socket.io request of this client on one replica
    assert api == web  # the API's requests spread over both

    key = (cluster.layout.directory / "secret.key").read_text().strip()  # made once, as none was set
    for health in cluster.health().values():
        if health.name != "nginx":
            environment = Path(f"/proc/{health.pid}/environ").read_bytes().split(b"\0")
            assert f"CCM_SECRET_KEY={key}".encode() in environment, health.name


def test_killed_replicas_are_restarted_while_requests_through_nginx_keep_succeeding(cluster: Cluster) -> None:
    url, token = cluster.url, cluster.token()
    headers = {"Authorization": f"Bearer {token}"}
    reference = complaint(url, token)
    customer = Customer(url, "en")  # a customer chatting all along, on the replica nginx keeps them on
    customer.connect()
    assert texts(customer.say(DELIVERY["en"])) == category_question("en")
    chat_replica = cluster.chat_replica()
    before = cluster.health()
    # One of each: the web replica this customer is not on, the first Rasa server, the first worker.
    web = next(replica.name for replica in cluster.layout.web if cluster.address(replica) != chat_replica)
    killed = [web, "rasa-1", "worker-1"]
    for name in killed:
        os.kill(before[name].pid, signal.SIGKILL)

    failures: list[str] = []

    def check(what: str, request: Callable[[], httpx.Response]) -> None:
        try:
            response = request()
        except httpx.HTTPError as error:
            failures.append(f"{what}: {type(error).__name__}")
        else:
            if response.status_code != 200:
                failures.append(f"{what}: {response.status_code}")

    def restarted(found: dict[str, Health]) -> bool:
        return all(found[name].healthy and found[name].pid not in (0, before[name].pid) for name in killed)

    turns, last_turn = 0, 0.0
    deadline = time.monotonic() + RESTART_SECONDS
    while turns < 3 or not restarted(cluster.health()):
        assert time.monotonic() < deadline, (
            f"{killed} not back within {RESTART_SECONDS} s: {cluster.health()}"
        )
        check("health", lambda: httpx.get(f"{url}/healthz", timeout=10))
        check("API", lambda: httpx.get(f"{url}/api/v1/complaints/{reference}", headers=headers, timeout=10))
        check("chat page", lambda: httpx.get(f"{url}/chat", timeout=10))
        if time.monotonic() - last_turn > 10:  # a new conversation on the same connection, through Rasa
            customer.request_session(None)
            answer = texts(customer.say(DELIVERY["en"]))
            if answer != category_question("en"):
                failures.append(f"chat: {answer[:80]}")
            turns, last_turn = turns + 1, time.monotonic()
        time.sleep(1)
    assert failures == []
    assert cluster.chat_replica() == chat_replica  # the conversation never left its replica
    customer.close()
    worker = cluster.health()["worker-1"]
    started = (cluster.layout.log_dir / "worker-1.log").read_text()
    assert re.search(rf"worker \S+-{worker.pid} delivering to: web", started)  # it started its loops

    # A customer whose replica is gone is taken by another: the chat upstream's failover.
    rpc = supervisor(cluster.layout).supervisor
    chat_name = next(
        replica.name for replica in cluster.layout.web if cluster.address(replica) == chat_replica
    )
    rpc.stopProcess(f"web:{chat_name}")
    try:
        moved = Customer(url, "tr")
        moved.connect()
        assert texts(moved.say(DELIVERY["tr"])) == category_question("tr")
        moved.close()
        assert cluster.chat_replica() != chat_replica
    finally:
        rpc.startProcess(f"web:{chat_name}")
    cluster.wait_until("every replica healthy", lambda found: all(h.healthy for h in found.values()), 60)


def test_ctrl_c_stops_every_process(cluster: Cluster) -> None:
    processes = [health.pid for health in cluster.health().values()]
    processes.append(int((cluster.layout.directory / "supervisord.pid").read_text()))
    cluster.stop()
    assert cluster.make.returncode is not None

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    assert [pid for pid in processes if alive(pid)] == []
    layout = cluster.layout
    ports = [layout.port, layout.rasa_balancer_port, layout.actions_balancer_port]
    ports += [replica.port for replica in (*layout.web, *layout.rasa, *layout.actions)]
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, port
