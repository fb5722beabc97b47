"""Records a client may send again (follow-ups, service deliveries): the client chooses the id,
and a fingerprint of the body tells a resend from a different record under the same id."""
from __future__ import annotations

import hashlib
import json
from typing import Callable

from sqlalchemy.exc import IntegrityError

from backend.errors import Conflict
from backend.extensions import db
from backend.unit_of_work import unit_of_work


def fingerprint(resident_id: str, data: dict) -> str:
    body = {k: v for k, v in data.items() if k != "id"}
    canonical = json.dumps({"resident_id": resident_id, **body}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_resend(model, record_id: str, body_hash: str, what: str):
    """The stored record when this is a resend of its body; 409 ``id_conflict`` when the id
    holds another body; None when the id is new."""
    stored = db.session.get(model, record_id)
    if stored is not None and stored.body_hash != body_hash:
        raise Conflict(f"该 id 已用于另一条{what}", code="id_conflict")
    return stored


def store_once(record, body_hash: str, what: str, then: Callable[[], None] | None = None) -> tuple[object, bool]:
    """Store ``record`` (and, in the same transaction once it is flushed, whatever ``then``
    writes); returns (record, created). When its id is stored already (a resend, or the same id
    twice at once), the stored record answers a resend of the same body; another body is a
    conflict."""
    try:
        with unit_of_work(keep_loaded=True) as session:
            session.add(record)
            if then is not None:
                session.flush()
                then()
    except IntegrityError:
        stored = stored_resend(type(record), record.id, body_hash, what)
        if stored is None:
            raise
        return stored, False
    return record, True
