"""Sign-in and the caller's own identity."""
from __future__ import annotations

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_smorest import Blueprint

from backend.auth import service
from backend.auth.principal import current_principal, issue_token, require
from backend.auth.schemas import StaffLoginSchema, StaffMeSchema, StaffTokenSchema
from backend.extensions import limiter

blp = Blueprint("auth", __name__, description="登录与当前用户")


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
    return {**token, "staff": service.me_view(service.staff_principal(staff))}


@blp.route("/me")
@require(kinds=("staff",))
@blp.response(200, StaffMeSchema)
def me():
    """当前登录者"""
    return service.me_view(current_principal())
