"""Every HTML page the product serves carries its security headers, error pages and redirects included.

The pages are requested over HTTP from the whole product's ASGI app (the API, the chat page, the admin
console, the survey page and the API's docs) on a seeded SQLite database. The routes are read from the
app itself, so a new page that nobody visits here fails ``test_every_html_route_of_the_product_is_visited``
until it is added to ``VISITS``, where its headers are then checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import Engine

from ccm.web import create_app
from ccm_core.bootstrap import Core
from ccm_core.entrypoints.security_headers import source_hash
from ccm_core.service_layer import access, services, sessions
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings
from tests.harness import product_settings
from tests.service.helpers import outbox, record, staff, to_informed

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADMIN = "admin@example.com"
LEAD = "elif.kaya@example.com"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
OWN_SOURCES = re.compile(r"'self'|'none'|'sha256-[A-Za-z0-9+/]+=*'")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", re.DOTALL)
INLINE_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)


@dataclass
class Site:
    """The product's web server in process, with what a visitor of each page needs."""

    client: TestClient
    app: FastAPI
    core: Core

    def uow(self) -> UnitOfWork:
        return self.core.unit_of_work()

    def signed_in(self) -> str:
        """Signs the client in as the admin; returns the console's CSRF token for forms."""
        assert self.sign_in(PASSWORD).status_code == 303
        return csrf_of(self.client.get("/admin"))

    def sign_in(self, password: str) -> Response:
        form = csrf_of(self.client.get("/admin/login"))
        return self.client.post("/admin/login", data={"email": ADMIN, "password": password, "csrf": form})

    def survey_link(self) -> str:
        """The path of a genuine survey link, for a case walked to 09."""
        reference = record(self.uow(), channel="email").reference
        lead = staff(self.uow(), LEAD)
        to_informed(self.uow(), lead, reference)
        services.send_survey(self.uow(), lead, reference)
        survey = next(m for m in outbox(self.uow(), reference) if m.kind == "survey")
        return urlsplit(survey.payload["link"]).path

    def admin_token(self) -> dict[str, str]:
        token = access.create_api_token(self.uow(), role="admin", staff_email=ADMIN)
        return {"Authorization": f"Bearer {token}"}


def csrf_of(page: Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


@pytest.fixture
def site(
    uow: UnitOfWork, settings: CoreSettings, engine: Engine, make_uow: Callable[[], UnitOfWork]
) -> Iterator[Site]:
    core = Core(settings, engine, make_uow)
    sessions.set_password(core.unit_of_work(), ADMIN, PASSWORD)
    asgi = create_app(core, product_settings(core))
    app = asgi.other_asgi_app  # the FastAPI app inside the socket.io server
    with TestClient(asgi, follow_redirects=False) as client:
        yield Site(client, app, core)


@dataclass(frozen=True)
class Visit:
    """One request to an HTML route, as a person makes it: the route it reaches, the status they get."""

    route: str
    what: str
    status: int
    send: Callable[[Site], Response]


def answer_survey(site: Site, **fields: str) -> Response:
    path = site.survey_link()
    form = csrf_of(site.client.get(path))
    return site.client.post(path, data={"csrf": form, **fields})


def used_survey_link(site: Site) -> Response:
    path = site.survey_link()
    site.client.post(path, data={"csrf": csrf_of(site.client.get(path)), "score": "5"})
    return site.client.get(path)


def as_admin(path: str) -> Callable[[Site], Response]:
    """A console page opened by the signed-in admin."""

    def send(site: Site) -> Response:
        site.signed_in()
        return site.client.get(path)

    return send


def console_form(path: str, **fields: str) -> Callable[[Site], Response]:
    """A console form sent by the signed-in admin, with its CSRF token unless ``csrf`` is given."""

    def send(site: Site) -> Response:
        token = site.signed_in()
        return site.client.post(path, data={"csrf": token, **fields})

    return send


def customer_copy(site: Site) -> Response:
    reference = record(site.uow()).reference
    return site.client.get(
        f"/api/v1/complaints/{reference}/customer/export",
        params={"format": "html"},
        headers=site.admin_token(),
    )


VISITS = [
    Visit("GET /chat", "the web chat page", 200, lambda site: site.client.get("/chat")),
    Visit("GET /docs", "the API's interactive docs", 200, lambda site: site.client.get("/docs")),
    Visit(
        "GET /api/v1/complaints/{reference}/customer/export",
        "the customer's copy of their data as a page",
        200,
        customer_copy,
    ),
    Visit(
        "GET /admin/login", "the console's sign-in page", 200, lambda site: site.client.get("/admin/login")
    ),
    Visit(
        "POST /admin/login", "a wrong console password", 401, lambda site: site.sign_in("not the password")
    ),
    Visit(
        "POST /admin/login",
        "a sign-in form without its token",
        403,
        lambda site: site.client.post("/admin/login", data={"email": ADMIN, "password": PASSWORD}),
    ),
    Visit(
        "POST /admin/login",
        "too many sign-in attempts",
        429,
        lambda site: [site.sign_in("not the password") for _ in range(6)][-1],
    ),
    Visit("POST /admin/login", "the redirect after signing in", 303, lambda site: site.sign_in(PASSWORD)),
    Visit(
        "GET /admin/login",
        "the sign-in page redirecting a signed-in admin",
        303,
        as_admin("/admin/login"),
    ),
    Visit(
        "GET /admin", "the redirect of a visitor not signed in", 303, lambda site: site.client.get("/admin")
    ),
    Visit("GET /admin", "the review queue", 200, as_admin("/admin")),
    Visit(
        "GET /admin/intents",
        "the training data",
        200,
        as_admin("/admin/intents"),
    ),
    Visit(
        "GET /admin/models",
        "the models",
        200,
        as_admin("/admin/models"),
    ),
    Visit(
        "GET /admin/conversations/{conversation_id:path}",
        "a conversation while the assistant is unreachable",
        503,
        as_admin("/admin/conversations/web:session"),
    ),
    Visit(
        "GET /admin/{page:console_unknown_page}",
        "a console page that does not exist",
        404,
        as_admin("/admin/no/such/page"),
    ),
    Visit(
        "GET /admin/{page:console_unknown_page}",
        "a console page that does not exist, signed out",
        404,
        lambda site: site.client.get("/admin/nothing-here"),
    ),
    Visit(
        "POST /admin/review/assign", "assigning nothing", 422, console_form("/admin/review/assign", items="")
    ),
    Visit(
        "POST /admin/review/new-intent",
        "a new intent for nothing",
        422,
        console_form("/admin/review/new-intent", items="", name="x"),
    ),
    Visit(
        "POST /admin/review/dismiss",
        "a form from elsewhere",
        403,
        console_form("/admin/review/dismiss", items="1", csrf=""),
    ),
    Visit(
        "POST /admin/intents/reopen",
        "the redirect after reopening",
        303,
        console_form("/admin/intents/reopen", intent="greet"),
    ),
    Visit(
        "POST /admin/models/retrain",
        "the redirect after a retrain",
        303,
        console_form("/admin/models/retrain"),
    ),
    Visit(
        "POST /admin/models/{model_id}/rollback",
        "rolling back to a model that does not exist",
        404,
        console_form("/admin/models/999999/rollback"),
    ),
    Visit("POST /admin/logout", "the redirect after signing out", 303, console_form("/admin/logout")),
    Visit("GET /survey/{token}", "the survey", 200, lambda site: site.client.get(site.survey_link())),
    Visit(
        "GET /survey/{token}",
        "a forged survey link",
        404,
        lambda site: site.client.get("/survey/forged-token"),
    ),
    Visit("GET /survey/{token}", "a survey link already answered", 200, used_survey_link),
    Visit(
        "POST /survey/{token}", "the thanks after answering", 200, lambda site: answer_survey(site, score="5")
    ),
    Visit(
        "POST /survey/{token}", "an answer without a score", 422, lambda site: answer_survey(site, score="")
    ),
    Visit(
        "POST /survey/{token}",
        "an answer without the form's token",
        403,
        lambda site: site.client.post(site.survey_link(), data={"score": "5"}),
    ),
    Visit(
        "POST /survey/{token}",
        "an answer to a forged link",
        404,
        lambda site: site.client.post("/survey/forged-token", data={"score": "5"}),
    ),
]


def html_routes(app: FastAPI) -> set[str]:
    """The app's routes that answer with pages: everything outside the API's description, and the
    API's operations that describe an HTML answer."""
    pages = {
        f"{method} {route.path}"
        for route in iter_route_contexts(app.routes)
        if route.methods and not route.include_in_schema and route.path != app.openapi_url
        for method in route.methods - {"HEAD"}
    }
    described: dict[str, Any] = app.openapi()["paths"]
    operations = {
        f"{method.upper()} {path}"
        for path, methods in described.items()
        for method, operation in methods.items()
        if any("text/html" in answer.get("content", {}) for answer in operation["responses"].values())
    }
    return pages | operations


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def test_every_html_route_of_the_product_is_visited(site: Site) -> None:
    assert html_routes(site.app) == {visit.route for visit in VISITS}


@pytest.mark.parametrize("visit", VISITS, ids=[visit.what for visit in VISITS])
def test_the_page_allows_nothing_from_another_site_no_framing_and_no_referrer(
    site: Site, visit: Visit
) -> None:
    response = visit.send(site)

    assert response.status_code == visit.status, response.text
    if not response.is_redirect:
        assert response.headers["content-type"].startswith("text/html")
    csp = policy(response.headers["content-security-policy"])
    assert csp["default-src"] in (["'self'"], ["'none'"])
    for name, sources in csp.items():
        allowed = [source for source in sources if OWN_SOURCES.fullmatch(source)]
        if name == "img-src":
            allowed += [source for source in sources if source == "data:"]
        assert sources == allowed, f"{name} allows more than the product's own origin: {sources}"
    assert csp["frame-ancestors"] in (["'none'"], ["'self'"])
    assert csp["base-uri"] in (["'self'"], ["'none'"])
    assert csp["form-action"] in (["'self'"], ["'none'"])
    assert response.headers["referrer-policy"] in ("no-referrer", "same-origin")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("visit", VISITS, ids=[visit.what for visit in VISITS])
def test_the_policy_lets_every_inline_script_and_style_of_the_page_run(site: Site, visit: Visit) -> None:
    response = visit.send(site)
    csp = policy(response.headers["content-security-policy"])

    for script in INLINE_SCRIPT.findall(response.text):
        assert source_hash(script) in csp.get("script-src", csp["default-src"])
    for style in INLINE_STYLE.findall(response.text):
        assert source_hash(style) in csp.get("style-src", csp["default-src"])
    # Attributes cannot be allowed by hash without 'unsafe-hashes': a page must not rely on them.
    assert not re.search(r"<[^>]+\s(on[a-z]+|style)\s*=", response.text)
