"""Residents: registration by staff, self-binding by accounts, reads within scope."""
from __future__ import annotations

import sqlalchemy as sa

from backend import clock
from backend.auth.principal import Principal
from backend.directory.models import Region
from backend.directory.regions import prefix_of
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.residents import scope
from backend.residents.groups import group_filter, groups_of
from backend.residents.models import (
    MAX_BOUND_RESIDENTS, STAFF_SET_GROUPS, AccountResident, Resident, ResidentGroup,
)
from backend.security.fields import blind_index
from backend.security.identity import (
    InvalidIdNumber, InvalidPhone, age_on, birth_date_of, normalize_id_number, normalize_phone, sex_of,
)
from backend.security.masking import mask_id_number, mask_phone
from backend.unit_of_work import unit_of_work


def _resident_exists() -> Conflict:
    return Conflict("该身份证号的居民已建档", code="resident_exists")


def _normalize(data: dict, errors: dict) -> tuple[str | None, str | None]:
    """The normalised id number and phone of a request, collecting what is wrong."""
    id_number = phone = None
    if "id_number" in data:
        try:
            id_number = normalize_id_number(data["id_number"], clock.today())
        except InvalidIdNumber as error:
            errors["id_number"] = [error.reason]
    if data.get("phone") is not None:
        try:
            phone = normalize_phone(data["phone"])
        except InvalidPhone as error:
            errors["phone"] = [error.reason]
    return id_number, phone


def _check_region(region_code: str | None, errors: dict, village_only: bool = False) -> None:
    if region_code is None:
        return
    region = db.session.get(Region, region_code)
    if region is None:
        errors["region_code"] = ["区划不存在"]
    elif village_only and region.level != "village":
        errors["region_code"] = ["请选择到村（社区）一级"]


def _check_groups(groups: list[str] | None, errors: dict) -> None:
    derived = sorted(set(groups or ()) - set(STAFF_SET_GROUPS))
    if derived:
        errors["groups"] = ["由年龄或慢病登记推算，不能手工设置：" + "、".join(derived)]


def find_by_id_number(id_number: str) -> Resident | None:
    return db.session.scalar(
        sa.select(Resident).where(Resident.id_number_index == blind_index(id_number, "id_number"))
    )


def _set_identity(resident: Resident, id_number: str) -> None:
    resident.id_number = id_number
    resident.id_number_index = blind_index(id_number, "id_number")
    resident.birth_date = birth_date_of(id_number)
    resident.sex = sex_of(id_number)


def _set_phone(resident: Resident, phone: str | None) -> None:
    resident.phone = phone
    resident.phone_index = blind_index(phone, "phone")
    resident.phone_wrong = False  # a call found the old number wrong; this one is new


def _set_groups(resident: Resident, groups: list[str]) -> None:
    """Tags keep their history, so that statistics on a past day count that day's tags: a tag
    removed is closed today, a new one opens today, one kept is left alone."""
    today = clock.today()
    wanted = set(groups)
    current = {t.group: t for t in resident.tags}
    for group, tag in current.items():
        if group in wanted:
            continue
        if tag.set_on >= today:  # set today and gone today: it was never in force on any day
            resident.tag_history.remove(tag)
        else:
            tag.removed_on = today
    for group in sorted(wanted - set(current)):
        resident.tag_history.append(ResidentGroup(group=group, set_on=today))
    if wanted != set(current) and resident.id:
        # The resident's groups are part of the resident: the team sync and the statistics'
        # refresh find a changed resident by updated_at, which no column of the tags' rows moves.
        resident.updated_at = clock.utcnow()


# Staff side

def create_resident(principal: Principal, data: dict) -> Resident:
    errors: dict = {}
    id_number, phone = _normalize(data, errors)
    _check_region(data["region_code"], errors)
    _check_groups(data.get("groups"), errors)
    if errors:
        raise ValidationFailed(errors)
    if not scope.region_in_scope(principal, data["region_code"]):
        raise Forbidden("该区划不在您的服务范围内")
    if find_by_id_number(id_number) is not None:
        raise _resident_exists()
    with unit_of_work(_resident_exists()) as session:
        resident = new_resident(data, id_number, phone)
        session.add(resident)
    return resident


def new_resident(data: dict, id_number: str, phone: str | None) -> Resident:
    """A resident registered by staff (or imported from a county's files), from checked values:
    the identity number and phone encrypted and blind-indexed, birth date and sex read from the
    identity number, the staff-set tags in force from today."""
    resident = Resident(name=data["name"], region_code=data["region_code"], address=data.get("address"),
                        source="staff")
    _set_identity(resident, id_number)
    _set_phone(resident, phone)
    _set_groups(resident, data.get("groups") or [])
    return resident


def search(principal: Principal, q: str | None, region_code: str | None, group: str | None) -> sa.Select:
    statement = sa.select(Resident).where(scope.visible_to(principal)).order_by(Resident.name, Resident.id)
    if q:
        q = q.strip()
        by_identity = _identity_lookup(q)
        statement = statement.where(by_identity if by_identity is not None else Resident.name.like(f"%{q}%"))
    if region_code:
        statement = statement.where(Resident.region_code.like(prefix_of(region_code) + "%"))
    if group:
        statement = statement.where(group_filter(group, clock.today()))
    return statement


def _identity_lookup(q: str):
    """A full id number or phone is looked up by its blind index, never by a scan."""
    try:
        return Resident.id_number_index == blind_index(normalize_id_number(q, clock.today()), "id_number")
    except InvalidIdNumber:
        pass
    try:
        return Resident.phone_index == blind_index(normalize_phone(q), "phone")
    except InvalidPhone:
        return None


def update_resident(principal: Principal, resident_id: str, changes: dict) -> Resident:
    resident = scope.visible_resident(principal, resident_id)
    errors: dict = {}
    _, phone = _normalize(changes, errors)
    _check_region(changes.get("region_code"), errors)
    _check_groups(changes.get("groups"), errors)
    if errors:
        raise ValidationFailed(errors)
    if changes.get("region_code") and not scope.region_in_scope(principal, changes["region_code"]):
        raise Forbidden("该区划不在您的服务范围内")
    with unit_of_work():
        if "phone" in changes:
            _set_phone(resident, phone)
        if "groups" in changes:
            _set_groups(resident, changes["groups"])
        for key in ("address", "region_code", "name"):
            if key in changes:
                setattr(resident, key, changes[key])
    return resident


# Account side

def bind(account_id: str, data: dict) -> tuple[Resident, str]:
    """Bind a resident to the account: the record on file, or a new self-registered one."""
    errors: dict = {}
    id_number, phone = _normalize(data, errors)
    if errors:
        raise ValidationFailed(errors)
    bindings = list(db.session.scalars(sa.select(AccountResident).where(AccountResident.account_id == account_id)))
    resident = find_by_id_number(id_number)
    if resident is not None:
        # Name and phone must both match the record; the answer never says which did not.
        if resident.name != data["name"] or resident.phone_index is None \
                or resident.phone_index != blind_index(phone, "phone"):
            raise ValidationFailed({}, "身份信息与档案不符", code="identity_mismatch")
        if any(b.resident_id == resident.id for b in bindings):
            raise Conflict("已绑定该居民", code="already_bound")
    if len(bindings) >= MAX_BOUND_RESIDENTS:
        raise Conflict(f"每个账号最多绑定{MAX_BOUND_RESIDENTS}位居民", code="binding_limit_reached")
    if data["relation"] == "self" and any(b.relation == "self" for b in bindings):
        raise ValidationFailed({"relation": ["本账号已绑定本人"]})
    with unit_of_work(Conflict("已绑定该居民", code="already_bound")) as session:
        if resident is None:
            resident = Resident(name=data["name"], source="self")
            _set_identity(resident, id_number)
            _set_phone(resident, phone)
            session.add(resident)
            session.flush()
        session.add(AccountResident(account_id=account_id, resident_id=resident.id, relation=data["relation"]))
    return resident, data["relation"]


def _binding(account_id: str, resident_id: str) -> AccountResident:
    binding = db.session.get(AccountResident, (account_id, resident_id))
    if binding is None:
        raise NotFound("未绑定该居民")
    return binding


def update_own(account_id: str, resident_id: str, changes: dict) -> AccountResident:
    binding = _binding(account_id, resident_id)
    errors: dict = {}
    _, phone = _normalize(changes, errors)
    _check_region(changes.get("region_code"), errors, village_only=True)
    if errors:
        raise ValidationFailed(errors)
    resident = binding.resident
    with unit_of_work():
        if "phone" in changes:
            _set_phone(resident, phone)
        for key in ("region_code", "address"):
            if key in changes:
                setattr(resident, key, changes[key])
    return binding


def unbind(account_id: str, resident_id: str) -> None:
    binding = _binding(account_id, resident_id)
    with unit_of_work() as session:
        session.delete(binding)


def bound_residents(account_id: str) -> list[AccountResident]:
    return list(db.session.scalars(
        sa.select(AccountResident).where(AccountResident.account_id == account_id)
        .order_by(AccountResident.created_at, AccountResident.resident_id)
    ))


# Views: every personal identifier leaves masked

def resident_views(residents: list[Resident], relations: dict[str, str] | None = None) -> list[dict]:
    today = clock.today()
    groups = groups_of(residents, today)
    regions = {r.code: r.name for r in db.session.scalars(
        sa.select(Region).where(Region.code.in_({x.region_code for x in residents if x.region_code}))
    )}
    views = []
    for resident in residents:
        view = {
            "id": resident.id,
            "name": resident.name,
            "sex": resident.sex,
            "birth_date": resident.birth_date,
            "age": _age(resident, today),
            "id_number": mask_id_number(resident.id_number),
            "phone": mask_phone(resident.phone),
            "phone_wrong": resident.phone_wrong,
            "region_code": resident.region_code,
            "region_name": regions.get(resident.region_code),
            "address": resident.address,
            "groups": groups[resident.id],
            "source": resident.source,
            "created_at": resident.created_at,
        }
        if relations is not None:
            view["relation"] = relations.get(resident.id)
        views.append(view)
    return views


def resident_detail(resident: Resident) -> dict:
    """The resident's view, with every period of its staff-set tags."""
    view = resident_views([resident])[0]
    view["group_history"] = [{"group": t.group, "set_on": t.set_on, "removed_on": t.removed_on}
                             for t in resident.tag_history]
    return view


def _age(resident: Resident, today) -> int:
    return age_on(resident.birth_date, today) if resident.birth_date <= today else 0
