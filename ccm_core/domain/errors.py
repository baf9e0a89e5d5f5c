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
        super().__init__(self.english())

    def english(self) -> str:
        from ccm_core.i18n import translate

        return translate("en", f"errors.{self.code}", **self.params)


class InvalidTransition(CCMError):
    """The command is not allowed in the complaint's current state."""

    code = "invalid_transition"
    http_status = 409

    def __init__(self, *, reference: str, current: str, command: str, allowed: list[str]) -> None:
        super().__init__(
            reference=reference,
            current=current,
            command=command,
            allowed=", ".join(allowed) if allowed else "-",
        )
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

    def english(self) -> str:
        from ccm_core.i18n import translate

        return translate("en", f"errors.validation.{self.problem}", **self.params)


class PermissionDenied(CCMError):
    """The actor's role or department does not cover this case; ``why`` says which."""

    code = "permission_denied"
    http_status = 403

    def __init__(self, *, why: str, **params: Any) -> None:
        self.why = why
        super().__init__(why=why, **params)

    def english(self) -> str:
        from ccm_core.i18n import translate

        return translate("en", f"errors.permission.{self.why}", **self.params)
