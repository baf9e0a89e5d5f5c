"""The action server's answers are validated as Rasa validates them, without checking the schema each time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig
from server import action_responses

GOOD = {"events": [{"event": "slot", "name": "language", "value": "tr"}], "responses": [{"text": "Merhaba"}]}
BAD = [{"events": "slot"}, {"events": [{"name": "language"}]}, {"responses": "Merhaba"}]


def refusals(action: RemoteAction) -> list[str]:
    found = []
    for answer in BAD:
        with pytest.raises(jsonschema.ValidationError) as refused:
            action._validate_action_result(answer)
        found.append(refused.value.message)
    return found


@pytest.fixture
def action() -> Iterator[RemoteAction]:
    original = RemoteAction._validate_action_result
    yield RemoteAction("action_deliver_notice", EndpointConfig("http://127.0.0.1:5055/webhook"))
    RemoteAction._validate_action_result = original  # type: ignore[method-assign]


def test_answers_are_accepted_and_refused_as_rasa_does_with_the_schema_checked_once(
    action: RemoteAction, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert action._validate_action_result(GOOD)
    rasas = refusals(action)

    action_responses.install()
    checked: list[Any] = []
    validator_class = jsonschema.validators.validator_for(RemoteAction.action_response_format_spec())
    monkeypatch.setattr(
        validator_class, "check_schema", classmethod(lambda cls, schema: checked.append(schema))
    )
    for _ in range(3):
        assert action._validate_action_result(GOOD)
    assert refusals(action) == rasas  # the same first error, with Rasa's words about the format
    assert "Failed to validate Action server response" in rasas[0]
    assert checked == []  # the schema was checked when installed, never per answer
