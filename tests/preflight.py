"""Stop ``make test`` early, with one sentence, when the PostgreSQL server the tests use is down."""

from __future__ import annotations

import os
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
