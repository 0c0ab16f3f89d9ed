"""Tests of the clinic example (stdlib unittest; run from examples/clinic with the
requirements installed: `python -m unittest discover tests`)."""

from __future__ import annotations

import tempfile
import unittest
from datetime import date, datetime, timedelta
from pathlib import Path

from clinic import create_app
from clinic.config import Settings


def next_weekday(start: date) -> date:
    day = start + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


class ClinicTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.settings = Settings(
            tenant="northside", version="v9.9.9", data_dir=Path(self.tmp.name), timezone="UTC"
        )
        self.client = create_app(self.settings).test_client()

    def tearDown(self):
        self.tmp.cleanup()

    def test_health_and_version(self):
        health = self.client.get("/healthz")
        self.assertEqual(health.status_code, 200)
        self.assertEqual(health.json["status"], "ok")
        version = self.client.get("/version")
        self.assertEqual(version.status_code, 200)
        self.assertIn("v9.9.9", version.text)

    def test_landing_page_names_the_tenant(self):
        page = self.client.get("/")
        self.assertEqual(page.status_code, 200)
        self.assertIn("Northside Clinic", page.text)

    def test_seed_is_deterministic_per_tenant(self):
        again = create_app(
            Settings(tenant="northside", data_dir=Path(self.tmp.name) / "b", timezone="UTC")
        ).test_client()
        first = self.client.get("/api/clinicians").json
        self.assertEqual(first, again.get("/api/clinicians").json)

    def test_booking_validates_and_detects_conflicts(self):
        day = next_weekday(datetime.now().date() + timedelta(days=20))
        body = {
            "patient_id": 1,
            "clinician_id": 1,
            "starts_at": f"{day}T09:00:00",
            "minutes": 30,
            "reason": "Follow-up",
        }
        created = self.client.post("/api/appointments", json=body)
        self.assertEqual(created.status_code, 201, created.json)
        self.assertEqual(created.json["status"], "booked")
        clash = self.client.post("/api/appointments", json={**body, "starts_at": f"{day}T09:15:00"})
        self.assertEqual(clash.status_code, 409)
        late = self.client.post("/api/appointments", json={**body, "starts_at": f"{day}T16:50:00"})
        self.assertEqual(late.status_code, 422)
        listed = self.client.get(f"/api/appointments?date={day}&clinician_id=1").json
        self.assertEqual([a["id"] for a in listed["appointments"]], [created.json["id"]])

    def test_report(self):
        summary = self.client.get("/api/report?days=14")
        self.assertEqual(summary.status_code, 200)
        self.assertGreater(summary.json["appointments"], 0)
        self.assertTrue(summary.json["clinicians"])
        xlsx = self.client.get("/api/report?format=xlsx")
        self.assertEqual(xlsx.status_code, 200)
        self.assertEqual(xlsx.data[:2], b"PK")


if __name__ == "__main__":
    unittest.main()
