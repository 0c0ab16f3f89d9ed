"""Request and response shapes of the JSON API, validated with pydantic."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .db import Status
from .seed import CLOSING, OPENING


class ClinicianOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str


class PatientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    initials: str
    birth_year: int
    registered_on: date


class AppointmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    starts_at: datetime
    minutes: int
    reason: str
    status: Status
    patient: PatientOut
    clinician: ClinicianOut


class AppointmentIn(BaseModel):
    """A booking request. Times are clinic-local wall-clock times."""

    model_config = ConfigDict(extra="forbid")

    patient_id: int = Field(gt=0)
    clinician_id: int = Field(gt=0)
    starts_at: datetime
    minutes: Annotated[int, Field(ge=5, le=240, multiple_of=5)] = 15
    reason: Annotated[str, Field(min_length=3, max_length=120)]

    @model_validator(mode="after")
    def within_opening_hours(self) -> "AppointmentIn":
        if self.starts_at.tzinfo is not None:
            raise ValueError("starts_at is clinic-local time: give it without a UTC offset")
        if self.starts_at.weekday() >= 5:
            raise ValueError("the clinic is closed at weekends")
        start = self.starts_at.time()
        end = (self.starts_at + timedelta(minutes=self.minutes)).time()
        if start < OPENING or end > CLOSING or end <= start:
            raise ValueError(
                f"appointments must fit between {OPENING:%H:%M} and {CLOSING:%H:%M}"
            )
        return self


class AppointmentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date | None = Field(default=None, alias="date")
    clinician_id: int | None = None
    status: Status | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min)
    return start, start + timedelta(days=1)
