"""Logging that keeps customers' words and contact details out of every log, at any level.

The product's own records carry none of them (error types, counts, references only). The
libraries it uses log what they send and receive at DEBUG: Slack's and Telegram's clients their
requests' bodies (message texts, chat ids), python-multipart the form fields (Slack's interaction
payloads), SQLAlchemy its statements' parameters, httpx the URLs (a Telegram token, a conversation
id). Their loggers stay at INFO or above whatever ``CCM_LOG_LEVEL`` says, so DEBUG adds the
product's own records and nothing a customer wrote.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The least each library logs at: what it says below that level carries personal data.
LIBRARY_FLOORS = {
    "httpx": logging.WARNING,
    "httpcore": logging.INFO,
    "slack_sdk": logging.INFO,
    "slack_bolt": logging.INFO,
    "telegram": logging.INFO,
    "python_multipart": logging.INFO,
    "multipart": logging.INFO,
    "sqlalchemy": logging.WARNING,
    "aiosmtplib": logging.INFO,
    "imapclient": logging.INFO,  # at DEBUG it logs the IMAP conversation: sign-in, mail and all
    "socketio": logging.INFO,
    "engineio": logging.INFO,
    "urllib3": logging.INFO,
    "rasa_sdk": logging.INFO,
    "sanic": logging.INFO,
    "websockets": logging.INFO,
    "aiohttp": logging.INFO,
}


def configure_logging(level: str) -> None:
    """Log at ``level`` (``CCM_LOG_LEVEL``) to stderr; the libraries above never below their floor."""
    logging.basicConfig(level=level_number(level), format=FORMAT)
    logging.getLogger().setLevel(level_number(level))
    quiet_libraries(level)


def quiet_libraries(level: str = "DEBUG") -> None:
    """Raise each library's logger to its floor (or to ``level``, when that is higher)."""
    for name, floor in LIBRARY_FLOORS.items():
        logging.getLogger(name).setLevel(max(floor, level_number(level)))


def level_number(level: str) -> int:
    """``"DEBUG"`` → 10; a name logging does not know counts as INFO."""
    number = logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO
