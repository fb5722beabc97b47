"""Annual health checks (健康体检表)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("exams", __name__, description="年度健康体检（健康体检表）")
