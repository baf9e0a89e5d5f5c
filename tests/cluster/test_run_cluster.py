"""``make run-cluster`` for real: two replicas of every process behind nginx under supervisord.

The cluster runs on a fresh PostgreSQL database (created by the command itself) and its own Redis
db, on free ports, and is reached through nginx only: the API, the chat page and a whole web chat
complaint over socket.io (long polling and WebSocket), the review's notice delivered by a worker,
the admin console. Replicas killed with SIGKILL are restarted by supervisord while requests through
nginx keep succeeding, and Ctrl-C stops every process. Three to four minutes, most of it Rasa loading.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from actions.conversation import text as assistant_text
from ccm.cluster import Health, supervisor
from ccm_core.i18n import translate
from tests.assistant.test_conversations import DELIVERY, DELIVERY_LABEL
from tests.channels.test_web_chat import Customer, file_complaint, texts
from tests.cluster_harness import Cluster, running_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.rasa, pytest.mark.cluster]

REPLICAS = 2
REDIS_URL = "redis://127.0.0.1:6379/9"  # the web chat tests use /8, the Redis store tests /7
RESTART_SECONDS = 300


class WebSocketCustomer(Customer):
    """A browser tab whose socket.io client goes straight to WebSocket, through nginx's upgrade."""

    def connect(self, session_id: str | None = None) -> str:
        self.client.connect(self.url, transports=["websocket"], socketio_path="socket.io", wait_timeout=10)
        return self.request_session(session_id)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")  # short: supervisord's socket path has a length limit
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()
    try:
        with running_cluster(directory, REPLICAS, REDIS_URL) as running:
            yield running
    finally:
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
    cluster.all_healthy(60)


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
