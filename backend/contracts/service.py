"""Contract operations. Every write checks, then commits once; the database backs the
one-live-contract rule (partial unique indexes) and the team row lock backs capacity."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from backend import clock
from backend.auth.principal import Principal
from backend.contracts import counts, rules
from backend.contracts.models import Contract, ContractItem, ContractPackage
from backend.directory import policy
from backend.directory.models import MONEY_FIELDS, ServicePackage, Team
from backend.directory.regions import is_within
from backend.directory.service import capacity_of, get_team, register_contracted_counter
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db, written
from backend.fulfilment import rules as fulfilment_rules
from backend.residents import scope
from backend.residents.groups import groups_of
from backend.residents.models import AccountResident, Resident
from backend.unit_of_work import unit_of_work


def contract_exists() -> Conflict:
    return Conflict("该居民已有待审核或生效中的签约", code="contract_exists")


def invalid_transition(status: str) -> Conflict:
    return Conflict(f"当前状态（{status}）不允许此操作", code="invalid_transition")


# Who may act on what

def _bound(principal: Principal, resident_id: str) -> bool:
    return principal.kind == "account" and db.session.get(AccountResident, (principal.id, resident_id)) is not None


def _member(principal: Principal, team_id: str) -> bool:
    return principal.kind == "staff" and team_id in principal.team_ids


def _contract(principal: Principal, contract_id: str) -> Contract:
    """The contract, if the caller is its resident's account or a member of its team; else 404."""
    contract = db.session.get(Contract, contract_id)
    if contract is None or not (_bound(principal, contract.resident_id) or _member(principal, contract.team_id)):
        raise NotFound("签约不存在")
    return contract


def _status(contract: Contract, today: date) -> str:
    return rules.effective_status(contract.status, contract.end_date, today)


def _transition(contract: Contract, action: str, today: date) -> str:
    new = rules.next_state(_status(contract, today), action)
    if new is None:
        raise invalid_transition(_status(contract, today))
    return new


# Reads shared with other domains

def live_contracts(resident_id: str, today: date) -> list[Contract]:
    """Pending contracts and active ones whose term has not ended."""
    return list(db.session.scalars(
        sa.select(Contract).where(
            Contract.resident_id == resident_id,
            sa.or_(Contract.status == "pending",
                   sa.and_(Contract.status == "active", Contract.end_date >= today)),
        )
    ))


def current_contract(resident_id: str, today: date) -> Contract | None:
    """The contract that holds the resident on ``today``, else the pending one."""
    live = live_contracts(resident_id, today)
    active = [c for c in live if rules.is_contracted_on(c.status, c.start_date, c.end_date, today)]
    return (active or live or [None])[0]



def recording_team(principal: Principal, resident_id: str) -> str | None:
    """The team a record made by ``principal`` belongs to (a health check, a referral): the team
    of the resident's contract in force today when the recorder is in it, else the recorder's
    first team."""
    contract = current_contract(resident_id, clock.today())
    if contract is not None and contract.team_id in principal.team_ids:
        return contract.team_id
    return principal.team_ids[0] if principal.team_ids else None

register_contracted_counter(counts.contracted_counts)


def _contracted_with_my_teams(principal: Principal, areas: set[str]):
    """Staff also see the residents their teams hold contracts with, wherever they live (those
    inside the areas are seen already, and left out here)."""
    if not principal.team_ids:
        return None
    held = sa.select(Contract.resident_id).where(Contract.team_id.in_(list(principal.team_ids)),
                                                 Contract.status.in_(written(rules.LIVE_STATES)))
    return scope.outside_areas(held, Contract.region_code, areas)


scope.register_staff_scope(_contracted_with_my_teams)


# Sign-up

def _packages_for(team: Team, codes: list[str], resident: Resident, today: date) -> list[ServicePackage]:
    offered = {p.package_code for p in team.packages}
    packages = {p.code: p for p in db.session.scalars(
        sa.select(ServicePackage).where(ServicePackage.code.in_(set(codes)), ServicePackage.active.is_(True))
    )}
    unknown = sorted(set(codes) - set(packages))
    not_offered = sorted(set(packages) - offered)
    errors = []
    if unknown:
        errors.append("服务包不存在：" + "、".join(unknown))
    if not_offered:
        errors.append("该团队不提供：" + "、".join(not_offered))
    if errors:
        raise ValidationFailed({"package_codes": errors})
    groups = set(groups_of([resident], today)[resident.id])
    ineligible = sorted(code for code, p in packages.items() if p.eligible_groups and not groups & set(p.eligible_groups))
    if ineligible:
        raise ValidationFailed({"package_codes": ["居民不属于该服务包的适用人群：" + "、".join(ineligible)]},
                               "居民不符合服务包的签约条件", code="package_not_eligible")
    return [packages[code] for code in sorted(set(codes))]


def _check_doctor(team: Team, doctor_id: str | None) -> None:
    if doctor_id is not None and not any(m.staff_id == doctor_id for m in team.members):
        raise ValidationFailed({"doctor_id": ["不是该团队的成员"]})


def _serves(team: Team, region_code: str) -> bool:
    return any(is_within(region_code, area.region_code) for area in team.service_area)


def _hold_team_and_check_capacity(team: Team, resident_id: str, today: date) -> None:
    """Lock the team row (PostgreSQL: concurrent sign-ups for a team queue here), then count."""
    db.session.execute(sa.select(Team.id).where(Team.id == team.id).with_for_update())
    held = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Contract.resident_id))).where(
            Contract.team_id == team.id,
            Contract.resident_id != resident_id,
            sa.or_(Contract.status == "pending", sa.and_(Contract.status == "active", Contract.end_date >= today)),
        )
    )
    if held >= capacity_of(team):
        raise Conflict("该团队签约人数已满", code="team_full")


def _expire_ended(resident_id: str, today: date) -> None:
    """Record the expiry of terms that ended but that the nightly job has not reached yet."""
    db.session.execute(
        sa.update(Contract).where(Contract.resident_id == resident_id, Contract.status == "active",
                                  Contract.end_date < today)
        .values(status="expired", ended_on=Contract.end_date)
    )


def owe_items(contract: Contract, packages: list[ServicePackage], resident: Resident, today: date,
              groups: set[str] | None = None) -> None:
    """Copy onto the contract what its packages owe this resident for the term: the items for
    everyone and for the groups the resident belongs to today."""
    if groups is None:
        groups = set(groups_of([resident], today)[resident.id])
    contract.items = [ContractItem(code=i["code"], name=i["name"], owed=i["owed"],
                                   follow_up_disease=i["follow_up_disease"], health_check=i["health_check"])
                      for i in fulfilment_rules.items_for([p.items for p in packages], groups)]
    contract.most_owed = max((i.owed for i in contract.items), default=0)


def price_contract(contract: Contract, packages: list[ServicePackage]) -> None:
    """Copy today's prices onto the contract, package by package and in total."""
    contract.packages = [
        ContractPackage(package_code=p.code, name=p.name, kind=p.kind, **{f: getattr(p, f) for f in MONEY_FIELDS})
        for p in packages
    ]
    for field in MONEY_FIELDS:
        setattr(contract, field, sum(getattr(p, field) for p in packages))


def sign_up(principal: Principal, data: dict) -> Contract:
    today = clock.today()
    team = db.session.get(Team, data["team_id"])
    if principal.kind == "account":
        resident = scope.visible_resident(principal, data["resident_id"])
        if team is None:
            raise ValidationFailed({"team_id": ["团队不存在"]})
    else:
        if team is None or not _member(principal, team.id):
            raise Forbidden("只有团队成员可以为居民现场签约")
        resident = scope.visible_resident(principal, data["resident_id"])
    if live_contracts(resident.id, today):
        raise contract_exists()
    errors: dict = {}
    if not team.active:
        errors["team_id"] = ["该团队已停止签约"]
    if resident.region_code is None:
        errors["resident_id"] = ["请先选择居民所在的村（社区）"]
    if errors:
        raise ValidationFailed(errors)
    if not _serves(team, resident.region_code):
        raise ValidationFailed({"team_id": ["该团队不服务居民所在的村（社区）"]}, "团队不服务居民所在地",
                               code="team_out_of_area")
    packages = _packages_for(team, data["package_codes"], resident, today)
    _check_doctor(team, data.get("doctor_id"))
    with unit_of_work(contract_exists()) as session:
        _hold_team_and_check_capacity(team, resident.id, today)
        _expire_ended(resident.id, today)
        contract = Contract(resident_id=resident.id, team_id=team.id, doctor_id=data.get("doctor_id"),
                            status="pending", created_by_kind=principal.kind, created_by_id=principal.id)
        price_contract(contract, packages)
        owe_items(contract, packages, resident, today)
        session.add(contract)
    return contract


def renew(principal: Principal, contract_id: str) -> Contract:
    today = clock.today()
    previous = _contract(principal, contract_id)
    if _status(previous, today) not in ("active", "expired"):
        raise invalid_transition(_status(previous, today))
    if not rules.in_renewal_window(previous.end_date, today):
        opens, closes = rules.renewal_window(previous.end_date)
        raise Conflict(f"续约办理时间为 {opens} 至 {closes}", code="renewal_window_closed")
    others = [c for c in live_contracts(previous.resident_id, today) if c.id != previous.id]
    if others:
        raise contract_exists()
    team = db.session.get(Team, previous.team_id)
    resident = db.session.get(Resident, previous.resident_id)
    packages = _packages_for(team, previous.package_codes, resident, today)
    with unit_of_work(contract_exists()) as session:
        _hold_team_and_check_capacity(team, resident.id, today)
        _expire_ended(resident.id, today)
        contract = Contract(resident_id=resident.id, team_id=team.id, doctor_id=previous.doctor_id,
                            status="pending", renewal_of=previous.id, created_by_kind=principal.kind,
                            created_by_id=principal.id)
        price_contract(contract, packages)
        owe_items(contract, packages, resident, today)
        session.add(contract)
    return contract


# Decisions

def approve(principal: Principal, contract_id: str, doctor_id: str | None, start_date: date | None) -> Contract:
    today = clock.today()
    contract = _contract(principal, contract_id)
    if not _member(principal, contract.team_id):
        raise Forbidden("只有团队成员可以审核签约")
    status = _transition(contract, "approve", today)
    team = db.session.get(Team, contract.team_id)
    _check_doctor(team, doctor_id)
    previous = db.session.get(Contract, contract.renewal_of) if contract.renewal_of else None
    if previous is not None:
        earliest = previous.end_date + timedelta(days=1)
        start = start_date or rules.renewal_start(previous.end_date, today)
        if start < earliest:
            raise ValidationFailed({"start_date": [f"续约不得早于上一期结束的次日（{earliest}）"]})
    else:
        start = start_date or today
        signed_on = clock.to_civil(contract.created_at).date()
        if start < signed_on:
            raise ValidationFailed({"start_date": [f"不得早于申请日期（{signed_on}）"]})
    if start > today + timedelta(days=90):
        raise ValidationFailed({"start_date": ["开始日期不得晚于90天之后"]})
    with unit_of_work(contract_exists()):
        contract.status = status
        contract.start_date = start
        contract.end_date = rules.end_date_for(start)
        contract.doctor_id = doctor_id or contract.doctor_id or principal.id
        contract.decided_by_id = principal.id
        contract.decided_at = clock.utcnow()
    return contract


def reject(principal: Principal, contract_id: str, reason: str) -> Contract:
    contract = _contract(principal, contract_id)
    if not _member(principal, contract.team_id):
        raise Forbidden("只有团队成员可以审核签约")
    status = _transition(contract, "reject", clock.today())
    with unit_of_work():
        contract.status, contract.reason = status, reason
        contract.decided_by_id, contract.decided_at = principal.id, clock.utcnow()
    return contract


def cancel(principal: Principal, contract_id: str) -> Contract:
    contract = _contract(principal, contract_id)
    if principal.kind != "account":
        raise Forbidden("签约申请只能由居民本人撤回")
    status = _transition(contract, "cancel", clock.today())
    with unit_of_work():
        contract.status, contract.ended_on = status, clock.today()
    return contract


def terminate(principal: Principal, contract_id: str, reason: str) -> Contract:
    today = clock.today()
    contract = _contract(principal, contract_id)
    status = _transition(contract, "terminate", today)
    with unit_of_work():
        contract.status, contract.reason, contract.ended_on = status, reason, today
        contract.decided_by_id, contract.decided_at = principal.id, clock.utcnow()
    return contract


# Lists

def history(principal: Principal, resident_id: str, action: str) -> list[Contract]:
    """The resident's contracts, newest first, after the read is logged."""
    resident = scope.read_resident(principal, resident_id, action)
    return list(db.session.scalars(
        sa.select(Contract).where(Contract.resident_id == resident.id)
        .order_by(Contract.created_at.desc(), Contract.id)
    ))


def ensure_may_see_team(principal: Principal, team: Team) -> None:
    if _member(principal, team.id) or policy.can_admin_institution(principal, team.institution):
        return
    raise Forbidden("只能查看本团队的签约")


def team_contracts(principal: Principal, team_id: str, status: str) -> sa.Select:
    team = get_team(team_id)
    ensure_may_see_team(principal, team)
    today = clock.today()
    statement = sa.select(Contract).where(Contract.team_id == team.id)
    if status == "pending":
        return statement.where(Contract.status == "pending").order_by(Contract.created_at, Contract.id)
    if status == "expiring":
        return statement.where(
            Contract.status == "active", Contract.end_date >= today,
            Contract.end_date <= today + timedelta(days=rules.EXPIRING_WITHIN_DAYS),
        ).order_by(Contract.end_date, Contract.id)
    return statement.where(Contract.status == "active", Contract.end_date >= today) \
        .order_by(Contract.end_date, Contract.id)


# The nightly job

def expire_ended(today: date) -> int:
    """Record as expired every active contract whose term ended before ``today``; idempotent."""
    with unit_of_work() as session:
        result = session.execute(
            sa.update(Contract).where(Contract.status == "active", Contract.end_date < today)
            .values(status="expired", ended_on=Contract.end_date)
        )
    return result.rowcount
