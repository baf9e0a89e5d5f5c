"""The lifecycle table follows the complaint process chart, step by step."""

from __future__ import annotations

import pytest

from ccm_core.domain.lifecycle import TRANSITIONS, Command, Status, allowed_commands, target_status

S, C = Status, Command


@pytest.mark.parametrize(
    ("start", "commands", "end"),
    [
        # 02/04 → 03 → 06 justified → 07 → 08 → 09 → 10 satisfied: the process ends
        (
            S.RECEIVED,
            [C.START_REVIEW, C.DECIDE_JUSTIFIED, C.ADD_ACTION, C.COMPLETE_ACTION, C.INFORM_CUSTOMER],
            S.CUSTOMER_INFORMED,
        ),
        (S.CUSTOMER_INFORMED, [C.SEND_SURVEY, C.ANSWER_SATISFIED], S.CLOSED),
        # 06 unjustified: the customer is told why and the record is closed
        (S.RECEIVED, [C.START_REVIEW, C.DECIDE_UNJUSTIFIED], S.CLOSED),
        # 10 not satisfied → 11 follow-up: new action, customer informed, surveyed again
        (
            S.SURVEY_SENT,
            [C.ANSWER_DISSATISFIED, C.ADD_ACTION, C.COMPLETE_ACTION, C.INFORM_CUSTOMER, C.SEND_SURVEY],
            S.SURVEY_SENT,
        ),
        (S.SURVEY_SENT, [C.EXPIRE_SURVEY], S.CLOSED),
    ],
)
def test_chart_paths(start: Status, commands: list[Command], end: Status) -> None:
    status = start
    for command in commands:
        following = target_status(status, command)
        assert following is not None, f"{command} refused in {status}"
        status = following
    assert status == end


def test_decision_only_during_review() -> None:
    for status in Status:
        allowed = allowed_commands(status)
        assert (C.DECIDE_JUSTIFIED in allowed) == (status == S.IN_REVIEW)
        assert (C.DECIDE_UNJUSTIFIED in allowed) == (status == S.IN_REVIEW)


def test_closed_case_only_reopens_for_follow_up() -> None:
    assert allowed_commands(S.CLOSED) == [C.START_FOLLOW_UP]


def test_every_open_state_can_be_withdrawn_and_take_messages() -> None:
    for status in Status:
        if status == S.CLOSED:
            continue
        assert target_status(status, C.WITHDRAW) == S.CLOSED
        assert target_status(status, C.ADD_CUSTOMER_MESSAGE) == status


def test_survey_answers_only_while_a_survey_is_out() -> None:
    for command in (C.ANSWER_SATISFIED, C.ANSWER_DISSATISFIED, C.EXPIRE_SURVEY):
        assert [status for status, cmd in TRANSITIONS if cmd == command] == [S.SURVEY_SENT]
