"""Contract fulfilment (履约): service deliveries, each contract's fulfilment, the team's work
list, and call outcomes."""
from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from backend.auth.principal import current_principal, require
from backend.common import PageArgs, page_of, paginate
from backend.directory.models import Region
from backend.extensions import db
from backend.fulfilment import schemas as s
from backend.fulfilment import service
from backend.residents import scope
from backend.residents.models import Resident
from backend.security.audit import current_action, record_access

blp = Blueprint("fulfilment", __name__, description="履约：服务项目、履约进度、团队工作清单、电话随访结果")

ANYONE = ("staff", "account")


@blp.route("/residents/<string:resident_id>/services", methods=["POST"])
@require("doctor")
@blp.arguments(s.DeliveryCreateSchema)
@blp.response(201, s.DeliverySchema)
@blp.alt_response(200, schema=s.DeliverySchema, description="同一 id、同一内容的重发：原记录")
@blp.alt_response(409, description="同一 id、不同内容（id_conflict）")
def record_delivery(data, resident_id):
    """登记一次签约服务（随访项目由面对面随访自动计入，不在此登记）"""
    delivery, created = service.record_delivery(current_principal(), resident_id, data)
    return delivery, 201 if created else 200


@blp.route("/residents/<string:resident_id>/services", methods=["GET"])
@require(kinds=ANYONE)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(s.DeliverySchema))
def list_deliveries(args, resident_id):
    """居民已获得的签约服务，最近的在前"""
    resident = scope.read_resident(current_principal(), resident_id, current_action())
    return paginate(service.deliveries_of(resident.id), args["page"], args["page_size"])


@blp.route("/contracts/<string:contract_id>/fulfilment")
@require(kinds=ANYONE)
@blp.response(200, s.FulfilmentSchema)
@blp.alt_response(409, description="签约尚未生效（contract_not_started）")
def contract_fulfilment(contract_id):
    """签约履约进度：各服务项目应提供、已提供、剩余、截至今天应提供，及总体状态"""
    principal = current_principal()
    view = service.contract_fulfilment(principal, contract_id)
    record_access(principal, [view["resident_id"]], current_action())
    return view


@blp.route("/teams/<string:team_id>/fulfilment")
@require("doctor", "institution_admin")
@blp.arguments(s.WorkListQuerySchema, location="query")
@blp.response(200, page_of(s.WorkListItemSchema))
def team_work_list(args, team_id):
    """团队履约工作清单：履约落后的居民（落后多少），或60天内到期仍有未完成项目的签约"""
    principal = current_principal()
    page = service.team_work_list(principal, team_id, args["kind"], args["page"], args["page_size"])
    ids = [v["resident_id"] for v in page["items"]]
    rows = {r.id: r for r in db.session.execute(
        sa.select(Resident.id, Resident.name, Resident.phone_shown, Region.name.label("region"))
        .outerjoin(Region, Region.code == Resident.region_code).where(Resident.id.in_(ids)))}
    page["items"] = [{**v, "resident": {"id": v["resident_id"], "name": rows[v["resident_id"]].name,
                                        "phone": rows[v["resident_id"]].phone_shown,
                                        "region": rows[v["resident_id"]].region}}
                     for v in page["items"]]
    record_access(principal, ids, current_action())
    return page


@blp.route("/residents/<string:resident_id>/calls", methods=["POST"])
@require("doctor")
@blp.arguments(s.CallCreateSchema)
@blp.response(201, s.CallSchema)
@blp.alt_response(200, schema=s.CallSchema, description="同一 id、同一内容的重发：原记录")
@blp.alt_response(409, description="同一 id、不同内容（id_conflict）")
def record_call(data, resident_id):
    """记录一次电话结果：答应来诊（7天内移出电话清单）、拒绝、无人接听（留在清单）、号码错误（提示更正电话）、
    迁出或死亡（经确认后撤销慢病管理并解约）"""
    call, created = service.record_call(current_principal(), resident_id, data)
    return service.call_view(call), 201 if created else 200


@blp.route("/residents/<string:resident_id>/calls", methods=["GET"])
@require(kinds=ANYONE)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(s.CallSchema))
def list_calls(args, resident_id):
    """居民的电话记录，最近的在前"""
    resident = scope.read_resident(current_principal(), resident_id, current_action())
    page = paginate(service.calls_query(resident.id), args["page"], args["page_size"])
    page["items"] = [service.call_view(c) for c in page["items"]]
    return page


@blp.route("/residents/<string:resident_id>/calls/<string:call_id>/confirm", methods=["POST"])
@require("doctor")
@blp.arguments(s.CallConfirmSchema)
@blp.response(200, s.CallSchema)
@blp.alt_response(409, description="无需确认或已处理（invalid_transition）")
def confirm_call(data, resident_id, call_id):
    """确认（或撤回）迁出、死亡：确认后撤销该居民全部慢病管理，生效中的签约以此原因解约，待审核的签约取消"""
    return service.call_view(service.confirm_call(current_principal(), resident_id, call_id, data["confirm"]))
