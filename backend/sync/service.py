"""The team sync: what changed in a team's scope since a cursor, page by page.

A *run* reads the changes of one window of time, ``(since, upto]``: ``upto`` is fixed when the
run's first page is asked for, so the set a run pages through does not move under it. The run
pages through its kinds in a fixed order (residents first, so that a client meets a resident
before its records), each kind by id; the cursor holds the kind and the last id delivered. When
the run ends, the next run starts from ``upto`` less ``REWIND``: a row written with an earlier
``updated_at`` but committed after this run read it is delivered by the next one (a client
upserts by kind and id, so delivering a row twice is harmless).

A team's scope (the same rule as a doctor's scope, for this one team): residents living in the
team's service area or holding a live contract with it (pending, or active and not past its
end), less those whose moving away or death a second look confirmed. A resident who comes into
the scope during the window (moves into the area, signs up with the team) arrives with all of
its records, old ones included; one who leaves it is a removal, and so is a contract of the team
that ended (rejected, cancelled, terminated, or expired: by the nightly job or by date alone).
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import orm

from backend import clock
from backend.auth.principal import Principal
from backend.contracts.models import Contract
from backend.contracts.schemas import ContractSchema
from backend.contracts.views import contract_views
from backend.directory.models import Team
from backend.directory.regions import prefix_of
from backend.errors import Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.followups.models import Condition, FollowUp
from backend.followups.schemas import ConditionSchema, FollowUpSchema
from backend.followups.service import follow_up_views
from backend.fulfilment.models import LEAVING, Call, ServiceDelivery
from backend.fulfilment.schemas import CallSchema, DeliverySchema
from backend.fulfilment.service import call_view
from backend.residents.models import Resident, ResidentGroup
from backend.residents.schemas import ResidentDetailSchema
from backend.residents.scope import in_areas
from backend.residents.service import resident_views
from backend.security.audit import record_access
from backend.sync.dump import dumper
from backend.sync.models import ResidentMove

KINDS = ("resident", "condition", "follow_up", "contract", "service", "call")
# A run delivers the changes of every kind, then (after a first sync, which has nothing to
# remove) the removals.
PHASES = KINDS + ("removed_contract", "removed_resident")
REWIND = timedelta(seconds=60)
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
CURSOR_VERSION = 1


# The cursor

@dataclass(frozen=True)
class Cursor:
    since: datetime | None  # the run delivers what changed after this (None: everything in scope)
    upto: datetime | None  # and up to this (None: the run starts with this page, at the server's now)
    phase: int = 0
    after: str = ""  # the last id the run delivered in its phase


def encode(team_id: str, cursor: Cursor) -> str:
    body = {"v": CURSOR_VERSION, "team": team_id, "since": _moment(cursor.since), "upto": _moment(cursor.upto),
            "phase": cursor.phase, "after": cursor.after}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(text: str, team_id: str) -> Cursor:
    """The cursor a previous page returned; anything else is a 422 naming ``cursor``."""
    try:
        body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(body, dict) or body.get("v") != CURSOR_VERSION:
            raise ValueError
        phase, after = body["phase"], body["after"]
        if not isinstance(phase, int) or isinstance(phase, bool) or not 0 <= phase <= len(PHASES) \
                or not isinstance(after, str) or len(after) > 64:
            raise ValueError
        cursor = Cursor(_parse_moment(body["since"]), _parse_moment(body["upto"]), phase, after)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed({"cursor": ["同步游标无效，请不带游标重新同步"]}) from None
    if body["team"] != team_id:
        raise ValidationFailed({"cursor": ["同步游标属于另一个团队"]})
    if cursor.since is not None and cursor.upto is not None and cursor.since > cursor.upto:
        raise ValidationFailed({"cursor": ["同步游标无效，请不带游标重新同步"]})
    return cursor


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def _parse_moment(value) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError
    return moment


# The team's scope and the run's window, as SQL

def _prefixes(team: Team) -> set[str]:
    prefixes = {prefix_of(area.region_code) for area in team.service_area}
    return {p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes)}


def _live(contract, today: date) -> sa.ColumnElement[bool]:
    """Pending, or active and not past its end."""
    return sa.or_(contract.status == "pending", sa.and_(contract.status == "active", contract.end_date >= today))


class Window:
    """The SQL of one page: the team's scope today, and what changed in ``(since, upto]``."""

    def __init__(self, team: Team, cursor: Cursor, today: date):
        self.team, self.since, self.upto, self.today = team, cursor.since, cursor.upto, today
        self.prefixes = _prefixes(team)
        self.live = _live(Contract, today)
        # Checked on the resident row (correlated): an incremental page looks up the few residents
        # of its changed rows by key; a first sync reads the team's residents once (hashed). Aliased,
        # so that a page of contracts or calls does not correlate them with its own rows.
        contract, call = orm.aliased(Contract), orm.aliased(Call)
        held = sa.exists().where(contract.resident_id == Resident.id, contract.team_id == team.id,
                                 _live(contract, today))
        left = sa.exists().where(call.resident_id == Resident.id, call.confirmation == "confirmed",
                                 call.outcome.in_(LEAVING))
        self.in_scope = sa.and_(sa.or_(self.in_area(Resident.region_code), held), ~left)

    def in_area(self, region_column) -> sa.ColumnElement[bool]:
        return in_areas(region_column, self.prefixes) if self.prefixes else sa.false()

    def changed(self, column) -> sa.ColumnElement[bool]:
        if self.since is None:
            return column <= self.upto
        return sa.and_(column > self.since, column <= self.upto)

    def entering(self) -> sa.CompoundSelect:
        """Residents who may have come into the scope in the window: moved into the area, or
        signed up with the team (their older records are theirs to deliver too)."""
        moved_in = sa.select(ResidentMove.resident_id).where(
            ResidentMove.moved_at > self.since, self.in_area(ResidentMove.to_region))
        # Signed in the window: created in it, so changed in it (read through the updated_at index).
        signed = sa.select(Contract.resident_id).where(Contract.team_id == self.team.id,
                                                       Contract.updated_at > self.since,
                                                       Contract.created_at > self.since)
        return sa.union(moved_in, signed)

    def candidates(self, model) -> sa.ColumnElement[bool]:
        """``model``'s rows that the run delivers, whatever their scope: changed in the window,
        or belonging to a resident who came into the scope."""
        if self.since is None:
            return self.changed(model.updated_at)
        owner = model.id if model is Resident else model.resident_id
        return model.id.in_(sa.union(
            sa.select(model.id).where(self.changed(model.updated_at)),
            sa.select(model.id).where(owner.in_(self.entering()))))

    def expired_by_date(self) -> sa.ColumnElement[bool]:
        """Active contracts whose term ended since the window began (no row was written for it;
        a day early rather than a day late)."""
        since_day = clock.to_civil(self.since).date()
        return sa.and_(Contract.status == "active", Contract.end_date < self.today,
                       Contract.end_date >= since_day - timedelta(days=1))

    def ended(self) -> sa.ColumnElement[bool]:
        """The team's contracts that ended in the window."""
        return sa.and_(Contract.team_id == self.team.id, sa.not_(self.live),
                       sa.or_(self.changed(Contract.updated_at), self.expired_by_date()))


# One page of each phase: (id, model row) in id order, at most ``limit``

def _page(statement: sa.Select, model, after: str, limit: int, rows: bool = False) -> list:
    if after:
        statement = statement.where(model.id > after)
    statement = statement.order_by(model.id).limit(limit)
    return db.session.execute(statement).all() if rows else list(db.session.scalars(statement))


def _residents(w: Window, after: str, limit: int) -> list:
    return _page(sa.select(Resident).where(w.in_scope, w.candidates(Resident)), Resident, after, limit)


def _owned(model):
    """A kind that belongs to a resident and is shown from its own columns: read as rows (their
    columns are attributes, as the view builders read them), without the ORM's work per object."""
    def rows(w: Window, after: str, limit: int) -> list:
        return _page(sa.select(*model.__table__.columns).join(Resident, Resident.id == model.resident_id)
                     .where(w.in_scope, w.candidates(model)), model, after, limit, rows=True)
    return rows


def _contracts(w: Window, after: str, limit: int) -> list:
    # A contract's view shows its packages, not the items owed (read by the fulfilment endpoints).
    return _page(sa.select(Contract).options(orm.lazyload(Contract.items))
                 .join(Resident, Resident.id == Contract.resident_id)
                 .where(Contract.team_id == w.team.id, w.live, w.in_scope, w.candidates(Contract)),
                 Contract, after, limit)


def _removed_contracts(w: Window, after: str, limit: int) -> list:
    return _page(sa.select(Contract.id, Contract.status).where(w.ended()), Contract, after, limit, rows=True)


def _removed_residents(w: Window, after: str, limit: int) -> list:
    """Residents out of the scope now who may have been in it when the window began: moved out
    of the area, confirmed moved away or dead (if ever tied to the team), or whose contract with
    the team ended. A client ignores the removal of a resident it does not hold."""
    moved_out = sa.select(ResidentMove.resident_id).where(
        ResidentMove.moved_at > w.since, w.in_area(ResidentMove.from_region))
    resident, contract = orm.aliased(Resident), orm.aliased(Contract)  # of the call, not of the outer rows
    tied = sa.or_(Call.team_id == w.team.id,
                  sa.exists().where(resident.id == Call.resident_id, w.in_area(resident.region_code)),
                  sa.exists().where(contract.resident_id == Call.resident_id, contract.team_id == w.team.id))
    left = sa.select(Call.resident_id).where(Call.confirmation == "confirmed", Call.outcome.in_(LEAVING),
                                             w.changed(Call.updated_at), tied)
    ended = sa.select(Contract.resident_id).where(w.ended())
    statement = sa.select(Resident.id).where(Resident.id.in_(sa.union(moved_out, left, ended)), ~w.in_scope)
    if after:
        statement = statement.where(Resident.id > after)
    ids = list(db.session.scalars(statement.order_by(Resident.id).limit(limit)))
    if not ids:
        return []
    reasons = dict.fromkeys(ids, "contract_ended")
    for resident_id in db.session.scalars(moved_out.where(ResidentMove.resident_id.in_(ids))):
        reasons[resident_id] = "moved_out"
    for resident_id, outcome in db.session.execute(sa.select(Call.resident_id, Call.outcome).where(
            Call.resident_id.in_(ids), Call.confirmation == "confirmed", Call.outcome.in_(LEAVING))):
        reasons[resident_id] = outcome
    return [_Removal(id_, reasons[id_]) for id_ in ids]


@dataclass(frozen=True)
class _Removal:
    id: str
    reason: str


FETCH = {
    "resident": _residents,
    "condition": _owned(Condition),
    "follow_up": _owned(FollowUp),
    "contract": _contracts,
    "service": _owned(ServiceDelivery),
    "call": _owned(Call),
    "removed_contract": _removed_contracts,
    "removed_resident": _removed_residents,
}


# Each kind shown as the GET endpoints show it, built for the whole page at once

def _resident_data(residents: list[Resident]) -> list[dict]:
    views = resident_views(residents)
    history: dict[str, list[dict]] = {r.id: [] for r in residents}
    for tag in db.session.scalars(sa.select(ResidentGroup).where(ResidentGroup.resident_id.in_(list(history)))
                                  .order_by(ResidentGroup.set_on, ResidentGroup.group)):
        history[tag.resident_id].append({"group": tag.group, "set_on": tag.set_on, "removed_on": tag.removed_on})
    for view in views:
        view["group_history"] = history[view["id"]]
    return _dump_residents(views)


# Each kind's response schema, compiled (dump.py): the same output as its GET endpoint's dump.
_dump_residents = dumper(ResidentDetailSchema)
_dump_conditions = dumper(ConditionSchema)
_dump_follow_ups = dumper(FollowUpSchema)
_dump_contracts = dumper(ContractSchema)
_dump_services = dumper(DeliverySchema)
_dump_calls = dumper(CallSchema)

VIEWS = {
    "resident": _resident_data,
    "condition": _dump_conditions,
    "follow_up": lambda rows: _dump_follow_ups(follow_up_views(rows)),
    "contract": lambda rows: _dump_contracts(contract_views(rows)),
    "service": _dump_services,
    "call": lambda rows: _dump_calls([call_view(c) for c in rows]),
}

_REMOVED_CONTRACT_REASONS = ("rejected", "cancelled", "terminated", "expired")


def _civil(moment: datetime) -> str:
    return clock.to_civil(moment).isoformat()


# The page

def ensure_member(principal: Principal, team: Team) -> None:
    """Only the team's own members sync its scope (an administrator reads it through the lists
    that log each read)."""
    if principal.kind != "staff" or team.id not in principal.team_ids:
        raise Forbidden("只有本团队成员可以同步本团队的数据")


def sync_page(principal: Principal, team_id: str, cursor_text: str | None, limit: int, action: str) -> dict:
    # The team's service area is all the page needs of it (its members are in the principal).
    team = db.session.get(Team, team_id, options=[orm.lazyload(Team.members), orm.lazyload(Team.packages),
                                                 orm.lazyload(Team.institution)])
    if team is None:
        raise NotFound("团队不存在")
    ensure_member(principal, team)
    cursor = decode(cursor_text, team.id) if cursor_text else Cursor(None, None)
    now = clock.utcnow()
    if cursor.upto is None:
        cursor = replace(cursor, upto=now, phase=0, after="")
    window = Window(team, cursor, clock.today())
    phases = PHASES if cursor.since is not None else KINDS
    changes: list[dict] = []
    removals: list[dict] = []
    resident_ids: list[str] = []
    loaded: list = []  # the page's ORM objects (the other kinds are read as rows)
    phase, after, room = cursor.phase, cursor.after, limit
    while phase < len(phases) and room > 0:
        kind = phases[phase]
        rows = FETCH[kind](window, after, room)
        if kind in ("resident", "contract"):
            loaded += rows
        if kind in KINDS:
            for row, data in zip(rows, VIEWS[kind](rows)):
                changes.append({"kind": kind, "id": row.id, "updated_at": _civil(row.updated_at), "data": data})
                resident_ids.append(row.id if kind == "resident" else row.resident_id)
        elif kind == "removed_contract":
            removals += [{"kind": "contract", "id": c.id, "reason": _contract_end(c, window.today)} for c in rows]
        else:
            removals += [{"kind": "resident", "id": r.id, "reason": r.reason} for r in rows]
        if len(rows) == room:
            after, room = rows[-1].id, 0
        else:
            phase, after, room = phase + 1, "", room - len(rows)
    has_more = phase < len(phases)
    following = replace(cursor, phase=phase, after=after) if has_more else Cursor(cursor.upto - REWIND, None)
    team_id = team.id
    # The page is built: its objects need not be expired by the access log's commit, one by one.
    for row in loaded:
        if row in db.session:
            db.session.expunge(row)
    # The residents' data leaves only once its reads are logged (committed).
    record_access(principal, resident_ids, action)
    return {"team_id": team_id, "changes": changes, "removals": removals, "cursor": encode(team_id, following),
            "has_more": has_more, "server_time": _civil(now)}


def _contract_end(contract, today: date) -> str:
    if contract.status in _REMOVED_CONTRACT_REASONS:
        return contract.status
    return "expired"  # active, its term over: it reads expired before the nightly job records it
