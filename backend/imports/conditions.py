"""Importing the registered hypertension and type 2 diabetes patients (慢病管理登记).

A row is checked as ``POST /residents/{id}/conditions`` checks a registration (its schema, then
the service's dates against the resident's birth date and today) and written by the same
service function, so that an imported condition is scheduled (first visit due 14 days after
registration, reminders planned) as a registered one is. The natural key is the resident and the
disease: a resident already managed for it (or whose registration of that date was ended since)
is counted as on file.

The service writes one registration per transaction: a file of a county's patients takes one
commit per new row (a re-run, which only reads, is a query per batch).
"""
from __future__ import annotations


import sqlalchemy as sa
from marshmallow import ValidationError

from backend import clock
from backend.errors import translate_messages
from backend.extensions import db
from backend.followups import rules
from backend.followups import service as followups
from backend.followups.models import Condition
from backend.followups.schemas import ConditionCreateSchema
from backend.imports.columns import CONDITIONS, DISEASE_CODES
from backend.imports.records import RecordImporter, parse_code, parse_date
from backend.imports.runner import Row, Written, errors_as_problems, importing, write_through

_SCHEMA = ConditionCreateSchema()


class ConditionImporter(RecordImporter):
    kind = "conditions"
    columns = CONDITIONS
    duplicate = ("disease", "与本文件前面的行重复（同一居民、同一疾病）")

    def check(self, rows: list[Row]) -> None:
        residents = self.residents_of(rows)
        today = clock.today()
        for row in rows:
            problems = row.problems
            disease = parse_code(row, "疾病", "disease", DISEASE_CODES, rules.DISEASES, problems)
            diagnosed_on = parse_date(row, "确诊日期", "diagnosed_on", problems)
            registered_on = parse_date(row, "管理日期", "registered_on", problems)
            resident = residents.get(row.number)
            if problems or resident is None:
                continue
            try:
                data = _SCHEMA.load({"disease": disease, "diagnosed_on": diagnosed_on.isoformat(),
                                     "registered_on": registered_on.isoformat() if registered_on else None})
            except ValidationError as error:
                problems += errors_as_problems(translate_messages(error.messages))
                continue
            problems += errors_as_problems(followups.condition_date_errors(data, resident.birth_date, today))
            if not problems:
                row.checked = (resident.id, data)
                row.key = (resident.id, data["disease"])

    def write(self, rows: list[Row], dry_run: bool) -> Written:
        written = Written()
        if not rows:
            return written
        stored = db.session.execute(
            sa.select(Condition.resident_id, Condition.disease, Condition.registered_on, Condition.deregistered_on)
            .where(Condition.resident_id.in_({resident_id for resident_id, _ in (r.checked for r in rows)}))).all()
        active = {(c.resident_id, c.disease) for c in stored if c.deregistered_on is None}
        ended = {(c.resident_id, c.disease, c.registered_on) for c in stored if c.deregistered_on is not None}
        today = clock.today()
        for row in rows:
            resident_id, data = row.checked
            key = (resident_id, data["disease"])
            if key in active or (*key, data.get("registered_on") or today) in ended:
                written.already_on_file += 1
                continue
            if dry_run:
                written.imported += 1
                continue
            write_through(written, row, lambda: (followups.register_condition(self.principal, resident_id, data), True))
        if dry_run:
            db.session.rollback()
        return written


import_conditions = importing(ConditionImporter)
