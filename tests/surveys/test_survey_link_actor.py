"""A survey link answers its own case's survey and nothing else (service layer, SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from ccm_core.domain.errors import PermissionDenied
from ccm_core.domain.policy import Actor
from ccm_core.service_layer import services, views
from ccm_core.service_layer.unit_of_work import UnitOfWork
from tests.service.helpers import audit_actions, record, staff, to_informed

LEAD = "elif.kaya@example.com"


def surveyed(uow: UnitOfWork) -> str:
    reference = record(uow).reference
    lead = staff(uow, LEAD)
    to_informed(uow, lead, reference)
    services.send_survey(uow, lead, reference)
    return reference


def test_a_link_answers_only_the_survey_of_the_case_it_names(uow: UnitOfWork) -> None:
    mine, other = surveyed(uow), surveyed(uow)
    link = Actor.survey_link(mine)
    with pytest.raises(PermissionDenied) as refused:
        services.record_survey_answer(uow, link, other, score=5, source="link")
    assert refused.value.why == "not_customers_case"
    for change in (
        lambda: services.withdraw_complaint(uow, link, mine),
        lambda: services.add_customer_message(uow, link, mine, body="Bir şey daha"),
        lambda: views.get_complaint(uow, link, mine),
    ):
        with pytest.raises(PermissionDenied) as refused:
            change()
        assert refused.value.why == "role"
    before = audit_actions(uow, other)
    case = services.record_survey_answer(uow, link, mine, score=5, source="link")
    assert case.status == "closed"
    assert audit_actions(uow, other) == before
