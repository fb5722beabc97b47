"""The village doctor's work app: an installable phone web app (PWA) served at /app/.

Everything it needs is served from here (no framework, no build step, nothing from the
internet). The page, its modules, the manifest and the service worker are answered with
``Cache-Control: no-cache`` so that a phone revalidates them whenever it has a network and an
update arrives; offline, the service worker answers from its own cache. Resident data is never
put in that cache: the app keeps what it holds for offline reading in IndexedDB and clears it at
logout.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory

from backend.console import page_headers

STATIC = Path(__file__).parent / "static"

blp = Blueprint("doctor_app", __name__)

# The app loads nothing from elsewhere and runs no inline script; its service worker and
# manifest are its own.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; "
          "base-uri 'none'; form-action 'self'")

TYPES = {".webmanifest": "application/manifest+json", ".js": "text/javascript; charset=utf-8"}


blp.after_request(page_headers(POLICY, **{"Cache-Control": "no-cache"}))


def _send(name: str) -> Response:
    response = send_from_directory(STATIC, name)
    mimetype = TYPES.get(Path(name).suffix)
    if mimetype:
        response.headers["Content-Type"] = mimetype
    return response


@blp.route("/")
def index():
    return _send("index.html")


@blp.route("/sw.js")
def service_worker():
    """At /app/sw.js, so that its scope is /app/."""
    return _send("sw.js")


@blp.route("/manifest.webmanifest")
def manifest():
    return _send("manifest.webmanifest")


@blp.route("/static/<path:name>")
def asset(name: str):
    return _send(name)


def register(app) -> None:
    app.register_blueprint(blp, url_prefix="/app")
    app.add_url_rule("/app", "doctor_app_root", lambda: redirect("/app/", code=308))
