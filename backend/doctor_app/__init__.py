"""The village doctor's work app: an installable phone web app (PWA) served at /app/."""
from __future__ import annotations

from flask import redirect


def register(app) -> None:
    app.add_url_rule("/app", "doctor_app_root", lambda: redirect("/app/", code=308))
