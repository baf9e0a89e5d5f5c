"""Stop ``make test`` early, with one sentence, when what the tests need is missing or down.

PostgreSQL is a server the tests use; dovecot is a program they start (the e-mail intake's IMAP
server), so only its being installed is checked here.
"""

from __future__ import annotations

import os
import shutil
import sys

import psycopg

DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
URL = os.environ.get("CCM_TEST_POSTGRES_URL", DEFAULT).replace("+psycopg", "")

try:
    psycopg.connect(URL, connect_timeout=5).close()
except psycopg.Error as exc:
    sys.exit(
        f"PostgreSQL is not reachable at {URL} ({type(exc).__name__}): start it "
        "(see README, 'Tests') or set CCM_TEST_POSTGRES_URL."
    )

if not (shutil.which("dovecot") or os.access("/usr/sbin/dovecot", os.X_OK)):
    sys.exit(
        "dovecot is not installed, and the e-mail intake tests run their own IMAP server with it: "
        "run `make mailserver` (as root it installs Debian's dovecot-imapd), "
        "or `sudo apt-get install dovecot-imapd`."
    )
