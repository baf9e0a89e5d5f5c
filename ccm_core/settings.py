"""Settings, read from the environment (``CCM_*``) with embedded defaults.

The defaults run the product on one machine with nothing to configure: a SQLite
file under ``var/`` and the demo organisation shipped with the package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_ORGANISATION = PACKAGE_DIR / "data" / "organisation.yaml"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("CCM_DATA_DIR", "var")))
    database_url: str = ""
    organisation_file: Path = field(
        default_factory=lambda: Path(os.environ.get("CCM_ORGANISATION_FILE", str(DEMO_ORGANISATION)))
    )
    host: str = field(default_factory=lambda: os.environ.get("CCM_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("CCM_PORT", 8000))
    survey_satisfied_from: int = field(default_factory=lambda: _int("CCM_SURVEY_SATISFIED_FROM", 4))
    sla_soon_hours: int = field(default_factory=lambda: _int("CCM_SLA_SOON_HOURS", 4))
    max_text_length: int = field(default_factory=lambda: _int("CCM_MAX_TEXT_LENGTH", 5000))
    log_level: str = field(default_factory=lambda: os.environ.get("CCM_LOG_LEVEL", "INFO"))
    timezone: str = field(default_factory=lambda: os.environ.get("CCM_TIMEZONE", "Europe/Istanbul"))

    def __post_init__(self) -> None:
        if not self.database_url:
            url = os.environ.get("CCM_DATABASE_URL") or f"sqlite:///{(self.data_dir / 'ccm.db').as_posix()}"
            object.__setattr__(self, "database_url", url)


def load_settings() -> Settings:
    return Settings()
