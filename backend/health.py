"""Liveness for load balancers and the benchmark's floor."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy.exc import SQLAlchemyError

from backend import clock
from backend.common import Schema, Timestamp
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


class SchedulerJobSchema(Schema):
    job = fields.String(required=True)
    due_at = fields.String(required=True, metadata={"description": "每天开始运行的时间（HH:MM，北京时间）"})
    today = fields.String(required=True,
                          metadata={"description": "not_yet|running|succeeded|failed|abandoned|missing（今天尚无运行）"})
    attempts = fields.Integer(required=True)
    succeeded_at = Timestamp(allow_none=True)


class SchedulerHealthSchema(Schema):
    status = fields.String(required=True, metadata={"description": "ok|degraded"})
    code = fields.String(metadata={"description": "degraded 时为 scheduler_degraded"})
    message = fields.String()
    checked_at = Timestamp(required=True)
    late = fields.List(fields.String(), required=True, metadata={"description": "过了时限仍未成功的任务"})
    jobs = fields.List(fields.Nested(SchedulerJobSchema), required=True)
    last_dispatch_at = Timestamp(allow_none=True)


@blp.route("/healthz/scheduler")
@blp.response(200, SchedulerHealthSchema)
@blp.alt_response(503, schema=SchedulerHealthSchema,
                  description="定时任务滞后（scheduler_degraded）：每日任务过了时限（如 09:00 前未规划当天提醒）仍未成功，"
                              "或发送时段内 10 分钟没有成功的派发")
def scheduler_health():
    """定时任务是否按时运行（无需登录；供监控轮询）"""
    from scheduled.jobs import health

    try:
        report = health(clock.now())
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("scheduler check failed: %s", type(error).__name__)
        raise ServiceUnavailable("数据库无响应", code="database_unavailable") from None
    if report["status"] == "ok":
        return report
    names = "、".join(report["late"])
    return {**report, "code": "scheduler_degraded", "message": f"定时任务未按时完成：{names}"}, 503
