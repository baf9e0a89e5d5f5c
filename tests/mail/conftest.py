"""Real dovecots for the e-mail intake tests, one of each kind per session; every test a mailbox of its own.

* ``dovecot``: plain IMAP and STARTTLS on ``port``, implicit TLS on ``tls_port``, a "/" hierarchy.
* ``old_dovecot``: a Courier-style "INBOX." namespace with "." as separator, neither IDLE, MOVE nor
  UIDPLUS, and a password that is not ASCII.
* ``account``: a fresh mailbox on ``dovecot``; ``deliver(raw, folder="INBOX")`` puts new mail in it;
  ``settings_for(security="none", **overrides)`` is the ``ChannelSettings`` reading it.

Tests in other folders use ``tests.mail.dovecot.running_dovecot`` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from channels.settings import ChannelSettings
from tests.mail.dovecot import Account, Dovecot, DovecotUnavailable, running_dovecot

# What dovecot 2.3 says it can do once signed in, less IDLE, MOVE and UIDPLUS: a server of older days.
OLD_CAPABILITIES = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE NAMESPACE UNSELECT CHILDREN"


def _serving(server: AbstractContextManager[Dovecot]) -> Iterator[Dovecot]:
    """The server, or the test fails (never skips) saying why: dovecot missing, or its log."""
    try:
        with server as running:
            yield running
    except DovecotUnavailable as unavailable:
        pytest.fail(str(unavailable), pytrace=False)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    yield from _serving(running_dovecot(tls=True))


@pytest.fixture(scope="session")
def old_dovecot() -> Iterator[Dovecot]:
    yield from _serving(
        running_dovecot(
            separator=".", prefix="INBOX.", capabilities=OLD_CAPABILITIES, password="Gizli-şifre-ığüö-2024"
        )
    )


@pytest.fixture
def account(dovecot: Dovecot) -> Account:
    return dovecot.add_account()


@pytest.fixture
def deliver(account: Account) -> Callable[..., None]:
    """``deliver(raw, folder="INBOX")``: new mail in the test's mailbox, over a connection of its own."""
    return account.deliver


@pytest.fixture
def settings_for(account: Account) -> Callable[..., ChannelSettings]:
    """``settings_for(security="none", **overrides)``: the channel settings reading the test's mailbox."""
    return account.settings
