"""The resident's health record (健康档案), assembled from every domain that holds a part of it."""
from __future__ import annotations


from backend import clock
from backend.auth.principal import Principal
from backend.contracts.service import current_contract
from backend.contracts.views import contract_views
from backend.directory.service import get_team, team_views
from backend.exams import service as exams
from backend.extensions import db
from backend.followups import service as followups
from backend.fulfilment import service as fulfilment
from backend.residents import scope
from backend.residents.service import resident_views

RECENT_FOLLOW_UPS = 50
RECENT_HEALTH_CHECKS = 10


def health_record(principal: Principal, resident_id: str, action: str) -> dict:
    """The record, after the read is written to the access log."""
    resident = scope.read_resident(principal, resident_id, action)
    today = clock.today()
    view = resident_views([resident])[0]
    contract = current_contract(resident.id, today)
    # The team first: its members are the usual signers of the visits and checks below, and
    # their names are then taken from it.
    team = get_team(contract.team_id) if contract else None
    conditions = followups.conditions_of(resident.id)
    follow_ups = followups.follow_up_views(
        list(db.session.scalars(followups.follow_ups_of(resident.id).limit(RECENT_FOLLOW_UPS))))
    return {
        "resident": view,
        "groups": view["groups"],
        "contract": contract_views([contract])[0] if contract else None,
        "team": team_views([team], detail=True)[0] if team else None,
        "conditions": conditions,
        "follow_ups": follow_ups,
        "exams": exams.check_views(exams.recent_health_checks(resident.id, RECENT_HEALTH_CHECKS)),
        "next_follow_ups": followups.next_follow_ups(conditions, today),
        "fulfilment": fulfilment.fulfilment_on(contract, today),
        "services": list(db.session.scalars(fulfilment.deliveries_of(resident.id).limit(RECENT_FOLLOW_UPS))),
        "calls": [fulfilment.call_view(c) for c in fulfilment.calls_of(resident.id)],
    }


