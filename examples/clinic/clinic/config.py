"""Per-tenant settings, read once from the environment (hoist sets them per instance)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator


class Settings(BaseModel):
    """Everything that differs between tenants and environments."""

    # Short tenant id, e.g. "northside": names the database file and seeds its demo data.
    tenant: str = Field(default="demo", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    # Human name shown on the landing page.
    display_name: str = ""
    # Clinic-local time zone: "today" and opening hours are in this zone.
    timezone: str = "Europe/London"
    # staging, production, ...
    environment: str = "development"
    # The release this image was built from (baked in by the Dockerfile from HOIST_VERSION).
    version: str = "dev"
    # Directory holding the tenant's SQLite database.
    data_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()))

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def title(self) -> str:
        if self.display_name:
            return self.display_name
        return re.sub(r"[-_]+", " ", self.tenant).title() + " Clinic"

    @property
    def database_path(self) -> Path:
        return self.data_dir / f"clinic-{self.tenant}.db"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field, var in (
            ("tenant", "CLINIC_TENANT"),
            ("display_name", "CLINIC_DISPLAY_NAME"),
            ("timezone", "CLINIC_TIMEZONE"),
            ("environment", "APP_ENV"),
            ("version", "APP_VERSION"),
            ("data_dir", "CLINIC_DATA_DIR"),
        ):
            if env.get(var):
                values[field] = env[var]
        return cls(**values)
