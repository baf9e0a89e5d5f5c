"""What the service layer and the channels expect of infrastructure, as protocols.

The adapters implement them; the composition root (``ccm_core.bootstrap``) picks one.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from ccm_core.domain.errors import GuardUnavailable

__all__ = ["Guard", "GuardUnavailable"]


class Guard(Protocol):
    """Each method raises ``GuardUnavailable`` when its store cannot be reached."""

    def claim(self, key: str, lease_seconds: int = 60) -> bool:
        """Take a delivery for processing; False when it is done or another replica holds it."""

    def finish(self, key: str) -> None:
        """The delivery was handled: later copies are ignored."""

    def done(self, key: str) -> bool:
        """Whether the delivery was handled (not merely taken: a replica that took it may have died)."""

    def release(self, key: str) -> None:
        """Handling failed: a redelivery may take it again."""

    def allow(self, key: str, limit: int, window_seconds: int = 60) -> bool:
        """Count one message for ``key``; False when it is over ``limit`` in this window."""

    def forget_before(self, moment: dt.datetime) -> None:
        """Drop what is older than ``moment`` (the worker calls this now and then)."""
