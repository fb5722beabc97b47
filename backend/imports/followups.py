"""Importing the history of follow-up visits (高血压/2型糖尿病患者随访服务记录表).

The columns are those of the national form a provincial system exports; the visit's
classification (此次随访分类), the referral flags and the next visit's date are not imported but
computed, by the rules the API applies. A row is checked by the API's own schema and the
service's checks of a visit's readings, and written by the same service function as
``POST /residents/{id}/follow-ups``: classified against the visit before it (a back-dated row
too), the condition's next due date and its reminders set as for a visit entered by hand.

The natural key is the resident, the disease and the day: a visit of that day on file (imported
or entered) is counted as on file. Imported visits get an id derived from that key, so that two
runs of one file at once still store each visit once. The service stores one visit per
transaction: a file of a county's visits takes one commit per new row.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from marshmallow import ValidationError

from backend.errors import ValidationFailed, translate_messages
from backend.extensions import db
from backend.followups import rules
from backend.followups import service as followups
from backend.followups.models import Condition, FollowUp
from backend.followups.schemas import FollowUpCreateSchema
from backend.imports.columns import (
    ADHERENCE_CODES, COMPLICATION_CODES, DISEASE_CODES, FOLLOW_UPS, HYPOGLYCEMIA_CODES, LIST_SEPARATORS,
    METHOD_CODES, SYMPTOM_CODES, YES_NO,
)
from backend.imports.records import RecordImporter, parse_code, parse_date
from backend.imports.runner import (
    Row, Written, errors_as_problems, importing, number_of, split_list, text_of, write_through,
)

_SCHEMA = FollowUpCreateSchema()
# Imported visits' ids: uuid5 of (resident, disease, day) in this namespace.
_IDS = uuid.UUID("5d0b6a4e-3f0e-4c55-9a7e-6f1b2d9c8e21")
NOT_REGISTERED = "该居民未登记此慢病，请先导入慢病登记"
_NUMBERS = ("sbp", "dbp", "weight_kg", "target_weight_kg", "height_cm", "heart_rate", "fasting_glucose", "hba1c")
_TEXTS = ("symptoms_other", "adverse_reaction_detail", "notes")


def visit_id(resident_id: str, disease: str, visited_on) -> str:
    return str(uuid.uuid5(_IDS, f"{resident_id}/{disease}/{visited_on.isoformat()}"))


class FollowUpImporter(RecordImporter):
    kind = "follow-ups"
    columns = FOLLOW_UPS
    duplicate = ("visited_on", "与本文件前面的行重复（同一居民、同一疾病、同一随访日期）")

    def _body(self, row: Row, problems: list) -> dict:
        """The row as the JSON body of POST /follow-ups: codes for words, numbers for numbers."""
        header = {c.field: c.header for c in self.columns}
        body: dict = {
            "disease": parse_code(row, "疾病", "disease", DISEASE_CODES, rules.DISEASES, problems),
            "method": parse_code(row, "随访方式", "method", METHOD_CODES, rules.METHODS, problems),
            "medication_adherence": parse_code(row, "服药依从性", "medication_adherence", ADHERENCE_CODES,
                                               rules.ADHERENCE, problems),
            "complication": parse_code(row, "并发症", "complication", COMPLICATION_CODES, rules.COMPLICATIONS,
                                       problems),
            "hypoglycemia": parse_code(row, "低血糖反应", "hypoglycemia", HYPOGLYCEMIA_CODES, rules.HYPOGLYCEMIA,
                                       problems),
        }
        adverse = text_of(row.values.get("药物不良反应"))
        if adverse is not None:
            if adverse in YES_NO:
                body["adverse_reaction"] = YES_NO[adverse]
            else:
                problems.append(("adverse_reaction", "药物不良反应应为“有”或“无”"))
        symptoms = []
        for word in split_list(row.values.get("症状"), LIST_SEPARATORS):
            code = SYMPTOM_CODES.get(word, word if word in rules.SYMPTOMS else None)
            if code is None:
                problems.append(("symptoms", f"未知的症状：{word}"))
            elif code not in symptoms:
                symptoms.append(code)
        body["symptoms"] = symptoms
        for name in ("visited_on", "hba1c_on"):
            day = parse_date(row, header[name], name, problems)
            body[name] = day.isoformat() if day else None
        for name in _NUMBERS:
            body[name] = number_of(row.values.get(header[name]))
        for name in _TEXTS:
            body[name] = text_of(row.values.get(header[name]))
        # An empty cell is a field not sent: the schema's defaults apply.
        return {name: value for name, value in body.items() if value is not None}

    def check(self, rows: list[Row]) -> None:
        residents = self.residents_of(rows)
        conditions = {(c.resident_id, c.disease): c.diagnosed_on for c in db.session.execute(
            sa.select(Condition.resident_id, Condition.disease, Condition.diagnosed_on)
            .where(Condition.resident_id.in_({r.id for r in residents.values()}),
                   Condition.deregistered_on.is_(None)))} if residents else {}
        for row in rows:
            problems = row.problems
            body = self._body(row, problems)
            resident = residents.get(row.number)
            if problems or resident is None:
                continue
            try:
                data = _SCHEMA.load(body)
            except ValidationError as error:
                problems += errors_as_problems(translate_messages(error.messages))
                continue
            try:
                followups._check_readings(data, resident)  # the API's checks of a visit, every failure at once
            except ValidationFailed as error:
                problems += errors_as_problems(error.errors)
                continue
            diagnosed_on = conditions.get((resident.id, data["disease"]))
            if diagnosed_on is None:
                problems.append(("disease", NOT_REGISTERED))
            elif data["visited_on"] < diagnosed_on:
                problems.append(("visited_on", f"随访日期不能早于确诊日期（{diagnosed_on}）"))
            if not problems:
                row.checked = (resident.id, data)
                row.key = (resident.id, data["disease"], data["visited_on"])

    def write(self, rows: list[Row], dry_run: bool) -> Written:
        written = Written()
        if not rows:
            return written
        on_file = set(db.session.execute(
            sa.select(FollowUp.resident_id, FollowUp.disease, FollowUp.visited_on)
            .where(FollowUp.resident_id.in_({row.checked[0] for row in rows}))).all())
        for row in rows:
            resident_id, data = row.checked
            if row.key in on_file:
                written.already_on_file += 1
                continue
            if dry_run:
                written.imported += 1
                continue
            write_through(written, row, lambda: followups.record_follow_up(
                self.principal, resident_id, {**data, "id": visit_id(*row.key)}))
        if dry_run:
            db.session.rollback()
        return written


import_follow_ups = importing(FollowUpImporter)
