"""Staff sign-in and the staff side of the Principal."""
from __future__ import annotations

import sqlalchemy as sa

from backend.auth.passwords import verify_password
from backend.auth.principal import Principal, register_loader
from backend.directory.models import Institution, Staff, TeamMember, TeamServiceArea
from backend.errors import Unauthorized
from backend.extensions import db


# Every staff request starts here: one statement, built once, for the staff member, its
# institution, its teams and their service areas (the scope of most requests is read from them),
# as plain columns: no ORM objects are built for a principal.
_STAFF_PRINCIPAL = (
    sa.select(Staff.id, Staff.name, Staff.title, Staff.roles, Staff.active, Staff.institution_id,
              Staff.region_code, Institution.name.label("institution_name"), TeamMember.team_id,
              TeamServiceArea.region_code.label("area"))
    .outerjoin(Institution, Institution.id == Staff.institution_id)
    .outerjoin(TeamMember, TeamMember.staff_id == Staff.id)
    .outerjoin(TeamServiceArea, TeamServiceArea.team_id == TeamMember.team_id)
    .where(Staff.id == sa.bindparam("staff_id"))
)


def load_staff(staff_id: str) -> Principal | None:
    """The principal of an active staff member (None when unknown or disabled)."""
    rows = db.session.execute(_STAFF_PRINCIPAL, {"staff_id": staff_id}).all()
    if not rows or not rows[0].active:
        return None
    staff = rows[0]
    return Principal(
        kind="staff", id=staff.id, name=staff.name, roles=frozenset(staff.roles),
        institution_id=staff.institution_id, institution_name=staff.institution_name,
        region_code=staff.region_code, team_ids=tuple(sorted({row.team_id for row in rows if row.team_id})),
        team_areas=tuple(sorted({row.area for row in rows if row.area})), extra={"title": staff.title},
    )


register_loader("staff", load_staff)


def authenticate_staff(username: str, password: str) -> Staff:
    """The same answer for an unknown user, a wrong password and a disabled account."""
    staff = db.session.scalar(sa.select(Staff).where(Staff.username == username))
    ok = verify_password(staff.password_hash if staff else None, password)
    if not ok or staff is None or not staff.active:
        raise Unauthorized("用户名或密码错误", code="invalid_credentials")
    return staff


def me_view(principal: Principal) -> dict:
    return {
        "id": principal.id,
        "name": principal.name,
        "title": principal.extra.get("title"),
        "roles": sorted(principal.roles),
        "institution_id": principal.institution_id,
        "institution_name": principal.institution_name,
        "region_code": principal.region_code,
        "team_ids": list(principal.team_ids),
    }
