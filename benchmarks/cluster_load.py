"""The cluster benchmark's load generator: Locust customers writing to the product's WhatsApp webhook.

Run by ``benchmarks.cluster`` as one process of its own (Locust patches the standard library with
gevent, which the benchmark's supervising process must not have), with Locust's Python API: the
users run ``--warm-up`` seconds, the statistics are reset, they run ``--seconds`` more, and the
statistics of that window are printed as one JSON line. Then the users stop at the end of their
conversation, so every conversation counted as filed is whole and can be checked in the database.

Each turn is a signed webhook call through nginx, as Meta makes it; the web replica answers it
once the assistant has answered (Rasa through its balancer, the action servers through theirs),
so a turn's time is the customer's message to the assistant's reply, which the web replica then
sends to the WhatsApp stand-in. Customers write in Turkish, English and German in turn, with the
wording of the assistant's conversation tests.

    python -m benchmarks.cluster_load --host URL --kind complaint|plain --users N --seconds S --warm-up S
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import secrets
import sys
import time
from typing import Any

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

from channels.whatsapp import WEBHOOK_PATH

LANGUAGES = ("tr", "en", "de")
# The wording of tests/assistant/test_conversations.py: the delivery complaint, its order number, yes.
DELIVERY = {
    "tr": "Kargom iki haftadır gelmedi ve kargo firması telefonlara hiç cevap vermiyor",
    "en": "My parcel still hasn't arrived after two weeks and the courier never answers the phone",
    "de": "Mein Paket ist nach zwei Wochen noch nicht angekommen und der Paketdienst geht nie ans Telefon",
}
ORDER = {"tr": "sipariş numaram 4711-2233", "en": "order number 4711-2233", "de": "Bestellnummer 4711-2233"}
YES = {"tr": "evet", "en": "yes", "de": "ja"}
GREETING = {"tr": "merhaba", "en": "hello", "de": "hallo"}
THANKS = {"tr": "teşekkürler", "en": "thank you", "de": "danke"}
PLAIN_TURNS_PER_CONVERSATION = 8  # well under the product's 20 messages a minute per conversation
COMPLAINT_TURN, PLAIN_TURN = "complaint turn", "plain turn"
STOP_SECONDS = 120  # a conversation under way is finished after the measured window

_languages = itertools.cycle(LANGUAGES)
started: list[str] = []  # the numbers of the complaint conversations begun, and of those filed
filed: list[str] = []


class Customer(FastHttpUser):
    """A WhatsApp customer; each turn is one webhook call, the next sent as soon as it is answered."""

    abstract = True
    wait_time = constant(0)
    phone_number_id = ""
    app_secret = ""

    def say(self, number: str, name: str, text: str | None = None, button: str | None = None) -> bool:
        message: dict[str, Any] = {
            "from": number,
            "id": "wamid." + secrets.token_urlsafe(30),
            "timestamp": str(int(time.time())),
        }
        if button is None:
            message.update(type="text", text={"body": text})
        else:  # a tapped reply button: its id is the assistant's payload
            message.update(
                type="interactive",
                interactive={"type": "button_reply", "button_reply": {"id": button, "title": button[:20]}},
            )
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": self.phone_number_id},
            "contacts": [{"profile": {"name": "Customer"}, "wa_id": number}],
            "messages": [message],
        }
        payload = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
        body = json.dumps(payload).encode()
        signature = hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}
        with self.client.post(
            WEBHOOK_PATH, data=body, headers=headers, name=name, catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"HTTP {answer.status_code}")
                return False
        return True


def new_number() -> str:
    return "90" + "".join(secrets.choice("0123456789") for _ in range(10))


class ComplaintCustomer(Customer):
    """Files a delivery complaint: the complaint, the predicted topic confirmed, the order number,
    consent, the summary confirmed (WhatsApp reaches the customer: no contact question)."""

    @task
    def file_complaint(self) -> None:
        language, number = next(_languages), new_number()
        started.append(number)
        turns = [(DELIVERY[language], None), (None, "/affirm"), (ORDER[language], None)]
        turns += [(YES[language], None), (YES[language], None)]
        for text, button in turns:
            if not self.say(number, COMPLAINT_TURN, text, button):
                return
        filed.append(number)


class PlainCustomer(Customer):
    """Greets and thanks, in a conversation of a few turns."""

    @task
    def chat(self) -> None:
        language, number = next(_languages), new_number()
        for turn in range(PLAIN_TURNS_PER_CONVERSATION):
            if not self.say(number, PLAIN_TURN, (GREETING, THANKS)[turn % 2][language]):
                return


def measure(user: type[Customer], host: str, users: int, warm_up: float, seconds: float) -> dict[str, Any]:
    """Run ``users`` customers; the figures of the window after the warm-up."""
    environment = Environment(user_classes=[user], host=host, stop_timeout=STOP_SECONDS)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(warm_up)
    environment.stats.reset_all()
    begun = time.monotonic()
    gevent.sleep(seconds)
    elapsed = time.monotonic() - begun
    turns = environment.stats.total
    figures = {
        "seconds": elapsed,
        "turns": turns.num_requests,
        "failures": turns.num_failures,
        "p50_ms": turns.get_response_time_percentile(0.5),
        "p95_ms": turns.get_response_time_percentile(0.95),
        "errors": sorted({str(error.error) for error in environment.stats.errors.values()}),
    }
    runner.stop()  # graceful: each user finishes the conversation in hand
    runner.quit()
    return {**figures, "started": started, "filed": filed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="the product's address: nginx's")
    parser.add_argument("--kind", choices=("complaint", "plain"), required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--warm-up", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--phone-number-id", required=True)
    parser.add_argument("--app-secret", required=True)
    args = parser.parse_args()
    Customer.phone_number_id, Customer.app_secret = args.phone_number_id, args.app_secret
    user = ComplaintCustomer if args.kind == "complaint" else PlainCustomer
    print(json.dumps(measure(user, args.host, args.users, args.warm_up, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
