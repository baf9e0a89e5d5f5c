"""The API fuzzed by schemathesis from its own OpenAPI description, as an admin, on the seeded test database.

Every operation gets generated input, valid and invalid; then chains of calls follow the description's
links (a new complaint, then its review, decision, actions, survey… with their references and action ids),
so the fuzzing reaches the cases' later steps. Whatever a client sends, the API answers with a 4xx in the
reader's language, never a 5xx, and every answer is what the description says (status, content type, body).
The number of calls made is written at the end of the run.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import make_url

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.bootstrap import Core
from ccm_core.domain.lifecycle import ActionKind, Channel, Language, Priority
from ccm_core.entrypoints.api import create_app
from ccm_core.service_layer import access, views
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.api.conftest import Headers
from tests.api.helpers import API
from tests.conftest import Clock, empty_database

ADMIN = "admin@example.com"

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Bounded so the module takes under a minute on the project's two cores (about 1,100 calls).
STATELESS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
STATEFUL = settings(
    max_examples=30,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


def known_choices(uow: UnitOfWork) -> dict[str, dict[str, st.SearchStrategy[Any]]]:
    """Values the service layer accepts for fields the description types as plain text or numbers.

    The description leaves choices and lengths to the service layer (the categories and departments are
    the organisation's), so random values are nearly always refused; drawing these fields from what it
    accepts lets complaints be recorded and chains of calls reach their later steps.
    """
    text = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=60)
    words = text.filter(str.strip)
    customer = {"name": "Ali Veli", "email": "ali.veli@example.com", "phone": "+90 532 000 00 00"}
    case = f"POST {API}/complaints/{{reference}}"
    return {
        f"POST {API}/complaints": {
            "channel": st.sampled_from(list(Channel)),
            "language": st.sampled_from(list(Language)),
            "category": st.sampled_from([category.code for category in views.categories(uow)]),
            "description": words,
            "priority": st.none() | st.sampled_from(list(Priority)),
            "customer": st.none() | st.just(customer),
        },
        f"{case}/decision": {"justified": st.booleans(), "reason": words, "customer_explanation": words},
        f"{case}/actions": {
            "kind": st.sampled_from(list(ActionKind)),
            "description": words,
            "owner_email": st.none(),
            "due_date": st.none(),
        },
        f"{case}/actions/{{action_id}}/complete": {"outcome": words},
        f"{case}/inform": {"summary": words},
        f"{case}/messages": {"body": words},
        f"{case}/reassign": {
            "department": st.sampled_from([department.code for department in views.departments(uow)]),
        },
        f"{case}/survey-answer": {"score": st.integers(1, 5), "nps": st.none() | st.integers(0, 10)},
    }


@pytest.fixture
def api_schema(core: Core) -> OpenApiSchema:
    """The API's own description, loaded from the app (ASGI, in process) on the seeded database."""
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(core))


def steer(schema: OpenApiSchema, uow: UnitOfWork, *, always: bool) -> None:
    """Draws the fields of ``known_choices`` from what the service layer accepts: always, or half the time."""
    choices = known_choices(uow)

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        fields = choices.get(context.operation.label) if context.operation else None
        if not fields or not isinstance(body, dict):
            return st.just(body)
        steered = st.fixed_dictionaries(fields).map(lambda chosen: {**body, **chosen})
        return steered if always else st.just(body) | steered


@pytest.fixture(scope="module")
def calls(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """Calls made, by kind of run and status class; written to the terminal once the module is done."""
    counts: Counter[str] = Counter()
    yield counts
    plugins = request.config.pluginmanager
    line = ", ".join(f"{key}: {value}" for key, value in sorted(counts.items()))
    with plugins.get_plugin("capturemanager").global_and_fixture_disabled():
        plugins.get_plugin("terminalreporter").write_line(
            f"\nAPI fuzzing: {sum(counts.values())} calls ({line})"
        )


def count(calls: Counter[str], kind: str, status: int) -> None:
    calls[f"{kind} {status // 100}xx"] += 1


def test_no_input_to_any_operation_gets_a_server_error(
    api_schema: OpenApiSchema,
    core: Core,
    admin: Headers,
    calls: Counter[str],
    subtests: pytest.Subtests,
) -> None:
    steer(api_schema, core.unit_of_work(), always=False)
    for operation in (result.ok() for result in api_schema.get_all_operations()):
        inputs = st.one_of(*(operation.as_strategy(mode) for mode in GenerationMode))

        @STATELESS
        @given(case=inputs)
        def call(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=admin, checks=CHECKS)
            count(calls, "stateless", response.status_code)

        with subtests.test(operation.label):
            call()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the chains on the production kind
def test_no_chain_of_calls_along_the_links_gets_a_server_error(
    api_schema: OpenApiSchema,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: Clock,
    calls: Counter[str],
) -> None:
    app = api_schema.app
    chains = itertools.count()
    # Valid input only, invalid input was fuzzed above: here every step should move the case on.
    api_schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    steer(api_schema, app.state.core.unit_of_work(), always=True)

    class Chains(api_schema.as_state_machine()):
        """Each chain starts on a fresh database: Hypothesis replays a chain to shrink it, and a replay
        must get the same answers (an idempotency key or an erasure left by an earlier chain would not)."""

        def setup(self) -> None:
            core = fresh_core(request, tmp_path / f"chain-{next(chains)}", app.state.core.settings, clock)
            app.state.core = core
            token = access.create_api_token(core.unit_of_work(), role="admin", staff_email=ADMIN)
            self.headers = {"Authorization": f"Bearer {token}"}

        def teardown(self) -> None:
            app.state.core.engine.dispose()

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": self.headers}

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, *_: Any, **kwargs: Any
        ) -> None:
            count(calls, "stateful", response.status_code)
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    Chains.run(settings=STATEFUL)


def test_a_body_nested_too_deeply_to_read_is_refused_in_the_readers_language(
    client: TestClient, agent: Headers
) -> None:
    """FastAPI cannot parse it and used to answer 400 in English, unlike any other unreadable body."""
    nested = b'{"description": ' * 5000
    headers = {**agent, "Content-Type": "application/json", "Accept-Language": "de"}

    response = client.post(f"{API}/complaints", content=nested, headers=headers)

    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"], error["problem"]) == ("validation_failed", "body", "invalid_value")
    assert error["message"].startswith("body ist ungültig:")


def fresh_core(request: pytest.FixtureRequest, folder: Path, settings: CoreSettings, clock: Clock) -> Core:
    """A core on an empty, migrated database of the same kind, seeded with the demo organisation."""
    folder.mkdir()
    kind = make_url(settings.database_url).get_backend_name()
    url = empty_database(request, kind, folder)
    chosen = settings.model_copy(update={"database_url": url})
    factory = session_factory(engine := create_db_engine(url))
    core = Core(chosen, engine, lambda: UnitOfWork(factory, settings=chosen, clock=clock))
    seed_organisation(core.unit_of_work(), DEMO_ORGANISATION)
    return core
