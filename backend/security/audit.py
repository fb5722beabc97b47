"""The access log: written, and committed, before personal data leaves the server."""
from __future__ import annotations

import logging
import re
from typing import Iterable, NoReturn

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from backend import clock
from backend.auth.principal import Principal
from backend.errors import ServiceUnavailable
from backend.extensions import db, new_id, on_postgresql
from backend.security.models import AccessLog
from backend.unit_of_work import commit

log = logging.getLogger("jiayi.audit")


def record_access(principal: Principal, resident_ids: Iterable[str], action: str) -> None:
    """Log one read per resident; if the log cannot be written, the read fails."""
    ids = list(dict.fromkeys(resident_ids))
    if not ids:
        return
    try:
        _insert(ids, _actor(principal, action))
        # What the read loaded stays loaded: it was read in this transaction a moment ago, and
        # reading it back after the log's commit would only repeat the statement.
        commit(keep_loaded=True)
    except SQLAlchemyError as error:
        _refuse(error)


def _actor(principal: Principal, action: str) -> dict:
    """The values every log row of one read shares."""
    return {"at": clock.utcnow(), "actor_kind": principal.kind, "actor_id": principal.id,
            "actor_name": principal.name[:50], "actor_institution": principal.institution_name, "action": action}


def _refuse(error: SQLAlchemyError) -> NoReturn:
    db.session.rollback()
    log.error("access log not written (%s); read refused", type(error).__name__)
    raise ServiceUnavailable("访问记录无法写入，暂不能查看", code="access_log_unavailable") from None


# PostgreSQL takes a list's rows as two arrays in one statement; elsewhere, one row per execution.
_INSERT_UNNESTED = sa.text(
    "INSERT INTO access_logs (id, resident_id, at, actor_kind, actor_id, actor_name, actor_institution, action) "
    "SELECT id, resident_id, :at, :actor_kind, :actor_id, :actor_name, :actor_institution, :action "
    "FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:resident_ids AS VARCHAR[])) AS rows (id, resident_id)"
).bindparams(sa.bindparam("at", type_=AccessLog.__table__.c.at.type))


def _insert(resident_ids: list[str], actor: dict) -> None:
    ids = [new_id() for _ in resident_ids]
    if on_postgresql():
        db.session.execute(_INSERT_UNNESTED, {**actor, "ids": ids, "resident_ids": resident_ids})
    else:
        db.session.execute(sa.insert(AccessLog.__table__), [
            {**actor, "id": id_, "resident_id": resident_id} for id_, resident_id in zip(ids, resident_ids)])


def logging_reads(resident_ids: sa.ColumnElement) -> sa.CTE:
    """For PostgreSQL: the access log of a statement's own rows, to add to it (``add_cte``).

    ``resident_ids`` is a column of a CTE of that statement; one row is logged per resident in
    it, by the same statement that reads them, with the actor's values that ``logged_read``
    binds. Rows read and their log are one round trip and cannot part."""
    read = sa.select(resident_ids.label("resident_id")).distinct().subquery("read")
    table = AccessLog.__table__
    return sa.insert(table).from_select(
        ["id", "resident_id", "at", "actor_kind", "actor_id", "actor_name", "actor_institution", "action"],
        sa.select(sa.cast(sa.func.gen_random_uuid(), sa.String), read.c.resident_id,
                  sa.bindparam("at", type_=table.c.at.type),
                  *(sa.bindparam(name, type_=table.c[name].type)
                    for name in ("actor_kind", "actor_id", "actor_name", "actor_institution", "action"))),
    ).cte("logged")


def logged_read(statement: sa.Select, params: dict, principal: Principal, action: str) -> list:
    """The rows of a statement that carries ``logging_reads``, committed with their log before
    they are returned; if the log cannot be written, the read fails."""
    try:
        # On the session's connection, as Core: the rows are columns, and the ORM has nothing to add.
        rows = db.session.connection().execute(statement, {**params, **_actor(principal, action)}).all()
        db.session.commit()
    except SQLAlchemyError as error:
        _refuse(error)
    return rows


def current_action() -> str:
    """The endpoint being served, as the contract writes it: "GET /api/v1/residents/{resident_id}"."""
    from flask import request

    rule = request.url_rule.rule if request.url_rule else request.path
    return f"{request.method} " + re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
