"""The HTTP API: staff and integrations drive the complaint process over JSON.

Each handler turns one request into one call of a use case in ``ccm_core.service_layer``.
Permissions, validation and the lifecycle rules stay there, so the API refuses what every
other entry point refuses, with the same typed errors, rendered as JSON in the language of
the request's ``Accept-Language`` header.

Run it with ``uvicorn --factory ccm_core.entrypoints.api:create_app``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

import fastapi_offline
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException

from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.errors import (
    CCMError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from ccm_core.domain.lifecycle import Priority
from ccm_core.domain.policy import Actor
from ccm_core.domain.search import ComplaintFilter
from ccm_core.entrypoints import security_headers
from ccm_core.entrypoints.bodies import (
    ActionIn,
    ComplaintIn,
    CustomerIn,
    DecisionIn,
    MessageIn,
    OutcomeIn,
    ReassignIn,
    SummaryIn,
    SurveyAnswerIn,
    Text,
)
from ccm_core.entrypoints.customer_copy import page_headers, render_customer_copy
from ccm_core.i18n import best_language, translate
from ccm_core.service_layer import access, customer_data, services, views
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.service_layer.views import CaseView
from ccm_core.settings import CoreSettings

logger = logging.getLogger(__name__)

TITLE = "CCM — customer complaint management"
DESCRIPTION = (
    "Complaints taken from every channel, reviewed, decided and acted on by the responsible "
    "department, the customer informed and surveyed, with every step timed against its deadline "
    "and audited. Send `Authorization: Bearer <token>` (`ccm tokens create`); errors come as "
    '`{"error": {"code", "message", …}}` in the language of `Accept-Language` (tr, en, de).'
)
MAX_PAGE_SIZE = 500
MAX_OFFSET = 2**31 - 1
MAX_SOON_HOURS = 24 * 365
DOCS_PATH = "/docs"
DOCS_ASSETS = f"{DOCS_PATH}/assets"
# Swagger UI's files, shipped in a package: the docs work on a network without internet access.
SWAGGER_UI = FilePath(fastapi_offline.__file__).with_name("static")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# What a browser shows without running anything; any other type (HTML, SVG, XML, scripts, office files)
# is sent as bytes to save, so a customer's file never runs as a page of the product's origin.
PASSIVE_TYPES = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
)
BINARY = {"schema": {"type": "string", "format": "binary"}}


class Unauthenticated(CCMError):
    """No bearer token, or one that is unknown, revoked or belongs to an inactive staff member."""

    code = "unauthenticated"
    http_status = 401


class ErrorDetail(BaseModel):
    """What went wrong: ``code`` for programs, ``message`` for people; some codes carry more fields."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


# --- dependencies ---


def _core(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


def _unit_of_work(core: Annotated[Core, Depends(_core)]) -> UnitOfWork:
    return core.unit_of_work()


def _language(request: Request) -> str:
    return best_language(request.headers.get("accept-language"))


_bearer = HTTPBearer(auto_error=False, description="An API token printed by `ccm tokens create`.")

Uow = Annotated[UnitOfWork, Depends(_unit_of_work)]
ReaderLanguage = Annotated[str, Depends(_language)]
Reference = Annotated[Text, Path(description="The complaint reference, e.g. CMP-2026-000042.")]


def _actor(uow: Uow, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
    actor = access.authenticate(uow, credentials.credentials) if credentials else None
    if actor is None:
        raise Unauthenticated()
    return actor


CurrentActor = Annotated[Actor, Depends(_actor)]


def _case(case: CaseView, language: str) -> dict[str, Any]:
    """The case with its step name in the reader's language, as ``GET`` shows it."""
    return replace(case, status_label=translate(language, f"status.{case.status}")).as_dict()


# --- the process ---

router = APIRouter(
    prefix="/api/v1",
    tags=["complaints"],
    responses={
        "default": {
            "model": ErrorOut,
            "description": "A refusal or an error, in the language of `Accept-Language`.",
        }
    },
)


@router.post(
    "/complaints",
    status_code=201,
    responses={200: {"description": "The idempotency key was seen before: the complaint recorded then."}},
)
def record_complaint(
    body: ComplaintIn,
    response: Response,
    uow: Uow,
    actor: CurrentActor,
    language: ReaderLanguage,
    idempotency_key: Annotated[Text | None, Header()] = None,
) -> dict[str, Any]:
    """02/04: record a complaint taken by phone, e-mail, a visit or any other non-chat channel."""
    customer = body.customer or CustomerIn()
    recorded = services.record_complaint(
        uow,
        actor,
        channel=body.channel,
        language=body.language,
        category=body.category,
        description=body.description,
        customer=services.CustomerDetails(name=customer.name, email=customer.email, phone=customer.phone),
        priority=body.priority if body.priority is not None else Priority.NORMAL,
        idempotency_key=idempotency_key or body.idempotency_key,
        external_reference=body.external_reference,
    )
    if not recorded.created:
        response.status_code = 200
    return _case(recorded.case, language)


@router.get("/complaints")
def list_complaints(
    uow: Uow,
    actor: CurrentActor,
    status: Text | None = None,
    department: Text | None = None,
    channel: Text | None = None,
    category: Text | None = None,
    overdue: Annotated[bool, Query(description="Only open cases with a step past its deadline.")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Cases the reader may see (their own department's, or all for an admin), newest first."""
    criteria = ComplaintFilter(
        status=status,
        department=department,
        channel=channel,
        category=category,
        overdue_at=uow.now() if overdue else None,
        limit=limit,
        offset=offset,
    )
    items, total = views.list_complaints(uow, actor, criteria)
    return {"items": [item.as_dict() for item in items], "total": total}


@router.get("/complaints/{reference}")
def get_complaint(
    reference: Reference, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    return views.get_complaint(uow, actor, reference, language).as_dict()


@router.get("/complaints/{reference}/timeline")
def complaint_timeline(reference: Reference, uow: Uow, actor: CurrentActor) -> dict[str, Any]:
    """Everything that happened to the case: changes, customer messages and the notices sent."""
    return {"items": [entry.as_dict() for entry in views.complaint_timeline(uow, actor, reference)]}


@router.post("/complaints/{reference}/review")
def start_review(
    reference: Reference, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """03: start the review; the customer's 05 interim notice is queued."""
    return _case(services.start_review(uow, actor, reference), language)


@router.post("/complaints/{reference}/decision")
def decide_complaint(
    reference: Reference, body: DecisionIn, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """06: justified opens the action step; unjustified queues the explanation and closes the record."""
    case = services.decide_complaint(
        uow,
        actor,
        reference,
        justified=body.justified,
        reason=body.reason,
        customer_explanation=body.customer_explanation,
    )
    return _case(case, language)


@router.post("/complaints/{reference}/actions")
def add_action(
    reference: Reference, body: ActionIn, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """07: a corrective or preventive action."""
    case = services.add_action(
        uow,
        actor,
        reference,
        kind=body.kind,
        description=body.description,
        owner_email=body.owner_email,
        due_date=body.due_date,
    )
    return _case(case, language)


@router.post("/complaints/{reference}/actions/{action_id}/complete")
def complete_action(
    reference: Reference,
    action_id: int,
    body: OutcomeIn,
    uow: Uow,
    actor: CurrentActor,
    language: ReaderLanguage,
) -> dict[str, Any]:
    """07: an action is done, with its outcome."""
    case = services.complete_action(uow, actor, reference, action_id=action_id, outcome=body.outcome)
    return _case(case, language)


@router.post("/complaints/{reference}/inform")
def inform_customer(
    reference: Reference, body: SummaryIn, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """08: tell the customer what was done, in the complaint's language."""
    return _case(services.inform_customer(uow, actor, reference, summary=body.summary), language)


@router.post("/complaints/{reference}/survey")
def send_survey(
    reference: Reference, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """09: queue the satisfaction survey."""
    return _case(services.send_survey(uow, actor, reference), language)


@router.post("/complaints/{reference}/survey-answer")
def record_survey_answer(
    reference: Reference, body: SurveyAnswerIn, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """10: a satisfied answer closes the case; a dissatisfied one opens a follow-up round (11)."""
    case = services.record_survey_answer(
        uow, actor, reference, score=body.score, comment=body.comment, nps=body.nps
    )
    return _case(case, language)


@router.post("/complaints/{reference}/survey/expire")
def expire_survey(
    reference: Reference, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """Close an unanswered survey as "no response"."""
    return _case(services.expire_survey(uow, actor, reference), language)


@router.post("/complaints/{reference}/follow-up")
def start_follow_up(
    reference: Reference, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """11: reopen the case to its department for a new action or proposal."""
    return _case(services.start_follow_up(uow, actor, reference), language)


@router.post("/complaints/{reference}/close")
def close_complaint(
    reference: Reference, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    return _case(services.close_complaint(uow, actor, reference), language)


@router.post("/complaints/{reference}/withdraw")
def withdraw_complaint(
    reference: Reference, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """The customer withdrew the complaint (told to staff by phone, say)."""
    return _case(services.withdraw_complaint(uow, actor, reference), language)


@router.post("/complaints/{reference}/messages")
def add_customer_message(
    reference: Reference, body: MessageIn, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    """Information the customer added to an open case, taken down by staff."""
    return _case(services.add_customer_message(uow, actor, reference, body=body.body), language)


@router.post("/complaints/{reference}/reassign")
def reassign_complaint(
    reference: Reference, body: ReassignIn, uow: Uow, actor: CurrentActor, language: ReaderLanguage
) -> dict[str, Any]:
    return _case(services.reassign_complaint(uow, actor, reference, department=body.department), language)


@router.post("/complaints/{reference}/customer/erase")
def erase_customer_data(reference: Reference, uow: Uow, actor: CurrentActor) -> dict[str, int]:
    """KVKK/GDPR: erase the case's customer everywhere we keep them; statistics stay."""
    return {"erased_complaints": customer_data.erase_customer_data(uow, actor, reference)}


@router.get(
    "/complaints/{reference}/customer/export",
    responses={200: {"content": {"text/html": {}}, "description": "The copy as JSON, or as a page"}},
)
def export_customer_data(
    reference: Reference,
    request: Request,
    uow: Uow,
    actor: CurrentActor,
    format: Annotated[
        Literal["json", "html"], Query(description="`html`: a page in the customer's language")
    ] = "json",
) -> Response:
    """KVKK/GDPR: everything held about the case's customer, for the customer (admins and leads; audited)."""
    transcripts = getattr(request.app.state, "transcripts", None)
    copy = customer_data.export_customer_data(uow, actor, reference, transcripts)
    if format == "html":
        return HTMLResponse(render_customer_copy(copy), headers=page_headers())
    return JSONResponse(copy, headers={"Cache-Control": "no-store"})


@router.get(
    "/complaints/{reference}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {
            "content": dict.fromkeys((*PASSIVE_TYPES, "application/octet-stream"), BINARY),
            "description": "The file as the customer sent it, to save (`Content-Disposition: attachment`)",
        }
    },
)
def open_attachment(
    reference: Reference,
    attachment_id: Annotated[int, Path(description="The file's id, from the case's `attachments`.")],
    uow: Uow,
    actor: CurrentActor,
) -> Response:
    """A file the customer sent with the case (staff who may see the case; audited). A refused or erased
    file is not found."""
    opened = views.attachment_file(uow, actor, reference, attachment_id)
    content_type = opened.content_type.partition(";")[0].strip().lower()
    shown = content_type if content_type in PASSIVE_TYPES else "application/octet-stream"
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(opened.name, safe='')}",  # RFC 5987
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(opened.content, media_type=shown, headers=headers)


@router.get("/sla")
def sla_watchlist(
    uow: Uow,
    actor: CurrentActor,
    soon_hours: Annotated[
        float | None,
        Query(ge=0, le=MAX_SOON_HOURS, allow_inf_nan=False, description="Defaults to CCM_SLA_SOON_HOURS."),
    ] = None,
) -> dict[str, Any]:
    """Breached and soon-due steps of the open cases the reader may see, most urgent first."""
    return {"items": [alert.as_dict() for alert in views.sla_watchlist(uow, actor, soon_hours)]}


health = APIRouter(tags=["health"])


@health.get("/healthz")
def healthz(request: Request, core: Annotated[Core, Depends(_core)]) -> JSONResponse:
    """Whether the service can reach its database; for load balancers and monitoring."""
    try:
        with core.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("health check: database unreachable (%s)", type(exc).__name__)
        return JSONResponse(
            status_code=503,
            content={
                "status": "unavailable",
                "database": "unreachable",
                "error": {
                    "code": "database_unavailable",
                    "message": translate(_language(request), "errors.database_unavailable"),
                },
            },
        )
    return JSONResponse({"status": "ok", "database": "ok"})


docs = APIRouter(include_in_schema=False)


@docs.get(DOCS_PATH)
def interactive_docs(request: Request) -> HTMLResponse:
    """Swagger UI from the product's own files, under the policy of every other page of the product."""
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{TITLE} — API",
        swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
        oauth2_redirect_url=None,  # bearer tokens only: no OAuth2 flow to return from
    )
    body = bytes(page.body).decode("utf-8")
    return HTMLResponse(body, headers=security_headers.page_headers(scripts=_INLINE_SCRIPT.findall(body)))


# --- the OpenAPI description ---


class _DescribedAPI(FastAPI):
    """FastAPI with the links between the calls on a case added to its OpenAPI description."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            _link_case_operations(super().openapi()["paths"])
        return super().openapi()


def _link_case_operations(paths: dict[str, Any]) -> None:
    """OpenAPI links: a recorded complaint's ``reference`` leads to every call on the case that needs no
    other id, and an added action's id to completing it. Clients, and schemathesis's stateful tests,
    chain calls by them."""

    def links(targets: dict[str, dict[str, str]]) -> dict[str, Any]:
        return {
            operation["operationId"]: {"operationId": operation["operationId"], "parameters": parameters}
            for path, parameters in targets.items()
            for operation in paths[path].values()
        }

    complaints = f"{router.prefix}/complaints"
    actions = f"{complaints}/{{reference}}/actions"
    on_case = {
        path: {"reference": "$response.body#/reference"}
        for path in paths
        if path.startswith(f"{complaints}/{{reference}}") and path.count("{") == 1
    }
    on_action = {
        path: {"reference": "$request.path.reference", "action_id": "$response.body#/actions/0/id"}
        for path in paths
        if path.startswith(f"{actions}/{{action_id}}")
    }
    for source, targets in ((paths[complaints]["post"], on_case), (paths[actions]["post"], on_action)):
        for status, response in source["responses"].items():
            if status.startswith("2"):
                response["links"] = links(targets)


# --- errors ---


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message, **extra}}, headers=headers
    )


def _refused(request: Request, exc: Exception) -> JSONResponse:
    """A typed refusal of the core, in the reader's language, with what a program needs to react."""
    assert isinstance(exc, CCMError)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationFailed):
        extra = {"field": exc.field, "problem": exc.problem}
    elif isinstance(exc, InvalidTransition):
        extra = {"current": str(exc.current), "allowed": [str(command) for command in exc.allowed]}
    elif isinstance(exc, PermissionDenied):
        extra = {"why": exc.why}
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return _error(exc.http_status, exc.code, exc.message(_language(request)), headers, **extra)


def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A body, query or path FastAPI could not read: the same shape and language as the core's refusals."""
    assert isinstance(exc, RequestValidationError)
    language = _language(request)
    problems = [_problem(error, language) for error in exc.errors()]
    first = problems[0]
    return _error(
        422,
        "validation_failed",
        first["message"],
        field=first["field"],
        problem=first["problem"],
        problems=problems,
    )


def _problem(error: Any, language: str) -> dict[str, str]:
    """One of pydantic's complaints, without the input echoed back (it may be personal data)."""
    location = [str(part) for part in error["loc"][1:]]
    field = "body" if error["type"] == "json_invalid" or not location else ".".join(location)
    if error["type"] == "missing":
        return {
            "field": field,
            "problem": "required",
            "message": translate(language, "errors.validation.required", field=field),
        }
    return {
        "field": field,
        "problem": "invalid_value",
        "message": translate(language, "errors.validation.invalid_value", field=field, detail=error["msg"]),
    }


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths and methods, and bodies that cannot be read, in the same JSON shape as every other
    error; an unreadable body is refused in the reader's language, as malformed JSON is."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = NotFound(kind="path", key=request.url.path).message(_language(request))
        return _error(404, "not_found", message, exc.headers)
    if exc.status_code == 400:  # FastAPI could not read the body (JSON nested too deeply to parse, say)
        language, detail = _language(request), str(exc.detail)
        message = translate(language, "errors.validation.invalid_value", field="body", detail=detail)
        return _error(422, "validation_failed", message, field="body", problem="invalid_value")
    return _error(exc.status_code, "http_error", str(exc.detail), exc.headers)


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Logged by type and statement only: the error's text quotes the values, personal data included."""
    logger.error(
        "database error on %s %s: %s (%s)",
        request.method,
        request.url.path,
        type(exc).__name__,
        getattr(exc, "statement", None),
    )
    language = _language(request)
    if isinstance(exc, OperationalError):
        return _error(503, "database_unavailable", translate(language, "errors.database_unavailable"))
    return _error(500, "internal_error", translate(language, "errors.internal_error"))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Even a fault of ours answers in JSON; the server still logs the traceback."""
    return _error(500, "internal_error", translate(_language(request), "errors.internal_error"))


@asynccontextmanager
async def _closing_own_engine(app: FastAPI) -> AsyncIterator[None]:
    """The engine the app created for itself closes with it; one passed in belongs to the caller."""
    yield
    app.state.core.engine.dispose()


def create_app(core: Core | None = None, settings: CoreSettings | None = None) -> FastAPI:
    """The API on ``core``; without one, a core of its own on ``settings`` (``uvicorn --factory``)."""
    app = _DescribedAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=version("ccm"),
        lifespan=_closing_own_engine if core is None else None,
        docs_url=None,  # served by ``interactive_docs``, from the product's own files
        redoc_url=None,  # ReDoc needs inline styles and a CDN; Swagger UI at /docs describes the same
    )
    app.state.core = core or bootstrap(settings)
    app.add_exception_handler(CCMError, _refused)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(health)
    app.include_router(router)
    app.include_router(docs)
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")
    return app
