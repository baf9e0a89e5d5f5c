"""Typed errors of the complaint process.

Each error has a stable ``code`` and the ``params`` its message needs, so every
adapter can show it in the reader's language (see ``ccm_core.i18n``) and tests
can assert on it without parsing text.
"""

from __future__ import annotations

from typing import Any


class CCMError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, **params: Any) -> None:
        self.params = params
        super().__init__(self.message("en"))

    @property
    def message_key(self) -> str:
        return f"errors.{self.code}"

    def message(self, language: str) -> str:
        """The error in ``language``, with step, command and decision names in the chart's words."""
        from ccm_core.i18n import translate

        # A parameter given in every language ({"tr": …, "en": …}) is read in the reader's.
        params = {
            name: (value.get(language) or value.get("en") or "-") if isinstance(value, dict) else value
            for name, value in self.params.items()
        }
        for name, section in _TRANSLATED_PARAMS.items():
            if params.get(name):
                params[name] = translate(language, f"{section}.{params[name]}")
        if isinstance(params.get("allowed"), list):
            names = [translate(language, f"command.{command}") for command in params["allowed"]]
            params["allowed"] = ", ".join(names) if names else "-"
        return translate(language, self.message_key, **params)


# Parameters whose values are codes with a text of their own in every catalogue.
_TRANSLATED_PARAMS = {
    "current": "status",
    "command": "command",
    "decision": "decision",
    "close_reason": "close_reason",
    "kind": "entity",
}


class InvalidTransition(CCMError):
    """The command is not allowed in the complaint's current state."""

    code = "invalid_transition"
    http_status = 409

    def __init__(self, *, reference: str, current: str, command: str, allowed: list[str]) -> None:
        super().__init__(reference=reference, current=current, command=command, allowed=allowed)
        self.current = current
        self.allowed = allowed


class PreconditionFailed(CCMError):
    """The state allows the command but the case is not ready for it (open actions, say)."""

    http_status = 409

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        super().__init__(**params)


class ConcurrentUpdate(CCMError):
    """Someone else changed the case between our read and our write."""

    code = "concurrent_update"
    http_status = 409


class NotFound(CCMError):
    code = "not_found"
    http_status = 404


class ValidationFailed(CCMError):
    """Input the process cannot accept; ``field`` names what to correct."""

    code = "validation_failed"
    http_status = 422

    def __init__(self, *, field: str, problem: str, **params: Any) -> None:
        self.field = field
        self.problem = problem
        super().__init__(field=field, problem=problem, **params)

    @property
    def message_key(self) -> str:
        return f"errors.validation.{self.problem}"


class PermissionDenied(CCMError):
    """The actor's role or department does not cover this case; ``why`` says which."""

    code = "permission_denied"
    http_status = 403

    def __init__(self, *, why: str, **params: Any) -> None:
        self.why = why
        super().__init__(why=why, **params)

    @property
    def message_key(self) -> str:
        return f"errors.permission.{self.why}"


class GuardUnavailable(RuntimeError):
    """The store that de-duplicates deliveries cannot be reached (Redis restarting, say): nothing was
    claimed, finished or counted. Infrastructure's, not a refusal of the core's (see ``ports.Guard``)."""
