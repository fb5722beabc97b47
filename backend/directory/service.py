"""The directory's operations. Reads return models; writes validate, then commit once."""
from __future__ import annotations

from typing import Callable, Iterable

import sqlalchemy as sa
from flask import current_app

from backend.auth.passwords import hash_password
from backend.auth.principal import Principal
from backend.common import get_or_404
from backend.directory import policy
from backend.directory.models import (
    Institution, Population, Region, ServicePackage, Staff, Team, TeamMember, TeamPackage,
    TeamServiceArea,
)
from backend.directory.regions import ancestors_of, is_within, level_of, parent_of, prefix_of
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.unit_of_work import unit_of_work


def _already_exists(what: str) -> Conflict:
    return Conflict(f"{what}已存在", code="already_exists")


def _fail_if(errors: dict) -> None:
    if errors:
        raise ValidationFailed(errors)


# Regions

def list_regions(parent: str | None) -> sa.Select:
    condition = Region.parent_code.is_(None) if parent is None else Region.parent_code == parent
    return sa.select(Region).where(condition).order_by(Region.code)


def get_region(code: str) -> Region:
    return get_or_404(Region, code, "区划不存在")


def create_region(principal: Principal, code: str, name: str) -> Region:
    policy.ensure_county_admin_over(principal, code)
    if db.session.get(Region, code) is not None:
        raise _already_exists("区划代码")
    parent = parent_of(code)
    if parent is not None and db.session.get(Region, parent) is None:
        raise ValidationFailed({"code": [f"上级区划 {parent} 不存在"]})
    with unit_of_work(_already_exists("区划代码")) as session:
        region = Region(code=code, name=name, level=level_of(code), parent_code=parent)
        session.add(region)
    return region


def update_region(principal: Principal, code: str, changes: dict) -> Region:
    region = get_region(code)
    policy.ensure_county_admin_over(principal, code)
    with unit_of_work():
        for key, value in changes.items():
            setattr(region, key, value)
    return region


def _existing_regions(codes: Iterable[str]) -> set[str]:
    codes = set(codes)
    if not codes:
        return set()
    return set(db.session.scalars(sa.select(Region.code).where(Region.code.in_(codes))))


# Institutions

def list_institutions(principal: Principal, region_code: str | None, kind: str | None) -> sa.Select:
    statement = sa.select(Institution).order_by(Institution.region_code, Institution.name)
    if region_code:
        statement = statement.where(Institution.region_code.like(prefix_of(region_code) + "%"))
    if kind:
        statement = statement.where(Institution.kind == kind)
    if principal.has_role("county_admin"):
        if principal.region_code:
            statement = statement.where(Institution.region_code.like(prefix_of(principal.region_code) + "%"))
    else:
        statement = statement.where(Institution.id == principal.institution_id)
    return statement


def get_institution(institution_id: str) -> Institution:
    return get_or_404(Institution, institution_id, "机构不存在")


def _check_institution_region(region_code: str) -> None:
    if db.session.get(Region, region_code) is None:
        raise ValidationFailed({"region_code": ["区划不存在"]})


def create_institution(principal: Principal, data: dict) -> Institution:
    policy.ensure_county_admin_over(principal, data["region_code"])
    _check_institution_region(data["region_code"])
    with unit_of_work() as session:
        institution = Institution(**data)
        session.add(institution)
    return institution


def update_institution(principal: Principal, institution_id: str, changes: dict) -> Institution:
    institution = get_institution(institution_id)
    policy.ensure_admin_of_institution(principal, institution)
    if "region_code" in changes and changes["region_code"] != institution.region_code:
        # Moving an institution is a county decision, inside the county's own area.
        policy.ensure_county_admin_over(principal, changes["region_code"])
        _check_institution_region(changes["region_code"])
    if "kind" in changes and not principal.has_role("county_admin"):
        raise Forbidden("机构类型由县级管理员设置")
    with unit_of_work():
        for key, value in changes.items():
            setattr(institution, key, value)
    return institution


# Staff

def get_staff(staff_id: str) -> Staff:
    return get_or_404(Staff, staff_id, "人员不存在")


def list_staff(principal: Principal, institution_id: str | None, q: str | None) -> sa.Select:
    statement = sa.select(Staff).order_by(Staff.name, Staff.id)
    if institution_id:
        statement = statement.where(Staff.institution_id == institution_id)
    if q:
        pattern = f"%{q}%"
        statement = statement.where(sa.or_(Staff.name.like(pattern), Staff.username.like(pattern)))
    if principal.has_role("county_admin"):
        if principal.region_code:
            inside = prefix_of(principal.region_code) + "%"
            statement = statement.outerjoin(Institution, Staff.institution_id == Institution.id).where(
                sa.or_(Institution.region_code.like(inside), Staff.region_code.like(inside))
            )
    else:
        statement = statement.where(Staff.institution_id == principal.institution_id)
    return statement


def _check_staff_fields(principal: Principal, roles: list[str], institution_id: str | None,
                        region_code: str | None) -> None:
    """Raise 403 for what the caller may not grant, 422 for what is inconsistent."""
    if not set(roles) <= policy.grantable_roles(principal):
        raise Forbidden("无权授予该角色")
    errors: dict = {}
    institution = None
    if institution_id is not None:
        institution = db.session.get(Institution, institution_id)
        if institution is None:
            errors["institution_id"] = ["机构不存在"]
    elif {"doctor", "institution_admin"} & set(roles):
        errors["institution_id"] = ["医生和机构管理员须属于一个机构"]
    if region_code is not None:
        if "county_admin" not in roles:
            errors["region_code"] = ["仅县级管理员有管辖区划"]
        elif db.session.get(Region, region_code) is None:
            errors["region_code"] = ["区划不存在"]
    _fail_if(errors)
    if institution is not None:
        policy.ensure_admin_of_institution(principal, institution)
    if "county_admin" in roles:
        policy.ensure_county_admin_over(principal, region_code)
        if principal.region_code is not None and region_code is None:
            raise Forbidden("超出管辖范围")


def create_staff(principal: Principal, data: dict) -> Staff:
    if db.session.scalar(sa.select(Staff.id).where(Staff.username == data["username"])):
        raise _already_exists("用户名")
    roles = sorted(set(data["roles"]))
    _check_staff_fields(principal, roles, data.get("institution_id"), data.get("region_code"))
    with unit_of_work(_already_exists("用户名")) as session:
        staff = Staff(
            username=data["username"],
            password_hash=hash_password(data["password"]),
            name=data["name"],
            title=data["title"],
            roles=roles,
            institution_id=data.get("institution_id"),
            region_code=data.get("region_code"),
        )
        session.add(staff)
    return staff


def update_staff(principal: Principal, staff_id: str, changes: dict) -> Staff:
    staff = get_staff(staff_id)
    policy.ensure_admin_of_staff(principal, staff)
    if "roles" in changes:
        changes["roles"] = sorted(set(changes["roles"]))
    roles = changes.get("roles", staff.roles)
    institution_id = changes.get("institution_id", staff.institution_id)
    region_code = changes.get("region_code", staff.region_code)
    _check_staff_fields(principal, roles, institution_id, region_code)
    password = changes.pop("password", None)
    with unit_of_work():
        for key, value in changes.items():
            setattr(staff, key, value)
        if password is not None:
            staff.password_hash = hash_password(password)
    return staff


# Service packages

def list_packages(kind: str | None = None) -> sa.Select:
    statement = sa.select(ServicePackage).where(ServicePackage.active.is_(True))
    if kind:
        statement = statement.where(ServicePackage.kind == kind)
    return statement.order_by(ServicePackage.kind, ServicePackage.code)


def get_package(package_id: str) -> ServicePackage:
    return get_or_404(ServicePackage, package_id, "服务包不存在")


def _check_package_money(kind: str, price_fen: int, funding: dict) -> None:
    total = funding["public_health_fen"] + funding["insurance_fen"] + funding["self_pay_fen"]
    errors: dict = {}
    if total != price_fen:
        errors["funding"] = [f"各方负担之和（{total}）须等于价格（{price_fen}）"]
    if kind == "basic" and funding["self_pay_fen"] != 0:
        errors.setdefault("funding", []).append("基础包对居民免费，个人自付须为0")
    _fail_if(errors)


def _check_package_items(items: list[dict]) -> None:
    codes = [item["code"] for item in items]
    if len(codes) != len(set(codes)):
        raise ValidationFailed({"items": ["服务项目编码重复"]})


def create_package(principal: Principal, data: dict) -> ServicePackage:
    policy.ensure_county_admin_over(principal, principal.region_code)
    if db.session.scalar(sa.select(ServicePackage.id).where(ServicePackage.code == data["code"])):
        raise _already_exists("服务包编码")
    _check_package_money(data["kind"], data["price_fen"], data["funding"])
    _check_package_items(data["items"])
    with unit_of_work(_already_exists("服务包编码")) as session:
        package = ServicePackage(
            code=data["code"], name=data["name"], kind=data["kind"], price_fen=data["price_fen"],
            items=data["items"], eligible_groups=sorted(set(data["eligible_groups"])),
            **data["funding"],
        )
        session.add(package)
    return package


def update_package(principal: Principal, package_id: str, changes: dict) -> ServicePackage:
    package = get_package(package_id)
    policy.ensure_county_admin_over(principal, principal.region_code)
    funding = changes.pop("funding", package.funding)
    _check_package_money(changes.get("kind", package.kind), changes.get("price_fen", package.price_fen), funding)
    if "items" in changes:
        _check_package_items(changes["items"])
    if "eligible_groups" in changes:
        changes["eligible_groups"] = sorted(set(changes["eligible_groups"]))
    with unit_of_work():
        for key, value in {**changes, **funding}.items():
            setattr(package, key, value)
    return package


# Teams

ContractedCounter = Callable[[list[str]], dict[str, int]]
_contracted_counter: ContractedCounter | None = None


def register_contracted_counter(counter: ContractedCounter) -> None:
    """The contracts domain tells the directory how many residents each team holds."""
    global _contracted_counter
    _contracted_counter = counter


def contracted_counts(team_ids: list[str]) -> dict[str, int]:
    counts = _contracted_counter(team_ids) if _contracted_counter and team_ids else {}
    return {team_id: counts.get(team_id, 0) for team_id in team_ids}


def _capacity(limit: int | None, doctors: int) -> int:
    ceiling = current_app.config["JIAYI"].capacity_per_doctor * doctors
    return ceiling if limit is None else min(limit, ceiling)


def capacity_of(team: Team) -> int:
    """The national ceiling (per member with the doctor title), or the lower limit set."""
    return _capacity(team.capacity_limit, sum(1 for m in team.members if m.staff.title == "doctor"))


def capacities(limits: dict[str, int | None]) -> dict[str, int]:
    """``capacity_of`` for many teams (id: limit set) without loading them: one grouped count of
    their members with the doctor title."""
    doctors = dict(db.session.execute(
        sa.select(TeamMember.team_id, sa.func.count()).join(Staff, Staff.id == TeamMember.staff_id)
        .where(TeamMember.team_id.in_(list(limits)), Staff.title == "doctor")
        .group_by(TeamMember.team_id)).tuples().all()) if limits else {}
    return {team_id: _capacity(limit, doctors.get(team_id, 0)) for team_id, limit in limits.items()}


def get_team(team_id: str) -> Team:
    return get_or_404(Team, team_id, "团队不存在")


def teams_serving(region_code: str | None) -> sa.Select:
    """Active teams whose service area covers the region, lies above it or below it."""
    statement = sa.select(Team).where(Team.active.is_(True)).order_by(Team.name, Team.id)
    if region_code:
        codes = [region_code, *ancestors_of(region_code)]
        serving = sa.select(TeamServiceArea.team_id).where(
            sa.or_(
                TeamServiceArea.region_code.in_(codes),
                TeamServiceArea.region_code.like(prefix_of(region_code) + "%"),
            )
        )
        statement = statement.where(Team.id.in_(serving))
    return statement


def team_views(teams: list[Team], detail: bool = False) -> list[dict]:
    counts = contracted_counts([team.id for team in teams])
    return [_team_view(team, counts[team.id], detail) for team in teams]


def _team_view(team: Team, contracted: int, detail: bool) -> dict:
    leader = next((m.staff for m in team.members if m.team_role == "leader"), None)
    capacity = capacity_of(team)
    view = {
        "id": team.id,
        "name": team.name,
        "institution": {"id": team.institution.id, "name": team.institution.name},
        "leader": None if leader is None else {"id": leader.id, "name": leader.name, "title": leader.title},
        "member_count": len(team.members),
        "capacity": capacity,
        "contracted_count": contracted,
        "accepting": team.active and contracted < capacity,
    }
    if detail:
        members = sorted(team.members, key=lambda m: (m.team_role != "leader", m.staff.name))
        view["members"] = [
            {"id": m.staff.id, "name": m.staff.name, "title": m.staff.title, "team_role": m.team_role}
            for m in members
        ]
        view["service_area"] = sorted(area.region_code for area in team.service_area)
        view["packages"] = sorted(p.package_code for p in team.packages)
    return view


def _county_of(region_code: str) -> str | None:
    level = level_of(region_code)
    if level in ("province", "city"):
        return None
    return region_code[:6].ljust(12, "0")


def _check_team_refs(institution: Institution, service_area: list[str] | None,
                     package_codes: list[str] | None) -> None:
    errors: dict = {}
    if service_area is not None:
        missing = sorted(set(service_area) - _existing_regions(service_area))
        county = _county_of(institution.region_code)
        outside = sorted(c for c in set(service_area) - set(missing) if county and not is_within(c, county))
        if missing:
            errors.setdefault("service_area", []).append("区划不存在：" + "、".join(missing))
        if outside:
            errors.setdefault("service_area", []).append("不在机构所在县（区）内：" + "、".join(outside))
    if package_codes is not None:
        known = set(db.session.scalars(
            sa.select(ServicePackage.code).where(ServicePackage.code.in_(set(package_codes)))
        )) if package_codes else set()
        unknown = sorted(set(package_codes) - known)
        if unknown:
            errors["package_codes"] = ["服务包不存在：" + "、".join(unknown)]
    _fail_if(errors)


def _institution_ref(institution_id: str) -> Institution:
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        raise ValidationFailed({"institution_id": ["机构不存在"]})
    return institution


def create_team(principal: Principal, data: dict) -> Team:
    institution = _institution_ref(data["institution_id"])
    policy.ensure_admin_of_institution(principal, institution)
    _check_team_refs(institution, data["service_area"], data["package_codes"])
    with unit_of_work() as session:
        team = Team(name=data["name"], institution=institution, capacity_limit=data.get("capacity"))
        team.service_area = [TeamServiceArea(region_code=code) for code in sorted(set(data["service_area"]))]
        team.packages = [TeamPackage(package_code=code) for code in sorted(set(data["package_codes"]))]
        session.add(team)
    return team


def update_team(principal: Principal, team_id: str, changes: dict) -> Team:
    team = get_team(team_id)
    policy.ensure_admin_of_institution(principal, team.institution)
    institution = team.institution
    if "institution_id" in changes and changes["institution_id"] != team.institution_id:
        institution = _institution_ref(changes["institution_id"])
        policy.ensure_admin_of_institution(principal, institution)
    _check_team_refs(institution, changes.get("service_area"), changes.get("package_codes"))
    with unit_of_work():
        team.institution = institution
        if "name" in changes:
            team.name = changes["name"]
        if "capacity" in changes:
            team.capacity_limit = changes["capacity"]
        if "active" in changes:
            team.active = changes["active"]
        if "service_area" in changes:
            team.service_area = [TeamServiceArea(region_code=c) for c in sorted(set(changes["service_area"]))]
            db.session.flush()
        if "package_codes" in changes:
            team.packages = [TeamPackage(package_code=c) for c in sorted(set(changes["package_codes"]))]
    return team


def add_member(principal: Principal, team_id: str, staff_id: str, team_role: str) -> Team:
    team = get_team(team_id)
    policy.ensure_admin_of_institution(principal, team.institution)
    staff = db.session.get(Staff, staff_id)
    if staff is None:
        raise ValidationFailed({"staff_id": ["人员不存在"]})
    county = _county_of(team.institution.region_code)
    if staff.institution is None or (county and not is_within(staff.institution.region_code, county)):
        raise ValidationFailed({"staff_id": ["只能加入本县（区）医疗机构的人员"]})
    if any(m.staff_id == staff_id for m in team.members):
        raise Conflict("该人员已在团队中", code="already_exists")
    with unit_of_work(Conflict("该人员已在团队中", code="already_exists")):
        if team_role == "leader":
            # One leader per team: naming a new one makes the old one a member.
            for member in team.members:
                if member.team_role == "leader":
                    member.team_role = "member"
        team.members.append(TeamMember(staff=staff, team_role=team_role))
    return team


def remove_member(principal: Principal, team_id: str, staff_id: str) -> None:
    team = get_team(team_id)
    policy.ensure_admin_of_institution(principal, team.institution)
    member = next((m for m in team.members if m.staff_id == staff_id), None)
    if member is None:
        raise NotFound("该人员不在团队中")
    with unit_of_work():
        team.members.remove(member)


# Populations

def put_population(principal: Principal, region_code: str, year: int, data: dict) -> Population:
    policy.ensure_county_admin_over(principal, region_code)
    get_region(region_code)
    too_many = sorted(g for g, n in data["groups"].items() if n > data["resident_population"])
    if too_many:
        raise ValidationFailed({"groups": ["人数超过常住人口：" + "、".join(too_many)]})
    with unit_of_work() as session:
        population = session.get(Population, (region_code, year))
        if population is None:
            population = Population(region_code=region_code, year=year)
            session.add(population)
        population.resident_population = data["resident_population"]
        population.groups = dict(sorted(data["groups"].items()))
    return population


def get_population(principal: Principal, region_code: str, year: int) -> Population:
    policy.ensure_county_admin_over(principal, region_code)
    return get_or_404(Population, (region_code, year), "该区划该年度尚无人口数据")
