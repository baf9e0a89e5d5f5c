"""The admin console at ``/admin``: the review queue, the training data, the models and retraining.

Server-rendered HTML (Jinja2) with one stylesheet and no script, all served by the product, so it
works on a network without internet access. Every page reads in the admin's language: ``?lang=``
(remembered in a cookie), else their ``locale`` from the organisation file, else the browser's.

Sessions are the core's (``sessions.sign_in``): the token lives in an HttpOnly, SameSite=Strict
cookie (Secure over https) and every form carries a CSRF token derived from it (HMAC), so a form
posted from anywhere else is refused with 403. The sign-in form has its own pre-session token.
Every change goes through ``teaching``; message texts are never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib
import logging
import re
import secrets
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.convertors import Convertor, register_url_convertor

from admin.project import AssistantProject
from ccm_core.bootstrap import Core
from ccm_core.domain.errors import CCMError, ValidationFailed
from ccm_core.domain.policy import Actor
from ccm_core.entrypoints.security_headers import page_headers
from ccm_core.i18n import LANGUAGES, best_language, normalise_language, translate
from ccm_core.service_layer import sessions, staff_views, teaching
from ccm_core.service_layer.teaching import ModelView, RetrainJob
from channels.settings import AssistantSettings

if TYPE_CHECKING:  # the retrain pipeline itself is imported when a rollback needs it
    from admin.training import TrainingSettings

log = logging.getLogger(__name__)

PREFIX = "/admin"
STATIC_PATH = f"{PREFIX}/static"
STATIC = Path(__file__).with_name("static")
TEMPLATES = Path(__file__).with_name("templates")
SESSION_COOKIE = "ccm_admin_session"
LOGIN_COOKIE = "ccm_admin_login"  # the sign-in form's own CSRF secret, before there is a session
LANGUAGE_COOKIE = "ccm_admin_language"
RASA_TIMEOUT_SECONDS = 5.0
MAX_CONVERSATION_ID = 128
NOTICE_PARAMS = ("done", "count", "intent", "job", "model")
HEADERS = {
    **page_headers(referrer="same-origin"),  # as the pages' own <meta name="referrer">
    "Cache-Control": "no-store",
    "Vary": "Cookie, Accept-Language",
}
# Shown per language; the real-text figures only for models measured on real text. Lower is better for
# the false-complaint rate.
METRICS = ("intent_macro_f1", "intent_accuracy", "complaint_recall", "false_complaint_rate")
LOWER_IS_BETTER = {"false_complaint_rate"}
FormText = Annotated[str, Form()]  # every field optional here: the service layer says what is missing

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def csrf_token(secret: str, purpose: str = "console") -> str:
    """The token a form must carry: an HMAC of the session's secret, useless without the cookie."""
    return hmac.new(secret.encode(), f"ccm-admin-csrf:{purpose}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(secret: str | None, sent: str | None, purpose: str = "console") -> bool:
    return bool(secret and sent) and hmac.compare_digest(csrf_token(secret or "", purpose), sent or "")


@dataclass(frozen=True)
class Admin:
    """The signed-in admin of a request."""

    actor: Actor
    token: str
    name: str
    locale: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


# --- what the pages show ---


def decimal(value: Any, language: str, places: int = 3) -> str:
    if not isinstance(value, int | float):
        return "–"
    shown = f"{value:.{places}f}"
    return shown.replace(".", ",") if language in ("tr", "de") else shown


def percent(value: float | None, language: str) -> str:
    if value is None:
        return "–"
    number = round(value * 100)
    return {"tr": f"%{number}", "de": f"{number} %"}.get(language, f"{number}%")


@dataclass(frozen=True)
class Figure:
    """One metric of a model next to its baseline's."""

    value: str
    baseline: str
    change: str  # "better", "worse" or "same" (for styling); "" without both figures


@dataclass(frozen=True)
class LanguageFigures:
    language: str
    figures: dict[str, Figure]
    examples: str


def evaluation_rows(model: ModelView, language: str) -> list[LanguageFigures]:
    """Per language: the figures of the model and of the model it was compared with."""
    found = [
        key
        for key in (*LANGUAGES, *model.evaluation, *model.baseline)
        if isinstance(model.evaluation.get(key, model.baseline.get(key)), dict)
    ]
    rows = []
    for code in dict.fromkeys(found):
        mine, theirs = model.evaluation.get(code) or {}, model.baseline.get(code) or {}
        figures = {}
        for metric in METRICS:
            value, baseline = mine.get(metric), theirs.get(metric)
            change = ""
            if isinstance(value, int | float) and isinstance(baseline, int | float):
                gain = baseline - value if metric in LOWER_IS_BETTER else value - baseline
                change = "better" if gain > 0 else "worse" if gain < 0 else "same"
            figures[metric] = Figure(decimal(value, language), decimal(baseline, language), change)
        examples = mine.get("examples", theirs.get("examples"))
        rows.append(LanguageFigures(code, figures, str(examples) if examples is not None else "–"))
    return rows


def measured_metrics(models: list[ModelView]) -> list[str]:
    """The figures any of these models has, in ``METRICS`` order (real text is not everywhere)."""
    measured = {
        metric
        for model in models
        for figures in (*model.evaluation.values(), *model.baseline.values())
        if isinstance(figures, dict)
        for metric in figures
    }
    return [metric for metric in METRICS if metric in measured]


@dataclass(frozen=True)
class IntentRow:
    name: str
    examples: dict[str, int]
    waiting: dict[str, int]
    new: bool  # created in the console and not yet in the training data

    @property
    def total(self) -> int:
        return sum(self.examples.values())

    @property
    def total_waiting(self) -> int:
        return sum(self.waiting.values())


@dataclass(frozen=True)
class Turn:
    speaker: str  # customer or assistant
    text: str
    at: str
    buttons: list[str] = field(default_factory=list)


class RasaUnreachable(Exception):
    pass


class Refused(Exception):
    """Raised by a dependency to answer with ``response`` instead of the page (it cannot return one)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class ConsoleRoute(APIRoute):
    """A console route: a request its dependencies refused gets their response (sign in, or 403)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except Refused as refused:
                return refused.response

        return answer


class UnknownPage(Convertor[str]):
    """Any path under the console but its stylesheet's, which is mounted beside the pages, after them."""

    regex = rf"(?!{re.escape(STATIC_PATH.removeprefix(f'{PREFIX}/'))}/).+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("console_unknown_page", UnknownPage())


# --- the console ---


class Console:
    def __init__(
        self,
        core: Core,
        assistant: AssistantSettings,
        training: TrainingSettings,
        project: AssistantProject | None = None,
        http: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self.core = core
        self.assistant = assistant
        self.training = training
        self.project = project or AssistantProject()
        self.http = http or (lambda: httpx.Client(timeout=RASA_TIMEOUT_SECONDS))
        self.zone = ZoneInfo(core.settings.timezone)
        # Counts sign-in attempts per account, in Redis or the database, so every replica shares them.
        self.guard = core.guard()

    # sessions and language

    def admin(self, request: Request) -> Admin | None:
        token = request.cookies.get(SESSION_COOKIE)
        actor = sessions.session_actor(self.core.unit_of_work(), token)
        if actor is None or token is None:
            return None
        member = staff_views.signed_in_staff(self.core.unit_of_work(), actor)
        return Admin(actor, token, member.name, member.locale)

    def language(self, request: Request, admin: Admin | None = None) -> str:
        for chosen in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
            if chosen in LANGUAGES:
                return chosen
        if admin is not None:
            return normalise_language(admin.locale)
        return best_language(request.headers.get("accept-language"))

    def time(self, moment: dt.datetime | None) -> str:
        if moment is None:
            return "–"
        if moment.tzinfo is None:  # SQLite gives back the UTC time without its zone
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    # responses

    def render(
        self,
        request: Request,
        template: str,
        *,
        admin: Admin | None,
        status: int = 200,
        section: str = "",
        notice: str = "",
        error: str = "",
        **context: Any,
    ) -> HTMLResponse:
        language = self.language(request, admin)

        def text(key: str, /, **params: Any) -> str:
            return translate(language, f"console.{key}", **params)

        kept = {k: v for k, v in request.query_params.items() if k not in (*NOTICE_PARAMS, "lang")}
        switch = [
            {
                "code": code,
                "name": translate(code, "chat.web.language_name"),
                "href": f"{request.url.path}?{urlencode({**kept, 'lang': code})}",
                "current": code == language,
            }
            for code in LANGUAGES
        ]
        page = _templates.get_template(template).render(
            t=text,
            lang=language,
            switch=switch,
            admin=admin,
            csrf=admin.csrf if admin else "",
            status=status,
            section=section,
            notice=notice,
            error=error,
            static=STATIC_PATH,
            prefix=PREFIX,
            time=self.time,
            decimal=lambda value: decimal(value, language),
            percent=lambda value: percent(value, language),
            language_name=lambda code: translate(language, f"staff.language.{code}"),
            **context,
        )
        response = HTMLResponse(page, status_code=status, headers=HEADERS)
        if request.query_params.get("lang") in LANGUAGES:
            self.cookie(request, response, LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600)
        return response

    @staticmethod
    def cookie(
        request: Request, response: Response, name: str, value: str, max_age: int | None = None
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def forget(request: Request, response: Response, name: str) -> None:
        response.delete_cookie(
            name, path=PREFIX, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )

    @staticmethod
    def to_login() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/login", status_code=303, headers=HEADERS)

    @staticmethod
    def redirect(path: str, **params: Any) -> RedirectResponse:
        query = urlencode({key: value for key, value in params.items() if value not in (None, "")})
        return RedirectResponse(f"{path}?{query}" if query else path, status_code=303, headers=HEADERS)

    def forbidden(self, request: Request, admin: Admin | None) -> HTMLResponse:
        return self.render(
            request,
            "message.html",
            admin=admin,
            status=403,
            error=translate(self.language(request, admin), "console.forbidden"),
        )

    # the dependencies of the pages and forms (``Depends``); each refuses with ``Refused``

    def signed_in(self, request: Request) -> Admin:
        """The signed-in admin of the request; anyone else is sent to the sign-in page."""
        admin = self.admin(request)
        if admin is None:
            raise Refused(self.to_login())
        return admin

    def form_sender(self, request: Request, csrf: FormText = "") -> Admin:
        """The signed-in admin who sent a form from the console: one without a valid token gets 403."""
        admin = self.signed_in(request)
        if not csrf_matches(admin.token, csrf):
            log.warning("admin console: a form without a valid CSRF token was refused (%s)", request.url.path)
            raise Refused(self.forbidden(request, admin))
        return admin

    # the pages

    def login_page(self, request: Request, *, status: int = 200, error: str = "") -> HTMLResponse:
        secret = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
        response = self.render(
            request,
            "login.html",
            admin=None,
            status=status,
            error=error,
            login_csrf=csrf_token(secret, "login"),
        )
        self.cookie(request, response, LOGIN_COOKIE, secret)
        return response

    def queue_page(
        self, request: Request, admin: Admin, *, status: int = 200, error: str = ""
    ) -> HTMLResponse:
        language = self.language(request, admin)
        shown = request.query_params.get("language")
        shown = shown if shown in LANGUAGES else ""
        groups = teaching.review_queue(self.core.unit_of_work(), admin.actor)
        counts = {code: sum(g.count for g in groups if g.language == code) for code in LANGUAGES}
        known = self.project.intents()
        learned = [intent.name for intent in teaching.learned_intents(self.core.unit_of_work())]
        return self.render(
            request,
            "queue.html",
            admin=admin,
            status=status,
            section="queue",
            error=error,
            notice=self.notice(request, language),
            groups=[g for g in groups if not shown or g.language == shown],
            shown=shown,
            counts=counts,
            total=sum(counts.values()),
            known=known,
            learned=[name for name in learned if name not in known],
            quote=lambda value: quote(value, safe=""),
        )

    def notice(self, request: Request, language: str, **names: str) -> str:
        """The outcome of the form just sent (POST, then redirect, then this page)."""
        query = request.query_params
        done, count = query.get("done"), query.get("count", "0")
        count = count if count.isdigit() else "0"
        intent = query.get("intent", "")
        try:
            intent = teaching.intent_name(intent) if intent else ""
        except ValidationFailed:
            return ""
        keys = {
            "assigned": "console.queue.assigned",
            "created": "console.queue.created",
            "dismissed": "console.queue.dismissed",
            "retrain_queued": "console.models.retrain_queued",
            "retrain_waiting": "console.models.retrain_waiting",
            "rolled_back": "console.models.rolled_back",
        }
        if done not in keys:
            return ""
        return translate(language, keys[done], count=count, intent=intent, **names)

    def intents_page(self, request: Request, admin: Admin) -> HTMLResponse:
        examples = self.project.example_counts()
        waiting = teaching.assigned_counts(self.core.unit_of_work())
        learned = teaching.learned_intents(self.core.unit_of_work())
        names = sorted(set(examples) | {intent for intent, _ in waiting} | {i.name for i in learned})
        rows = [
            IntentRow(
                name=name,
                examples={code: examples.get(name, {}).get(code, 0) for code in LANGUAGES},
                waiting={code: waiting.get((name, code), 0) for code in LANGUAGES},
                new=name not in examples,
            )
            for name in names
        ]
        totals = {code: sum(row.examples[code] for row in rows) for code in LANGUAGES}
        waiting_totals = {code: sum(row.waiting[code] for row in rows) for code in LANGUAGES}
        return self.render(
            request,
            "intents.html",
            admin=admin,
            section="intents",
            rows=rows,
            totals=totals,
            waiting_totals=waiting_totals,
            waiting_rows=[row for row in rows if row.total_waiting],
            learned=learned,
        )

    def models_page(
        self, request: Request, admin: Admin, *, status: int = 200, error: str = ""
    ) -> HTMLResponse:
        language = self.language(request, admin)
        models = teaching.models(self.core.unit_of_work(), admin.actor)
        jobs = teaching.retrain_requests(self.core.unit_of_work(), admin.actor)
        names = {model.id: model.name for model in models}
        job = _find(jobs, request.query_params.get("job"))
        model = request.query_params.get("model", "")
        notice = self.notice(
            request,
            language,
            id=str(job.id) if job else "",
            status=translate(language, f"console.models.state.{job.status}") if job else "",
            model=names.get(int(model), "") if model.isdigit() else "",
        )
        return self.render(
            request,
            "models.html",
            admin=admin,
            status=status,
            section="models",
            error=error,
            notice=notice,
            models=models,
            jobs=jobs,
            names=names,
            figures={model.id: evaluation_rows(model, language) for model in models},
            metrics=measured_metrics(models),
        )

    def transcript(self, conversation_id: str) -> list[Turn]:
        """The conversation's user and bot messages from Rasa's HTTP API, in order."""
        params = {"include_events": "ALL"}
        if self.assistant.rasa_token:
            params["token"] = self.assistant.rasa_token
        url = (
            f"{self.assistant.rasa_url.rstrip('/')}/conversations/{quote(conversation_id, safe=':')}/tracker"
        )
        try:
            with self.http() as client:
                response = client.get(url, params=params)
            response.raise_for_status()
            events = response.json().get("events") or []
        except (httpx.HTTPError, ValueError, AttributeError) as failure:
            # Neither the conversation id nor the answer is logged: both may identify a customer.
            log.warning("admin console: Rasa's tracker could not be read (%s)", type(failure).__name__)
            raise RasaUnreachable() from failure
        turns = []
        for event in events:
            if (
                not isinstance(event, dict)
                or event.get("event") not in ("user", "bot")
                or not event.get("text")
            ):
                continue
            stamp = event.get("timestamp")
            at = self.time(dt.datetime.fromtimestamp(stamp, dt.UTC)) if isinstance(stamp, int | float) else ""
            buttons = ((event.get("data") or {}).get("buttons") or []) if event["event"] == "bot" else []
            turns.append(
                Turn(
                    speaker="customer" if event["event"] == "user" else "assistant",
                    text=str(event["text"]),
                    at=at,
                    buttons=[str(b.get("title")) for b in buttons if isinstance(b, dict) and b.get("title")],
                )
            )
        return turns


def _find(jobs: Iterable[RetrainJob], job_id: str | None) -> RetrainJob | None:
    return next((job for job in jobs if job_id and str(job.id) == job_id), None)


def _item_ids(raw: str) -> list[int]:
    parts = [part.strip() for part in (raw or "").split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise ValidationFailed(field="items", problem="required")
    return [int(part) for part in parts]


def static_files() -> StaticFiles:
    """The console's stylesheet, for ``app.mount(STATIC_PATH, …)``."""
    return StaticFiles(directory=STATIC)


SIGN_IN_ATTEMPTS_PER_MINUTE = 5  # per account: a password cannot be guessed by trying


def routes(
    core: Core,
    assistant: AssistantSettings,
    training: TrainingSettings,
    project: AssistantProject | None = None,
) -> APIRouter:
    """The console's pages under ``/admin`` (mount ``static_files()`` at ``STATIC_PATH`` beside them)."""
    console = Console(core, assistant, training, project)
    router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)
    signed_in = Depends(console.signed_in)
    form_sender = Depends(console.form_sender)

    @router.get("/login")
    def login_form(request: Request) -> Response:
        if console.admin(request) is not None:
            return console.redirect(PREFIX)
        return console.login_page(request)

    @router.post("/login")
    def login(
        request: Request, email: FormText = "", password: FormText = "", csrf: FormText = ""
    ) -> Response:
        language = console.language(request)
        if not csrf_matches(request.cookies.get(LOGIN_COOKIE), csrf, "login"):
            return console.login_page(request, status=403, error=translate(language, "console.forbidden"))
        account = f"admin-sign-in:{email.strip().casefold()}"
        if not console.guard.allow(account, SIGN_IN_ATTEMPTS_PER_MINUTE):
            log.warning("admin console: too many sign-in attempts for one account")
            return console.login_page(
                request, status=429, error=translate(language, "console.login.too_many")
            )
        try:
            token = sessions.sign_in(console.core.unit_of_work(), email, password)
        except CCMError as refused:
            return console.login_page(request, status=refused.http_status, error=refused.message(language))
        response = console.redirect(PREFIX)
        console.cookie(request, response, SESSION_COOKIE, token, max_age=sessions.SESSION_HOURS * 3600)
        console.forget(request, response, LOGIN_COOKIE)
        return response

    @router.post("/logout")
    def logout(request: Request, admin: Admin = form_sender) -> Response:
        sessions.sign_out(console.core.unit_of_work(), admin.token)
        response = console.to_login()
        console.forget(request, response, SESSION_COOKIE)
        return response

    @router.get("")
    def queue(request: Request, admin: Admin = signed_in) -> Response:
        return console.queue_page(request, admin)

    def review(request: Request, admin: Admin, back: str, change: Callable[[], dict[str, Any]]) -> Response:
        """Make a change to the review queue, then back to the queue: with the outcome, or why not."""
        try:
            outcome = change()
        except CCMError as refused:
            language = console.language(request, admin)
            return console.queue_page(
                request, admin, status=refused.http_status, error=refused.message(language)
            )
        return console.redirect(PREFIX, language=back if back in LANGUAGES else "", **outcome)

    @router.post("/review/assign")
    def assign(
        request: Request,
        items: FormText = "",
        intent: FormText = "",
        language: FormText = "",
        admin: Admin = form_sender,
    ) -> Response:
        def change() -> dict[str, Any]:
            known = [*console.project.intents()]
            count = teaching.assign_review_items(
                console.core.unit_of_work(), admin.actor, _item_ids(items), intent=intent, known_intents=known
            )
            return {"done": "assigned", "count": count, "intent": intent.strip()}

        return review(request, admin, language, change)

    @router.post("/review/new-intent")
    def new_intent(
        request: Request,
        items: FormText = "",
        name: FormText = "",
        answer_tr: FormText = "",
        answer_en: FormText = "",
        answer_de: FormText = "",
        language: FormText = "",
        admin: Admin = form_sender,
    ) -> Response:
        def change() -> dict[str, Any]:
            ids = _item_ids(items)
            known = console.project.intents()
            created = teaching.create_intent(
                console.core.unit_of_work(),
                admin.actor,
                name=name,
                responses={"tr": answer_tr, "en": answer_en, "de": answer_de},
                known_intents=known,
            )
            count = teaching.assign_review_items(
                console.core.unit_of_work(), admin.actor, ids, intent=created, known_intents=known
            )
            return {"done": "created", "count": count, "intent": created}

        return review(request, admin, language, change)

    @router.post("/review/dismiss")
    def dismiss(
        request: Request, items: FormText = "", language: FormText = "", admin: Admin = form_sender
    ) -> Response:
        def change() -> dict[str, Any]:
            count = teaching.dismiss_review_items(console.core.unit_of_work(), admin.actor, _item_ids(items))
            return {"done": "dismissed", "count": count}

        return review(request, admin, language, change)

    @router.get("/intents")
    def intents(request: Request, admin: Admin = signed_in) -> Response:
        return console.intents_page(request, admin)

    @router.post("/intents/reopen")
    def reopen(intent: FormText = "", admin: Admin = form_sender) -> Response:
        """A wrongly labelled batch waiting for the next retrain goes back to the queue."""
        teaching.reopen_review_items(console.core.unit_of_work(), admin.actor, intent=intent)
        return console.redirect(f"{PREFIX}/intents")

    @router.get("/models")
    def models(request: Request, admin: Admin = signed_in) -> Response:
        return console.models_page(request, admin)

    @router.post("/models/retrain")
    def retrain(admin: Admin = form_sender) -> Response:
        waiting = {
            job.id
            for job in teaching.retrain_requests(console.core.unit_of_work(), admin.actor)
            if job.status in ("queued", "running")
        }
        job = teaching.request_retrain(console.core.unit_of_work(), admin.actor)
        done = "retrain_waiting" if job.id in waiting else "retrain_queued"
        return console.redirect(f"{PREFIX}/models", done=done, job=job.id)

    @router.post("/models/{model_id}/rollback")
    def rollback(request: Request, model_id: int, admin: Admin = form_sender) -> Response:
        language = console.language(request, admin)
        try:
            training = importlib.import_module("admin.training")  # the retrain pipeline, when needed
        except ModuleNotFoundError as missing:
            if missing.name != "admin.training":
                raise
            error = translate(language, "console.models.rollback_unavailable")
            return console.models_page(request, admin, status=503, error=error)
        # The pipeline's own failures (Rasa down, the model's file gone) say why in its words.
        failed_types = (getattr(training, "RetrainFailed", CCMError),)
        try:
            model = training.roll_back(console.core, console.training, admin.actor, model_id)
        except CCMError as refused:
            return console.models_page(
                request, admin, status=refused.http_status, error=refused.message(language)
            )
        except failed_types as failed:
            error = translate(language, "console.models.rollback_failed", reason=str(failed))
            return console.models_page(request, admin, status=502, error=error)
        return console.redirect(f"{PREFIX}/models", done="rolled_back", model=model.id)

    @router.get("/conversations/{conversation_id:path}")
    def conversation(request: Request, conversation_id: str, admin: Admin = signed_in) -> Response:
        conversation_id = conversation_id[:MAX_CONVERSATION_ID]
        try:
            turns, status, error = console.transcript(conversation_id), 200, ""
        except RasaUnreachable:
            language = console.language(request, admin)
            turns, status, error = [], 503, translate(language, "console.conversation.unreachable")
        return console.render(
            request,
            "conversation.html",
            admin=admin,
            status=status,
            section="queue",
            error=error,
            conversation_id=conversation_id,
            turns=turns,
        )

    @router.get("/{page:console_unknown_page}")
    def unknown_page(request: Request) -> Response:
        """A mistyped console address gets the console's own page, in its language, not the API's JSON."""
        admin = console.admin(request)
        error = translate(console.language(request, admin), "console.not_found")
        return console.render(request, "message.html", admin=admin, status=404, error=error)

    return router
