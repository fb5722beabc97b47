"""Imports every domain's models, so that Alembic and the app see one complete metadata."""
from backend.directory.models import (  # noqa: F401
    Institution, Population, Region, ServicePackage, Staff, Team, TeamMember, TeamPackage,
    TeamServiceArea,
)
