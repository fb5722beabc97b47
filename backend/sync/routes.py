"""GET /api/v1/sync/teams/{team_id}: what changed in the team's scope since a cursor."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("sync", __name__, description="Changes in a team's scope since a cursor, for offline clients")
