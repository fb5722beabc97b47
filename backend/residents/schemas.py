from __future__ import annotations

from marshmallow import fields, validate

from backend.common import PageArgs, Schema, Timestamp
from backend.directory.models import GROUPS
from backend.directory.schemas import RegionCode
from backend.residents.models import RELATIONS, STAFF_SET_GROUPS

PersonName = lambda **kw: fields.String(validate=validate.Length(min=1, max=50), **kw)  # noqa: E731
IdNumber = lambda **kw: fields.String(  # noqa: E731
    validate=validate.Length(max=32), metadata={"description": "18位居民身份证号（GB 11643）"}, **kw)
Phone = lambda **kw: fields.String(  # noqa: E731
    validate=validate.Length(max=32), metadata={"description": "11位手机号"}, **kw)


class ResidentSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    sex = fields.String(required=True)
    birth_date = fields.Date(required=True)
    age = fields.Integer(required=True)
    id_number = fields.String(required=True, metadata={"description": "掩码：前6位与后4位"})
    phone = fields.String(allow_none=True, metadata={"description": "掩码：前3位与后4位"})
    phone_wrong = fields.Boolean(metadata={"description": "电话随访发现号码错误，请更正电话"})
    region_code = fields.String(allow_none=True)
    region_name = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    groups = fields.List(fields.String(), required=True)
    source = fields.String(required=True)
    created_at = Timestamp()


class GroupPeriodSchema(Schema):
    group = fields.String(required=True)
    set_on = fields.Date(required=True)
    removed_on = fields.Date(allow_none=True, required=True, metadata={"description": "仍在标记中则为空"})


class DialSchema(Schema):
    tel = fields.String(required=True, metadata={"description": "tel: 链接（完整号码，仅用于拨号，勿保存）"})
    phone = fields.String(required=True, metadata={"description": "掩码：前3位与后4位"})
    phone_wrong = fields.Boolean(required=True, metadata={"description": "电话随访发现号码错误"})


class ResidentDetailSchema(ResidentSchema):
    group_history = fields.List(fields.Nested(GroupPeriodSchema), required=True,
                                metadata={"description": "手工标记的重点人群的历次标记期间，按开始日期排列"})


class BoundResidentSchema(ResidentSchema):
    relation = fields.String(required=True)


class ResidentCreateSchema(Schema):
    name = PersonName(required=True)
    id_number = IdNumber(required=True)
    phone = Phone(allow_none=True)
    region_code = RegionCode(required=True)
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    groups = fields.List(fields.String(validate=validate.OneOf(GROUPS)), load_default=list,
                         metadata={"description": "仅可设置：" + "、".join(STAFF_SET_GROUPS)})


class ResidentPatchSchema(Schema):
    name = PersonName()
    phone = Phone(allow_none=True)
    region_code = RegionCode()
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    groups = fields.List(fields.String(validate=validate.OneOf(GROUPS)))


class ResidentQuerySchema(PageArgs):
    q = fields.String(validate=validate.Length(min=1, max=50),
                      metadata={"description": "姓名的一部分，或完整的身份证号、手机号"})
    region_code = RegionCode()
    group = fields.String(validate=validate.OneOf(GROUPS))


class BindSchema(Schema):
    name = PersonName(required=True)
    id_number = IdNumber(required=True)
    phone = Phone(required=True)
    relation = fields.String(required=True, validate=validate.OneOf(RELATIONS))


class OwnResidentPatchSchema(Schema):
    region_code = RegionCode(metadata={"description": "居住的村（社区）"})
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    phone = Phone()


class AccountMeSchema(Schema):
    id = fields.String(required=True)
    residents = fields.List(fields.Nested(BoundResidentSchema), required=True)


class WeChatLoginSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128))


class AccountTokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    account = fields.Nested(AccountMeSchema, required=True)


class ActorSchema(Schema):
    kind = fields.String(required=True)
    name = fields.String(required=True)
    institution = fields.String(allow_none=True)


class AccessLogEntrySchema(Schema):
    at = Timestamp(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    action = fields.String(required=True)
