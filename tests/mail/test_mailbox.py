"""The intake's side of IMAP against a real dovecot: reading without marking read, moving out once,
setting aside with a reason staff can read, waiting with IDLE or by polling, and failing without secrets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy

import pytest

from channels.mail_intake.mailbox import Mailbox, MailboxUnavailable
from channels.settings import ChannelSettings
from tests.http_server import free_port
from tests.mail.dovecot import Account, Dovecot

TURKISH_REASON = "Okunamadı: gönderen adresi yok, ekler şifreli"


def mail(number: int = 1) -> bytes:
    return (
        f"From: Ayse <ayse@example.com>\r\nTo: destek@example.com\r\nSubject: Test {number}\r\n"
        f"Message-ID: <{number}@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Siparişim gelmedi ({number}).\r\n"
    ).encode()


@pytest.fixture
def opened(account: Account) -> Iterator[Callable[..., Mailbox]]:
    """``opened(folder="INBOX", settings=None)``: a connected Mailbox on the test's account, closed after."""
    mailboxes: list[Mailbox] = []

    def connect(folder: str = "INBOX", settings: ChannelSettings | None = None) -> Mailbox:
        mailbox = Mailbox(settings or account.settings(), folder)
        mailboxes.append(mailbox)
        mailbox.connect()
        return mailbox

    yield connect
    for mailbox in mailboxes:
        mailbox.close()


def folder_names(account: Account) -> set[str]:
    with account.client() as client:
        return {name for _, _, name in client.list_sub_folders()}


def test_connecting_makes_the_product_folders_once_and_selects_the_folder(
    account: Account, opened: Callable[..., Mailbox]
) -> None:
    first = opened()
    second = opened()  # the folders are there now: nothing to make, no error
    assert {"CCM/Processed", "CCM/Automatic", "CCM/Held", "CCM/Unreadable"} <= folder_names(account)
    assert first.uidvalidity == second.uidvalidity > 0
    assert first.idle_supported
    assert opened("CCM/Held").waiting() == []


def test_waiting_lists_the_mail_in_the_folder_in_order(
    deliver: Callable[..., None], opened: Callable[..., Mailbox]
) -> None:
    mailbox = opened()
    assert mailbox.waiting() == []
    for number in (1, 2, 3):
        deliver(mail(number))
    waiting = mailbox.waiting()
    assert len(waiting) == 3 and waiting == sorted(waiting)


def test_fetch_returns_the_exact_bytes_and_leaves_the_mail_unread(
    account: Account, deliver: Callable[..., None], opened: Callable[..., Mailbox]
) -> None:
    deliver(mail())
    mailbox = opened()
    [uid] = mailbox.waiting()
    assert mailbox.fetch(uid) == mail()
    [(raw, flags)] = account.messages("INBOX")
    assert raw == mail() and b"\\Seen" not in flags


def test_move_moves_the_mail_out_and_a_second_move_is_fine(
    account: Account, deliver: Callable[..., None], opened: Callable[..., Mailbox]
) -> None:
    deliver(mail(1))
    deliver(mail(2))
    mailbox = opened()
    first, second = mailbox.waiting()
    mailbox.move(first, "CCM/Processed")
    mailbox.move(first, "CCM/Processed")
    assert mailbox.waiting() == [second]
    assert mailbox.fetch(first) is None
    assert [raw for raw, _ in account.messages("CCM/Processed")] == [mail(1)]


def test_a_mail_another_worker_moved_is_gone_without_an_error(
    account: Account, deliver: Callable[..., None], opened: Callable[..., Mailbox]
) -> None:
    deliver(mail())
    mine, other = opened(), opened()
    [uid] = mine.waiting()
    assert other.waiting() == [uid]
    other.move(uid, "CCM/Automatic")
    assert mine.fetch(uid) is None
    mine.move(uid, "CCM/Processed")
    assert mine.waiting() == []
    assert account.messages("CCM/Processed") == []
    assert [raw for raw, _ in account.messages("CCM/Automatic")] == [mail()]


@pytest.mark.parametrize(
    ("reason", "header"),
    [
        (TURKISH_REASON, TURKISH_REASON),
        ("line one\r\nBcc: someone@example.com", "line one Bcc: someone@example.com"),
        ("too long " * 20, ("too long " * 20).strip()),
    ],
    ids=["turkish", "line-break", "folded"],
)
def test_a_mail_set_aside_carries_its_reason_for_staff(
    account: Account, deliver: Callable[..., None], opened: Callable[..., Mailbox], reason: str, header: str
) -> None:
    deliver(mail())
    mailbox = opened()
    [uid] = mailbox.waiting()
    raw = mailbox.fetch(uid)
    assert raw is not None
    mailbox.set_aside(uid, "CCM/Unreadable", raw, reason)
    assert mailbox.waiting() == []
    assert account.messages("INBOX") == []
    [(kept, flags)] = account.messages("CCM/Unreadable")
    assert kept.startswith(b"X-CCM-Reason: ") and kept.endswith(raw) and kept[: -len(raw)].isascii()
    assert b"\\Seen" not in flags  # staff see it as new
    parsed = message_from_bytes(kept, policy=policy.default)
    assert parsed["X-CCM-Reason"] == header
    assert parsed["Bcc"] is None and parsed["Message-ID"] == "<1@example.com>"


def test_wait_returns_when_mail_arrives_during_idle(
    deliver: Callable[..., None], opened: Callable[..., Mailbox]
) -> None:
    mailbox = opened()
    assert mailbox.waiting() == []
    for number in (1, 2):  # the second time, after a first wait: IDLE again
        arrival = threading.Timer(0.5, deliver, args=(mail(number),))
        arrival.start()
        started = time.monotonic()
        mailbox.wait(20)
        arrival.join()
        assert time.monotonic() - started < 5
        assert len(mailbox.waiting()) == number


def test_wait_returns_at_once_for_mail_that_came_before_it(
    deliver: Callable[..., None], opened: Callable[..., Mailbox]
) -> None:
    mailbox = opened()
    assert mailbox.waiting() == []
    deliver(mail())
    started = time.monotonic()
    mailbox.wait(20)
    assert time.monotonic() - started < 5


def test_wait_lasts_its_time_when_no_mail_comes(
    deliver: Callable[..., None], opened: Callable[..., Mailbox]
) -> None:
    deliver(mail())
    mailbox = opened()
    mailbox.waiting()  # the mail listed (and left there) does not end a wait
    for _ in range(2):
        started = time.monotonic()
        mailbox.wait(1.5)
        assert 1.4 < time.monotonic() - started < 5


def test_an_older_server_gets_copy_and_expunge_polling_and_its_own_folder_names(
    old_dovecot: Dovecot,
) -> None:
    account = old_dovecot.add_account()
    assert not account.password.isascii()  # signed in with SASL PLAIN: LOGIN takes ASCII only
    account.deliver(mail(1))
    account.deliver(mail(2))
    mailbox = Mailbox(account.settings(), "INBOX")
    mailbox.connect()
    try:
        assert not mailbox.idle_supported
        first, second = mailbox.waiting()
        mailbox.move(first, "CCM/Processed")
        mailbox.move(first, "CCM/Processed")
        mailbox.set_aside(second, "CCM/Held", mail(2), TURKISH_REASON)
        assert mailbox.waiting() == []
        started = time.monotonic()
        mailbox.wait(1)
        assert 0.9 < time.monotonic() - started < 5
        account.deliver(mail(3))
        started = time.monotonic()
        mailbox.wait(20)
        assert time.monotonic() - started < 5
    finally:
        mailbox.close()
    with account.client() as client:
        names = {name for _, _, name in client.list_folders()}
    assert {"INBOX.CCM.Processed", "INBOX.CCM.Automatic", "INBOX.CCM.Held", "INBOX.CCM.Unreadable"} <= names
    assert [raw for raw, _ in account.messages("INBOX.CCM.Processed")] == [mail(1)]
    [(held, _)] = account.messages("INBOX.CCM.Held")
    assert message_from_bytes(held, policy=policy.default)["X-CCM-Reason"] == TURKISH_REASON


def test_a_folder_named_the_servers_way_in_the_settings_is_left_as_it_is(old_dovecot: Dovecot) -> None:
    account = old_dovecot.add_account()
    account.deliver(mail(), "INBOX.Support")
    mailbox = Mailbox(account.settings(imap_done_folder="INBOX/CCM/Done"), "Support")
    mailbox.connect()
    try:
        [uid] = mailbox.waiting()
        mailbox.move(uid, "INBOX/CCM/Done")
    finally:
        mailbox.close()
    assert [raw for raw, _ in account.messages("INBOX.CCM.Done")] == [mail()]


def test_tls_and_starttls_verify_the_server_with_the_ca_file(
    account: Account, settings_for: Callable[..., ChannelSettings], opened: Callable[..., Mailbox]
) -> None:
    for security in ("tls", "starttls"):
        assert opened(settings=settings_for(security)).waiting() == []
    for security, port in (("tls", account.server.tls_port), ("starttls", account.server.port)):
        with pytest.raises(MailboxUnavailable, match="CERTIFICATE_VERIFY_FAILED") as failed:
            opened(settings=settings_for(security, imap_ca_file=""))
        assert f"127.0.0.1:{port}" in str(failed.value)


def test_a_wrong_password_is_refused_without_saying_it(
    account: Account, settings_for: Callable[..., ChannelSettings], opened: Callable[..., Mailbox]
) -> None:
    for password in ("wrong-Password-8421", "Yanlış-parola-8421"):  # LOGIN, and SASL PLAIN for UTF-8
        with pytest.raises(MailboxUnavailable, match="sign-in failed") as refused:
            opened(settings=settings_for(imap_password=password))
        assert password not in str(refused.value) and password not in repr(refused.value)
        assert f"127.0.0.1:{account.server.port}" in str(refused.value)


def test_a_server_that_is_down_is_unavailable(
    settings_for: Callable[..., ChannelSettings], opened: Callable[..., Mailbox]
) -> None:
    with pytest.raises(MailboxUnavailable, match="connection failed") as down:
        opened(settings=settings_for(imap_port=free_port()))
    assert isinstance(down.value.__cause__, ConnectionRefusedError)


def test_a_dropped_connection_is_unavailable_and_closing_after_it_is_quiet(
    account: Account, opened: Callable[..., Mailbox]
) -> None:
    mailbox = opened()
    account.kick()
    with pytest.raises(MailboxUnavailable, match="search failed"):
        mailbox.waiting()
    mailbox.close()
    mailbox.close()
    with pytest.raises(MailboxUnavailable, match="not connected"):
        mailbox.waiting()
    mailbox.connect()  # as the worker does after a back-off
    assert mailbox.waiting() == []
