from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from backend.common import PageArgs, RefSchema, Schema, Timestamp
from backend.followups.schemas import InstitutionRefSchema
from backend.referrals.models import STATES

VIEWS = ("team", "mine", "incoming")


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("不能为空")


class ReferralQuerySchema(PageArgs):
    view = fields.String(load_default="team", validate=validate.OneOf(VIEWS), metadata={
        "description": "team：我所在团队转出的（默认）；mine：我转出的；incoming：转入我所在机构的"})
    status = fields.String(validate=validate.OneOf(STATES))
    awaiting = fields.Boolean(load_default=False, metadata={
        "description": "true：尚未回转结果的（referred、received）"})
    returned_since = fields.Date(metadata={"description": "此日及以后回转结果的"})


class ReceiveSchema(Schema):
    received_on = fields.Date(allow_none=True, metadata={
        "description": "接诊日期，默认今天；不晚于今天，不早于转诊日期"})


class ResultSchema(Schema):
    result = fields.String(required=True, validate=[validate.Length(min=1, max=1000), _not_blank],
                           metadata={"description": "接诊机构的处理结果（回转单）"})
    returned_on = fields.Date(allow_none=True, metadata={
        "description": "回转日期，默认今天；不晚于今天，不早于转诊（或接诊）日期"})
    diagnosis = fields.String(allow_none=True, validate=validate.Length(max=200))


class ReferralResidentSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    phone = fields.String(allow_none=True, metadata={"description": "脱敏手机号"})
    age = fields.Integer(required=True)
    region = fields.String(allow_none=True, metadata={"description": "村（社区）名称"})
    region_code = fields.String(allow_none=True)


class ReferralSchema(Schema):
    id = fields.String(required=True)
    follow_up_id = fields.String(required=True)
    resident = fields.Nested(ReferralResidentSchema, required=True)
    disease = fields.String(required=True)
    urgent = fields.Boolean(required=True, metadata={"description": "紧急转诊"})
    reason = fields.String(required=True)
    to_institution = fields.Nested(InstitutionRefSchema, required=True, metadata={"description": "接收机构"})
    department = fields.String(allow_none=True)
    referred_on = fields.Date(required=True)
    referred_by = fields.Nested(RefSchema, allow_none=True)
    team = fields.Nested(RefSchema, allow_none=True, metadata={"description": "转出团队"})
    status = fields.String(required=True, metadata={"description": "referred → received → returned"})
    received_on = fields.Date(allow_none=True)
    received_by = fields.Nested(RefSchema, allow_none=True)
    returned_on = fields.Date(allow_none=True)
    result = fields.String(allow_none=True)
    diagnosis = fields.String(allow_none=True)
    result_by = fields.Nested(RefSchema, allow_none=True)
    days_waiting = fields.Integer(required=True, metadata={
        "description": "转诊日至回转日（未回转的至今天）的天数"})
    follow_up_due_on = fields.Date(allow_none=True, metadata={
        "description": "该慢病下次随访到期日（转诊后2周内随访）；已撤销管理的为 null"})
    updated_at = Timestamp()
