"""The resident's health record, as JSON and as a FHIR R4 Bundle."""
from __future__ import annotations

import json

from flask import Response
from flask_smorest import Blueprint

from backend import clock
from backend.auth.principal import current_principal, require
from backend.records import fhir
from backend.records.schemas import HealthRecordSchema
from backend.records.service import health_record
from backend.security.audit import current_action

blp = Blueprint("records", __name__, description="健康档案（本人、家属与服务范围内的医务人员）")

ANYONE = ("staff", "account")


@blp.route("/residents/<string:resident_id>/health-record")
@require(kinds=ANYONE)
@blp.response(200, HealthRecordSchema)
def read_record(resident_id):
    """健康档案：基本信息、重点人群、签约与团队、慢病、随访、下次随访"""
    return health_record(current_principal(), resident_id, current_action())


@blp.route("/residents/<string:resident_id>/health-record/fhir")
@require(kinds=ANYONE)
@blp.response(200, content_type="application/fhir+json",
              description="FHIR R4 Bundle（collection）：Patient、Condition、Observation、Appointment")
def read_record_fhir(resident_id):
    """健康档案的 FHIR R4 Bundle"""
    record = health_record(current_principal(), resident_id, current_action())
    body = fhir.bundle(record, clock.now().isoformat())
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/fhir+json",
                    content_type="application/fhir+json; charset=utf-8")
