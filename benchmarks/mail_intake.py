"""E-mail intake: how many mails per second one `ccm worker` takes in on PostgreSQL, and how long a
customer waits from their mail's arrival to the acknowledgement in their mailbox (p50/p95).

Everything is real but the outside world's mail servers: dovecot (Debian's, on loopback) holds the
mailbox, our action server and a Rasa 3.6 server read each new complaint's topic, one `ccm worker`
process takes the mail in (IDLE) and mails the acknowledgements through an SMTP server on loopback
(aiosmtpd), which notes when each arrives. Each mail comes from a customer of its own.

Throughput: ``--mails`` mails are put into the inbox at once while the worker waits; the clock runs
from the first until the last mail is decided (complaint filed, acknowledgement queued).
Latency: ``--latency-mails`` mails arrive one by one, ``--interval`` seconds apart; for each, the
time from its arrival in the inbox to its acknowledgement reaching the customer's relay.

    .venv/bin/python -m benchmarks.mail_intake [--mails N] [--latency-mails N] [--interval S]
"""

from __future__ import annotations

import argparse
import email.header
import email.utils
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from benchmarks.lifecycle import fresh_database, table
from ccm_core.adapters.migrations import upgrade
from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.inbound_mail import InboundMail
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.harness import AssistantProcesses, AssistantUnavailable
from tests.http_server import free_port
from tests.mail.dovecot import Account, running_dovecot

CCM = Path(sys.executable).parent / "ccm"
MAIL_FROM = "Şikayet Yönetimi <sikayet@ccm.example.com>"
TIMEOUT_SECONDS = 600
TEXTS = (
    (
        "tr",
        "Siparişim hâlâ gelmedi",
        "Merhaba, 4 gün önce verdiğim siparişim hâlâ gelmedi, kargo cevap vermiyor.",
    ),
    ("en", "Charged twice", "Hello, I was charged twice for my last invoice and nobody answers my calls."),
    ("de", "Paket beschädigt", "Guten Tag, mein Paket kam beschädigt an und der Inhalt ist kaputt."),
)


class TimedRelay:
    """The customers' relay: when each acknowledgement arrived, by the Message-ID it answers."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        answered = str(mail.get("In-Reply-To") or "")
        with self.lock:
            self.arrived.setdefault(answered, time.monotonic())
        return "250 2.0.0 queued"


def customer_mail(number: int, tag: str) -> tuple[str, bytes]:
    language, subject, text = TEXTS[number % len(TEXTS)]
    message_id = f"<bench-{tag}-{number}@mail.example.com>"
    raw = (
        f"From: Customer {number} <customer{tag}{number}@example.com>\r\n"
        f"To: sikayet@ccm.example.com\r\nSubject: {email.header.Header(subject, 'utf-8').encode()}\r\n"
        f"Message-ID: {message_id}\r\nDate: {email.utils.formatdate()}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Language: {language}\r\n\r\n{text}\r\n"
    )
    return message_id, raw.encode()


def decided(core: Core) -> int:
    with core.unit_of_work() as uow:
        return (
            uow.session.scalar(
                select(func.count()).select_from(InboundMail).where(InboundMail.outcome.is_not(None))
            )
            or 0
        )


def throughput(core: Core, account: Account, mails: int) -> tuple[int, float]:
    batch = [customer_mail(n, "t")[1] for n in range(mails)]
    before = decided(core)
    start = time.perf_counter()
    with account.client() as client:
        for raw in batch:
            client.append("INBOX", raw)
    deadline = start + TIMEOUT_SECONDS
    while (done := decided(core) - before) < mails and time.perf_counter() < deadline:
        time.sleep(0.05)
    return done, time.perf_counter() - start


def latency(relay: TimedRelay, account: Account, mails: int, interval: float) -> list[float]:
    sent: dict[str, float] = {}
    with account.client() as client:
        for number in range(mails):
            message_id, raw = customer_mail(number, "l")
            client.append("INBOX", raw)
            sent[message_id] = time.monotonic()
            time.sleep(interval)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with relay.lock:
            if all(message_id in relay.arrived for message_id in sent):
                break
        time.sleep(0.1)
    with relay.lock:
        return [relay.arrived[m] - sent[m] for m in sent if m in relay.arrived]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=300, help="mails put in at once (default 300)")
    parser.add_argument(
        "--latency-mails", type=int, default=40, help="mails arriving one by one (default 40)"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between them (default 1)")
    args = parser.parse_args()
    print(
        f"E-mail intake on PostgreSQL, one worker: {args.mails} mails at once, {args.latency_mails} in turn"
    )
    print(f"{platform.node()}: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    relay = TimedRelay()
    smtp_port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with (
        fresh_database("postgresql") as url,
        tempfile.TemporaryDirectory(prefix="ccm-bench-") as workdir,
        running_dovecot() as dovecot,
    ):
        upgrade(url)
        core = bootstrap(CoreSettings(data_dir=Path(workdir), database_url=url))
        seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
        account = dovecot.add_account()
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
            "CCM_LOG_LEVEL": "WARNING",
            "CCM_SMTP_HOST": "127.0.0.1",
            "CCM_SMTP_PORT": str(smtp_port),
            "CCM_SMTP_STARTTLS": "false",
            "CCM_MAIL_FROM": MAIL_FROM,
            "CCM_IMAP_HOST": "127.0.0.1",
            "CCM_IMAP_PORT": str(dovecot.port),
            "CCM_IMAP_SECURITY": "none",
            "CCM_IMAP_USER": account.user,
            "CCM_IMAP_PASSWORD": account.password,
        }
        log = Path(workdir) / "worker.log"
        worker = subprocess.Popen(
            [str(CCM), "worker", "--id", "bench-mail"],
            env=environment,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(5)  # the worker is up and waiting on the inbox (IDLE)
            done, seconds = throughput(core, account, args.mails)
            delays = latency(relay, account, args.latency_mails, args.interval)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            worker_log = log.read_text(errors="replace")[-3000:]
            assistant.stop()
            core.engine.dispose()
            controller.stop()
    rows = [
        ["", "mails", "seconds", "mails/s"],
        ["taken in at once", f"{done}/{args.mails}", f"{seconds:.1f}"],
    ]
    rows[1].append(f"{done / seconds:.1f}")
    print("\n".join(table(rows)))
    if delays:
        p95 = statistics.quantiles(delays, n=20)[-1] if len(delays) > 1 else delays[0]
        print(
            f"arrival to acknowledgement, {len(delays)}/{args.latency_mails} mails: "
            f"p50 {statistics.median(delays):.2f} s, p95 {p95:.2f} s, max {max(delays):.2f} s"
        )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    failed = done < args.mails or len(delays) < args.latency_mails
    if failed:
        print(
            f"Not every mail was taken in or acknowledged in time. The worker's log:\n{worker_log}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
