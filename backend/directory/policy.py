"""Who may administer what in the directory: one place for every admin route.

county_admin: everything inside its region (all of the deployment when it has none).
institution_admin: its own institution, its staff and its teams.
"""
from __future__ import annotations

from backend.auth.principal import Principal
from backend.directory.models import Institution, Staff
from backend.directory.regions import is_within
from backend.errors import Forbidden


def is_county_admin_over(principal: Principal, region_code: str | None) -> bool:
    if not principal.has_role("county_admin"):
        return False
    if principal.region_code is None:
        return True
    return region_code is not None and is_within(region_code, principal.region_code)


def ensure_county_admin_over(principal: Principal, region_code: str | None) -> None:
    if not is_county_admin_over(principal, region_code):
        raise Forbidden("超出管辖范围")


def can_admin_institution(principal: Principal, institution: Institution) -> bool:
    if is_county_admin_over(principal, institution.region_code):
        return True
    return principal.has_role("institution_admin") and principal.institution_id == institution.id


def ensure_admin_of_institution(principal: Principal, institution: Institution) -> None:
    if not can_admin_institution(principal, institution):
        raise Forbidden("只能管理本机构")


def ensure_admin_of_staff(principal: Principal, staff: Staff) -> None:
    """Staff of an institution are its admins' to manage; county-level staff the county's."""
    if staff.institution is not None:
        ensure_admin_of_institution(principal, staff.institution)
    else:
        ensure_county_admin_over(principal, staff.region_code)
        if principal.region_code is not None and staff.region_code is None:
            raise Forbidden("超出管辖范围")


def grantable_roles(principal: Principal) -> set[str]:
    """An institution_admin cannot hand out county-wide powers."""
    if principal.has_role("county_admin"):
        return {"doctor", "institution_admin", "county_admin"}
    return {"doctor", "institution_admin"}
