"""Referrals: the work lists of the referring team and the receiving institution, and the
receiving institution's answer (received, then returned with a result).

Who may see a referral is decided by the referral itself, not by where its resident lives: the
referring team (and the referring doctor) and the staff of the receiving institution, whose
county hospital has no team and no service area. Every list and read is logged first.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from backend import clock
from backend.auth.principal import Principal
from backend.common import page_total
from backend.directory.models import Region, Staff, Team
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.followups.models import Condition, FollowUp
from backend.referrals.models import AWAITING, Referral
from backend.residents.models import Resident
from backend.security.audit import record_access
from backend.security.identity import age_on
from backend.unit_of_work import unit_of_work

_referrer, _receiver, _answerer = aliased(Staff), aliased(Staff), aliased(Staff)

# A referral with what its items show: its resident as stored (the phone masked: nothing is
# decrypted), the people and team by name, and the condition's next follow-up (still managed).
_LISTED = (
    sa.select(Referral, Resident.name.label("resident_name"), Resident.phone_shown, Resident.birth_date,
              Resident.region_code, Region.name.label("region_name"), Team.name.label("team_name"),
              _referrer.name.label("referred_by_name"), _receiver.name.label("received_by_name"),
              _answerer.name.label("result_by_name"), Condition.next_due_on.label("follow_up_due_on"))
    .join(Resident, Resident.id == Referral.resident_id)
    .outerjoin(Region, Region.code == Resident.region_code)
    .outerjoin(Team, Team.id == Referral.team_id)
    .outerjoin(_referrer, _referrer.id == Referral.referred_by_id)
    .outerjoin(_receiver, _receiver.id == Referral.received_by_id)
    .outerjoin(_answerer, _answerer.id == Referral.result_by_id)
    .outerjoin(FollowUp, FollowUp.id == Referral.follow_up_id)
    .outerjoin(Condition, sa.and_(Condition.id == FollowUp.condition_id, Condition.deregistered_on.is_(None)))
)


def _sees(principal: Principal) -> sa.ColumnElement[bool]:
    """The referrals a staff member may read: its teams', its own and those sent to its institution."""
    clauses = [Referral.referred_by_id == principal.id]
    if principal.team_ids:
        clauses.append(Referral.team_id.in_(principal.team_ids))
    if principal.institution_id:
        clauses.append(Referral.to_institution_id == principal.institution_id)
    return sa.or_(*clauses)


def _view(principal: Principal, view: str) -> sa.ColumnElement[bool]:
    if view == "incoming":
        if not principal.institution_id:
            raise Forbidden("只有接收机构的工作人员可以查看转入清单")
        return Referral.to_institution_id == principal.institution_id
    if not principal.has_role("doctor"):
        raise Forbidden("只有家庭医生团队成员可以查看转出清单")
    if view == "mine":
        return Referral.referred_by_id == principal.id
    return Referral.team_id.in_(principal.team_ids) if principal.team_ids else sa.false()


def referrals_page(principal: Principal, args: dict, action: str) -> dict:
    """One page of a work list (urgent first, then the longest waiting), its residents' reads
    logged before it is returned."""
    statement = _LISTED.where(_view(principal, args["view"]))
    if args.get("status"):
        statement = statement.where(Referral.status == args["status"])
    if args.get("awaiting"):
        statement = statement.where(Referral.status.in_(AWAITING))
    if args.get("returned_since"):
        statement = statement.where(Referral.returned_on >= args["returned_since"])
    page, page_size = args["page"], args["page_size"]
    rows = db.session.execute(
        statement.add_columns(sa.func.count().over().label("page_total"))
        .order_by(Referral.urgent.desc(), Referral.referred_on, Referral.created_at, Referral.id)
        .limit(page_size).offset((page - 1) * page_size)
    ).all()
    total = page_total(rows, statement, page)
    # Built before the log's commit expires the rows read (each would be read again).
    today = clock.today()
    items = [_item(row, today) for row in rows]
    record_access(principal, [item["resident"]["id"] for item in items], action)
    return {"items": items, "page": page, "page_size": page_size, "total": total}


def read_referral(principal: Principal, referral_id: str, action: str) -> dict:
    """One referral for those who may see it (404 to anyone else), its read logged first."""
    row = db.session.execute(_LISTED.where(Referral.id == referral_id, _sees(principal))).first()
    if row is None:
        raise NotFound("转诊记录不存在")
    item = _item(row, clock.today())
    record_access(principal, [item["resident"]["id"]], action)
    return item


def _item(row, today: date) -> dict:
    referral: Referral = row.Referral
    return {
        "id": referral.id, "follow_up_id": referral.follow_up_id,
        "resident": {"id": referral.resident_id, "name": row.resident_name, "phone": row.phone_shown,
                     "age": age_on(row.birth_date, today), "region": row.region_name,
                     "region_code": row.region_code},
        "disease": referral.disease, "urgent": referral.urgent, "reason": referral.reason,
        "to_institution": {"id": referral.to_institution_id, "name": referral.to_institution_name},
        "department": referral.department, "referred_on": referral.referred_on,
        "referred_by": _person(referral.referred_by_id, row.referred_by_name),
        "team": _person(referral.team_id, row.team_name),
        "status": referral.status,
        "received_on": referral.received_on,
        "received_by": _person(referral.received_by_id, row.received_by_name),
        "returned_on": referral.returned_on, "result": referral.result, "diagnosis": referral.diagnosis,
        "result_by": _person(referral.result_by_id, row.result_by_name),
        "days_waiting": ((referral.returned_on or today) - referral.referred_on).days,
        "follow_up_due_on": row.follow_up_due_on,
        "updated_at": referral.updated_at,
    }


def _person(id_: str | None, name: str | None) -> dict | None:
    return None if id_ is None else {"id": id_, "name": name}


# The receiving institution's answer

def _receives(principal: Principal, referral: Referral) -> bool:
    return referral.to_institution_id is not None and referral.to_institution_id == principal.institution_id


def _answers(principal: Principal, referral: Referral) -> bool:
    """The receiving institution records the result; for an institution outside the directory,
    the referring team does (the patient brought the paper result back)."""
    if referral.to_institution_id is None:
        return referral.team_id is not None and referral.team_id in principal.team_ids
    return _receives(principal, referral)


def _visible_referral(principal: Principal, referral_id: str) -> Referral:
    referral = db.session.scalar(sa.select(Referral).where(Referral.id == referral_id, _sees(principal)))
    if referral is None:
        raise NotFound("转诊记录不存在")
    return referral


def _invalid_transition(status: str) -> Conflict:
    named = {"referred": "待接诊", "received": "已接诊", "returned": "已回转"}[status]
    return Conflict(f"该转诊{named}，不能执行此操作", code="invalid_transition")


def _check_day(field: str, day: date, not_before: date, named: str) -> None:
    if day > clock.today():
        raise ValidationFailed({field: ["不能晚于今天"]})
    if day < not_before:
        raise ValidationFailed({field: [f"不能早于{named}（{not_before}）"]})


def _move(referral: Referral, from_states: tuple[str, ...], values: dict, *still: sa.ColumnElement[bool]) -> None:
    """One conditional update: of two answers at once one wins, the other is a 409; a failure
    changes no row."""
    with unit_of_work():
        moved = db.session.execute(
            sa.update(Referral).where(Referral.id == referral.id, Referral.status.in_(from_states), *still)
            .values(**values, updated_at=clock.utcnow()).execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            raise Conflict("该转诊已由他人处理", code="invalid_transition")


def receive(principal: Principal, referral_id: str, data: dict, action: str) -> dict:
    """referred → received, by the staff of the receiving institution."""
    referral = _visible_referral(principal, referral_id)
    if not _receives(principal, referral):
        raise Forbidden("只有接收机构的工作人员可以接诊")
    if referral.status != "referred":
        raise _invalid_transition(referral.status)
    received_on = data.get("received_on") or clock.today()
    _check_day("received_on", received_on, referral.referred_on, "转诊日期")
    _move(referral, ("referred",), {"status": "received", "received_on": received_on,
                                    "received_by_id": principal.id})
    return read_referral(principal, referral.id, action)


def record_result(principal: Principal, referral_id: str, data: dict, action: str) -> dict:
    """referred or received → returned with the result."""
    referral = _visible_referral(principal, referral_id)
    if not _answers(principal, referral):
        raise Forbidden("只有接收机构的工作人员可以填写回转结果" if referral.to_institution_id
                        else "只有转出团队的成员可以填写回转结果")
    if referral.status not in AWAITING:
        raise _invalid_transition(referral.status)
    returned_on = data.get("returned_on") or clock.today()
    if referral.received_on is not None:
        _check_day("returned_on", returned_on, referral.received_on, "接诊日期")
    else:
        _check_day("returned_on", returned_on, referral.referred_on, "转诊日期")
    # Received meanwhile on a later day than this result: the checks above no longer hold.
    _move(referral, AWAITING, {"status": "returned", "returned_on": returned_on,
                               "result": data["result"].strip(),
                               "diagnosis": (data.get("diagnosis") or "").strip() or None,
                               "result_by_id": principal.id},
          sa.or_(Referral.received_on.is_(None), Referral.received_on <= returned_on))
    return read_referral(principal, referral.id, action)
