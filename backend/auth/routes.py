"""Sign-in and the caller's own identity."""
from __future__ import annotations

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_smorest import Blueprint
from marshmallow import fields

from backend.auth import service
from backend.auth.principal import current_principal, issue_token, require
from backend.auth.schemas import StaffLoginSchema, StaffTokenSchema
from backend.common import Schema
from backend.extensions import limiter
from backend.residents import accounts
from backend.residents import service as residents
from backend.residents.schemas import AccountTokenSchema, BoundResidentSchema, WeChatLoginSchema

blp = Blueprint("auth", __name__, description="登录与当前用户")


class MeSchema(Schema):
    """A staff member (the staff fields), or an account (id and residents)."""

    id = fields.String(required=True)
    name = fields.String()
    title = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    institution_id = fields.String(allow_none=True)
    institution_name = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    team_ids = fields.List(fields.String())
    residents = fields.List(fields.Nested(BoundResidentSchema))


def _login_key() -> str:
    body = request.get_json(silent=True)
    username = body.get("username") if isinstance(body, dict) else None
    return f"staff-login:{get_remote_address()}:{str(username)[:64]}"


def _failed(response) -> bool:
    return response.status_code == 401


@blp.route("/auth/staff/login", methods=["POST"])
@limiter.limit(lambda: current_app.config["JIAYI"].login_rate_limit, key_func=_login_key, deduct_when=_failed)
@limiter.limit(lambda: current_app.config["JIAYI"].login_ip_rate_limit, deduct_when=_failed)
@blp.arguments(StaffLoginSchema)
@blp.response(200, StaffTokenSchema)
@blp.alt_response(401, description="用户名或密码错误（invalid_credentials）")
@blp.alt_response(429, description="失败次数过多（too_many_attempts）")
def staff_login(data):
    """医务人员与管理员登录"""
    staff = service.authenticate_staff(data["username"], data["password"])
    token = issue_token("staff", staff.id)
    return {**token, "staff": service.me_view(service.load_staff(staff.id))}


@blp.route("/auth/wechat/login", methods=["POST"])
@blp.arguments(WeChatLoginSchema)
@blp.response(200, AccountTokenSchema)
@blp.alt_response(401, description="微信拒绝了 code（wechat_code_invalid）")
@blp.alt_response(503, description="微信不可达或未配置（wechat_unavailable）")
def wechat_login(data):
    """小程序登录：用 wx.login 的 code 换取访问令牌"""
    account = accounts.wechat_login(data["code"])
    return {**issue_token("account", account.id), "account": _account_view(account.id)}


def _account_view(account_id: str) -> dict:
    bindings = residents.bound_residents(account_id)
    views = residents.resident_views([b.resident for b in bindings], {b.resident_id: b.relation for b in bindings})
    return {"id": account_id, "residents": views}


@blp.route("/me")
@require(kinds=("staff", "account"))
@blp.response(200, MeSchema)
def me():
    """当前登录者：医务人员信息，或小程序账号及其绑定的居民"""
    principal = current_principal()
    if principal.kind == "account":
        return _account_view(principal.id)
    return service.me_view(principal)
