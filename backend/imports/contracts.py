"""Importing the contracts a county's teams have signed (家庭医生签约服务协议).

An imported contract is one the team approved: active from its start date for the one-year term
(expired already when that term has ended), priced and owing the services of its packages as a
contract signed through the API is. Each row is checked by the rules of sign-up and approval,
through the contract service's own checks: the team exists and still signs, serves the
resident's village, offers the packages and the resident is of each package's groups; the
doctor is a member of the team; the start is not before the signing nor more than 90 days after
it; the team's capacity; one live contract per resident.

The natural key is the resident and the start of the term: a contract of that resident starting
that day is counted as on file. The valid rows of a batch are written in one transaction.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend import clock
from backend.contracts import rules
from backend.contracts.models import Contract
from backend.contracts.service import _packages_for, _serves, owe_items, price_contract
from backend.directory.models import ServicePackage, Team
from backend.directory.service import capacity_of
from backend.errors import ValidationFailed
from backend.extensions import db
from backend.imports.columns import CONTRACTS, LIST_SEPARATORS
from backend.imports.records import RecordImporter, parse_date
from backend.imports.runner import Row, Written, errors_as_problems, importing, split_list, text_of
from backend.residents.groups import groups_of
from backend.residents.models import Resident
from backend.unit_of_work import unit_of_work

LIVE_ON_FILE = "该居民已有待审核或生效中的签约"
TEAM_FULL = "该团队签约人数已满"
# How long after signing a term may start: approval allows a start up to 90 days ahead.
LATEST_START_DAYS = 90


class ContractImporter(RecordImporter):
    kind = "contracts"
    columns = CONTRACTS
    duplicate = ("start_date", "与本文件前面的行重复（同一居民、同一开始日期）")

    def __init__(self, region_code: str | None, actor: str) -> None:
        super().__init__(region_code, actor)
        teams = list(db.session.scalars(sa.select(Team).order_by(Team.name)))
        self.teams_by_id = {t.id: t for t in teams}
        self.teams_by_name: dict[str, list[Team]] = {}
        for team in teams:
            self.teams_by_name.setdefault(team.name, []).append(team)
        # A package by its name as well as its code (the sign-up's check then says what is wrong).
        self.package_codes = dict(db.session.execute(sa.select(ServicePackage.name, ServicePackage.code)).all())

    def _team(self, row: Row, problems: list) -> Team | None:
        text = text_of(row.values.get("签约团队"))
        if text is None:
            return None
        if text in self.teams_by_id:
            return self.teams_by_id[text]
        named = self.teams_by_name.get(text, [])
        if len(named) == 1:
            return named[0]
        problems.append(("team", "团队不存在" if not named else "有多个同名团队，请填写团队 id"))
        return None

    def check(self, rows: list[Row]) -> None:
        on_file = self.residents_of(rows)
        residents = {r.id: r for r in db.session.scalars(
            sa.select(Resident).where(Resident.id.in_({r.id for r in on_file.values()})))} if on_file else {}
        today = clock.today()
        for row in rows:
            problems = row.problems
            packages = None
            team = self._team(row, problems)
            codes = []
            for word in split_list(row.values.get("服务包"), LIST_SEPARATORS):
                code = self.package_codes.get(word, word)
                if code not in codes:
                    codes.append(code)
            signed_on = parse_date(row, "签约日期", "signed_on", problems)
            start = parse_date(row, "开始日期", "start_date", problems) or signed_on
            if signed_on is not None and signed_on > today:
                problems.append(("signed_on", "签约日期不能晚于今天"))
            if signed_on is not None and start is not None:
                if start < signed_on:
                    problems.append(("start_date", f"不得早于签约日期（{signed_on}）"))
                elif start > signed_on + timedelta(days=LATEST_START_DAYS):
                    problems.append(("start_date", f"开始日期不得晚于签约后{LATEST_START_DAYS}天"))
            found = on_file.get(row.number)
            if team is None or found is None or not codes:
                continue
            resident = residents[found.id]
            if not team.active:
                problems.append(("team", "该团队已停止签约"))
            elif resident.region_code is None:
                problems.append(("id_number", "请先选择居民所在的村（社区）"))
            elif not _serves(team, resident.region_code):
                problems.append(("team", "该团队不服务居民所在的村（社区）"))
            else:
                try:  # the sign-up's own check of the packages (exist, offered, the resident's groups)
                    packages = _packages_for(team, codes, resident, today)
                except ValidationFailed as error:
                    problems += errors_as_problems(error.errors)
            doctor_id = None
            doctor = text_of(row.values.get("签约医生"))
            if doctor is not None:
                members = [m.staff_id for m in team.members if m.staff.name == doctor or m.staff_id == doctor]
                if len(members) != 1:
                    problems.append(("doctor", "不是该团队的成员" if not members else "团队中有同名成员，请填写其 id"))
                else:
                    doctor_id = members[0]
            if not problems:
                row.checked = {"resident": resident, "team": team, "packages": packages, "doctor_id": doctor_id,
                               "signed_on": signed_on, "start_date": start, "end_date": rules.end_date_for(start)}
                row.key = (resident.id, start)

    def write(self, rows: list[Row], dry_run: bool) -> Written:
        """One transaction for the batch's new contracts; a live one is refused when its resident
        already holds one, or its team is full."""
        if not rows:
            return Written()
        for attempt in (1, 2):
            result = Written()
            today = clock.today()
            resident_ids = {row.checked["resident"].id for row in rows}
            stored = db.session.execute(
                sa.select(Contract.resident_id, Contract.start_date, Contract.status, Contract.end_date)
                .where(Contract.resident_id.in_(resident_ids))).all()
            keys = {(c.resident_id, c.start_date) for c in stored}
            live = {c.resident_id for c in stored
                    if c.status == "pending" or (c.status == "active" and c.end_date >= today)}
            teams = {row.checked["team"].id: row.checked["team"] for row in rows}
            held = dict(db.session.execute(
                sa.select(Contract.team_id, sa.func.count(sa.distinct(Contract.resident_id)))
                .where(Contract.team_id.in_(teams), sa.or_(
                    Contract.status == "pending",
                    sa.and_(Contract.status == "active", Contract.end_date >= today)))
                .group_by(Contract.team_id)).all())
            new = []
            for row in rows:
                checked = row.checked
                resident, team = checked["resident"], checked["team"]
                if row.key in keys:
                    result.already_on_file += 1
                    continue
                if checked["end_date"] >= today:
                    if resident.id in live:
                        row.problems = [("id_number", LIVE_ON_FILE)]
                        result.refused.append(row)
                        continue
                    if held.get(team.id, 0) >= capacity_of(team):
                        row.problems = [("team", TEAM_FULL)]
                        result.refused.append(row)
                        continue
                    live.add(resident.id)
                    held[team.id] = held.get(team.id, 0) + 1
                keys.add(row.key)
                new.append(row)
            result.imported = len(new)
            if dry_run:
                db.session.rollback()
                return result
            # What each contract owes depends on its resident's groups today: read for the batch at once.
            groups = groups_of([row.checked["resident"] for row in new], today) if new else {}
            contracts = [self._contract(row, today, set(groups[row.checked["resident"].id])) for row in new]
            try:
                with unit_of_work() as session:
                    session.add_all(contracts)
            except IntegrityError:
                # A contract was signed meanwhile: read what is on file again, once.
                if attempt == 2:
                    raise
                continue
            for contract in contracts:
                db.session.expunge(contract)
            return result
        raise AssertionError("unreachable")

    def _contract(self, row: Row, today, groups: set[str]) -> Contract:
        checked = row.checked
        start, end = checked["start_date"], checked["end_date"]
        signed_at = datetime.combine(checked["signed_on"], time(9), tzinfo=clock.CIVIL_TZ)
        contract = Contract(
            resident_id=checked["resident"].id, team_id=checked["team"].id, doctor_id=checked["doctor_id"],
            status=rules.effective_status("active", end, today), start_date=start, end_date=end,
            ended_on=end if end < today else None, created_by_kind="import", created_by_id=self.actor[:36],
            decided_at=signed_at, created_at=signed_at)
        price_contract(contract, checked["packages"])
        owe_items(contract, checked["packages"], checked["resident"], today, groups)
        return contract


import_contracts = importing(ContractImporter)
