"""Operational report for a date range: per-clinician load and attendance, with pandas."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from .db import Appointment, Clinician
from .seed import CLOSING, OPENING

WORKDAY_MINUTES = (
    datetime.combine(date.min, CLOSING) - datetime.combine(date.min, OPENING)
).seconds // 60


def load(engine: Engine, start: date, end: date) -> pd.DataFrame:
    """Appointments starting in [start, end), one row each, with the clinician's name."""
    query = (
        select(
            Appointment.id,
            Appointment.starts_at,
            Appointment.minutes,
            Appointment.status,
            Clinician.name.label("clinician"),
        )
        .join(Clinician, Appointment.clinician_id == Clinician.id)
        .where(Appointment.starts_at >= datetime.combine(start, datetime.min.time()))
        .where(Appointment.starts_at < datetime.combine(end, datetime.min.time()))
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn, parse_dates=["starts_at"])
    frame["status"] = frame["status"].map(lambda s: getattr(s, "value", s))
    frame["day"] = frame["starts_at"].dt.normalize()
    return frame


def summarise(frame: pd.DataFrame, start: date, end: date) -> dict:
    """Per clinician: booked hours, utilisation of open hours, no-show rate, duration p50/p90."""
    workdays = int(np.busday_count(start, end))
    open_minutes = max(workdays, 1) * WORKDAY_MINUTES
    held = frame[frame["status"] != "cancelled"]
    attended_or_missed = frame[frame["status"].isin(["completed", "no_show"])]

    per_clinician = (
        held.groupby("clinician")
        .agg(appointments=("id", "size"), booked_minutes=("minutes", "sum"))
        .join(
            attended_or_missed.groupby("clinician")["status"]
            .apply(lambda s: float(np.mean(s == "no_show")))
            .rename("no_show_rate")
        )
        .join(
            held.groupby("clinician")["minutes"].agg(
                p50_minutes=lambda m: float(np.percentile(m, 50)),
                p90_minutes=lambda m: float(np.percentile(m, 90)),
            )
        )
        .fillna({"no_show_rate": 0.0})
    )
    per_clinician["utilisation"] = (per_clinician["booked_minutes"] / open_minutes).round(3)
    per_clinician["no_show_rate"] = per_clinician["no_show_rate"].round(3)

    daily = (
        held.groupby("day").size().reindex(pd.date_range(start, end - timedelta(days=1)), fill_value=0)
    )
    status_counts = frame["status"].value_counts().to_dict()
    return {
        "from": start.isoformat(),
        "to": (end - timedelta(days=1)).isoformat(),
        "workdays": workdays,
        "appointments": int(len(held)),
        "status_counts": {k: int(v) for k, v in sorted(status_counts.items())},
        "busiest_day": daily.idxmax().date().isoformat() if daily.any() else None,
        "daily": {d.date().isoformat(): int(n) for d, n in daily.items()},
        "clinicians": [
            {k: _plain(v) for k, v in row.items()}
            for row in per_clinician.sort_index().reset_index().to_dict(orient="records")
        ],
    }


def to_xlsx(frame: pd.DataFrame, summary: dict) -> bytes:
    """The same report as a spreadsheet: a summary sheet and the raw appointments."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        pd.DataFrame(summary["clinicians"]).to_excel(writer, sheet_name="clinicians", index=False)
        frame.drop(columns=["day"]).to_excel(writer, sheet_name="appointments", index=False)
    return buffer.getvalue()


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value
