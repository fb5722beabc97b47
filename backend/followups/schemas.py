from __future__ import annotations

from marshmallow import fields, validate

from backend.common import ClientId, PageArgs, RefSchema, Schema, Timestamp
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


def _now_target(name: str, field: fields.Field, description: str) -> fields.Nested:
    """A lifestyle line of the form: this visit's value and the target agreed for the next."""
    schema = Schema.from_dict({"now": field, "target": field}, name=f"{name}NowTarget")
    return fields.Nested(schema, allow_none=True, metadata={"description": description})


def _counts(low: int, high: int) -> fields.Integer:
    return fields.Integer(strict=True, allow_none=True, validate=_range(low, high))


class LifestyleSchema(Schema):
    """生活方式指导：目前与目标。"""

    cigarettes_per_day = _now_target("Cigarettes", _counts(0, 100), "日吸烟量（支）")
    alcohol_liang_per_day = _now_target("Alcohol", fields.Float(allow_none=True, validate=_range(0, 50)),
                                        "日饮酒量（两，白酒50毫升）")
    exercise_times_per_week = _now_target("ExerciseTimes", _counts(0, 21), "运动（次/周）")
    exercise_minutes = _now_target("ExerciseMinutes", _counts(0, 600), "运动（分钟/次）")
    salt = _now_target("Salt", fields.String(allow_none=True, validate=validate.OneOf(rules.SALT)),
                       "摄盐情况（咸淡）：light 轻、medium 中、heavy 重（高血压表）")
    staple_food_g_per_day = _now_target("StapleFood", _counts(0, 2000), "主食（克/天，糖尿病表）")
    psychological_adjustment = fields.String(allow_none=True, validate=validate.OneOf(rules.GOOD_FAIR_POOR),
                                             metadata={"description": "心理调整：good 良好、fair 一般、poor 差"})
    compliance = fields.String(allow_none=True, validate=validate.OneOf(rules.GOOD_FAIR_POOR),
                               metadata={"description": "遵医行为：good 良好、fair 一般、poor 差"})


class MedicationSchema(Schema):
    """用药情况：药物名称与用法用量（每日几次、每次剂量）。"""

    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    times_per_day = fields.Integer(strict=True, allow_none=True, validate=_range(1, 6),
                                   metadata={"description": "每日次数"})
    dose = fields.Float(allow_none=True, validate=validate.Range(min=0, max=5000, min_inclusive=False,
                                                                 error="须大于 0 且不超过 5000"),
                        metadata={"description": "每次剂量"})
    unit = fields.String(allow_none=True, validate=validate.OneOf(rules.DOSE_UNITS))
    route = fields.String(allow_none=True, validate=validate.OneOf(rules.ROUTES),
                          metadata={"description": "给药途径"})


class InsulinSchema(Schema):
    type = fields.String(required=True, validate=validate.Length(min=1, max=50), metadata={"description": "胰岛素种类"})
    usage = fields.String(allow_none=True, validate=validate.Length(max=100), metadata={"description": "用法"})
    units_per_day = fields.Float(allow_none=True, validate=_range(0, 300), metadata={"description": "日用量（单位）"})


class ReferralCreateSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={"description": "转诊原因"})
    institution_id = fields.String(allow_none=True, metadata={"description": "转入机构（目录中的机构 id）"})
    institution_name = fields.String(allow_none=True, validate=validate.Length(min=1, max=100),
                                     metadata={"description": "转入机构名称；未给 institution_id 时必填"})
    department = fields.String(allow_none=True, validate=validate.Length(max=50), metadata={"description": "科别"})


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
    # The rest of the national form (高血压/2型糖尿病患者随访服务记录表).
    symptoms_other = fields.String(allow_none=True, validate=validate.Length(max=200), metadata={"description": "其他症状"})
    target_weight_kg = fields.Float(allow_none=True, validate=_range(2, 300), metadata={"description": "目标体重"})
    dorsalis_pedis_pulse = fields.String(allow_none=True, validate=validate.OneOf(rules.PULSES), metadata={
        "description": "足背动脉搏动（糖尿病）：palpable 触及正常；weakened_/absent_ 减弱/消失，both 双侧、left 左侧、right 右侧"})
    other_signs = fields.String(allow_none=True, validate=validate.Length(max=200), metadata={"description": "其他体征"})
    lifestyle = fields.Nested(LifestyleSchema, allow_none=True)
    hba1c = fields.Float(allow_none=True, validate=_range(3.0, 20.0), metadata={"description": "糖化血红蛋白（%）"})
    hba1c_on = fields.Date(allow_none=True, metadata={"description": "糖化血红蛋白检查日期"})
    other_exams = fields.String(allow_none=True, validate=validate.Length(max=500), metadata={"description": "其他辅助检查"})
    adverse_reaction_detail = fields.String(allow_none=True, validate=validate.Length(max=200),
                                            metadata={"description": "药物不良反应：表现"})
    hypoglycemia = fields.String(allow_none=True, validate=validate.OneOf(rules.HYPOGLYCEMIA),
                                 metadata={"description": "低血糖反应（糖尿病）：none 无、occasional 偶尔、frequent 频繁"})
    medications = fields.List(fields.Nested(MedicationSchema), load_default=list, validate=validate.Length(max=10))
    insulin = fields.Nested(InsulinSchema, allow_none=True, metadata={"description": "胰岛素（糖尿病）"})
    referral = fields.Nested(ReferralCreateSchema, allow_none=True, metadata={
        "description": "转诊：填写即建立转诊记录（状态 referred），下次随访不晚于2周后"})


class InstitutionRefSchema(Schema):
    id = fields.String(required=True, allow_none=True, metadata={"description": "不在本系统目录中的机构为 null"})
    name = fields.String(required=True)


class FollowUpReferralSchema(Schema):
    id = fields.String(required=True)
    reason = fields.String(required=True)
    institution = fields.Nested(InstitutionRefSchema, required=True)
    department = fields.String(allow_none=True)
    urgent = fields.Boolean(required=True)
    status = fields.String(required=True, metadata={"description": "referred 已转出、received 已接收、returned 已回转"})
    received_on = fields.Date(allow_none=True)
    returned_on = fields.Date(allow_none=True)
    result = fields.String(allow_none=True, metadata={"description": "转诊结果（回转时由接收机构填写）"})
    diagnosis = fields.String(allow_none=True, metadata={"description": "接收机构的诊断"})


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
    symptoms_other = fields.String(allow_none=True)
    target_weight_kg = fields.Float(allow_none=True)
    bmi = fields.Float(allow_none=True, metadata={"description": "体质指数，由体重与身高算得"})
    target_bmi = fields.Float(allow_none=True, metadata={"description": "目标体质指数，由目标体重与身高算得"})
    dorsalis_pedis_pulse = fields.String(allow_none=True)
    other_signs = fields.String(allow_none=True)
    lifestyle = fields.Nested(LifestyleSchema, allow_none=True)
    hba1c = fields.Float(allow_none=True)
    hba1c_on = fields.Date(allow_none=True)
    other_exams = fields.String(allow_none=True)
    adverse_reaction_detail = fields.String(allow_none=True)
    hypoglycemia = fields.String(allow_none=True)
    medications = fields.List(fields.Nested(MedicationSchema), required=True)
    insulin = fields.Nested(InsulinSchema, allow_none=True)
    referral = fields.Nested(FollowUpReferralSchema, allow_none=True, metadata={"description": "本次随访的转诊及其结果"})
    classification = fields.String(required=True, metadata={"description": "controlled|uncontrolled|adverse_reaction|complication"})
    refer = fields.Boolean(required=True, metadata={"description": "建议转诊"})
    urgent_referral = fields.Boolean(required=True, metadata={"description": "紧急转诊"})
    referral_reasons = fields.List(fields.String(), required=True)
    next_due_on = fields.Date(required=True, metadata={"description": "下次随访日期"})
    signed_by = fields.Nested(RefSchema, allow_none=True, metadata={"description": "随访医生签名"})
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
