"""Channel settings from the environment. A channel whose secrets are absent stays off."""

from __future__ import annotations

import datetime as dt
import os
import random
from dataclasses import dataclass, field


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw else default


def _switch(name: str, default: bool) -> bool:
    raw = _env(name).lower()
    return raw in {"1", "true", "yes", "on"} if raw else default


def _templates(raw: str) -> dict[str, str]:
    """``interim_notice=ccm_interim_notice,survey=ccm_survey`` as a mapping of notice kind to template."""
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {kind.strip(): name.strip() for kind, name in pairs if kind.strip() and name.strip()}


@dataclass(frozen=True)
class ChannelSettings:
    rasa_url: str = field(default_factory=lambda: _env("CCM_RASA_URL", "http://127.0.0.1:5005"))
    rasa_token: str = field(default_factory=lambda: _env("CCM_RASA_TOKEN"))
    redis_url: str = field(default_factory=lambda: _env("CCM_REDIS_URL"))
    # Messages one customer may send per minute before the assistant asks them to slow down.
    chat_rate_limit: int = field(default_factory=lambda: _int("CCM_CHAT_RATE_LIMIT", 20))

    telegram_token: str = field(default_factory=lambda: _env("CCM_TELEGRAM_BOT_TOKEN"))
    telegram_webhook_secret: str = field(default_factory=lambda: _env("CCM_TELEGRAM_WEBHOOK_SECRET"))
    # A self-hosted Bot API server, or a local test server, instead of Telegram's.
    telegram_api_url: str = field(
        default_factory=lambda: _env("CCM_TELEGRAM_API_URL", "https://api.telegram.org/bot")
    )
    telegram_mode: str = field(default_factory=lambda: _env("CCM_TELEGRAM_MODE", "webhook"))  # or polling
    telegram_webhook_url: str = field(default_factory=lambda: _env("CCM_TELEGRAM_WEBHOOK_URL"))

    whatsapp_token: str = field(default_factory=lambda: _env("CCM_WHATSAPP_TOKEN"))
    whatsapp_phone_number_id: str = field(default_factory=lambda: _env("CCM_WHATSAPP_PHONE_NUMBER_ID"))
    whatsapp_app_secret: str = field(default_factory=lambda: _env("CCM_WHATSAPP_APP_SECRET"))
    whatsapp_verify_token: str = field(default_factory=lambda: _env("CCM_WHATSAPP_VERIFY_TOKEN"))
    whatsapp_api_url: str = field(
        default_factory=lambda: _env("CCM_WHATSAPP_API_URL", "https://graph.facebook.com")
    )
    whatsapp_api_version: str = field(default_factory=lambda: _env("CCM_WHATSAPP_API_VERSION", "22.0"))
    # Approved template per notice kind, for messages outside the 24-hour customer-service window.
    whatsapp_templates: dict[str, str] = field(
        default_factory=lambda: _templates(_env("CCM_WHATSAPP_TEMPLATES"))
    )

    slack_bot_token: str = field(default_factory=lambda: _env("CCM_SLACK_BOT_TOKEN"))
    slack_signing_secret: str = field(default_factory=lambda: _env("CCM_SLACK_SIGNING_SECRET"))
    # Socket Mode (no public URL needed) instead of HTTP requests to /slack/events.
    slack_mode: str = field(default_factory=lambda: _env("CCM_SLACK_MODE", "http"))  # or socket
    slack_app_token: str = field(default_factory=lambda: _env("CCM_SLACK_APP_TOKEN"))
    # Slack's Web API; a local stand-in in tests.
    slack_api_url: str = field(default_factory=lambda: _env("CCM_SLACK_API_URL", "https://slack.com/api/"))
    # Where the monthly management report is posted: a channel id (C…), as Slack shares files by id.
    slack_management_channel: str = field(default_factory=lambda: _env("CCM_SLACK_MANAGEMENT_CHANNEL"))

    # E-mail for customers who came by e-mail (or phone, with an address): an SMTP relay. STARTTLS is
    # required unless turned off (a relay on the same host, say), so the password never goes in clear.
    smtp_host: str = field(default_factory=lambda: _env("CCM_SMTP_HOST"))
    smtp_port: int = field(default_factory=lambda: _int("CCM_SMTP_PORT", 587))
    smtp_user: str = field(default_factory=lambda: _env("CCM_SMTP_USER"))
    smtp_password: str = field(default_factory=lambda: _env("CCM_SMTP_PASSWORD"))
    smtp_starttls: bool = field(default_factory=lambda: _switch("CCM_SMTP_STARTTLS", True))
    mail_from: str = field(default_factory=lambda: _env("CCM_MAIL_FROM"))

    worker_batch: int = field(default_factory=lambda: _int("CCM_WORKER_BATCH", 8))
    worker_poll_seconds: float = field(default_factory=lambda: _float("CCM_WORKER_POLL_SECONDS", 1.0))
    delivery_lease_seconds: int = field(default_factory=lambda: _int("CCM_DELIVERY_LEASE_SECONDS", 60))
    delivery_max_attempts: int = field(default_factory=lambda: _int("CCM_DELIVERY_MAX_ATTEMPTS", 10))
    delivery_retry_seconds: float = field(default_factory=lambda: _float("CCM_DELIVERY_RETRY_SECONDS", 5.0))
    delivery_retry_max_seconds: float = field(
        default_factory=lambda: _float("CCM_DELIVERY_RETRY_MAX_SECONDS", 900.0)
    )

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
        return bool(self.telegram_token) and (
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

    def missing(self) -> dict[str, list[str]]:
        """For each channel that is off, the settings it lacks (said at start-up)."""
        found: dict[str, list[str]] = {}
        telegram = [("CCM_TELEGRAM_BOT_TOKEN", self.telegram_token)]
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
        for channel, needed in (
            ("telegram", telegram),
            ("whatsapp", whatsapp),
            ("slack", slack),
            ("email", email),
        ):
            absent = [name for name, value in needed if not value]
            if absent:
                found[channel] = absent
        return found
