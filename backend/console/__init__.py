"""The county console: one static page (zh-CN) over the /api/v1/stats endpoints.

Everything it needs is served from here (ECharts is vendored), so it works on a county
intranet with no internet; the page talks to the API with the staff member's token only.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory

STATIC = Path(__file__).parent / "static"

blp = Blueprint("console", __name__, static_folder=str(STATIC), static_url_path="/static")

# The page loads nothing from elsewhere and runs no inline script.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def page_headers(policy: str, **extra: str):
    """An after_request hook for a static page of the app's own: its content security policy,
    no type sniffing, no referrer, and ``extra`` headers (the console and the doctors' app)."""
    def apply(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.update(extra)
        return response
    return apply


blp.after_request(page_headers(POLICY))


@blp.route("/")
def index():
    response = send_from_directory(STATIC, "index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response


def register(app) -> None:
    app.register_blueprint(blp, url_prefix="/console")
    app.add_url_rule("/console", "console_root", lambda: redirect("/console/", code=308))
