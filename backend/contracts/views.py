"""How a contract is shown: effective status, team, priced packages, and the resident (masked)."""
from __future__ import annotations

import sqlalchemy as sa

from backend import clock
from backend.common import names_of
from backend.contracts import rules
from backend.contracts.models import Contract
from backend.directory.models import Team
from backend.extensions import db
from backend.residents.models import Resident
from backend.residents.service import resident_views


def contract_views(contracts: list[Contract], with_residents: bool = False) -> list[dict]:
    today = clock.today()
    teams = names_of(Team, {c.team_id for c in contracts})
    residents = {}
    if with_residents:
        people = list(db.session.scalars(sa.select(Resident).where(Resident.id.in_({c.resident_id for c in contracts}))))
        residents = {v["id"]: v for v in resident_views(people)}
    views = []
    for c in contracts:
        view = {
            "id": c.id, "status": rules.effective_status(c.status, c.end_date, today),
            "resident_id": c.resident_id, "team_id": c.team_id,
            "team": {"id": c.team_id, "name": teams[c.team_id]},
            "doctor_id": c.doctor_id, "package_codes": c.package_codes,
            "packages": [
                {"code": p.package_code, "name": p.name, "kind": p.kind, "price_fen": p.price_fen,
                 "funding": p.funding}
                for p in c.packages
            ],
            "price_fen": c.price_fen,
            "funding": c.funding,
            "start_date": c.start_date, "end_date": c.end_date, "renewal_of": c.renewal_of,
            "reason": c.reason, "ended_on": c.ended_on, "created_at": c.created_at,
        }
        if with_residents:
            view["resident"] = residents[c.resident_id]
        views.append(view)
    return views
