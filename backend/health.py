"""Liveness for load balancers and the benchmark's floor."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy.exc import SQLAlchemyError

from backend.common import Schema
from backend.errors import ServiceUnavailable
from backend.extensions import db

blp = Blueprint("health", __name__, description="运行状态")
log = logging.getLogger("jiayi.health")


class HealthSchema(Schema):
    status = fields.String(required=True)
    database = fields.String(required=True)


@blp.route("/healthz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="数据库无响应（database_unavailable）")
def healthz():
    """服务与数据库是否可用（无需登录）"""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("database check failed: %s", type(error).__name__)
        raise ServiceUnavailable("数据库无响应", code="database_unavailable") from None
    return {"status": "ok", "database": "ok"}
