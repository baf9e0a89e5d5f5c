"""The admin console over real HTTP (the product's app under uvicorn) on SQLite and PostgreSQL.

Signing in and out, the session cookie and the forms' CSRF tokens, the review queue (by frequency,
by language, masked), assigning, creating an intent and dismissing (checked in the service layer),
the training data, the models with their evaluations, the retrain button, rolling back, and a
conversation's transcript from Rasa's HTTP API (played by a local server).
"""

from __future__ import annotations

import html
import re
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.engine import Engine

from admin.project import AssistantProject
from ccm.web import create_app
from ccm_core.adapters.tables import UnrecognisedMessage
from ccm_core.bootstrap import Core
from ccm_core.domain.errors import PreconditionFailed
from ccm_core.i18n import translate
from ccm_core.service_layer import sessions, teaching
from ccm_core.service_layer.sessions import SignInFailed
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings
from tests.conftest import Clock
from tests.harness import product_settings
from tests.http_server import free_port, serving
from tests.service.helpers import staff

ADMIN = "admin@example.com"  # Deniz Aksoy, admin, reads Turkish
LEAD = "elif.kaya@example.com"  # a lead: staff, but not an admin
PASSWORD = "correct horse battery staple"
RASA_TOKEN = "rasa-secret-token"
CONVERSATION = "web:9b2f3c1d-session"
TRANSCRIPT = [
    {"event": "action", "name": "action_session_start", "timestamp": 1_790_000_000.0},
    {"event": "user", "text": "Açılış saatleriniz nedir?", "timestamp": 1_790_000_001.0},
    {"event": "bot", "text": "Bunu tam anlayamadım.", "timestamp": 1_790_000_002.0},
    {"event": "user", "text": "Mağaza kaçta açılıyor?", "timestamp": 1_790_000_010.0},
    {
        "event": "bot",
        "text": "Şunu mu demek istediniz: Durum sorgusu?",
        "data": {"buttons": [{"title": "Durum sorgusu", "payload": "/check_status"}]},
        "timestamp": 1_790_000_011.0,
    },
]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def unmasked(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@dataclass
class Console:
    url: str
    core: Core
    clock: Clock

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, follow_redirects=False, timeout=20)

    def uow(self) -> UnitOfWork:
        return self.core.unit_of_work()

    def keep(self, text: str, language: str, times: int = 1, **fields: Any) -> list[int]:
        """A message the assistant missed, seen ``times`` times (a minute apart)."""
        ids = []
        for _ in range(times):
            self.clock.advance(minutes=1)
            ids.append(
                teaching.keep_unrecognised_message(
                    self.uow(),
                    channel="web",
                    conversation_id=fields.get("conversation_id", CONVERSATION),
                    language=language,
                    text=text,
                    predicted_intent=fields.get("predicted_intent", "check_status"),
                    confidence=fields.get("confidence", 0.41),
                    reason="low_confidence",
                )
            )
        return ids

    def statuses(self, ids: list[int]) -> list[tuple[str, str | None]]:
        with self.uow() as uow:
            rows = uow.session.scalars(
                select(UnrecognisedMessage)
                .where(UnrecognisedMessage.id.in_(ids))
                .order_by(UnrecognisedMessage.id)
            )
            return [(row.status, row.assigned_intent) for row in rows]


def fake_rasa() -> FastAPI:
    """Rasa's HTTP API as far as the console uses it: a conversation's tracker, behind the token."""
    app = FastAPI()

    @app.get("/conversations/{conversation_id:path}/tracker")
    def tracker(conversation_id: str, token: str = "", include_events: str = "") -> Any:
        if token != RASA_TOKEN:
            return JSONResponse({"status": "failure", "reason": "NotAuthenticated"}, status_code=401)
        events = TRANSCRIPT if conversation_id == CONVERSATION else []
        return {"sender_id": conversation_id, "events": events}

    return app


@pytest.fixture
def rasa_url() -> Iterator[str]:
    with serving(fake_rasa()) as url:
        yield url


@pytest.fixture
def console(
    uow: UnitOfWork,
    settings: CoreSettings,
    engine: Engine,
    make_uow: Callable[[], UnitOfWork],
    clock: Clock,
    rasa_url: str,
) -> Iterator[Console]:
    """The whole product's web server on the seeded database, the admin and a lead with passwords."""
    core = Core(settings, engine, make_uow)
    sessions.set_password(core.unit_of_work(), ADMIN, PASSWORD)
    sessions.set_password(core.unit_of_work(), LEAD, PASSWORD)
    with serving(create_app(core, product_settings(core, rasa_url, RASA_TOKEN))) as url:
        yield Console(url, core, clock)


def login_form(client: httpx.Client) -> str:
    page = client.get("/admin/login")
    assert page.status_code == 200, page.text
    return CSRF.search(page.text).group(1)


def sign_in(client: httpx.Client, email: str = ADMIN, password: str = PASSWORD) -> httpx.Response:
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf": login_form(client)}
    )


@pytest.fixture
def admin(console: Console) -> Iterator[httpx.Client]:
    with console.client() as client:
        assert sign_in(client).status_code == 303
        yield client


def csrf(client: httpx.Client, path: str = "/admin") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return CSRF.search(page.text).group(1)


def texts(page: str) -> list[str]:
    """The review queue's masked texts, in the order shown."""
    return [html.unescape(text) for text in re.findall(r'<blockquote class="text"[^>]*>([^<]*)<', page)]


def alert(page: str) -> str:
    found = re.search(r'role="alert">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else ""


def notice(page: str) -> str:
    found = re.search(r'role="status">([^<]*)<', page)
    return html.unescape(found.group(1)) if found else ""


# --- signing in ---


def test_pages_send_a_visitor_who_is_not_signed_in_to_the_login_page(console: Console) -> None:
    ids = console.keep("asdf qwerty", "en")
    with console.client() as client:
        for path in ("/admin", "/admin/intents", "/admin/models", f"/admin/conversations/{CONVERSATION}"):
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/admin/login"
        refused = client.post("/admin/review/dismiss", data={"items": str(ids[0]), "csrf": "x"})
        assert refused.status_code == 303
        assert refused.headers["location"] == "/admin/login"
    assert console.statuses(ids) == [("open", None)]


def test_a_wrong_password_is_refused_in_the_readers_language(console: Console) -> None:
    with console.client(**{"Accept-Language": "de-DE,de;q=0.9"}) as client:
        response = sign_in(client, password="not the password at all")
        assert response.status_code == 401
        assert '<html lang="de">' in response.text
        assert alert(response.text) == SignInFailed().message("de")
        assert "ccm_admin_session" not in response.headers.get("set-cookie", "")
        unknown = sign_in(client, email="nobody@example.com")
        assert unknown.status_code == 401
        assert alert(unknown.text) == SignInFailed().message("de")  # the same words: nothing to learn
        assert client.get("/admin").status_code == 303


def test_guessing_a_password_is_stopped_after_five_tries_a_minute(console: Console) -> None:
    with console.client(**{"Accept-Language": "en"}) as client:
        for _ in range(5):
            assert sign_in(client, password="guess, guess, guess").status_code == 401
        stopped = sign_in(client)  # even the right password waits now
        assert stopped.status_code == 429
        assert alert(stopped.text) == translate("en", "console.login.too_many")
        assert "ccm_admin_session" not in stopped.headers.get("set-cookie", "")
        assert client.get("/admin").status_code == 303


def test_staff_who_are_not_admins_cannot_sign_in(console: Console) -> None:
    with console.client(**{"Accept-Language": "tr"}) as client:
        response = sign_in(client, email=LEAD)
        assert response.status_code == 401
        assert alert(response.text) == SignInFailed().message("tr")
        assert client.get("/admin").status_code == 303


def test_a_sign_in_without_the_forms_token_is_refused(console: Console) -> None:
    with console.client() as client:
        response = client.post("/admin/login", data={"email": ADMIN, "password": PASSWORD})
        assert response.status_code == 403
        assert alert(response.text) == translate("en", "console.forbidden")
        assert client.get("/admin").status_code == 303


def test_signing_in_keeps_the_session_in_a_strict_http_only_cookie_and_signing_out_ends_it(
    console: Console,
) -> None:
    with console.client(**{"Accept-Language": "en"}) as client:
        response = sign_in(client)
        assert response.status_code == 303
        assert response.headers["location"] == "/admin"
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("ccm_admin_session=")
        )
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/admin"} <= attributes
        assert "secure" not in attributes  # plain http here

        queue = client.get("/admin")
        assert queue.status_code == 200
        assert '<html lang="tr">' in queue.text  # the admin's locale, not the browser's
        assert translate("tr", "console.queue.title") in queue.text
        assert "Deniz Aksoy" in queue.text
        assert queue.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in queue.headers["content-security-policy"]

        german = client.get("/admin/models?lang=de")
        assert '<html lang="de">' in german.text
        assert translate("de", "console.models.title") in german.text
        assert '<html lang="de">' in client.get("/admin/intents").text  # the switch is remembered

        console.clock.advance(hours=sessions.SESSION_HOURS, minutes=-1)
        assert client.get("/admin").status_code == 200  # the session lasts its hours
        signed_out = client.post("/admin/logout", data={"csrf": csrf(client)})
        assert signed_out.status_code == 303
        assert signed_out.headers["location"] == "/admin/login"
        assert client.get("/admin").status_code == 303


def test_a_session_ends_after_its_hours(console: Console, admin: httpx.Client) -> None:
    assert admin.get("/admin").status_code == 200
    console.clock.advance(hours=sessions.SESSION_HOURS, minutes=1)
    expired = admin.get("/admin")
    assert expired.status_code == 303
    assert expired.headers["location"] == "/admin/login"


def test_the_session_cookie_is_secure_when_the_request_came_over_https(console: Console) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1, as it does from a TLS-terminating proxy there.
    with console.client(**{"X-Forwarded-Proto": "https"}) as client:
        form = client.get("/admin/login")
        login_cookie = form.headers["set-cookie"]
        assert "secure" in {part.strip().lower() for part in login_cookie.split(";")}
        # httpx keeps Secure cookies for https only, so the browser's part is played by hand here
        response = client.post(
            "/admin/login",
            data={"email": ADMIN, "password": PASSWORD, "csrf": CSRF.search(form.text).group(1)},
            headers={"Cookie": login_cookie.split(";")[0]},
        )
        assert response.status_code == 303
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("ccm_admin_session=")
        )
        assert {"secure", "httponly", "samesite=strict"} <= {
            part.strip().lower() for part in cookie.split(";")
        }


def test_forms_without_the_sessions_csrf_token_are_refused_and_change_nothing(
    console: Console, admin: httpx.Client
) -> None:
    ids = console.keep("asdf qwerty", "en", times=2)
    items = ",".join(map(str, ids))
    with console.client() as other:  # the same admin in another browser: another session, another token
        assert sign_in(other).status_code == 303
        others_token = csrf(other)
    mine = csrf(admin)
    assert others_token != mine
    for token in ("", "forged", others_token):
        for path, data in (
            ("/admin/review/dismiss", {"items": items}),
            ("/admin/review/assign", {"items": items, "intent": "greet"}),
            ("/admin/models/retrain", {}),
            ("/admin/logout", {}),
        ):
            response = admin.post(path, data={**data, "csrf": token})
            assert response.status_code == 403, (path, token)
            assert alert(response.text) == translate("tr", "console.forbidden")
    assert console.statuses(ids) == [("open", None), ("open", None)]
    assert teaching.retrain_requests(console.uow(), staff(console.uow(), ADMIN)) == []
    assert admin.get("/admin").status_code == 200  # still signed in
    assert admin.post("/admin/review/dismiss", data={"items": items, "csrf": mine}).status_code == 303
    assert console.statuses(ids) == [("dismissed", None), ("dismissed", None)]


# --- the review queue ---


def test_the_queue_shows_the_most_frequent_first_masked_and_filters_by_language(
    console: Console, admin: httpx.Client
) -> None:
    console.keep("Wo ist meine Rechnung?", "de", times=1)
    console.keep("Benim adım Ahmet Yılmaz, kargom nerede? 0532 123 45 67", "tr", times=2)
    console.keep("what are your opening hours", "en", times=2)
    console.keep("What are your  opening hours", "en", times=1)  # the same text, told apart by nothing
    console.keep("Wann öffnet ihr?", "de", times=2, predicted_intent="greet", confidence=0.25)

    page = admin.get("/admin?lang=en")
    assert page.status_code == 200
    shown = texts(page.text)
    assert shown == [
        "What are your  opening hours",  # 3 times (the latest wording is shown)
        "Wann öffnet ihr?",  # 2
        "Benim adım <name>, kargom nerede? <phone>",  # 2
        "Wo ist meine Rechnung?",  # 1
    ]
    assert "Ahmet" not in page.text and "0532" not in page.text
    assert translate("en", "console.queue.seen", count=3) in page.text
    assert "<code>greet</code>" in page.text and "25%" in page.text
    assert f'href="/admin/conversations/{CONVERSATION.replace(":", "%3A")}"' in page.text
    for tab in ("All languages (8)", "Turkish (2)", "English (3)", "German (3)"):
        assert tab in page.text

    german = admin.get("/admin?language=de")
    assert texts(german.text) == ["Wann öffnet ihr?", "Wo ist meine Rechnung?"]
    assert 'href="/admin?language=de" aria-current="page"' in german.text
    assert texts(admin.get("/admin?language=tr").text) == ["Benim adım <name>, kargom nerede? <phone>"]


def test_assigning_creating_an_intent_and_dismissing_change_the_review_items(
    console: Console, admin: httpx.Client
) -> None:
    billing = console.keep("Wo ist meine Rechnung?", "de", times=2)
    hours = console.keep("what are your opening hours", "en", times=3)
    noise = console.keep("asdf qwerty", "tr")
    token = csrf(admin)

    assigned = admin.post(
        "/admin/review/assign",
        data={
            "items": ",".join(map(str, billing)),
            "intent": "complaint_billing",
            "language": "de",
            "csrf": token,
        },
    )
    assert assigned.status_code == 303
    assert assigned.headers["location"].startswith("/admin?language=de&done=assigned")
    assert console.statuses(billing) == [("assigned", "complaint_billing")] * 2
    after = admin.get(assigned.headers["location"])
    assert notice(after.text) == translate(
        "tr", "console.queue.assigned", count=2, intent="complaint_billing"
    )

    answers = {
        "answer_tr": "Mağazalarımız her gün 09:00-21:00 arası açıktır.",
        "answer_en": "Our shops are open every day from 9 am to 9 pm.",
        "answer_de": "Unsere Filialen haben täglich von 9 bis 21 Uhr geöffnet.",
    }
    created = admin.post(
        "/admin/review/new-intent",
        data={"items": ",".join(map(str, hours)), "name": "ask_opening_hours", **answers, "csrf": token},
    )
    assert created.status_code == 303
    assert console.statuses(hours) == [("assigned", "ask_opening_hours")] * 3
    learned = {intent.name: intent.responses for intent in teaching.learned_intents(console.uow())}
    assert learned == {"ask_opening_hours": {code: answers[f"answer_{code}"] for code in ("tr", "en", "de")}}
    assert notice(admin.get(created.headers["location"]).text) == translate(
        "tr", "console.queue.created", count=3, intent="ask_opening_hours"
    )

    dismissed = admin.post("/admin/review/dismiss", data={"items": str(noise[0]), "csrf": token})
    assert dismissed.status_code == 303
    assert console.statuses(noise) == [("dismissed", None)]
    assert teaching.review_queue(console.uow(), staff(console.uow(), ADMIN)) == []
    assert teaching.assigned_counts(console.uow()) == {
        ("complaint_billing", "de"): 2,
        ("ask_opening_hours", "en"): 3,
    }
    queue = admin.get("/admin")
    assert texts(queue.text) == []
    assert translate("tr", "console.queue.empty") in queue.text
    # the learned intent is offered for the next messages
    console.keep("Mağaza kaçta açılıyor?", "tr")
    assert '<option value="ask_opening_hours">' in admin.get("/admin").text


def test_refusals_show_on_the_queue_in_the_admins_language_and_change_nothing(
    console: Console, admin: httpx.Client
) -> None:
    ids = console.keep("what are your opening hours", "en", times=2)
    items = ",".join(map(str, ids))
    token = csrf(admin)

    bad_name = admin.post(
        "/admin/review/new-intent",
        data={
            "items": items,
            "name": "Opening Hours!",
            "answer_tr": "a",
            "answer_en": "b",
            "answer_de": "c",
            "csrf": token,
        },
    )
    assert bad_name.status_code == 422
    assert "Opening Hours!" in alert(bad_name.text)
    missing_answer = admin.post(
        "/admin/review/new-intent",
        data={"items": items, "name": "ask_opening_hours", "answer_tr": "a", "answer_en": "b", "csrf": token},
    )
    assert missing_answer.status_code == 422
    unknown_intent = admin.post(
        "/admin/review/assign", data={"items": items, "intent": "no_such_intent", "csrf": token}
    )
    assert unknown_intent.status_code == 422
    existing = admin.post(
        "/admin/review/new-intent",
        data={
            "items": items,
            "name": "greet",
            "answer_tr": "a",
            "answer_en": "b",
            "answer_de": "c",
            "csrf": token,
        },
    )
    assert existing.status_code == 409
    assert alert(existing.text) == PreconditionFailed("intent_exists", intent="greet").message("tr")
    assert console.statuses(ids) == [("open", None), ("open", None)]
    assert teaching.learned_intents(console.uow()) == []

    # someone else was quicker
    teaching.dismiss_review_items(console.uow(), staff(console.uow(), ADMIN), ids[:1])
    late = admin.post("/admin/review/assign", data={"items": items, "intent": "greet", "csrf": token})
    assert late.status_code == 409
    assert alert(late.text) == PreconditionFailed("already_reviewed", items=str(ids[0])).message("tr")
    assert console.statuses(ids) == [("dismissed", None), ("open", None)]


# --- training data, models, conversations ---


def test_the_intents_page_counts_examples_per_intent_and_language_with_those_waiting(
    console: Console, admin: httpx.Client
) -> None:
    actor = staff(console.uow(), ADMIN)
    billing = console.keep("Wo ist meine Rechnung?", "de", times=2)
    teaching.assign_review_items(
        console.uow(), actor, billing, intent="complaint_billing", known_intents=["complaint_billing"]
    )
    teaching.create_intent(
        console.uow(),
        actor,
        name="ask_opening_hours",
        responses={"tr": "Saat 9-21.", "en": "9 to 9.", "de": "9 bis 21 Uhr."},
        known_intents=[],
    )
    hours = console.keep("what are your opening hours", "en", times=3)
    teaching.assign_review_items(console.uow(), actor, hours, intent="ask_opening_hours", known_intents=[])

    page = admin.get("/admin/intents?lang=en").text
    table = page[: page.index('id="waiting-title"')]  # the training data, before the waiting examples
    counts = AssistantProject().example_counts()
    rows = {
        name: re.findall(
            r'<td class="num">(\d+)(?: <span class="waiting">\(\+(\d+) waiting\)</span>)?</td>', row
        )
        for name, row in re.findall(r"<tr>\s*<th scope=\"row\"><code>(\w+)</code>(.*?)</tr>", table, re.S)
    }
    billing_counts = counts["complaint_billing"]
    assert rows["complaint_billing"][:3] == [
        (str(billing_counts["tr"]), ""),
        (str(billing_counts["en"]), ""),
        (str(billing_counts["de"]), "2"),
    ]
    assert rows["complaint_billing"][3] == (str(sum(billing_counts.values())), "2")
    assert rows["ask_opening_hours"] == [("0", ""), ("0", "3"), ("0", ""), ("0", "3")]
    greet = counts["greet"]
    assert rows["greet"] == [(str(greet[code]), "") for code in ("tr", "en", "de")] + [
        (str(sum(greet.values())), "")
    ]
    assert '<span class="badge">new</span>' in page
    assert "9 bis 21 Uhr." in page  # the learned intent's answers
    total_de = sum(per_language.get("de", 0) for per_language in counts.values())
    assert f'<td class="num">{total_de} <span class="waiting">(+2 waiting)</span></td>' in page


def evaluation(f1: float, accuracy: float) -> dict[str, Any]:
    return {
        code: {"intent_macro_f1": f1 + i / 100, "intent_accuracy": accuracy + i / 100, "examples": 176}
        for i, code in enumerate(("tr", "en", "de"))
    }


def test_the_models_page_shows_each_model_with_its_evaluation_and_the_retrain_button_queues_once(
    console: Console, admin: httpx.Client
) -> None:
    actor = staff(console.uow(), ADMIN)
    first = teaching.record_model(
        console.uow(),
        actor,
        name="ccm-first",
        path="/models/first.tar.gz",
        deployed=True,
        evaluation=evaluation(0.901, 0.881),
        baseline={},
        reason=None,
        examples_added=0,
    )
    console.clock.advance(hours=1)
    teaching.record_model(
        console.uow(),
        actor,
        name="ccm-worse",
        path="/models/worse.tar.gz",
        deployed=False,
        evaluation=evaluation(0.850, 0.840),
        baseline=evaluation(0.901, 0.881),
        reason="intent macro-F1 fell in tr: 0.850 < 0.901",
        examples_added=2,
    )
    console.clock.advance(hours=1)
    teaching.record_model(
        console.uow(),
        actor,
        name="ccm-second",
        path="/models/second.tar.gz",
        deployed=True,
        evaluation=evaluation(0.912, 0.894),
        baseline=evaluation(0.901, 0.881),
        reason=None,
        examples_added=5,
    )

    response = admin.get("/admin/models?lang=en")
    assert response.status_code == 200, response.text
    page = response.text
    for name, state in (("ccm-second", "deployed"), ("ccm-worse", "refused"), ("ccm-first", "retired")):
        assert re.search(
            rf"<code>{name}</code></h3>\s*<span class=\"state state-{state}\">{state}</span>", page
        )
    assert page.index("ccm-second") < page.index("ccm-worse") < page.index("ccm-first")  # the newest first
    assert '<td class="num better">0.912</td>' in page and '<td class="num muted">0.901</td>' in page
    assert '<td class="num worse">0.850</td>' in page
    assert "intent macro-F1 fell in tr: 0.850 &lt; 0.901" in page
    assert translate("en", "console.models.evaluation", model="ccm-second") in page
    rollbacks = re.findall(r'action="/admin/models/(\d+)/rollback"', page)
    assert rollbacks == [
        str(first.id)
    ]  # only an earlier deployed model: not the one in service, not a refused one
    assert "0,912" in admin.get("/admin/models?lang=de").text  # decimals as the reader writes them

    token = csrf(admin, "/admin/models")
    queued = admin.post("/admin/models/retrain", data={"csrf": token})
    assert queued.status_code == 303
    jobs = teaching.retrain_requests(console.uow(), actor)
    assert [(job.status, job.requested_by) for job in jobs] == [("queued", f"staff:{ADMIN}")]
    assert notice(admin.get(queued.headers["location"]).text) == translate(
        "de", "console.models.retrain_queued", id=jobs[0].id
    )
    again = admin.post("/admin/models/retrain", data={"csrf": token})
    assert len(teaching.retrain_requests(console.uow(), actor)) == 1  # queued once
    after = admin.get(again.headers["location"]).text
    assert notice(after) == translate(
        "de",
        "console.models.retrain_waiting",
        id=jobs[0].id,
        status=translate("de", "console.models.state.queued"),
    )
    assert re.search(rf"<th scope=\"row\">#{jobs[0].id}</th>.*?eingereiht", after, re.S)


def test_rolling_back_goes_through_the_training_pipeline(
    console: Console, admin: httpx.Client, monkeypatch: pytest.MonkeyPatch, rasa_url: str
) -> None:
    actor = staff(console.uow(), ADMIN)
    first = teaching.record_model(
        console.uow(),
        actor,
        name="ccm-first",
        path="/models/first.tar.gz",
        deployed=True,
        evaluation=evaluation(0.9, 0.9),
        baseline={},
        reason=None,
        examples_added=0,
    )
    refused = teaching.record_model(
        console.uow(),
        actor,
        name="ccm-refused",
        path="/models/refused.tar.gz",
        deployed=False,
        evaluation=evaluation(0.8, 0.8),
        baseline=evaluation(0.9, 0.9),
        reason="worse",
        examples_added=1,
    )
    teaching.record_model(
        console.uow(),
        actor,
        name="ccm-second",
        path="/models/second.tar.gz",
        deployed=True,
        evaluation=evaluation(0.91, 0.91),
        baseline=evaluation(0.9, 0.9),
        reason=None,
        examples_added=1,
    )
    calls: list[tuple[Any, ...]] = []

    class RetrainFailed(Exception):
        pass

    def roll_back(core: Core, settings: object, who: Any, model_id: int) -> teaching.ModelView:
        calls.append((core, settings, who.label, model_id))
        if model_id == 999:
            raise RetrainFailed("PUT http://rasa/model did not answer (ConnectError); the old model stays.")
        return teaching.rolled_back(core.unit_of_work(), who, model_id)  # what the pipeline records

    training = types.ModuleType("admin.training")
    training.roll_back = roll_back  # type: ignore[attr-defined]
    training.RetrainFailed = RetrainFailed  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "admin.training", training)

    token = csrf(admin, "/admin/models")
    rolled = admin.post(f"/admin/models/{first.id}/rollback", data={"csrf": token})
    assert rolled.status_code == 303
    assert [(core, who, model) for core, _settings, who, model in calls] == [
        (console.core, f"staff:{ADMIN}", first.id)
    ]
    assert calls[0][1].assistant.rasa_url == rasa_url  # the Rasa server the console reads
    shown = admin.get(rolled.headers["location"]).text
    assert notice(shown) == translate("tr", "console.models.rolled_back", model="ccm-first")
    states = {model.name: model.status for model in teaching.models(console.uow(), actor)}
    assert states == {"ccm-first": "deployed", "ccm-refused": "refused", "ccm-second": "retired"}

    never = admin.post(f"/admin/models/{refused.id}/rollback", data={"csrf": token})
    assert never.status_code == 409
    assert alert(never.text) == PreconditionFailed("model_never_deployed", model="ccm-refused").message("tr")
    down = admin.post("/admin/models/999/rollback", data={"csrf": token})
    assert down.status_code == 502
    assert "the old model stays" in alert(down.text)
    assert admin.post(f"/admin/models/{first.id}/rollback", data={}).status_code == 403
    assert len(calls) == 3


def test_a_conversation_is_read_from_rasa_in_order_and_rasa_being_down_is_said_plainly(
    console: Console, admin: httpx.Client, rasa_url: str
) -> None:
    console.keep("Açılış saatleriniz nedir?", "tr")
    queue = admin.get("/admin").text
    link = re.search(r'href="(/admin/conversations/[^"]+)"', queue).group(1)
    page = admin.get(link)
    assert page.status_code == 200
    said = [html.unescape(text) for text in re.findall(r'<p class="said">([^<]*)</p>', page.text)]
    assert said == [event["text"] for event in TRANSCRIPT if event["event"] in ("user", "bot")]
    speakers = re.findall(r'class="turn turn-(\w+)"', page.text)
    assert speakers == ["customer", "assistant", "customer", "assistant"]
    assert "<li>Durum sorgusu</li>" in page.text  # the buttons the assistant offered
    assert CONVERSATION in page.text

    unknown = admin.get("/admin/conversations/web:nobody-here")
    assert unknown.status_code == 200
    assert translate("tr", "console.conversation.empty") in unknown.text

    port = free_port()  # nothing listens there
    down_settings = product_settings(console.core, f"http://127.0.0.1:{port}", RASA_TOKEN)
    with serving(create_app(console.core, down_settings)) as other, httpx.Client(base_url=other) as client:
        client.cookies = admin.cookies
        down = client.get(f"/admin/conversations/{CONVERSATION}")
        assert down.status_code == 503
        assert alert(down.text) == translate("tr", "console.conversation.unreachable")


def test_a_wrongly_labelled_batch_waiting_for_a_retrain_goes_back_to_the_queue(
    console: Console, admin: httpx.Client
) -> None:
    actor = staff(console.uow(), ADMIN)
    hellos = console.keep("hallo zusammen", "de", times=3)
    teaching.assign_review_items(console.uow(), actor, hellos, intent="goodbye", known_intents=["goodbye"])
    assert (
        "Return the waiting examples of goodbye to the review queue"
        in admin.get("/admin/intents?lang=en").text
    )

    response = admin.post(
        "/admin/intents/reopen", data={"intent": "goodbye", "csrf": csrf(admin, "/admin/intents")}
    )

    assert response.status_code == 303
    assert teaching.assigned_counts(console.uow()) == {}
    assert [(g.text, g.count) for g in teaching.review_queue(console.uow(), actor)] == [("hallo zusammen", 3)]
