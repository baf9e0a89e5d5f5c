"""A real IMAP server for the e-mail intake tests: Debian's dovecot, started by the test session.

A stand-in IMAP server would agree with whatever our code expects; dovecot answers as the servers
customers' mail really sits on (IDLE, MOVE, UIDPLUS, NAMESPACE, TLS). Each server runs in the
foreground as a child of the test process, in a directory of its own on free ports of 127.0.0.1,
and is stopped when the session ends. Every test signs in as an account of its own, so tests
sharing a server never see each other's mail: any new user name is an empty mailbox, with the
server's one password (a passwd-file line per account would not do: dovecot re-reads that file at
most once a second).
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from channels.settings import ChannelSettings
from tests.http_server import free_port

HOST = "127.0.0.1"
STARTUP_SECONDS = 15
MISSING = (
    "dovecot is not installed, and the e-mail intake tests run their own IMAP server with it: "
    "run `make mailserver` (it installs Debian's dovecot-imapd when run as root)."
)

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = {host}
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{dir}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
{users}
mailbox_idle_check_interval = 1 secs
{capabilities}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = {separator}
  prefix = {prefix}
}}
"""


class DovecotUnavailable(RuntimeError):
    """dovecot is not installed, or did not start (the message says which, with its log)."""


def dovecot_binary() -> str | None:
    """Debian installs dovecot in /usr/sbin, which is not on every user's PATH."""
    return shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None
    )


@dataclass(frozen=True)
class Dovecot:
    """A running dovecot: plain IMAP (and STARTTLS with TLS) on ``port``, implicit TLS on ``tls_port``."""

    directory: Path
    port: int
    tls_port: int  # 0: no TLS
    ca_file: Path | None  # the server's self-signed certificate, to verify it with
    separator: str
    prefix: str  # the personal namespace's prefix: "INBOX." on Courier-style servers
    password: str  # every account's
    capabilities: str  # what it says it can do once signed in; "": all that dovecot can

    def add_account(self) -> Account:
        """A new, empty mailbox: a user name never used before."""
        return Account(self, f"staff-{secrets.token_hex(6)}", self.password)


@dataclass(frozen=True)
class Account:
    """One mailbox on a test dovecot, with what the product and the test need to reach it."""

    server: Dovecot
    user: str
    password: str

    def settings(self, security: str = "none", **overrides: Any) -> ChannelSettings:
        """Channel settings for this mailbox over ``security``; TLS verified with the server's CA file."""
        tls = security != "none"
        values: dict[str, Any] = {
            "imap_host": HOST,
            "imap_port": self.server.tls_port if security == "tls" else self.server.port,
            "imap_user": self.user,
            "imap_password": self.password,
            "imap_security": security,
            "imap_ca_file": str(self.server.ca_file) if tls and self.server.ca_file else "",
            "imap_folders": ["INBOX"],
            "imap_wait_seconds": 5.0,
        }
        return ChannelSettings(**(values | overrides))

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A signed-in connection of the test's own, to put mail in or look at the folders as staff would."""
        with IMAPClient(HOST, port=self.server.port, ssl=False, timeout=10) as client:
            client.plain_login(self.user, self.password)  # UTF-8, where LOGIN takes ASCII only
            yield client

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """New mail from outside: ``raw`` put into ``folder`` (as the server spells it; made when missing)."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw)

    def kick(self) -> None:
        """Drop this account's connections, as a server restart or a network fault would."""
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        config = self.server.directory / "dovecot.conf"
        subprocess.run([doveadm, "-c", str(config), "kick", self.user], check=True, capture_output=True)

    def messages(self, folder: str) -> list[tuple[bytes, tuple[bytes, ...]]]:
        """Each mail in ``folder`` (as the server spells it) with its flags, by ascending UID."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            found = client.fetch("1:*", ["BODY.PEEK[]", "FLAGS"]) if client.search() else {}
        return [(found[uid][b"BODY[]"], found[uid][b"FLAGS"]) for uid in sorted(found)]


@contextmanager
def running_dovecot(
    *,
    tls: bool = False,
    separator: str = "/",
    prefix: str = "",
    capabilities: str = "",
    password: str = "",
) -> Iterator[Dovecot]:
    """A dovecot of its own, always stopped after.

    ``tls``: with a self-signed certificate for 127.0.0.1, for implicit TLS and STARTTLS.
    ``separator`` and ``prefix``: its folder hierarchy ("." and "INBOX." as on Courier-style servers).
    ``capabilities``: what it offers once signed in (an older server's, without IDLE or MOVE, say).
    ``password``: every account's (default: a new random one).

    Its directory is made with ``mkdtemp`` rather than pytest's tmp_path, which the mail user
    dovecot switches to could not enter.
    """
    binary = dovecot_binary()
    if binary is None:
        raise DovecotUnavailable(MISSING)
    directory = Path(tempfile.mkdtemp(prefix="ccm-dovecot-"))
    try:
        directory.chmod(0o755)
        ca_file = _certificate(directory) if tls else None
        password = password or secrets.token_urlsafe(16)
        tls_port = free_port() if tls else 0
        server = Dovecot(directory, free_port(), tls_port, ca_file, separator, prefix, password, capabilities)
        _configure(server)
        with _started(binary, server):
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _configure(server: Dovecot) -> None:
    """The config file, and a mail directory the mail user owns.

    As root, mail is stored as Debian's ``mail`` user (dovecot refuses uid 0 for mail); otherwise
    as the user running the tests, who then also runs dovecot's own processes.
    """
    directory = server.directory
    root = os.geteuid() == 0
    owner = pwd.getpwnam("mail") if root else pwd.getpwuid(os.geteuid())
    users = ""
    if not root:
        group = grp.getgrgid(owner.pw_gid).gr_name
        users = "\n".join(
            (
                f"default_internal_user = {owner.pw_name}",
                f"default_internal_group = {group}",
                f"default_login_user = {owner.pw_name}",
            )
        )
    if server.ca_file:
        ssl = f"ssl = yes\nssl_cert = <{directory}/cert.pem\nssl_key = <{directory}/key.pem"
    else:
        ssl = "ssl = no"
    (directory / "mail").mkdir()
    os.chown(directory / "mail", owner.pw_uid, owner.pw_gid)
    (directory / "dovecot.conf").write_text(
        CONFIG.format(
            dir=directory,
            host=HOST,
            ssl=ssl,
            uid=owner.pw_uid,
            gid=owner.pw_gid,
            users=users,
            port=server.port,
            tls_port=server.tls_port,
            separator=server.separator,
            prefix=server.prefix,
            password=server.password,
            capabilities=f"imap_capability = {server.capabilities}" if server.capabilities else "",
        )
    )


def _certificate(directory: Path) -> Path:
    """A self-signed certificate for IP 127.0.0.1, with its key: the server's, and the CA to trust it by."""
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
    files = ["-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")]
    subprocess.run(
        [*command.split(), "-addext", "subjectAltName=IP:127.0.0.1", *files],
        check=True,
        capture_output=True,
    )
    return directory / "cert.pem"


@contextmanager
def _started(binary: str, server: Dovecot) -> Iterator[None]:
    """dovecot in the foreground (``-F``) until it greets on its port; stopped, children and all, after."""
    config = server.directory / "dovecot.conf"
    with (server.directory / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=stderr, stderr=stderr)
    try:
        _wait_for_greeting(server, process)
        yield
    finally:
        process.terminate()  # the master stops its login and imap processes before it exits
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_greeting(server: Dovecot, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection((HOST, server.port), timeout=2) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    logs = [server.directory / "stderr.log", server.directory / "dovecot.log"]
    tail = "\n".join(path.read_text(errors="replace")[-2000:] for path in logs if path.exists())
    raise DovecotUnavailable(
        f"dovecot did not start on {HOST}:{server.port} within {STARTUP_SECONDS} s:\n{tail}"
    )
