"""HTTP endpoints: landing page, health, version and the JSON API."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from pydantic import ValidationError
from sqlalchemy import func, select, text

from . import report
from .db import Appointment, Clinician, Patient, Status
from .schemas import (
    AppointmentIn,
    AppointmentOut,
    AppointmentQuery,
    ClinicianOut,
    PatientOut,
    day_bounds,
)

bp = Blueprint("clinic", __name__)


def settings():
    return current_app.config["SETTINGS"]


def sessions():
    return current_app.extensions["clinic.sessions"]


def engine():
    return current_app.extensions["clinic.engine"]


def today() -> date:
    return datetime.now(settings().zone).date()


def invalid(exc: ValidationError) -> tuple[Response, int]:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or None, "message": e["msg"]}
        for e in exc.errors(include_url=False)
    ]
    return jsonify(error="invalid request", details=errors), 422


@bp.get("/healthz")
def healthz():
    """200 when the database answers; hoist waits for this before switching traffic."""
    try:
        with sessions()() as session:
            session.execute(text("SELECT 1"))
            clinicians = session.scalar(select(func.count()).select_from(Clinician))
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return jsonify(status="error", tenant=settings().tenant, error=str(exc)), 503
    if not clinicians:
        return jsonify(status="starting", tenant=settings().tenant), 503
    return jsonify(status="ok", tenant=settings().tenant, version=settings().version)


@bp.get("/version")
def version():
    """The release this container runs, as plain text (hoist checks the body)."""
    return Response(settings().version + "\n", mimetype="text/plain")


@bp.get("/")
def index():
    day = today()
    start, end = day_bounds(day)
    with sessions()() as session:
        todays = session.scalars(
            select(Appointment)
            .where(Appointment.starts_at >= start, Appointment.starts_at < end)
            .order_by(Appointment.starts_at, Appointment.clinician_id)
        ).all()
        patients = session.scalar(select(func.count()).select_from(Patient))
        clinicians = session.scalars(select(Clinician).order_by(Clinician.name)).all()
    return render_template(
        "index.html",
        s=settings(),
        day=day,
        appointments=todays,
        patients=patients,
        clinicians=clinicians,
    )


@bp.get("/api/clinicians")
def list_clinicians():
    with sessions()() as session:
        rows = session.scalars(select(Clinician).order_by(Clinician.id)).all()
    return jsonify([ClinicianOut.model_validate(r).model_dump(mode="json") for r in rows])


@bp.get("/api/patients")
def list_patients():
    limit = min(max(request.args.get("limit", 50, type=int), 1), 500)
    offset = max(request.args.get("offset", 0, type=int), 0)
    with sessions()() as session:
        rows = session.scalars(select(Patient).order_by(Patient.id).limit(limit).offset(offset)).all()
        total = session.scalar(select(func.count()).select_from(Patient))
    return jsonify(
        total=total,
        patients=[PatientOut.model_validate(r).model_dump(mode="json") for r in rows],
    )


@bp.get("/api/appointments")
def list_appointments():
    try:
        query = AppointmentQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        return invalid(exc)
    start, end = day_bounds(query.day or today())
    stmt = (
        select(Appointment)
        .where(Appointment.starts_at >= start, Appointment.starts_at < end)
        .order_by(Appointment.starts_at, Appointment.clinician_id)
        .limit(query.limit)
    )
    if query.clinician_id is not None:
        stmt = stmt.where(Appointment.clinician_id == query.clinician_id)
    if query.status is not None:
        stmt = stmt.where(Appointment.status == query.status)
    with sessions()() as session:
        rows = session.scalars(stmt).unique().all()
    return jsonify(
        tenant=settings().tenant,
        date=start.date().isoformat(),
        appointments=[AppointmentOut.model_validate(r).model_dump(mode="json") for r in rows],
    )


@bp.post("/api/appointments")
def book_appointment():
    try:
        data = AppointmentIn.model_validate(request.get_json(force=True, silent=True) or {})
    except ValidationError as exc:
        return invalid(exc)
    if data.starts_at.date() < today():
        return jsonify(error="cannot book in the past"), 422
    end = data.starts_at + timedelta(minutes=data.minutes)
    with sessions()() as session, session.begin():
        if session.get(Patient, data.patient_id) is None:
            return jsonify(error=f"no patient {data.patient_id}"), 404
        if session.get(Clinician, data.clinician_id) is None:
            return jsonify(error=f"no clinician {data.clinician_id}"), 404
        # Overlap check on the clinician's day (SQLite has no interval arithmetic to lean on).
        day_start, day_end = day_bounds(data.starts_at.date())
        for other in session.scalars(
            select(Appointment).where(
                Appointment.clinician_id == data.clinician_id,
                Appointment.starts_at >= day_start,
                Appointment.starts_at < day_end,
                Appointment.status != Status.cancelled,
            )
        ).unique():
            if other.starts_at < end and data.starts_at < other.starts_at + timedelta(
                minutes=other.minutes
            ):
                return jsonify(error="clinician is busy", conflicts_with=other.id), 409
        appointment = Appointment(**data.model_dump(), status=Status.booked)
        session.add(appointment)
        session.flush()
        session.refresh(appointment)
        body = AppointmentOut.model_validate(appointment).model_dump(mode="json")
    return jsonify(body), 201


@bp.get("/api/report")
def get_report():
    """Last N days (default 14, up to today) per clinician; `?format=xlsx` for a spreadsheet."""
    days = min(max(request.args.get("days", 14, type=int), 1), 90)
    end = today() + timedelta(days=1)
    start = end - timedelta(days=days)
    frame = report.load(engine(), start, end)
    summary = report.summarise(frame, start, end)
    summary["tenant"] = settings().tenant
    if request.args.get("format") == "xlsx":
        filename = f"clinic-{settings().tenant}-{start:%Y%m%d}-{end - timedelta(days=1):%Y%m%d}.xlsx"
        return Response(
            report.to_xlsx(frame, summary),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return jsonify(summary)
