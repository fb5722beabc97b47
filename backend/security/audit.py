"""The access log: written, and committed, before personal data leaves the server."""
from __future__ import annotations

import logging
import re
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from backend import clock
from backend.auth.principal import Principal
from backend.errors import ServiceUnavailable
from backend.extensions import db
from backend.security.models import AccessLog

log = logging.getLogger("jiayi.audit")


def record_access(principal: Principal, resident_ids: Iterable[str], action: str) -> None:
    """Log one read per resident; if the log cannot be written, the read fails."""
    ids = list(dict.fromkeys(resident_ids))
    if not ids:
        return
    at = clock.utcnow()
    try:
        db.session.execute(sa.insert(AccessLog), [
            {"resident_id": resident_id, "at": at, "actor_kind": principal.kind, "actor_id": principal.id,
             "actor_name": principal.name[:50], "actor_institution": principal.institution_name, "action": action}
            for resident_id in ids
        ])
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        log.error("access log not written (%s); read refused", type(error).__name__)
        raise ServiceUnavailable("访问记录无法写入，暂不能查看", code="access_log_unavailable") from None


def current_action() -> str:
    """The endpoint being served, as the contract writes it: "GET /api/v1/residents/{resident_id}"."""
    from flask import request

    rule = request.url_rule.rule if request.url_rule else request.path
    return f"{request.method} " + re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)
