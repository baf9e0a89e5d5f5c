"""The survey page behind a signed link, over real HTTP (the product under uvicorn), SQLite and PostgreSQL.

A case is walked to 09 and its survey message carries the link; the customer opens it, sees the
question in the case's language, and answers once. Forged links are not found; a used link thanks
and changes nothing, whichever way the round was answered.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from ccm.web import create_app
from ccm_core.adapters.db import session_factory
from ccm_core.bootstrap import Core
from ccm_core.domain.complaint import Complaint
from ccm_core.domain.policy import Actor
from ccm_core.domain.queues import StaffNotice
from ccm_core.domain.records import AuditEvent, SurveyResponse
from ccm_core.domain.survey import load_survey
from ccm_core.domain.survey_link import survey_token
from ccm_core.i18n import LANGUAGES
from ccm_core.service_layer import customer_data, services
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings
from surveys import page as survey_page
from tests.conftest import Clock
from tests.harness import product_settings
from tests.http_server import serving
from tests.service.helpers import outbox, record, staff, to_informed

LEAD = "elif.kaya@example.com"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
WEB_SESSION = "0f9d2c7e-5b1a-4c3e-9a8d-2b7e6f1c4d5a"
TEXTS = {
    language: yaml.safe_load((survey_page.LOCALES / f"{language}.yaml").read_text(encoding="utf-8"))
    for language in LANGUAGES
}


@dataclass
class Site:
    url: str
    core: Core
    clock: Clock

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, follow_redirects=False, timeout=20)

    def uow(self) -> UnitOfWork:
        return self.core.unit_of_work()

    def surveyed(self, language: str = "tr", **overrides: object) -> tuple[str, str]:
        """A case of an e-mail intake walked to 09: its reference and the path of its survey link."""
        fields: dict[str, object] = {
            "channel": "email",
            "language": language,
            "customer": CustomerDetails(name="Ayşe Yılmaz", email="ayse@example.com"),
        }
        fields.update(overrides)
        reference = record(self.uow(), **fields).reference
        lead = staff(self.uow(), LEAD)
        to_informed(self.uow(), lead, reference)
        services.send_survey(self.uow(), lead, reference)
        survey = next(m for m in outbox(self.uow(), reference) if m.kind == "survey")
        return reference, urlsplit(survey.payload["link"]).path

    def case(self, reference: str) -> Complaint:
        with self.uow() as uow:
            complaint = uow.complaints.get(reference)
            assert complaint is not None
            uow.session.expunge_all()
            return complaint

    def responses(self, reference: str) -> list[SurveyResponse]:
        with self.uow() as uow:
            rows = uow.session.scalars(
                select(SurveyResponse)
                .join(Complaint, SurveyResponse.complaint_id == Complaint.id)
                .where(Complaint.reference == reference)
                .order_by(SurveyResponse.id)
            ).all()
            uow.session.expunge_all()
            return list(rows)

    def audit(self, reference: str) -> list[tuple[str, str]]:
        with self.uow() as uow:
            return [
                (row.actor, row.action)
                for row in uow.session.execute(
                    select(AuditEvent.actor, AuditEvent.action)
                    .join(Complaint, AuditEvent.complaint_id == Complaint.id)
                    .where(Complaint.reference == reference)
                    .order_by(AuditEvent.id)
                )
            ]


@pytest.fixture
def make_site(
    uow: UnitOfWork, settings: CoreSettings, engine: Engine, clock: Clock
) -> Iterator[Callable[..., Site]]:
    """The whole product's web server on the seeded database; ``nps=True`` turns the NPS question on."""
    with contextlib.ExitStack() as servers:

        def start(nps: bool = False) -> Site:
            chosen = settings.model_copy(update={"survey_nps": nps})
            factory = session_factory(engine)
            core = Core(chosen, engine, lambda: UnitOfWork(factory, settings=chosen, clock=clock))
            return Site(servers.enter_context(serving(create_app(core, product_settings(core)))), core, clock)

        yield start


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    return make_site()


def visible(page: str) -> str:
    """The page's words as the customer reads them."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def said(language: str, key: str, **params: object) -> str:
    node: object = TEXTS[language]
    for part in key.split("."):
        assert isinstance(node, dict)
        node = node[part]
    return str(node).format(**params)


def form_of(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def answer(client: httpx.Client, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf": form_of(client, path), **fields})


def count(site: Site, entity: type) -> int:
    with site.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(entity)) or 0


# --- showing the survey ---


@pytest.mark.parametrize("language", ["tr", "de"])
def test_the_survey_reads_in_the_cases_language(site: Site, language: str) -> None:
    reference, path = site.surveyed(language)
    definition = load_survey(site.core.settings.survey_file)
    with site.client(**{"Accept-Language": "en"}) as client:
        page = client.get(path)
    assert page.status_code == 200
    shown = visible(page.text)
    assert definition.csat_question(language, reference) in shown
    assert said(language, "complaint", reference=reference) in shown
    for choice in definition.csat.choices(language):
        assert f'value="{choice.value}"' in page.text
        assert choice.title in shown
    assert definition.comment_question(language) in shown
    assert definition.nps_question(language) not in shown  # the NPS question is off by default
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    assert 'name="viewport"' in page.text
    assert not re.search(r"<(script|link|img)\b", page.text)  # nothing is loaded from elsewhere
    style = re.search(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page.headers["content-security-policy"]  # the browser applies it


def test_the_customer_can_switch_the_language(site: Site) -> None:
    reference, path = site.surveyed("tr")
    definition = load_survey(site.core.settings.survey_file)
    with site.client() as client:
        turkish = client.get(path)
        assert f'href="{path}?lang=de"' in turkish.text
        german = client.get(f"{path}?lang=de")
    assert definition.csat_question("de", reference) in visible(german.text)
    assert '<html lang="de">' in german.text


# --- answering ---


def test_a_satisfied_answer_closes_the_case_in_the_customers_name(site: Site) -> None:
    reference, path = site.surveyed("tr")
    with site.client() as client:
        done = answer(client, path, score="5", comment="")
    assert done.status_code == 200
    assert said("tr", "thanks.satisfied.text", reference=reference) in visible(done.text)
    case = site.case(reference)
    assert (case.status, case.close_reason) == ("closed", "satisfied")
    assert site.audit(reference)[-1] == ("customer:survey_link", "answer_satisfied")
    [response] = site.responses(reference)
    assert (response.score, response.source, response.round, response.nps) == (5, "link", 0, None)


def test_a_dissatisfied_answer_opens_the_follow_up_with_the_comment_kept(site: Site) -> None:
    reference, path = site.surveyed("de")
    with site.client() as client:
        done = answer(client, path, score="2", comment="Der Ersatz kam wieder beschädigt an.")
    assert done.status_code == 200
    assert said("de", "thanks.follow_up.text", reference=reference) in visible(done.text)
    case = site.case(reference)
    assert (case.status, case.follow_up_round) == ("follow_up", 1)
    assert site.audit(reference)[-1] == ("customer:survey_link", "answer_dissatisfied")
    [response] = site.responses(reference)
    assert (response.score, response.comment, response.source) == (
        2,
        "Der Ersatz kam wieder beschädigt an.",
        "link",
    )
    with site.uow() as uow:
        kinds = uow.session.scalars(select(StaffNotice.kind).where(StaffNotice.complaint_id == case.id)).all()
    assert "survey_dissatisfied" in kinds


def test_a_used_link_thanks_and_changes_nothing(site: Site) -> None:
    reference, path = site.surveyed("tr")
    with site.client() as client:
        csrf = form_of(client, path)
        assert client.post(path, data={"csrf": csrf, "score": "5"}).status_code == 200
        events = site.audit(reference)
        again = client.get(path)
        posted = client.post(path, data={"csrf": csrf, "score": "1"})  # the same form sent once more
    for page in (again, posted):
        assert page.status_code == 200
        assert said("tr", "refused.answered.text") in visible(page.text)
        assert "<form" not in page.text
    assert site.audit(reference) == events
    assert [r.score for r in site.responses(reference)] == [5]
    assert site.case(reference).status == "closed"


def test_a_link_whose_round_was_answered_in_chat_is_used_up(site: Site) -> None:
    reference, path = site.surveyed(
        "en",
        channel="web",
        customer=CustomerDetails(name="Sam Lee", email="sam@example.com", channel_identity=WEB_SESSION),
    )
    customer = Actor.customer(channel="web", external_id=WEB_SESSION)
    with site.client() as client:
        csrf = form_of(client, path)  # the page is open while the customer answers in the chat
        services.record_survey_answer(site.uow(), customer, reference, score=4, source="chat")
        events = site.audit(reference)
        posted = client.post(path, data={"csrf": csrf, "score": "1", "comment": "changed my mind"})
        shown = client.get(path)
    for page in (shown, posted):
        assert page.status_code == 200
        assert said("en", "refused.answered.text") in visible(page.text)
    assert site.audit(reference) == events
    assert [(r.score, r.source) for r in site.responses(reference)] == [(4, "chat")]


def test_links_not_signed_for_this_case_and_round_are_not_found(site: Site) -> None:
    reference, path = site.surveyed("tr")
    other, _ = site.surveyed("tr")
    token = path.rsplit("/", 1)[1]
    _, round_, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged = [
        f"{reference}.{round_}.{flipped}",  # an altered signature
        f"{other}.{round_}.{signature}",  # another case's reference with this signature
        f"{reference}.1.{signature}",  # another round with this signature
        "CMP-2026-999999.0.x",
    ]
    events, answers = site.audit(reference), count(site, SurveyResponse)
    with site.client(**{"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}) as client:
        for candidate in forged:
            for page in (
                client.get(f"/survey/{candidate}"),
                client.post(f"/survey/{candidate}", data={"score": "5", "csrf": "x"}),
            ):
                assert page.status_code == 404
                assert said("de", "refused.forged.text") in visible(page.text)
                assert page.headers["cache-control"] == "no-store"
    assert site.audit(reference) == events
    assert count(site, SurveyResponse) == answers
    assert site.case(reference).status == "survey_sent"


def test_another_rounds_genuine_link_says_the_survey_is_not_open(site: Site) -> None:
    reference, _ = site.surveyed("en")
    later_round = survey_token(site.core.settings.secret_key, reference, 1)
    with site.client() as client:
        page = client.get(f"/survey/{later_round}")
    assert page.status_code == 410
    assert said("en", "refused.closed.text", reference=reference) in visible(page.text)


def test_an_expired_survey_is_explained_politely(site: Site) -> None:
    reference, path = site.surveyed("de")
    services.expire_survey(site.uow(), staff(site.uow(), LEAD), reference)
    with site.client() as client:
        page = client.get(path)
        posted = client.post(path, data={"score": "5", "csrf": "x"})
    for shown in (page, posted):
        assert shown.status_code == 410
        assert said("de", "refused.closed.text", reference=reference) in visible(shown.text)
    assert page.headers["referrer-policy"] == "no-referrer"
    assert site.case(reference).close_reason == "no_response"


def test_a_customer_whose_data_was_erased_is_asked_nothing(site: Site) -> None:
    reference, path = site.surveyed("tr")
    customer_data.erase_customer_data(site.uow(), staff(site.uow(), "admin@example.com"), reference)
    with site.client() as client:
        page = client.get(path)
    assert page.status_code == 410
    assert said("tr", "refused.erased.text") in visible(page.text)
    assert "<form" not in page.text


# --- refusals of the form ---


def test_a_missing_score_shows_the_form_again_in_the_customers_language(site: Site) -> None:
    reference, path = site.surveyed("de")
    comment = "Lieferung kam <spät> & beschädigt"
    with site.client(**{"Accept-Language": "en"}) as client:
        page = answer(client, path, comment=comment)
    assert page.status_code == 422
    shown = visible(page.text)
    assert said("de", "errors.score_missing") in shown
    assert f">{html.escape(comment, quote=False)}</textarea>" in page.text
    assert site.case(reference).status == "survey_sent"
    assert site.responses(reference) == []


def test_a_score_outside_the_scale_is_refused_with_the_form_kept(site: Site) -> None:
    reference, path = site.surveyed("tr")
    with site.client() as client:
        pages = [answer(client, path, score=score, comment="puan dokuz") for score in ("9", "0", "²", "beş")]
    for page in pages:
        assert page.status_code == 422
        assert "puan dokuz</textarea>" in page.text
    assert site.responses(reference) == []


def test_a_form_without_the_links_token_is_refused(site: Site) -> None:
    reference, path = site.surveyed("en")
    with site.client() as client:
        pages = [client.post(path, data={"score": "5", "csrf": csrf}) for csrf in ("", "forged", "çerez")]
    for page in pages:
        assert page.status_code == 403
        assert said("en", "refused.expired.text") in visible(page.text)
    assert site.case(reference).status == "survey_sent"


# --- the NPS question ---


def test_nps_is_neither_shown_nor_stored_when_off(site: Site) -> None:
    reference, path = site.surveyed("en")
    with site.client() as client:
        assert 'name="nps"' not in client.get(path).text
        answer(client, path, score="4", nps="9")
    [response] = site.responses(reference)
    assert (response.score, response.nps) == (4, None)


def test_nps_is_asked_and_stored_when_on(make_site: Callable[..., Site]) -> None:
    site = make_site(nps=True)
    reference, path = site.surveyed("tr")
    definition = load_survey(site.core.settings.survey_file)
    with site.client() as client:
        page = client.get(path)
        assert definition.nps_question("tr") in visible(page.text)
        assert all(f'name="nps" value="{point}"' in page.text for point in range(11))
        missing = answer(client, path, score="4", comment="iyi")
        assert missing.status_code == 422
        assert said("tr", "errors.nps_missing") in visible(missing.text)
        assert 'value="4" required checked' in missing.text  # what they chose is kept
        done = answer(client, path, score="4", nps="9")
    assert done.status_code == 200
    [response] = site.responses(reference)
    assert (response.score, response.nps, response.source) == (4, 9, "link")


# --- what is kept out of logs, and the texts ---


def test_the_access_log_does_not_show_the_link() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/survey/CMP-2026-000001.0.secret-signature", "1.1", 200),
        None,
    )
    survey_page.HideSurveyTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /survey/… HTTP/1.1" 200'


def test_the_pages_texts_exist_in_every_language() -> None:
    english = set(survey_page.catalogue("en"))
    for language in LANGUAGES:
        assert set(survey_page.catalogue(language)) == english, language
