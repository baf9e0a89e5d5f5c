"""The action server's answers checked against Rasa's schema by a validator built once, at start.

Rasa 3.6 checks every custom action's answer with ``jsonschema.validate``, which first checks the
schema itself against the JSON Schema meta-schema (Draft 2020-12, whose ``$dynamicRef`` make that
slow), on every call. A Rasa server calls the action server on every message
(``action_validate_slot_mappings``) and on every notice the worker delivers: sampled under load
that check took 70% of a Rasa server's busy time. The schema never changes, so it is checked
once; every answer is still validated against it and a bad one fails with the error Rasa raises.
"""

from __future__ import annotations

from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


def install() -> None:
    """Make ``RemoteAction`` validate with the validator built here (the rest of Rasa is unchanged)."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # what jsonschema.validate did on every call
    validator = validator_class(schema)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        error: ValidationError | None = best_match(validator.iter_errors(result))  # as jsonschema.validate
        if error is None:
            return True
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
