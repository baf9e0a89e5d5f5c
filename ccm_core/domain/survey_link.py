"""Signed survey links, for customers who answer outside the chat (an e-mail intake, say).

A link names the case and the survey round, signed with the deployment's secret, so it cannot
be forged or moved to another case or round. It needs no row of its own: it is used up when
that round's answer is recorded, by whichever way the answer came.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

_SIGNATURE_LENGTH = 32


def _signature(secret: str, reference: str, round_: int) -> str:
    if not secret:  # a link anyone could forge: the core makes a key at start-up when none is set
        raise ValueError("No key to sign survey links with.")
    digest = hmac.new(secret.encode(), f"survey:{reference}:{round_}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:_SIGNATURE_LENGTH]


def survey_token(secret: str, reference: str, round_: int) -> str:
    return f"{reference}.{round_}.{_signature(secret, reference, round_)}"


def survey_url(public_url: str, secret: str, reference: str, round_: int) -> str:
    return f"{public_url.rstrip('/')}/survey/{survey_token(secret, reference, round_)}"


def read_survey_token(secret: str, token: str) -> tuple[str, int] | None:
    """The (reference, round) a genuine token names; None for anything forged, altered or malformed."""
    reference, _, rest = token.partition(".")
    round_text, _, signature = rest.partition(".")
    if not (reference and round_text.isdigit() and len(round_text) < 4 and signature):
        return None
    round_ = int(round_text)
    if not hmac.compare_digest(signature, _signature(secret, reference, round_)):
        return None
    return reference, round_
