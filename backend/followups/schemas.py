from __future__ import annotations

from marshmallow import fields, validate

from backend.common import ClientId, PageArgs, Schema, Timestamp
from backend.followups import rules
from backend.followups.models import DEREGISTRATION_REASONS


def _range(low, high):
    return validate.Range(min=low, max=high, error=f"须在 {low} 到 {high} 之间")


class ConditionCreateSchema(Schema):
    disease = fields.String(required=True, validate=validate.OneOf(rules.DISEASES))
    diagnosed_on = fields.Date(required=True)
    registered_on = fields.Date(allow_none=True, metadata={"description": "纳入管理日期，默认今天；可补录"})


class DeregisterSchema(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(DEREGISTRATION_REASONS))
    on = fields.Date(allow_none=True, metadata={"description": "撤销日期，默认今天"})


class ConditionSchema(Schema):
    id = fields.String(required=True)
    resident_id = fields.String(required=True)
    disease = fields.String(required=True)
    diagnosed_on = fields.Date(required=True)
    registered_on = fields.Date(required=True)
    deregistered_on = fields.Date(allow_none=True)
    deregistration_reason = fields.String(allow_none=True)
    next_due_on = fields.Date(required=True, metadata={"description": "下次随访到期日（撤销管理后不再提醒）"})
    last_visited_on = fields.Date(allow_none=True)
    created_at = Timestamp()


class FollowUpCreateSchema(Schema):
    id = ClientId(metadata={"description": "客户端生成的 UUID；重发同一内容得到原记录"})
    disease = fields.String(required=True, validate=validate.OneOf(rules.DISEASES))
    visited_on = fields.Date(required=True)
    method = fields.String(required=True, validate=validate.OneOf(rules.METHODS))
    sbp = fields.Integer(strict=True, allow_none=True, validate=_range(50, 300))
    dbp = fields.Integer(strict=True, allow_none=True, validate=_range(30, 200))
    heart_rate = fields.Integer(strict=True, allow_none=True, validate=_range(20, 250))
    weight_kg = fields.Float(allow_none=True, validate=_range(2, 300))
    height_cm = fields.Float(allow_none=True, validate=_range(40, 250))
    temperature_c = fields.Float(allow_none=True, validate=_range(30, 45))
    fasting_glucose = fields.Float(allow_none=True, validate=_range(1.0, 40.0), metadata={"description": "mmol/L"})
    medication_adherence = fields.String(allow_none=True, validate=validate.OneOf(rules.ADHERENCE))
    adverse_reaction = fields.Boolean(load_default=False)
    complication = fields.String(load_default="none", validate=validate.OneOf(rules.COMPLICATIONS))
    symptoms = fields.List(fields.String(validate=validate.OneOf(rules.SYMPTOMS)), load_default=list,
                           validate=validate.Length(max=20))
    notes = fields.String(allow_none=True, validate=validate.Length(max=2000))


class FollowUpSchema(Schema):
    id = fields.String(required=True)
    resident_id = fields.String(required=True)
    disease = fields.String(required=True)
    visited_on = fields.Date(required=True)
    method = fields.String(required=True)
    sbp = fields.Integer(allow_none=True)
    dbp = fields.Integer(allow_none=True)
    heart_rate = fields.Integer(allow_none=True)
    weight_kg = fields.Float(allow_none=True)
    height_cm = fields.Float(allow_none=True)
    temperature_c = fields.Float(allow_none=True)
    fasting_glucose = fields.Float(allow_none=True)
    medication_adherence = fields.String(allow_none=True)
    adverse_reaction = fields.Boolean(required=True)
    complication = fields.String(required=True)
    symptoms = fields.List(fields.String(), required=True)
    notes = fields.String(allow_none=True)
    classification = fields.String(required=True, metadata={"description": "controlled|uncontrolled|adverse_reaction|complication"})
    refer = fields.Boolean(required=True, metadata={"description": "建议转诊"})
    urgent_referral = fields.Boolean(required=True, metadata={"description": "紧急转诊"})
    referral_reasons = fields.List(fields.String(), required=True)
    next_due_on = fields.Date(required=True)
    created_at = Timestamp()


class FollowUpQuerySchema(PageArgs):
    disease = fields.String(validate=validate.OneOf(rules.DISEASES))


class DueQuerySchema(PageArgs):
    scope = fields.String(load_default="team", validate=validate.OneOf(("mine", "team")),
                          metadata={"description": "mine：我签约的居民；team：我所在团队服务的居民"})
    window = fields.String(load_default="overdue", validate=validate.OneOf(("overdue", "today", "week")),
                           metadata={"description": "overdue：已逾期；today：今天到期；week：7天内到期"})


class DueResidentSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    phone = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    age = fields.Integer()
    phone_wrong = fields.Boolean(metadata={"description": "电话随访发现号码错误，请更正电话"})


class LastVisitSchema(Schema):
    id = fields.String(required=True)
    visited_on = fields.Date(required=True)
    classification = fields.String(required=True)
    sbp = fields.Integer(allow_none=True)
    dbp = fields.Integer(allow_none=True)
    fasting_glucose = fields.Float(allow_none=True)
    refer = fields.Boolean()
    urgent_referral = fields.Boolean()


class ReminderStatusSchema(Schema):
    status = fields.String(required=True)
    at = Timestamp(allow_none=True)


class LastCallSchema(Schema):
    outcome = fields.String(required=True)
    called_at = Timestamp(required=True)


class DueItemSchema(Schema):
    condition_id = fields.String(required=True)
    resident = fields.Nested(DueResidentSchema, required=True)
    disease = fields.String(required=True)
    due_on = fields.Date(required=True)
    days_overdue = fields.Integer(required=True)
    urgent = fields.Boolean(required=True)
    last = fields.Nested(LastVisitSchema, allow_none=True)
    reminder = fields.Nested(ReminderStatusSchema, required=True)
    needs_call = fields.Boolean(required=True, metadata={
        "description": "提醒未送达或无法发送，需电话通知；答应来诊的电话后7天内为 false"})
    last_call = fields.Nested(LastCallSchema, allow_none=True)


class NextFollowUpSchema(Schema):
    disease = fields.String(required=True)
    due_on = fields.Date(required=True)
    days_overdue = fields.Integer(required=True)
    urgent = fields.Boolean(required=True)
