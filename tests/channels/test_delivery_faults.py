"""Fault test: two `ccm worker` processes on PostgreSQL, one killed mid-batch together with the Rasa server.

Forty messages wait for twenty Telegram customers (an acknowledgement and an interim notice
each). Once some are out, Rasa is killed (SIGKILL), then one worker; both come back, and
every message must reach its chat exactly once, in order, with nothing left undelivered.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import OutboxMessage
from ccm_core.service_layer import access, services
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.conftest import fresh_postgres_database
from tests.fakes.telegram import TOKEN, FakeTelegram, fake_telegram
from tests.harness import AssistantProcesses, AssistantUnavailable

pytestmark = [pytest.mark.postgres]

CCM = Path(sys.executable).parent / "ccm"
CUSTOMERS = 20
DESCRIPTIONS = {
    "tr": "Siparişim iki haftadır gelmedi ve kargo firması cevap vermiyor.",
    "en": "My parcel has not arrived for two weeks and the courier does not answer.",
    "de": "Mein Paket ist seit zwei Wochen nicht angekommen und der Kurier antwortet nicht.",
}


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Core, AssistantProcesses, FakeTelegram]]:
    with fresh_postgres_database("faults") as url, fake_telegram() as telegram:
        core = bootstrap(CoreSettings(data_dir=tmp_path, database_url=url))
        seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
        try:
            processes = AssistantProcesses(url, tmp_path)
            processes.start()
        except AssistantUnavailable as missing:
            pytest.fail(str(missing), pytrace=False)
        try:
            yield core, processes, telegram
        finally:
            processes.stop()
            core.engine.dispose()


def test_every_message_reaches_its_chat_once_after_the_worker_and_rasa_are_killed(
    deployment: tuple[Core, AssistantProcesses, FakeTelegram], tmp_path: Path
) -> None:
    core, assistant, telegram = deployment
    lead = access.staff_actor(core.unit_of_work(), email="elif.kaya@example.com")
    chats = {}
    for number in range(CUSTOMERS):
        chat_id = 880000 + number
        language = ("tr", "en", "de")[number % 3]
        telegram.remember_chat({"id": chat_id, "type": "private", "first_name": f"Müşteri {number}"})
        reference = services.record_complaint(
            core.unit_of_work(),
            Actor.system("call_centre"),
            channel="telegram",
            language=language,
            category="delivery",
            description=DESCRIPTIONS[language],
            customer=CustomerDetails(channel_identity=f"telegram:{chat_id}"),
        ).case.reference
        services.start_review(core.unit_of_work(), lead, reference)
        chats[reference] = chat_id

    def delivered() -> int:
        with core.unit_of_work() as uow:
            return uow.session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "delivered")
            )

    environment = {
        **os.environ,
        "CCM_DATABASE_URL": core.settings.database_url,
        "CCM_DATA_DIR": str(tmp_path),
        "CCM_RASA_URL": assistant.url,
        "CCM_TELEGRAM_BOT_TOKEN": TOKEN,
        "CCM_TELEGRAM_WEBHOOK_SECRET": "fault-test-secret",
        "CCM_TELEGRAM_API_URL": telegram.api_url,
        "CCM_WORKER_BATCH": "4",
        "CCM_DELIVERY_LEASE_SECONDS": "10",
        "CCM_DELIVERY_RETRY_SECONDS": "0.5",
        "CCM_DELIVERY_RETRY_MAX_SECONDS": "2",
        "CCM_DELIVERY_MAX_ATTEMPTS": "1000",
    }

    def worker(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{name}.log").open("ab")
        return subprocess.Popen([str(CCM), "worker", "--id", name], env=environment, stdout=log, stderr=log)

    workers = [worker("a"), worker("b")]
    try:
        wait_until(lambda: delivered() >= 8, 120, "the first deliveries")
        assistant.kill_rasa()
        time.sleep(1.5)  # both workers now fail to reach Rasa and back off
        workers[0].kill()
        workers[0].wait()
        in_hand = delivered()
        assert in_hand < 2 * CUSTOMERS, "the kill came after the batch was done"
        assistant.start_rasa()
        workers[0] = worker("a-restarted")
        wait_until(lambda: delivered() == 2 * CUSTOMERS, 240, "every message delivered")
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(timeout=30)

    with core.unit_of_work() as uow:
        messages = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        statuses = {m.status for m in messages}
        expected = [(str(chats[m.payload["reference"]]), m.body) for m in messages]
    assert statuses == {"delivered"}
    sent = [(str(call.params["chat_id"]), call.params["text"]) for call in telegram.calls("sendMessage")]
    assert len(sent) == 2 * CUSTOMERS
    for chat_id, body in expected:
        times = sent.count((chat_id, body))
        assert times == 1, f"a message to chat {chat_id} arrived {times} times"
    for chat_id in map(str, chats.values()):  # acknowledgement first, then the interim notice
        assert [body for chat, body in expected if chat == chat_id] == [
            text for chat, text in sent if chat == chat_id
        ]
