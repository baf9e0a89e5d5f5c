"""Every operation of the OpenAPI document, called by every kind of caller, against a declared table.

The table (``MATRIX``) is written by hand from the rules of ``ccm_core.domain.policy``: agents,
leads and admins; staff act on their own department's cases only, an admin on every department's;
closing, reassigning, expiring a survey and exporting the customer's copy of their data are for
leads, erasing a customer's data for admins; a file the customer sent opens for whoever may see the
case. It is never read from the code under test, so a rule
that changes by accident fails a cell. The document is the list of operations: one it has and the
table lacks (a new route), or one the table names and the document no longer has, fails the run, so
no route escapes the matrix.

The case is a delivery complaint, so it belongs to Logistics: Lukas Schmidt is its agent, Elif Kaya
its lead; Mehmet Demir and Ayşe Yılmaz are agent and lead of Customer Care.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ccm_core.domain.policy import Actor
from ccm_core.service_layer import access, mail_intake, services, views
from ccm_core.service_layer.mail_intake import IncomingMail, MailFile
from ccm_core.service_layer.services import CustomerDetails
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import CaseView
from tests.api.helpers import API, DELIVERY_COMPLAINT
from tests.service.helpers import record

Headers = dict[str, str]
PathParams = dict[str, Any]


class Caller(Enum):
    ANONYMOUS = "no token"
    WRONG_TOKEN = "a wrong token"
    AGENT = "agent of the case's department"
    LEAD = "lead of the case's department"
    ADMIN = "admin"
    OTHER_AGENT = "agent of another department"
    OTHER_LEAD = "lead of another department"


STAFF_EMAILS = {
    Caller.AGENT: "lukas.schmidt@example.com",
    Caller.LEAD: "elif.kaya@example.com",
    Caller.ADMIN: "admin@example.com",
    Caller.OTHER_AGENT: "mehmet.demir@example.com",
    Caller.OTHER_LEAD: "ayse.yilmaz@example.com",
}
WRONG_TOKEN = {"Authorization": "Bearer ccm_not-a-token"}


class Outcome(Enum):
    SUCCEEDS = "succeeds"
    SUCCEEDS_WITHOUT_THE_CASE = "succeeds, the case left out"
    UNAUTHENTICATED = "401"
    REFUSED_FOR_ROLE = "403 role"
    REFUSED_FOR_DEPARTMENT = "403 other_department"


OK = Outcome.SUCCEEDS
HIDDEN = Outcome.SUCCEEDS_WITHOUT_THE_CASE
ROLE = Outcome.REFUSED_FOR_ROLE
DEPARTMENT = Outcome.REFUSED_FOR_DEPARTMENT


def staff_only(
    agent: Outcome, lead: Outcome, admin: Outcome, other_agent: Outcome, other_lead: Outcome
) -> dict[Caller, Outcome]:
    """A rule for an operation that needs a token: whoever has no valid one gets 401."""
    return {
        Caller.ANONYMOUS: Outcome.UNAUTHENTICATED,
        Caller.WRONG_TOKEN: Outcome.UNAUTHENTICATED,
        Caller.AGENT: agent,
        Caller.LEAD: lead,
        Caller.ADMIN: admin,
        Caller.OTHER_AGENT: other_agent,
        Caller.OTHER_LEAD: other_lead,
    }


PUBLIC = dict.fromkeys(Caller, OK)
ANY_STAFF = staff_only(OK, OK, OK, OK, OK)  # recording a complaint is no department's privilege
OWN_DEPARTMENT_LISTED = staff_only(OK, OK, OK, HIDDEN, HIDDEN)
OWN_DEPARTMENT = staff_only(OK, OK, OK, DEPARTMENT, DEPARTMENT)
LEADS_OF_OWN_DEPARTMENT = staff_only(ROLE, OK, OK, ROLE, DEPARTMENT)
ADMIN_ONLY = staff_only(ROLE, ROLE, OK, ROLE, ROLE)


@dataclass(frozen=True)
class Operation:
    """Who gets what, and a request that succeeds for whoever is allowed."""

    who: dict[Caller, Outcome]
    stage: str | None = None  # the case the request needs (see ``case_in``); None: no case in the path
    status: int = 200  # the status of a request that succeeds
    body: dict[str, Any] | None = None
    query: dict[str, Any] = field(default_factory=dict)
    lists_cases: bool = False  # success means the case is in the answer's "items"


CASE = f"{API}/complaints/{{reference}}"
ACTION = {"kind": "corrective", "description": "Send a replacement"}
OUTCOME = {"outcome": "Replacement delivered"}
SUMMARY = {"summary": "A replacement was sent."}
MATRIX: dict[tuple[str, str], Operation] = {
    ("GET", "/healthz"): Operation(PUBLIC),
    ("POST", f"{API}/complaints"): Operation(ANY_STAFF, status=201, body=DELIVERY_COMPLAINT),
    ("GET", f"{API}/complaints"): Operation(OWN_DEPARTMENT_LISTED, "received", lists_cases=True),
    ("GET", CASE): Operation(OWN_DEPARTMENT, "received"),
    ("GET", f"{CASE}/timeline"): Operation(OWN_DEPARTMENT, "received"),
    ("POST", f"{CASE}/review"): Operation(OWN_DEPARTMENT, "received"),
    ("POST", f"{CASE}/decision"): Operation(
        OWN_DEPARTMENT, "in_review", body={"justified": True, "reason": "Carrier damaged the parcel"}
    ),
    ("POST", f"{CASE}/actions"): Operation(OWN_DEPARTMENT, "taking_action", body=ACTION),
    ("POST", f"{CASE}/actions/{{action_id}}/complete"): Operation(
        OWN_DEPARTMENT, "action_open", body=OUTCOME
    ),
    ("POST", f"{CASE}/inform"): Operation(OWN_DEPARTMENT, "actions_done", body=SUMMARY),
    ("POST", f"{CASE}/survey"): Operation(OWN_DEPARTMENT, "customer_informed"),
    ("POST", f"{CASE}/survey-answer"): Operation(OWN_DEPARTMENT, "survey_sent", body={"score": 5}),
    ("POST", f"{CASE}/survey/expire"): Operation(LEADS_OF_OWN_DEPARTMENT, "survey_sent"),
    ("POST", f"{CASE}/follow-up"): Operation(OWN_DEPARTMENT, "customer_informed"),
    ("POST", f"{CASE}/close"): Operation(LEADS_OF_OWN_DEPARTMENT, "customer_informed"),
    ("POST", f"{CASE}/withdraw"): Operation(OWN_DEPARTMENT, "received"),
    ("POST", f"{CASE}/messages"): Operation(
        OWN_DEPARTMENT, "received", body={"body": "The customer called: the box was wet too."}
    ),
    ("POST", f"{CASE}/reassign"): Operation(
        LEADS_OF_OWN_DEPARTMENT, "received", body={"department": "quality"}
    ),
    ("POST", f"{CASE}/customer/erase"): Operation(ADMIN_ONLY, "received"),
    ("GET", f"{CASE}/customer/export"): Operation(LEADS_OF_OWN_DEPARTMENT, "received"),
    ("GET", f"{CASE}/attachments/{{attachment_id}}"): Operation(OWN_DEPARTMENT, "received"),
    ("GET", f"{API}/sla"): Operation(
        OWN_DEPARTMENT_LISTED, "received", query={"soon_hours": 24 * 365}, lists_cases=True
    ),
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
Step = Callable[[UnitOfWork, Actor, CaseView], CaseView]
# The stages a case is walked through, in order, from "received"; each named by where its step leads.
WALK: list[tuple[str, Step]] = [
    ("in_review", lambda uow, actor, case: services.start_review(uow, actor, case.reference)),
    (
        "taking_action",
        lambda uow, actor, case: services.decide_complaint(
            uow, actor, case.reference, justified=True, reason="Carrier damaged the parcel"
        ),
    ),
    (
        "action_open",
        lambda uow, actor, case: services.add_action(
            uow, actor, case.reference, kind=ACTION["kind"], description=ACTION["description"]
        ),
    ),
    (
        "actions_done",
        lambda uow, actor, case: services.complete_action(
            uow, actor, case.reference, action_id=case.actions[-1].id, **OUTCOME
        ),
    ),
    (
        "customer_informed",
        lambda uow, actor, case: services.inform_customer(uow, actor, case.reference, **SUMMARY),
    ),
    ("survey_sent", lambda uow, actor, case: services.send_survey(uow, actor, case.reference)),
]


_customers = itertools.count(1)
_mails = itertools.count(1)


def new_case(make_uow: Callable[[], UnitOfWork], stage: str) -> PathParams:
    """A new case walked to ``stage`` (see ``WALK``) by the lead of Logistics; its path parameters.

    Through the service layer, in a third of the time of HTTP, as the matrix needs some sixty cases;
    each with a customer of its own, so erasing one customer leaves the other cases as they were. The
    customer mails a photo naming the case first, so every case has a file to open.
    """
    lead = access.staff_actor(make_uow(), email="elif.kaya@example.com")
    customer = CustomerDetails(name="Ali Veli", email=f"customer{next(_customers)}@example.com")
    reference = record(make_uow(), customer=customer).reference
    mail_a_photo(make_uow, reference, sender=customer.email or "")
    case, reached = views.get_complaint(make_uow(), lead, reference), "received"
    for name, step in WALK:
        if reached == stage:
            break
        case, reached = step(make_uow(), lead, case), name
    assert reached == stage, f"no stage {stage!r} in the walk"
    return {
        "reference": case.reference,
        "action_id": case.actions[-1].id if case.actions else None,
        "attachment_id": case.attachments[-1].id,
    }


def mail_a_photo(make_uow: Callable[[], UnitOfWork], reference: str, *, sender: str) -> None:
    """The customer's mail naming the case, with a photo: e-mail intake adds it to the case."""
    photo = MailFile("hasar.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 a photo of the parcel")
    mail = IncomingMail(
        message_id=None,
        thread=(),
        sender=sender,
        sender_name="Ali Veli",
        subject=f"Re: {reference}",
        text="Hasarlı kolinin fotoğrafı ekte.",
        files=(photo,),
    )
    claim = mail_intake.claim_mail(make_uow(), "matrix", folder="INBOX", uidvalidity=1, uid=next(_mails))
    assert claim is not None
    taken = mail_intake.take_in_mail(
        make_uow(), claim, mail, category=None, sender_limit=10, max_file_bytes=1_000_000
    )
    assert taken.reference == reference, taken


@pytest.fixture
def case_in(make_uow: Callable[[], UnitOfWork], uow: UnitOfWork) -> Callable[[str], PathParams]:
    """``new_case`` on the seeded database (``uow``)."""
    return lambda stage: new_case(make_uow, stage)


def test_the_matrix_covers_exactly_the_operations_of_the_openapi_document(client: TestClient) -> None:
    document = client.app.openapi()  # type: ignore[attr-defined]
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }

    assert sorted(operations - MATRIX.keys()) == [], (
        "operations missing from MATRIX: declare who may call them"
    )
    assert sorted(MATRIX.keys() - operations) == [], "MATRIX names operations the API no longer has"


def test_every_caller_gets_what_the_matrix_declares_and_a_refusal_writes_nothing(
    client: TestClient,
    as_staff: Callable[[str], Headers],
    case_in: Callable[[str], PathParams],
    stored: Callable[[], dict[str, int]],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One test for the whole matrix, so every cell that differs is reported at once."""
    headers: dict[Caller, Headers] = {
        Caller.ANONYMOUS: {},
        Caller.WRONG_TOKEN: WRONG_TOKEN,
        **{caller: as_staff(email) for caller, email in STAFF_EMAILS.items()},
    }
    wrong: list[str] = []
    checked = 0

    for (method, path), operation in MATRIX.items():
        stage = operation.stage
        fresh = case_in(stage) if stage else {}
        # Refusals first, on a case in the stage where the call succeeds: the first success proves it.
        for caller, outcome in sorted(operation.who.items(), key=lambda cell: cell[1] is OK):
            params = fresh
            if stage and outcome is OK and method != "GET":
                params, fresh = fresh or case_in(stage), {}  # a change succeeds once on a case
            before = stored()
            try:
                response = client.request(
                    method,
                    path.format(**params),
                    json=operation.body,
                    params=operation.query,
                    headers=headers[caller],
                )
            except Exception as fault:  # a 500: the test client raises what the server raised
                problem: str | None = f"the server failed: {fault!r}"
            else:
                problem = unexpected(response, outcome, operation, params.get("reference"))
            if problem is None and outcome not in (OK, HIDDEN) and stored() != before:
                problem = f"refused, yet wrote: {before} → {stored()}"
            if problem:
                wrong.append(f"{method} {path} × {caller.value} (declared: {outcome.value}): {problem}")
            checked += 1

    with capsys.disabled():  # the figure is shown in every run, not only with -s
        print(f"\nAPI authorisation cells checked on {database_url.partition(':')[0]}: {checked}")
    assert not wrong, f"{len(wrong)} of {checked} cells differ from MATRIX:\n" + "\n".join(wrong)


def unexpected(
    response: httpx.Response, outcome: Outcome, operation: Operation, reference: str | None
) -> str | None:
    """What is wrong with ``response`` for a cell declared ``outcome``; None when it is as declared."""
    status = {
        OK: operation.status,
        HIDDEN: 200,
        Outcome.UNAUTHENTICATED: 401,
        ROLE: 403,
        DEPARTMENT: 403,
    }[outcome]
    if response.status_code != status:
        return f"got {response.status_code}, expected {status}: {response.text[:300]}"
    # A refusal or a list is JSON; a success may be a file (a customer's attachment).
    if outcome is Outcome.UNAUTHENTICATED:
        if response.headers.get("WWW-Authenticate") != "Bearer":
            return f"no 'WWW-Authenticate: Bearer' header: {dict(response.headers)}"
        error = response.json()["error"]
        if error["code"] != "unauthenticated":
            return f"error {error}"
    if outcome in (ROLE, DEPARTMENT):
        why = "role" if outcome is ROLE else "other_department"
        error = response.json()["error"]
        if (error["code"], error.get("why")) != ("permission_denied", why):
            return f"error {error}, expected permission_denied because of {why}"
    if operation.lists_cases and outcome in (OK, HIDDEN):
        items = response.json()["items"]
        listed = reference in {item["reference"] for item in items}
        if listed != (outcome is OK):
            return f"the case is {'' if listed else 'not '}listed: {items}"
    return None
