"""Subscriptions from the mini program, the outbox for administrators, job runs, a resident's reminders."""
from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from backend import clock
from backend.auth.principal import current_principal, require
from backend.common import page_of, paginate
from backend.extensions import db
from backend.followups.service import conditions_of, next_follow_ups
from backend.notifications import schemas as s
from backend.notifications import service
from backend.notifications.models import CALL_LIST_STATUSES, JobRun, Notification
from backend.residents import scope
from backend.residents.models import Resident
from backend.security.audit import current_action, record_access

blp = Blueprint("notifications", __name__, description="提醒：订阅、通知发件箱、定时任务")
ADMINS = ("county_admin", "institution_admin")


def notification_views(notifications: list[Notification]) -> list[dict]:
    names = dict(db.session.execute(sa.select(Resident.id, Resident.name).where(
        Resident.id.in_({n.resident_id for n in notifications}))).all())
    return [{
        "id": n.id, "resident": {"id": n.resident_id, "name": names.get(n.resident_id)}, "reason": n.reason,
        "step": n.step, "due_on": n.due_on, "template_id": n.template_id, "page": n.page, "data": n.data,
        "status": n.status, "attempts": n.attempts, "send_after": n.send_after, "sent_at": n.sent_at,
        "channel": n.channel, "last_error": n.last_error, "needs_call": n.status in CALL_LIST_STATUSES,
    } for n in notifications]


@blp.route("/me/subscriptions", methods=["POST"])
@require(kinds=("account",))
@blp.arguments(s.SubscriptionsSchema)
@blp.response(200, s.CreditsSchema)
def accept(data):
    """记录居民在 wx.requestSubscribeMessage 中同意的模板：每次同意可发送一条"""
    return {"credits": service.accept_subscriptions(current_principal().id, data["accepted"])}


@blp.route("/admin/notifications")
@require(*ADMINS)
@blp.arguments(s.NotificationQuerySchema, location="query")
@blp.response(200, page_of(s.NotificationSchema))
def list_notifications(args):
    """通知发件箱（管辖范围内的居民）"""
    principal = current_principal()
    page = paginate(service.list_notifications(principal, args.get("status")), args["page"], args["page_size"])
    shown = page["items"]
    page["items"] = notification_views(page["items"])
    record_access(principal, [n.resident_id for n in shown], current_action())
    return page


@blp.route("/admin/notifications/<string:notification_id>/retry", methods=["POST"])
@require(*ADMINS)
@blp.response(200, s.NotificationSchema)
def retry(notification_id):
    """重发未送达的通知（failed、refused、no_credit）"""
    return notification_views([service.retry(current_principal(), notification_id)])[0]


@blp.route("/admin/job-runs")
@require("county_admin")
@blp.arguments(s.JobRunQuerySchema, location="query")
@blp.response(200, page_of(s.JobRunSchema))
def job_runs(args):
    """定时任务的运行记录，最近的在前"""
    statement = sa.select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id)
    if args.get("job"):
        statement = statement.where(JobRun.job == args["job"])
    if args.get("status"):
        statement = statement.where(JobRun.status == args["status"])
    return paginate(statement, args["page"], args["page_size"])


@blp.route("/residents/<string:resident_id>/reminders")
@require(kinds=("staff", "account"))
@blp.response(200, s.RemindersSchema)
def resident_reminders(resident_id):
    """居民即将到期的随访，以及已发送或待发送的提醒"""
    principal = current_principal()
    resident = scope.read_resident(principal, resident_id, current_action())
    return {"upcoming": next_follow_ups(conditions_of(resident.id), clock.today()),
            "reminders": notification_views(service.reminders_of(resident.id))}
