from __future__ import annotations

from marshmallow import fields, validate

from backend.common import PageArgs, Schema, Timestamp
from backend.followups.schemas import NextFollowUpSchema
from backend.notifications.models import JOB_RUN_STATUSES, STATUSES


class SubscriptionsSchema(Schema):
    accepted = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                           validate=validate.Length(min=1, max=3),
                           metadata={"description": "wx.requestSubscribeMessage 中同意的模板 id（一次最多3个）"})


class CreditsSchema(Schema):
    credits = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class NotificationResidentSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)


class NotificationSchema(Schema):
    id = fields.String(required=True)
    resident = fields.Nested(NotificationResidentSchema)
    reason = fields.String(required=True, metadata={"description": "follow_up|renewal"})
    step = fields.String(required=True, metadata={"description": "before_3d|due_day|overdue_7d|renewal_30d"})
    due_on = fields.Date(required=True)
    template_id = fields.String(required=True)
    page = fields.String(required=True)
    data = fields.Dict(required=True)
    status = fields.String(required=True, metadata={"description": "|".join(STATUSES)})
    attempts = fields.Integer(required=True)
    send_after = Timestamp(required=True)
    sent_at = Timestamp(allow_none=True)
    channel = fields.String(allow_none=True, metadata={"description": "wechat|dry_run"})
    last_error = fields.String(allow_none=True)
    needs_call = fields.Boolean(required=True)


class NotificationQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))


class JobRunSchema(Schema):
    job = fields.String(required=True)
    run_for = Timestamp(required=True)
    started_at = Timestamp(required=True)
    finished_at = Timestamp(allow_none=True)
    status = fields.String(required=True, metadata={"description": "|".join(JOB_RUN_STATUSES)})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    error = fields.String(allow_none=True)
    runner = fields.String(required=True)
    attempt = fields.Integer(required=True, metadata={"description": "当天第几次尝试（失败后重试递增）"})
    abandoned_at = Timestamp(allow_none=True, metadata={"description": "发现其进程已停止、标记为 abandoned 的时间"})


class JobRunQuerySchema(PageArgs):
    job = fields.String()
    status = fields.String(validate=validate.OneOf(JOB_RUN_STATUSES))


class RemindersSchema(Schema):
    upcoming = fields.List(fields.Nested(NextFollowUpSchema), required=True)
    reminders = fields.List(fields.Nested(NotificationSchema), required=True)
