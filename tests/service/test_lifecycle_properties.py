"""Random sequences of use cases against the real databases: state and audit trail stay in step."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccm_core.domain.errors import CCMError
from ccm_core.domain.lifecycle import Status
from ccm_core.service_layer import services, views
from tests.service.helpers import audit_actions, outbox, record, staff


def _first_open_action(uow, actor, reference) -> int:
    case = views.get_complaint(uow, actor, reference)
    return next((a.id for a in case.actions if a.done_at is None), 0)


USE_CASES = {
    "review": lambda uow, a, r: services.start_review(uow, a, r),
    "justified": lambda uow, a, r: services.decide_complaint(uow, a, r, justified=True, reason="ok"),
    "unjustified": lambda uow, a, r: services.decide_complaint(
        uow, a, r, justified=False, reason="no", customer_explanation="Because."
    ),
    "action": lambda uow, a, r: services.add_action(uow, a, r, kind="preventive", description="Train staff"),
    "complete": lambda uow, a, r: services.complete_action(
        uow, a, r, action_id=_first_open_action(uow, a, r), outcome="Trained"
    ),
    "inform": lambda uow, a, r: services.inform_customer(uow, a, r, summary="We trained the staff."),
    "survey": lambda uow, a, r: services.send_survey(uow, a, r),
    "happy": lambda uow, a, r: services.record_survey_answer(uow, a, r, score=5),
    "unhappy": lambda uow, a, r: services.record_survey_answer(uow, a, r, score=1, comment="No"),
    "expire": lambda uow, a, r: services.expire_survey(uow, a, r),
    "follow_up": lambda uow, a, r: services.start_follow_up(uow, a, r),
    "close": lambda uow, a, r: services.close_complaint(uow, a, r),
    "message": lambda uow, a, r: services.add_customer_message(uow, a, r, body="More info"),
}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example records its own complaint
)
@given(st.lists(st.sampled_from(sorted(USE_CASES)), min_size=1, max_size=14))
def test_stored_state_matches_the_audit_trail(uow, names) -> None:
    lead = staff(uow, "elif.kaya@example.com")
    reference = record(uow).reference
    accepted = 0
    for name in names:
        before = views.get_complaint(uow, lead, reference)
        trail_before = audit_actions(uow, reference)
        try:
            after = USE_CASES[name](uow, lead, reference)
        except CCMError:
            assert audit_actions(uow, reference) == trail_before, f"refused {name} left an audit event"
            assert views.get_complaint(uow, lead, reference) == before, f"refused {name} changed the case"
            continue
        accepted += 1
        trail = audit_actions(uow, reference)
        assert trail[:-1] == trail_before, f"{name} must add exactly one audit event"
        assert views.get_complaint(uow, lead, reference).status == after.status
    trail = audit_actions(uow, reference)
    assert len(trail) == accepted + 1
    case = views.get_complaint(uow, lead, reference)
    assert Status(case.status) in Status
    assert case.allowed, "every state, closed included, leaves something possible"
    kinds = [m.kind for m in outbox(uow, reference)]
    assert kinds.count("interim_notice") == trail.count("start_review")
    assert kinds.count("survey") == trail.count("send_survey")
