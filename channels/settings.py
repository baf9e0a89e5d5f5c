"""The channels' and the assistant's settings, read from the environment (``CCM_*``).

A channel whose secrets are absent stays off. Both are sections of the product's one
settings object (``ccm.settings``), built once when a process starts.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode

from ccm_core.settings import SECTION, Hidden

RASA_URL = "http://127.0.0.1:5005"
ACTION_SERVER_URL = "http://127.0.0.1:5055/webhook"


class AssistantSettings(BaseSettings):
    """How the product reaches the Rasa server, and how the Rasa server reaches the product."""

    model_config = SECTION

    rasa_url: str = RASA_URL
    rasa_token: Hidden = ""  # Rasa's HTTP API token, when Rasa listens beyond loopback
    action_server_url: str = ACTION_SERVER_URL
    # Rasa's SQL tracker store, when it is not to share the core's database server.
    rasa_tracker_url: Hidden = ""
    # Every Rasa server, when several serve behind ``rasa_url`` (``http://10.0.0.5:5005,…``): a retrain
    # or a roll-back loads its model into each of them.
    rasa_replicas: Annotated[list[str], NoDecode] = []

    @field_validator("rasa_replicas", mode="before")
    @classmethod
    def _urls(cls, raw: object) -> object:
        return [url.strip() for url in raw.split(",") if url.strip()] if isinstance(raw, str) else raw

    @property
    def rasa_servers(self) -> list[str]:
        """The Rasa servers a model is loaded into: every replica, or the one at ``rasa_url``."""
        return self.rasa_replicas or [self.rasa_url]


class ChannelSettings(BaseSettings):
    """The customer channels (web chat, Telegram, WhatsApp, e-mail), Slack for staff, and delivery."""

    model_config = SECTION

    # Messages one customer may send per minute before the assistant asks them to slow down.
    chat_rate_limit: int = 20

    telegram_bot_token: Hidden = ""
    telegram_webhook_secret: Hidden = ""
    # A self-hosted Bot API server, or a local test server, instead of Telegram's.
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_mode: str = "webhook"  # or polling
    telegram_webhook_url: str = ""

    whatsapp_token: Hidden = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_app_secret: Hidden = ""
    whatsapp_verify_token: Hidden = ""
    whatsapp_api_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "22.0"
    # Approved template per notice kind, for messages outside the 24-hour customer-service window:
    # ``interim_notice=ccm_interim_notice,survey=ccm_survey``.
    whatsapp_templates: Annotated[dict[str, str], NoDecode] = {}

    slack_bot_token: Hidden = ""
    slack_signing_secret: Hidden = ""
    # Socket Mode (no public URL needed) instead of HTTP requests to /slack/events.
    slack_mode: str = "http"  # or socket
    slack_app_token: Hidden = ""
    # Slack's Web API; a local stand-in in tests.
    slack_api_url: str = "https://slack.com/api/"
    # Where the monthly management report is posted: a channel id (C…), as Slack shares files by id.
    slack_management_channel: str = ""

    # E-mail for customers who came by e-mail (or phone, with an address): an SMTP relay. STARTTLS is
    # required unless turned off (a relay on the same host, say), so the password never goes in clear.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: Hidden = ""
    smtp_starttls: bool = True
    mail_from: str = ""

    # E-mail intake: a mailbox read over IMAP, off until ``imap_host`` is set. Mail arriving in
    # ``imap_folders`` becomes a complaint or joins one; once handled it is moved out, to the folder
    # that says what became of it, so the folders read hold only what is still to do.
    imap_host: str = ""
    imap_port: int = 993
    imap_user: str = ""
    imap_password: Hidden = ""
    imap_security: str = "tls"  # tls (993), starttls (143), or none (a server on the same host only)
    imap_ca_file: str = ""  # a private CA's certificate to verify the server with
    imap_folders: Annotated[list[str], NoDecode] = ["INBOX"]
    imap_done_folder: str = "CCM/Processed"
    imap_automatic_folder: str = "CCM/Automatic"  # auto-replies and bounces: never a complaint
    imap_held_folder: str = "CCM/Held"  # a sender over the limit: for staff to look at
    imap_failed_folder: str = "CCM/Unreadable"  # the product could not read it: for staff, with the reason
    imap_wait_seconds: float = 60.0  # how long one IDLE lasts, or the polling interval without IDLE
    imap_sender_limit: int = 10  # mails one sender may send per hour before the rest are held
    mail_attachment_max_bytes: int = 10_000_000  # a larger attachment is refused and the customer told

    worker_batch: int = 8
    worker_poll_seconds: float = 1.0
    delivery_lease_seconds: int = 60
    delivery_max_attempts: int = 10
    delivery_retry_seconds: float = 5.0
    delivery_retry_max_seconds: float = 900.0

    @field_validator("imap_folders", mode="before")
    @classmethod
    def _folders(cls, raw: object) -> object:
        return [name.strip() for name in raw.split(",") if name.strip()] if isinstance(raw, str) else raw

    @field_validator("whatsapp_templates", mode="before")
    @classmethod
    def _templates(cls, raw: object) -> object:
        """``kind=template,…`` as a mapping of notice kind to template name."""
        if not isinstance(raw, str):
            return raw
        pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
        return {kind.strip(): name.strip() for kind, name in pairs if kind.strip() and name.strip()}

    def retry_at(self, attempts: int, retry_after: float | None = None) -> dt.datetime:
        """When to try a delivery again: the platform's own ``retry_after``, else exponential back-off."""
        if retry_after is not None:
            delay = retry_after
        else:
            base = self.delivery_retry_seconds * 2**attempts
            delay = min(base, self.delivery_retry_max_seconds) * random.uniform(0.8, 1.2)
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)

    @property
    def telegram_on(self) -> bool:
        return bool(self.telegram_bot_token) and (
            self.telegram_mode == "polling" or bool(self.telegram_webhook_secret)
        )

    @property
    def whatsapp_on(self) -> bool:
        return all(
            (
                self.whatsapp_token,
                self.whatsapp_phone_number_id,
                self.whatsapp_app_secret,
                self.whatsapp_verify_token,
            )
        )

    @property
    def slack_on(self) -> bool:
        return not self.missing().get("slack")

    @property
    def email_on(self) -> bool:
        return not self.missing().get("email")

    @property
    def mail_intake_on(self) -> bool:
        return not self.missing().get("mail_intake")

    def missing(self) -> dict[str, list[str]]:
        """For each channel that is off, the settings it lacks (said at start-up)."""
        found: dict[str, list[str]] = {}
        telegram = [("CCM_TELEGRAM_BOT_TOKEN", self.telegram_bot_token)]
        if self.telegram_mode != "polling":
            telegram.append(("CCM_TELEGRAM_WEBHOOK_SECRET", self.telegram_webhook_secret))
        whatsapp = [
            ("CCM_WHATSAPP_TOKEN", self.whatsapp_token),
            ("CCM_WHATSAPP_PHONE_NUMBER_ID", self.whatsapp_phone_number_id),
            ("CCM_WHATSAPP_APP_SECRET", self.whatsapp_app_secret),
            ("CCM_WHATSAPP_VERIFY_TOKEN", self.whatsapp_verify_token),
        ]
        slack = [("CCM_SLACK_BOT_TOKEN", self.slack_bot_token)]
        if self.slack_mode == "socket":
            slack.append(("CCM_SLACK_APP_TOKEN", self.slack_app_token))
        else:
            slack.append(("CCM_SLACK_SIGNING_SECRET", self.slack_signing_secret))
        email = [("CCM_SMTP_HOST", self.smtp_host), ("CCM_MAIL_FROM", self.mail_from)]
        imap = [("CCM_IMAP_HOST", self.imap_host), ("CCM_IMAP_USER", self.imap_user)]
        mail_intake = [*imap, ("CCM_IMAP_PASSWORD", self.imap_password), *email]  # it answers by mail
        for channel, needed in (
            ("telegram", telegram),
            ("whatsapp", whatsapp),
            ("slack", slack),
            ("email", email),
            ("mail_intake", mail_intake),
        ):
            absent = [name for name, value in needed if not value]
            if absent:
                found[channel] = absent
        return found
