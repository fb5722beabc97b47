"""Contract endpoints: sign-up, decisions, renewal, the resident's history and the team's list."""
from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.principal import current_principal, require
from backend.common import PageArgs, page_from_list, page_of, paginate
from backend.contracts import service
from backend.contracts import schemas as s
from backend.contracts.models import Contract
from backend.contracts.views import contract_views
from backend.security.audit import current_action, record_access

blp = Blueprint("contracts", __name__, description="签约：申请、审核、续约、解约")

ANYONE = ("staff", "account")


def _one(contract: Contract) -> dict:
    return contract_views([contract])[0]


@blp.route("/contracts", methods=["POST"])
@require(kinds=ANYONE)
@blp.arguments(s.ContractCreateSchema)
@blp.response(201, s.ContractSchema)
@blp.alt_response(409, description="已有签约（contract_exists）或团队已满（team_full）")
@blp.alt_response(422, description="团队不服务该地（team_out_of_area）、服务包不适用（package_not_eligible）或数据有误")
def sign_up(data):
    """申请签约（小程序为已绑定的居民申请，或团队成员现场办理）"""
    return _one(service.sign_up(current_principal(), data))


@blp.route("/contracts/<string:contract_id>/approve", methods=["POST"])
@require("doctor")
@blp.arguments(s.ApproveSchema)
@blp.response(200, s.ContractSchema)
def approve(data, contract_id):
    """审核通过：生效一年（开始日期默认今天）"""
    return _one(service.approve(current_principal(), contract_id, data.get("doctor_id"), data.get("start_date")))


@blp.route("/contracts/<string:contract_id>/reject", methods=["POST"])
@require("doctor")
@blp.arguments(s.ReasonSchema)
@blp.response(200, s.ContractSchema)
def reject(data, contract_id):
    """审核不通过"""
    return _one(service.reject(current_principal(), contract_id, data["reason"]))


@blp.route("/contracts/<string:contract_id>/cancel", methods=["POST"])
@require(kinds=("account",))
@blp.response(200, s.ContractSchema)
def cancel(contract_id):
    """居民撤回待审核的申请"""
    return _one(service.cancel(current_principal(), contract_id))


@blp.route("/contracts/<string:contract_id>/terminate", methods=["POST"])
@require(kinds=ANYONE)
@blp.arguments(s.ReasonSchema)
@blp.response(200, s.ContractSchema)
def terminate(data, contract_id):
    """解约（居民或团队成员，生效中的签约）"""
    return _one(service.terminate(current_principal(), contract_id, data["reason"]))


@blp.route("/contracts/<string:contract_id>/renew", methods=["POST"])
@require(kinds=ANYONE)
@blp.response(201, s.ContractSchema)
@blp.alt_response(409, description="不在续约期内（renewal_window_closed）")
def renew(contract_id):
    """续约：到期前60天至到期后90天内，生成同团队、同服务包的新申请"""
    return _one(service.renew(current_principal(), contract_id))


@blp.route("/residents/<string:resident_id>/contracts")
@require(kinds=ANYONE)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(s.ContractSchema))
def resident_contracts(args, resident_id):
    """居民的签约记录，最新的在前"""
    contracts = service.history(current_principal(), resident_id, current_action())
    return page_from_list(contract_views(contracts), args["page"], args["page_size"])


@blp.route("/teams/<string:team_id>/contracts")
@require("doctor", "institution_admin", "county_admin")
@blp.arguments(s.TeamContractQuerySchema, location="query")
@blp.response(200, page_of(s.ContractSchema))
def team_contracts(args, team_id):
    """团队的签约工作清单：待审核、生效中、30天内到期"""
    principal = current_principal()
    page = paginate(service.team_contracts(principal, team_id, args["status"]), args["page"], args["page_size"])
    shown = page["items"]
    page["items"] = contract_views(page["items"], with_residents=True)
    record_access(principal, [c.resident_id for c in shown], current_action())
    return page
