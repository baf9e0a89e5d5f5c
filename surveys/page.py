"""The survey page at ``/survey/{token}``: customers who left the chat answer the satisfaction survey.

The signed link in the survey message (``ccm_core.domain.survey_link``) is the credential; the form
carries a token bound to the link (an HMAC of it with the deployment's secret), so a form cannot be
posted without having read the page. One answer per link and round: a used link says thank you.

Server-rendered with nothing loaded from elsewhere (the stylesheet is inline and allowed by its
hash, there is no script), so it works on any phone. The page reads in the case's language; the
customer can switch, and a link that is not genuine gets "not found" in the browser's language.
Neither the token nor the comment is logged, and uvicorn's access log shows ``/survey/…`` only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ccm_core.bootstrap import Core
from ccm_core.domain.errors import ValidationFailed
from ccm_core.domain.lifecycle import Status
from ccm_core.entrypoints.security_headers import page_headers
from ccm_core.i18n import LANGUAGES, best_language, flat_catalogue
from ccm_core.service_layer.survey_page import (
    ANSWERED,
    FORGED,
    SurveyInvitation,
    SurveyLinkRefused,
    answer_survey_link,
    survey_for_link,
)

log = logging.getLogger(__name__)

PREFIX = "/survey"
TEMPLATES = Path(__file__).with_name("templates")
LOCALES = Path(__file__).with_name("locales")
CSS = (TEMPLATES / "page.css").read_text(encoding="utf-8")
HEADERS = {
    # The stylesheet is inline, allowed by its hash; no-referrer: the link is a credential.
    **page_headers(styles=[CSS], referrer="no-referrer"),
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Vary": "Accept-Language",
}
# A refusal's HTTP status: a used link is a fine outcome, a closed survey is gone, a forged link unknown.
REFUSAL_STATUS = {FORGED: 404, ANSWERED: 200}
GONE = 410
FormText = Annotated[str, Form()]

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@cache
def catalogue(language: str) -> dict[str, str]:
    """The page's texts in ``language``, flattened to ``a.b`` keys."""
    return flat_catalogue(LOCALES / f"{language}.yaml")


def text(language: str, key: str, /, **params: Any) -> str:
    return catalogue(language)[key].format_map(params)


def form_token(secret: str, token: str) -> str:
    """The form's CSRF token: bound to the link, useless without having opened it."""
    return hmac.new(secret.encode(), f"ccm-survey-form:{token}".encode(), hashlib.sha256).hexdigest()


class HideSurveyTokens(logging.Filter):
    """Keeps survey links out of uvicorn's access log: the token is the customer's credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and str(args[2]).startswith(f"{PREFIX}/"):
            record.args = (*args[:2], f"{PREFIX}/…", *args[3:])
        return True


_HIDE_TOKENS = HideSurveyTokens()


class SurveyPage:
    def __init__(self, core: Core) -> None:
        self.core = core

    def render(
        self, template: str, *, language: str, token: str | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        switch = [
            {
                "code": code,
                "name": text(code, "language_name"),
                "href": f"{PREFIX}/{token}?lang={code}",
                "current": code == language,
            }
            for code in LANGUAGES
            if token is not None
        ]
        page = _templates.get_template(template).render(
            t=lambda key, /, **params: text(language, key, **params),
            lang=language,
            switch=switch,
            css=CSS,
            **context,
        )
        return HTMLResponse(page, status_code=status, headers=HEADERS)

    def form(
        self,
        token: str,
        survey: SurveyInvitation,
        language: str,
        *,
        status: int = 200,
        errors: list[str] | None = None,
        typed: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return self.render(
            "survey.html",
            language=language,
            token=token,
            status=status,
            survey=survey,
            action=f"{PREFIX}/{token}",
            csrf=form_token(self.core.settings.secret_key, token),
            errors=errors or [],
            typed={"score": "", "nps": "", "comment": "", **(typed or {})},
        )

    def refused(
        self, request: Request, token: str, refusal: SurveyLinkRefused, chosen: str | None
    ) -> HTMLResponse:
        log.info("survey page: link refused (%s)", refusal.why)
        if refusal.why == FORGED:
            language = chosen or best_language(request.headers.get("accept-language"))
            return self.message(language, None, f"refused.{FORGED}", status=404)
        language = chosen or refusal.language or best_language(request.headers.get("accept-language"))
        status = REFUSAL_STATUS.get(refusal.why, GONE)
        return self.message(
            language, token, f"refused.{refusal.why}", status=status, reference=refusal.reference or ""
        )

    def message(
        self, language: str, token: str | None, key: str, *, status: int = 200, **params: Any
    ) -> HTMLResponse:
        return self.render(
            "message.html",
            language=language,
            token=token,
            status=status,
            heading=text(language, f"{key}.heading"),
            text=text(language, f"{key}.text", **params),
        )

    def answer(
        self, request: Request, token: str, fields: dict[str, str], chosen: str | None
    ) -> HTMLResponse:
        try:
            survey = survey_for_link(self.core.unit_of_work(), token, chosen)
        except SurveyLinkRefused as refusal:
            return self.refused(request, token, refusal, chosen)
        language = chosen or survey.language
        expected = form_token(self.core.settings.secret_key, token)
        if not hmac.compare_digest(fields["csrf"].encode(), expected.encode()):
            log.warning("survey page: a form without a valid token was refused")
            return self.message(language, token, "refused.expired", status=403)
        typed = {"score": fields["score"], "nps": fields["nps"], "comment": fields["comment"]}
        score, nps = whole_number(fields["score"]), whole_number(fields["nps"])
        errors = []
        if score is None:
            errors.append(text(language, "errors.score_missing"))
        if survey.nps_question and nps is None:
            errors.append(text(language, "errors.nps_missing"))
        if score is None or errors:
            return self.form(token, survey, language, status=422, errors=errors, typed=typed)
        try:
            case = answer_survey_link(
                self.core.unit_of_work(),
                token,
                score=score,
                comment=fields["comment"] or None,
                nps=nps if survey.nps_question else None,
            )
        except SurveyLinkRefused as refusal:
            return self.refused(request, token, refusal, chosen)
        except ValidationFailed as invalid:
            return self.form(
                token, survey, language, status=422, errors=[invalid.message(language)], typed=typed
            )
        outcome = "thanks.satisfied" if case.status == Status.CLOSED else "thanks.follow_up"
        return self.message(language, token, outcome, reference=case.reference)


def whole_number(value: str) -> int | None:
    """A chosen point of a scale as sent by the form; None when nothing (or no number) was chosen."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def chosen_language(*candidates: str | None) -> str | None:
    """The language the customer picked on the page, if any."""
    return next((code for code in candidates if code in LANGUAGES), None)


def routes(core: Core) -> APIRouter:
    """``GET /survey/{token}`` shows the survey, ``POST`` records the answer."""
    logging.getLogger("uvicorn.access").addFilter(_HIDE_TOKENS)
    page = SurveyPage(core)
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/{token}")
    def show(request: Request, token: str) -> HTMLResponse:
        chosen = chosen_language(request.query_params.get("lang"))
        try:
            survey = survey_for_link(core.unit_of_work(), token, chosen)
        except SurveyLinkRefused as refusal:
            return page.refused(request, token, refusal, chosen)
        return page.form(token, survey, chosen or survey.language)

    @router.post("/{token}")
    def answer(
        request: Request,
        token: str,
        score: FormText = "",
        nps: FormText = "",
        comment: FormText = "",
        csrf: FormText = "",
        lang: FormText = "",
    ) -> HTMLResponse:
        fields = {"score": score, "nps": nps, "comment": comment.strip(), "csrf": csrf}
        return page.answer(request, token, fields, chosen_language(lang, request.query_params.get("lang")))

    return router
