"""Residents: the staff side (/residents) and the mini program's own (/me/residents)."""
from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from backend.auth.principal import current_principal, require
from backend.common import PageArgs, page_of, paginate
from backend.errors import Conflict
from backend.residents import schemas as s
from backend.residents import scope, service
from backend.security.audit import current_action, record_access
from backend.security.models import AccessLog

blp = Blueprint("residents", __name__, description="居民档案（医务人员）与访问记录")
own = Blueprint("my_residents", __name__, description="小程序：本人与家庭成员")

STAFF = ("doctor", "institution_admin", "county_admin")


def _view(resident, relation=None):
    relations = None if relation is None else {resident.id: relation}
    return service.resident_views([resident], relations)[0]


@blp.route("/residents", methods=["POST"])
@require(*STAFF)
@blp.arguments(s.ResidentCreateSchema)
@blp.response(201, s.ResidentSchema)
@blp.alt_response(409, description="身份证号已建档（resident_exists）")
def create_resident(data):
    """建档：登记一位居民"""
    return _view(service.create_resident(current_principal(), data))


@blp.route("/residents", methods=["GET"])
@require(*STAFF)
@blp.arguments(s.ResidentQuerySchema, location="query")
@blp.response(200, page_of(s.ResidentSchema))
def list_residents(args):
    """服务范围内的居民（按姓名、完整身份证号或手机号查找）"""
    principal = current_principal()
    statement = service.search(principal, args.get("q"), args.get("region_code"), args.get("group"))
    page = paginate(statement, args["page"], args["page_size"])
    shown = page["items"]
    page["items"] = service.resident_views(page["items"])
    record_access(principal, [r.id for r in shown], current_action())
    return page


@blp.route("/residents/<string:resident_id>", methods=["GET"])
@require(kinds=("staff", "account"))
@blp.response(200, s.ResidentDetailSchema)
def get_resident(resident_id):
    """居民详情（已绑定的账号或服务范围内的医务人员）"""
    principal = current_principal()
    resident = scope.read_resident(principal, resident_id, current_action())
    return service.resident_detail(resident)


@blp.route("/residents/<string:resident_id>", methods=["PATCH"])
@require(*STAFF)
@blp.arguments(s.ResidentPatchSchema)
@blp.response(200, s.ResidentSchema)
def update_resident(data, resident_id):
    """修改居民：手工标记的重点人群、住址、电话、所在村"""
    principal = current_principal()
    resident = service.update_resident(principal, resident_id, data)
    record_access(principal, [resident.id], current_action())
    return _view(resident)


@blp.route("/residents/<string:resident_id>/dial", methods=["POST"])
@require("doctor")
@blp.response(200, s.DialSchema)
@blp.alt_response(409, description="没有登记电话（no_phone）")
def dial(resident_id):
    """拨打居民电话：服务范围内的医务人员点“拨打”时取一次完整号码（tel: 链接），不缓存、不列出；
    每次取号都记入该居民的访问记录"""
    principal = current_principal()
    resident = scope.read_resident(principal, resident_id, current_action())
    if not resident.phone:
        raise Conflict("该居民没有登记电话", code="no_phone")
    return {"tel": f"tel:{resident.phone}", "phone": resident.phone_shown, "phone_wrong": resident.phone_wrong}


@blp.route("/residents/<string:resident_id>/access-log", methods=["GET"])
@require(kinds=("staff", "account"))
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(s.AccessLogEntrySchema))
def access_log(args, resident_id):
    """谁在何时通过哪个接口查看了该居民的信息（含本人）"""
    resident = scope.visible_resident(current_principal(), resident_id)
    statement = sa.select(AccessLog).where(AccessLog.resident_id == resident.id) \
        .order_by(AccessLog.at.desc(), AccessLog.id)
    page = paginate(statement, args["page"], args["page_size"])
    page["items"] = [
        {"at": e.at, "action": e.action,
         "actor": {"kind": e.actor_kind, "name": e.actor_name, "institution": e.actor_institution}}
        for e in page["items"]
    ]
    return page


@own.route("/me/residents", methods=["POST"])
@require(kinds=("account",))
@own.arguments(s.BindSchema)
@own.response(201, s.BoundResidentSchema)
@own.alt_response(409, description="已绑定（already_bound）或已达8人（binding_limit_reached）")
@own.alt_response(422, description="身份信息与档案不符（identity_mismatch）或数据有误（validation_error）")
def bind_resident(data):
    """绑定本人或家庭成员"""
    resident, relation = service.bind(current_principal().id, data)
    return _view(resident, relation)


@own.route("/me/residents/<string:resident_id>", methods=["PATCH"])
@require(kinds=("account",))
@own.arguments(s.OwnResidentPatchSchema)
@own.response(200, s.BoundResidentSchema)
def update_own_resident(data, resident_id):
    """修改已绑定居民的联系方式和所在村（签约前选择村）"""
    binding = service.update_own(current_principal().id, resident_id, data)
    return _view(binding.resident, binding.relation)


@own.route("/me/residents/<string:resident_id>", methods=["DELETE"])
@require(kinds=("account",))
@own.response(204)
def unbind_resident(resident_id):
    """解除绑定"""
    service.unbind(current_principal().id, resident_id)


