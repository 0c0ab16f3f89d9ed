"""Synthetic demo data, deterministic per tenant. No real patient data, ever."""

from __future__ import annotations

import random
import zlib
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .db import Appointment, Clinician, Patient, Status

FIRST = ["Alex", "Sam", "Robin", "Jamie", "Kim", "Noor", "Ari", "Jo", "Lee", "Max", "Rae"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Silva", "Haddad", "Byrne"]
ROLES = ["GP", "GP", "Nurse practitioner", "Physiotherapist", "Dietitian"]
REASONS = [
    "Annual check-up",
    "Follow-up",
    "Vaccination",
    "Blood test review",
    "Back pain",
    "Prescription renewal",
    "Minor injury",
    "Nutrition consult",
]
SLOT_MINUTES = 15
OPENING = time(8, 0)
CLOSING = time(17, 0)


def seed(session: Session, tenant: str, today: date) -> bool:
    """Fill an empty database with this tenant's demo data; return whether it did."""
    if session.scalar(select(func.count()).select_from(Clinician)):
        return False
    rng = random.Random(zlib.crc32(tenant.encode()))

    clinicians = []
    for _ in range(rng.randint(3, 5)):
        name = f"Dr {rng.choice(FIRST)} {rng.choice(LAST)}"
        clinicians.append(Clinician(name=name, role=rng.choice(ROLES)))
    session.add_all(clinicians)

    patients = []
    for n in range(1, rng.randint(150, 250) + 1):
        patients.append(
            Patient(
                code=f"{tenant[:3].upper()}-{n:05d}",
                initials=rng.choice("ABCDEFGHJKLMNPRSTW") + rng.choice("ABCDEFGHJKLMNPRSTW"),
                birth_year=rng.randint(1935, 2022),
                registered_on=today - timedelta(days=rng.randint(30, 3000)),
            )
        )
    session.add_all(patients)
    session.flush()

    # Two weeks back, two weeks ahead, weekdays only; each clinician's day is partly booked.
    appointments = []
    for offset in range(-14, 15):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for clinician in clinicians:
            slot = datetime.combine(day, OPENING)
            end = datetime.combine(day, CLOSING)
            while slot < end:
                minutes = rng.choice([15, 15, 15, 30, 30, 45])
                if rng.random() < 0.55 and slot + timedelta(minutes=minutes) <= end:
                    if offset < 0:
                        status = rng.choices(
                            [Status.completed, Status.no_show, Status.cancelled], [85, 9, 6]
                        )[0]
                    else:
                        status = rng.choices([Status.booked, Status.cancelled], [95, 5])[0]
                    appointments.append(
                        Appointment(
                            patient_id=rng.choice(patients).id,
                            clinician_id=clinician.id,
                            starts_at=slot,
                            minutes=minutes,
                            reason=rng.choice(REASONS),
                            status=status,
                        )
                    )
                    slot += timedelta(minutes=minutes)
                else:
                    slot += timedelta(minutes=SLOT_MINUTES)
    session.add_all(appointments)
    session.commit()
    return True
