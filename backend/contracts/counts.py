"""The team card's count: how many residents a team holds contracts with in force today.

Counting it from the contracts reads the team's whole range of the contracts index (ten
thousand entries for a large team, the costliest statement of a resident's health record), so
it is kept per team and day in ``team_counts``:
- every flush that makes a contract active, or changes the status, term or team of one that
  was, counts its teams again in the same transaction (``_count_after_writes``), so no write
  through the models (the API, the imports, the demo) leaves a stale count behind;
- the nightly job counts every team for the new day (``count_teams_for``);
- a team without a count for today is counted from its contracts (``contracted_counts``).

On PostgreSQL a team is locked (``FOR NO KEY UPDATE`` on its row, which a sign-up's capacity
check holds already and a new contract's foreign key does not wait for) in a statement of its
own before it is counted: a second write of the same team waits for the first to commit, then
counts with what the first wrote. SQLite writes one at a time anyway.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend import clock
from backend.contracts.models import Contract, TeamCount
from backend.extensions import db, dialect_insert

_COUNTED_BY = ("status", "start_date", "end_date", "team_id")


def _contracted_by_team(day) -> sa.Select:
    """(team id, its residents with an active contract in force on ``day``), per team."""
    return (sa.select(Contract.team_id, sa.func.count(sa.distinct(Contract.resident_id)))
            .where(Contract.status == "active", Contract.start_date <= day, Contract.end_date >= day)
            .group_by(Contract.team_id))


# Built once (a statement built for each write costs more to key for the statement cache than
# to run).
_COUNT = _contracted_by_team(sa.bindparam("day")).where(
    Contract.team_id.in_(sa.bindparam("team_ids", expanding=True)))
_KEPT = sa.select(TeamCount.team_id, TeamCount.contracted).where(
    TeamCount.team_id.in_(sa.bindparam("team_ids", expanding=True)), TeamCount.counted_on == sa.bindparam("day"))
_LOCK_TEAMS = sa.text("SELECT count(*) FROM (SELECT id FROM teams WHERE id = ANY(CAST(:ids AS text[])) "
                      "ORDER BY id FOR NO KEY UPDATE) AS teams")


def contracted_counts(team_ids: list[str]) -> dict[str, int]:
    """Each team's contracted residents today: the count kept for today, else counted."""
    today = clock.today()
    counts = dict(db.session.execute(_KEPT, {"team_ids": team_ids, "day": today}).all())
    missing = [t for t in team_ids if t not in counts]
    if missing:
        counts.update(db.session.execute(_COUNT, {"team_ids": missing, "day": today}).all())
    return counts


def count_teams(connection: sa.Connection, team_ids: list[str], day: date) -> None:
    """Count ``team_ids`` for ``day`` and store it, in the connection's transaction."""
    team_ids = sorted(set(team_ids))
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_TEAMS, {"ids": team_ids})
    counts = dict(connection.execute(_COUNT, {"team_ids": team_ids, "day": day}).all())
    rows = [{"team_id": t, "counted_on": day, "contracted": counts.get(t, 0)} for t in team_ids]
    statement = dialect_insert(TeamCount)
    # A run back-dated to an earlier day (``run-job --now``) leaves today's count in place.
    connection.execute(statement.on_conflict_do_update(
        index_elements=["team_id"],
        set_={"counted_on": statement.excluded.counted_on, "contracted": statement.excluded.contracted},
        where=TeamCount.counted_on <= statement.excluded.counted_on), rows)


def count_all(day: date) -> sa.Insert:
    """Every team's count for ``day`` in one grouped statement, into an empty table: for a bulk
    load (bench/generate)."""
    return sa.insert(TeamCount).from_select(["team_id", "contracted", "counted_on"],
                                            _contracted_by_team(day).add_columns(sa.literal(day, sa.Date)))


def count_teams_for(day: date) -> int:
    """The nightly part: every team with active contracts not yet counted for ``day``, each in a
    transaction of its own so that no team stays locked for long. Returns how many."""
    counted_today = sa.select(TeamCount.team_id).where(TeamCount.counted_on == day)
    teams = db.session.scalars(
        sa.select(Contract.team_id).where(Contract.status == "active", Contract.team_id.not_in(counted_today))
        .distinct()).all()
    db.session.commit()
    for team_id in teams:
        count_teams(db.session.connection(), [team_id], day)
        db.session.commit()
    return len(teams)


def _teams_changed(session: Session) -> set[str]:
    """The teams of the contracts this flush made active, changed while or after being active,
    or removed; a contract that was never active (a pending sign-up, its rejection or
    withdrawal) counts for no team."""
    teams = {o.team_id for o in (*session.new, *session.deleted) if isinstance(o, Contract) and o.status == "active"}
    for o in session.dirty:
        if isinstance(o, Contract):
            attributes = sa.inspect(o).attrs
            statuses = {o.status, *(attributes["status"].history.deleted or ())}
            if "active" in statuses and any(attributes[name].history.has_changes() for name in _COUNTED_BY):
                teams.add(o.team_id)
                teams.update(attributes["team_id"].history.deleted or ())  # the team it left
    teams.discard(None)
    return teams


def _count_after_writes(session: Session, _context) -> None:
    teams = _teams_changed(session)
    if teams:
        count_teams(session.connection(), sorted(teams), clock.today())


def keep_team_counts() -> None:
    """Have every session keep the teams' counts after each flush that can change them (once,
    however many apps are made)."""
    if not sa.event.contains(Session, "after_flush", _count_after_writes):
        sa.event.listen(Session, "after_flush", _count_after_writes)
