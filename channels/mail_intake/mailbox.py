"""The mailbox e-mail intake reads: one folder over one IMAP connection, used by the worker from a thread.

Why it works this way:

* Mail is read with ``BODY.PEEK[]``, which does not set ``\\Seen``: nothing looks read in staff's
  mail client before the product has handled it, and a mail whose handling failed half-way is
  still exactly as it arrived.
* A handled mail is moved out (``UID MOVE``; copy, ``\\Deleted`` and expunge on servers without
  MOVE) to the folder that says what became of it, so a folder read holds only what is still to
  do: a restart, or a second worker on the same folder, finds exactly the work left, and a UID
  that is already gone was moved by the other worker, which is fine.
* Mail the product could not read, or holds back, is appended to a folder of its own with a first
  header ``X-CCM-Reason`` saying why, so staff see the reason in their mail client, where they
  look, rather than in the product's logs.
* Folder names in the settings use ``/``; they are spelt as the server wants them (its delimiter,
  its personal namespace's prefix such as ``INBOX.``), so one setting works on every server.
* Every failure of the server, the network or TLS is a :class:`MailboxUnavailable` that names what
  failed and where, and nothing of the password or the mail, so the worker can log it, wait and
  connect again. Nothing here logs, least of all addresses or contents.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterator
from email.header import Header

from imapclient import DELETED, IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from channels.settings import ChannelSettings

CONNECT_SECONDS = 15.0
READ_SECONDS = 60.0  # for one reply; IDLE keeps its own clock
REASON_HEADER = "X-CCM-Reason"
SECURITIES = ("tls", "starttls", "none")


class MailboxUnavailable(OSError):
    """The server cannot be reached, refused the sign-in, or dropped the connection.

    The message says what failed, with the host and port; never the password nor anything of a mail.
    """


class Mailbox:
    """One folder of the intake mailbox; one thread at a time uses it, as IMAP is one conversation."""

    def __init__(self, settings: ChannelSettings, folder: str) -> None:
        if settings.imap_security not in SECURITIES:
            raise ValueError(f"imap_security is {settings.imap_security!r}: it must be one of {SECURITIES}")
        self._settings = settings
        self._folder = folder
        self._client: IMAPClient | None = None
        self._prefix = ""
        self._delimiter = "/"
        self._uidvalidity = 0
        self._listed = 0  # the highest UID waiting() returned: wait() wakes for newer mail only

    def connect(self) -> None:
        """Connect, sign in, create the product's folders when missing and select the folder to read."""
        self.close()
        settings = self._settings
        try:
            with self._failing("connection"):
                context = None
                if settings.imap_security != "none":
                    context = ssl.create_default_context(cafile=settings.imap_ca_file or None)
                self._client = client = IMAPClient(
                    settings.imap_host,
                    port=settings.imap_port,
                    ssl=settings.imap_security == "tls",
                    ssl_context=context,
                    timeout=SocketTimeout(connect=CONNECT_SECONDS, read=READ_SECONDS),
                )
                if settings.imap_security == "starttls":
                    client.starttls(context)
            with self._failing("sign-in"):
                if f"{settings.imap_user}{settings.imap_password}".isascii():
                    client.login(settings.imap_user, settings.imap_password)
                else:  # LOGIN is ASCII only; SASL PLAIN carries UTF-8 (a Turkish password, say)
                    client.plain_login(settings.imap_user, settings.imap_password)
            with self._failing("folder set-up"):
                self._prefix, self._delimiter = _hierarchy(client)
                for name in (
                    settings.imap_done_folder,
                    settings.imap_automatic_folder,
                    settings.imap_held_folder,
                    settings.imap_failed_folder,
                ):
                    _ensure_folder(client, self._server_name(name))
            with self._failing(f"selecting folder {self._folder!r}"):
                selected = client.select_folder(self._server_name(self._folder))
        except BaseException:
            self.close()
            raise
        self._uidvalidity = int(selected[b"UIDVALIDITY"])
        self._listed = 0

    def close(self) -> None:
        """Sign out; a connection already broken is simply dropped. Never raises."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()

    @property
    def uidvalidity(self) -> int:
        """The folder's UIDVALIDITY: a UID means the same mail only while this stays the same."""
        self._connected()
        return self._uidvalidity

    @property
    def idle_supported(self) -> bool:
        """Whether the server tells of new mail as it arrives (IDLE), or the worker has to poll."""
        return bool(self._connected().has_capability("IDLE"))

    def waiting(self) -> list[int]:
        """The UIDs of the mail still in the folder (not flagged ``\\Deleted``), ascending."""
        with self._failing("search"):
            uids = self._search()
        self._listed = max([self._listed, *uids])
        return uids

    def fetch(self, uid: int) -> bytes | None:
        """The mail's raw bytes, leaving it unread; None when it is gone (another worker moved it)."""
        client = self._connected()
        with self._failing("fetch"):
            found = client.fetch([uid], ["BODY.PEEK[]"])
        body = found.get(uid, {}).get(b"BODY[]")
        return bytes(body) if body is not None else None

    def move(self, uid: int, folder: str) -> None:
        """Move the mail to ``folder``; a UID already gone is fine (another worker moved it)."""
        client = self._connected()
        target = self._server_name(folder)
        with self._failing(f"moving to {folder!r}"):
            if client.has_capability("MOVE"):
                client.move([uid], target)
            else:
                client.copy([uid], target)
                _remove(client, uid)

    def set_aside(self, uid: int, folder: str, raw: bytes, reason: str) -> None:
        """Put the mail in ``folder`` with a first header saying why, for staff; then remove it from here.

        Appended before it is removed: a failure in between leaves the mail in both folders, never in
        neither, and the next attempt sets it aside again.
        """
        client = self._connected()
        with self._failing(f"appending to {folder!r}"):
            client.append(self._server_name(folder), with_reason(raw, reason))
        with self._failing("removal"):
            _remove(client, uid)

    def wait(self, seconds: float) -> None:
        """Return when mail that ``waiting()`` has not listed may be there, or after ``seconds``.

        With IDLE the server says so (EXISTS) as mail arrives; without it this polls. Mail that a
        reply to an earlier command already reported would never be reported again during IDLE,
        so a search comes first, and newer mail already there returns at once.
        """
        client = self._connected()
        deadline = time.monotonic() + seconds
        with self._failing("waiting for new mail"):
            if any(uid > self._listed for uid in self._search()):
                return
            if not client.has_capability("IDLE"):
                time.sleep(max(0.0, deadline - time.monotonic()))
                return
            client.idle()
            try:
                while (left := deadline - time.monotonic()) > 0:
                    responses = client.idle_check(timeout=left)
                    # Nothing before the deadline: the connection closed; IDLE DONE will say so.
                    if not responses or any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                        break
            finally:
                client.idle_done()

    def _search(self) -> list[int]:
        """NOOP first: a server may take in mail delivered since the last command only then (dovecot does)."""
        client = self._connected()
        client.noop()
        return sorted(client.search(["NOT", "DELETED"]))

    def _connected(self) -> IMAPClient:
        if self._client is None:
            raise MailboxUnavailable(f"IMAP mailbox at {self._where} is not connected")
        return self._client

    @property
    def _where(self) -> str:
        return f"{self._settings.imap_host}:{self._settings.imap_port}"

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """IMAP, socket and TLS errors as MailboxUnavailable: what failed and where, and the error's kind.

        The text of a broken connection's error may quote what the server last sent (mail, even),
        so only its kind is kept; a refusal's text is the server's own status line.
        """
        try:
            yield
        except MailboxUnavailable:
            raise
        except (IMAPClientError, OSError) as exc:  # ssl.SSLError and socket timeouts are OSErrors
            detail = "" if isinstance(exc, IMAPClientAbortError) else " ".join(str(exc).split())[:200]
            reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            raise MailboxUnavailable(f"IMAP {what} failed at {self._where} ({reason})") from exc

    def _server_name(self, name: str) -> str:
        """A settings folder name ("/"-separated) as the server spells it: its delimiter and prefix."""
        if name.upper() == "INBOX":
            return "INBOX"
        native = name.replace("/", self._delimiter)
        if self._prefix and not native.upper().startswith(self._prefix.upper()):
            native = self._prefix + native
        return native


def with_reason(raw: bytes, reason: str) -> bytes:
    """``raw`` with a first header ``X-CCM-Reason``: one line of text, RFC 2047-encoded when not ASCII."""
    text = " ".join(reason.split())  # no line breaks: a reason never adds headers of its own
    charset = "us-ascii" if text.isascii() else "utf-8"
    value = Header(text, charset, header_name=REASON_HEADER).encode(linesep="\r\n")
    return f"{REASON_HEADER}: {value}\r\n".encode("ascii") + raw


def _hierarchy(client: IMAPClient) -> tuple[str, str]:
    """The personal namespace's prefix and the hierarchy delimiter: from NAMESPACE, else ``LIST "" ""``."""
    if client.has_capability("NAMESPACE"):
        personal = client.namespace().personal
        if personal:
            prefix, delimiter = personal[0]
            return prefix or "", delimiter or "/"
    listed = client.list_folders("", "")
    delimiter = listed[0][1] if listed else None
    return "", delimiter.decode() if delimiter else "/"


def _ensure_folder(client: IMAPClient, name: str) -> None:
    """Create and subscribe ``name`` when missing (subscribed, so staff's mail clients show it)."""
    if client.folder_exists(name):
        return
    try:
        client.create_folder(name)
    except IMAPClientError:
        if not client.folder_exists(name):  # else another worker created it meanwhile
            raise
        return
    client.subscribe_folder(name)


def _remove(client: IMAPClient, uid: int) -> None:
    """Flag ``\\Deleted`` and expunge: that UID alone with UIDPLUS, else every mail so flagged."""
    client.add_flags([uid], [DELETED], silent=True)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge([uid])
    else:
        client.expunge()
