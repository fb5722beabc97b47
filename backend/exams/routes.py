"""Annual health checks (健康体检表)."""
from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.principal import current_principal, require
from backend.common import page_of, paginate
from backend.exams import schemas as s
from backend.exams import service
from backend.residents import scope
from backend.security.audit import current_action

blp = Blueprint("exams", __name__, description="年度健康体检（健康体检表）")

ANYONE = ("staff", "account")


@blp.route("/residents/<string:resident_id>/health-checks", methods=["POST"])
@require("doctor")
@blp.arguments(s.HealthCheckCreateSchema)
@blp.response(201, s.HealthCheckSchema)
@blp.alt_response(200, schema=s.HealthCheckSchema, description="同一 id、同一内容的重发：原记录")
@blp.alt_response(409, description="同一 id、不同内容（id_conflict）")
def record_health_check(data, resident_id):
    """录入一次健康体检（健康体检表）；计入签约的健康体检服务项目"""
    check, created = service.record_health_check(current_principal(), resident_id, data)
    return service.check_views([check])[0], 201 if created else 200


@blp.route("/residents/<string:resident_id>/health-checks", methods=["GET"])
@require(kinds=ANYONE)
@blp.arguments(s.HealthCheckQuerySchema, location="query")
@blp.response(200, page_of(s.HealthCheckSchema))
def list_health_checks(args, resident_id):
    """居民的健康体检记录，最近的在前"""
    resident = scope.read_resident(current_principal(), resident_id, current_action())
    page = paginate(service.health_checks_of(resident.id), args["page"], args["page_size"])
    page["items"] = service.check_views(page["items"])
    return page
