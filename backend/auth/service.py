"""Staff sign-in and the staff side of the Principal."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from backend.auth.passwords import verify_password
from backend.auth.principal import Principal, register_loader
from backend.directory.models import Staff, TeamMember
from backend.errors import Unauthorized
from backend.extensions import db


def staff_principal(staff: Staff) -> Principal:
    return Principal(
        kind="staff",
        id=staff.id,
        name=staff.name,
        roles=frozenset(staff.roles),
        institution_id=staff.institution_id,
        institution_name=staff.institution.name if staff.institution else None,
        region_code=staff.region_code,
        team_ids=tuple(staff.team_ids),
        extra={"title": staff.title},
    )


def _load_staff(staff_id: str) -> Principal | None:
    # Every staff request starts here: one statement for the staff member and its teams.
    staff = db.session.get(Staff, staff_id, options=[
        orm.joinedload(Staff.memberships).lazyload(TeamMember.staff)])
    if staff is None or not staff.active:
        return None
    return staff_principal(staff)


register_loader("staff", _load_staff)


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
