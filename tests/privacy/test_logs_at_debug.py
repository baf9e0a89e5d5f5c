"""At ``CCM_LOG_LEVEL=DEBUG`` no process logs a customer's e-mail, phone, name or words.

Every process runs as it does in production: ``ccm serve`` and ``ccm worker`` with every channel
on (Telegram, WhatsApp, Slack and e-mail, the platforms played by local stand-ins, mail by a real
SMTP server on loopback), the action server and the Rasa server. Whole conversations run on each
channel, with details unique to this run; then every process's log is searched for them.
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.queues import OutboxMessage, StaffPost
from ccm_core.service_layer import access
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.assistant.test_conversations import DELIVERY
from tests.channels.test_email import Relay, relay_on
from tests.channels.test_telegram import SECRET as TELEGRAM_SECRET
from tests.channels.test_telegram import TelegramCustomer
from tests.channels.test_web_chat import Customer as WebCustomer
from tests.channels.test_web_chat import texts
from tests.channels.test_whatsapp import APP_SECRET, VERIFY_TOKEN
from tests.channels.test_whatsapp import Customer as WhatsAppCustomer
from tests.conftest import fresh_postgres_database
from tests.fakes import slack as fake_slack_api
from tests.fakes.slack import FakeSlack, fake_slack, form, signed
from tests.fakes.telegram import FakeTelegram, fake_telegram
from tests.fakes.whatsapp import API_VERSION, PHONE_NUMBER_ID, FakeWhatsApp, fake_whatsapp
from tests.fakes.whatsapp import TOKEN as WHATSAPP_TOKEN
from tests.harness import AssistantProcesses, AssistantUnavailable
from tests.http_server import free_port
from tests.slack.conftest import button_click

pytestmark = [pytest.mark.postgres, pytest.mark.rasa]

CCM = Path(sys.executable).parent / "ccm"
JONAS = "U0FIN001"  # Jonas Weber, lead in finance, where billing complaints go (the demo organisation)
STARTUP_SECONDS = 60


def unique_name() -> str:
    return "Quill" + "".join(random.choice("bdfgklmnprstvz") for _ in range(6)).capitalize()


def unique_digits(count: int) -> str:
    return "".join(random.choice("0123456789") for _ in range(count))


@dataclass
class Traces:
    """What must not appear in any log: every detail customers give in this test."""

    found: list[str] = field(default_factory=list)

    def add(self, *values: str) -> None:
        self.found.extend(values)


@dataclass
class Deployment:
    url: str
    core: Core
    workdir: Path
    logs: dict[str, Path]
    telegram: FakeTelegram
    whatsapp: FakeWhatsApp
    slack: FakeSlack
    relay: Relay
    processes: list[subprocess.Popen[bytes]]

    def until(self, found: Callable[[], Any], what: str, seconds: float = 60) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if value := found():
                return value
            for process in self.processes:
                assert process.poll() is None, f"a process died while waiting for {what}: {self.log_tails()}"
            time.sleep(0.2)
        raise AssertionError(f"{what} did not happen within {seconds} s: {self.log_tails()}")

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {name}\n{path.read_text(errors='replace')[-3000:]}" for name, path in self.logs.items()
        )


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("debug-logs")
    relay, smtp_port = Relay(), free_port()
    with (
        fresh_postgres_database("logs") as database_url,
        fake_telegram() as telegram,
        fake_whatsapp() as whatsapp,
        fake_slack() as slack,
        relay_on(smtp_port, relay),
    ):
        core = bootstrap(CoreSettings(data_dir=workdir, database_url=database_url))
        seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
        try:
            assistant = AssistantProcesses(database_url, workdir, env={"CCM_LOG_LEVEL": "DEBUG"})
            assistant.start()
        except AssistantUnavailable as missing:
            pytest.fail(str(missing), pytrace=False)
        port = free_port()
        env = {
            **os.environ,
            "CCM_LOG_LEVEL": "DEBUG",
            "CCM_DATABASE_URL": database_url,
            "CCM_DATA_DIR": str(workdir),
            "CCM_PORT": str(port),
            "CCM_RASA_URL": assistant.url,
            "CCM_WORKER_POLL_SECONDS": "0.2",
            "CCM_TELEGRAM_BOT_TOKEN": telegram.token,
            "CCM_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "CCM_TELEGRAM_API_URL": telegram.api_url,
            "CCM_TELEGRAM_MODE": "webhook",
            "CCM_TELEGRAM_WEBHOOK_URL": "",
            "CCM_WHATSAPP_TOKEN": WHATSAPP_TOKEN,
            "CCM_WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "CCM_WHATSAPP_APP_SECRET": APP_SECRET,
            "CCM_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "CCM_WHATSAPP_API_URL": whatsapp.url,
            "CCM_WHATSAPP_API_VERSION": API_VERSION,
            "CCM_SLACK_BOT_TOKEN": fake_slack_api.BOT_TOKEN,
            "CCM_SLACK_SIGNING_SECRET": fake_slack_api.SIGNING_SECRET,
            "CCM_SLACK_API_URL": f"{slack.url}/api/",
            "CCM_SLACK_MODE": "http",
            "CCM_SMTP_HOST": "127.0.0.1",
            "CCM_SMTP_PORT": str(smtp_port),
            "CCM_SMTP_STARTTLS": "off",
            "CCM_MAIL_FROM": "CCM <sikayet@example.com>",
        }
        logs = {
            "ccm serve": workdir / "serve.log",
            "ccm worker": workdir / "worker.log",
            "action server": assistant.action_log,
            "Rasa server": assistant.rasa_log,
        }
        processes = [
            start([str(CCM), "serve"], env, logs["ccm serve"], workdir),
            start([str(CCM), "worker", "--id", "debug-worker"], env, logs["ccm worker"], workdir),
        ]
        running = Deployment(
            f"http://127.0.0.1:{port}", core, workdir, logs, telegram, whatsapp, slack, relay, processes
        )
        try:
            running.until(lambda: healthy(running.url), "ccm serve answering", STARTUP_SECONDS)
            yield running
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:  # a web chat socket still open holds uvicorn's shutdown
                    process.kill()
                    process.wait()
            assistant.stop()
            core.engine.dispose()


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def web_chat_conversation(deployment: Deployment, traces: Traces) -> None:
    email, order = f"jane.{uuid.uuid4().hex[:8]}@example.org", f"{unique_digits(4)}-{unique_digits(4)}"
    description = f"{DELIVERY['en']}, order {order}"
    traces.add(email, order)
    customer = WebCustomer(deployment.url, "en")
    try:
        customer.connect()
        for words in (description, "/affirm", f"order number {order}", email, "yes", "yes"):
            customer.say(words)
        name = unique_name()
        traces.add(name)
        assert texts(customer.say(f"My name is Jane {name} and that is all"))  # the assistant answered
    finally:
        customer.close()


def telegram_conversation(deployment: Deployment, traces: Traces) -> None:
    name, phone = unique_name(), unique_digits(7)
    traces.add(name, phone)
    customer = TelegramCustomer(deployment.telegram, f"{deployment.url}/channels/telegram/webhook", "tr")
    customer_chat = {**customer.chat, "first_name": name}
    customer.fake.remember_chat(customer_chat)
    for words in ("Merhaba", f"Kargom gelmedi, ben {name}, telefonum 0532 {phone}"):
        update = customer.message_update(words)
        update["message"]["from"]["first_name"] = name
        update["message"]["chat"] = customer_chat
        response = customer.post(update)
        assert response.status_code == 200, response.text
    assert deployment.telegram.sent_to(customer.chat_id)  # the assistant answered
    traces.add(str(customer.chat_id))


def whatsapp_conversation(deployment: Deployment, traces: Traces) -> None:
    name = unique_name()
    with httpx.Client(base_url=deployment.url, timeout=60) as client:
        customer = WhatsAppCustomer(client, deployment.whatsapp, "de")  # type: ignore[arg-type]
        traces.add(name, customer.wa_id)
        for words in ("Hallo", f"Mein Paket ist kaputt angekommen, ich bin {name}"):
            payload, message = customer.event("text_message")
            message["text"]["body"] = words
            payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = name
            response = customer.post(payload)
            assert response.status_code == 200, response.text
        deployment.until(lambda: len(deployment.whatsapp.sent_to(customer.wa_id)) >= 2, "WhatsApp answers")


def email_complaint(deployment: Deployment, traces: Traces) -> str:
    """A complaint taken by phone from a customer reached by e-mail: the worker mails the reference."""
    name, email, phone = unique_name(), f"ayse.{secrets.token_hex(4)}@example.com", unique_digits(7)
    detail = f"Faturamda {unique_digits(6)} TL fazla var"
    traces.add(name, email, phone, detail)
    token = access.create_api_token(
        deployment.core.unit_of_work(), role="agent", staff_email="mehmet.demir@example.com"
    )
    response = httpx.post(
        f"{deployment.url}/api/v1/complaints",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "channel": "email",
            "language": "tr",
            "category": "billing",
            "description": detail,
            "customer": {"name": f"Ayşe {name}", "email": email, "phone": f"+90 532 {phone}"},
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    deployment.until(
        lambda: any(email in str(m["To"]) for m in deployment.relay.received), "the mailed reference"
    )
    return response.json()["reference"]


def staff_click(deployment: Deployment, reference: str) -> None:
    """Staff start the review of a case from its Slack message (a signed interaction)."""

    def posted() -> bool:
        with deployment.core.unit_of_work() as uow:
            query = select(StaffPost.channel_ref).join(Complaint).where(Complaint.reference == reference)
            return uow.session.scalar(query) or ""

    channel = deployment.until(posted, "the case posted to Slack")
    payload = button_click(deployment.slack.url, JONAS, "ccm_start_review", reference, channel=channel)
    body = form(payload)
    response = httpx.post(
        f"{deployment.url}/slack/events",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def review_started(deployment: Deployment, reference: str) -> bool:
    with deployment.core.unit_of_work() as uow:
        return (
            uow.session.scalar(select(Complaint.status).where(Complaint.reference == reference))
            == "in_review"
        )


def test_no_process_logs_a_customers_details_or_words_at_debug(deployment: Deployment) -> None:
    traces = Traces()
    web_chat_conversation(deployment, traces)
    telegram_conversation(deployment, traces)
    whatsapp_conversation(deployment, traces)
    reference = email_complaint(deployment, traces)
    staff_click(deployment, reference)

    def delivered() -> bool:
        with deployment.core.unit_of_work() as uow:
            return (
                uow.session.scalar(select(OutboxMessage.id).where(OutboxMessage.status == "pending")) is None
            )

    deployment.until(delivered, "every message owed to customers delivered")
    deployment.until(lambda: review_started(deployment, reference), "the review started from Slack")
    lines = {name: path.read_text(errors="replace").splitlines() for name, path in deployment.logs.items()}
    assert any(" DEBUG " in line for line in lines["ccm worker"])  # the worker did log at DEBUG
    found = [
        f"{name}: {line}"
        for name, content in lines.items()
        for line in content
        for trace in traces.found
        if trace in line
    ]
    assert found == []
    scanned = sum(len(content) for content in lines.values())
    print(f"\nlog lines scanned at DEBUG: {scanned}, findings: {len(found)}, traces: {len(traces.found)}")
