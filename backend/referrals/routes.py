"""Referrals made at a follow-up, received and answered by the receiving institution."""
from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.principal import current_principal, require
from backend.common import page_of
from backend.referrals import schemas as s
from backend.referrals import service
from backend.security.audit import current_action

blp = Blueprint("referrals", __name__, description="转诊：转出、接收、回转结果")


@blp.route("/referrals")
@require()
@blp.arguments(s.ReferralQuerySchema, location="query")
@blp.response(200, page_of(s.ReferralSchema))
def list_referrals(args):
    """转诊清单：团队转出的（team）、我转出的（mine）或转入本机构的（incoming），紧急的在前，其次等待最久的"""
    return service.referrals_page(current_principal(), args, current_action())


@blp.route("/referrals/<string:referral_id>")
@require()
@blp.response(200, s.ReferralSchema)
def read_referral(referral_id):
    """一条转诊：转出团队、转诊医生和接收机构的工作人员可见"""
    return service.read_referral(current_principal(), referral_id, current_action())


@blp.route("/referrals/<string:referral_id>/receive", methods=["POST"])
@require()
@blp.arguments(s.ReceiveSchema)
@blp.response(200, s.ReferralSchema)
@blp.alt_response(409, description="不是待接诊状态（invalid_transition）")
def receive_referral(data, referral_id):
    """接诊（referred → received），由接收机构的工作人员登记"""
    return service.receive(current_principal(), referral_id, data, current_action())


@blp.route("/referrals/<string:referral_id>/result", methods=["POST"])
@require()
@blp.arguments(s.ResultSchema)
@blp.response(200, s.ReferralSchema)
@blp.alt_response(409, description="已回转（invalid_transition）")
def record_result(data, referral_id):
    """回转结果（referred|received → returned），由接收机构登记；机构不在本系统目录中的，由转出团队据纸质回转单登记"""
    return service.record_result(current_principal(), referral_id, data, current_action())
