from __future__ import annotations

from marshmallow import fields, validate

from backend.common import ClientId, PageArgs, Schema, Timestamp
from backend.fulfilment import rules
from backend.fulfilment.models import OUTCOMES


class DeliveryCreateSchema(Schema):
    id = ClientId(metadata={"description": "客户端生成的 UUID：重发同一请求不会重复登记"})
    item_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    delivered_on = fields.Date(required=True)
    method = fields.String(required=True, validate=validate.OneOf(rules.METHODS),
                           metadata={"description": "clinic 门诊, home 入户, phone 电话, online 线上, group 集体活动"})
    notes = fields.String(allow_none=True, validate=validate.Length(max=500))


class DeliverySchema(Schema):
    id = fields.String(required=True)
    resident_id = fields.String(required=True)
    item_code = fields.String(required=True)
    delivered_on = fields.Date(required=True)
    method = fields.String(required=True)
    notes = fields.String(allow_none=True)
    recorded_by_id = fields.String(required=True)
    created_at = Timestamp(required=True)


class ItemFulfilmentSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    owed = fields.Integer(required=True, metadata={"description": "签约期内应提供次数"})
    delivered = fields.Integer(required=True)
    remaining = fields.Integer(required=True)
    owed_by_today = fields.Integer(required=True, metadata={"description": "应提供次数 × 已过天数 ÷ 签约期天数，向下取整"})
    behind_by = fields.Integer(required=True)
    counted_from = fields.String(required=True, metadata={
        "description": "follow_ups：由面对面随访自动计入；health_checks：由健康体检记录自动计入；services：服务登记"})


class FulfilmentSchema(Schema):
    contract_id = fields.String(required=True)
    resident_id = fields.String(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    as_of = fields.Date(required=True)
    status = fields.String(required=True, metadata={"description": "on_track 按进度, behind 落后, complete 已完成"})
    items = fields.List(fields.Nested(ItemFulfilmentSchema), required=True)
    remaining = fields.Integer(required=True)
    behind_by = fields.Integer(required=True)


class WorkListQuerySchema(PageArgs):
    kind = fields.String(load_default="behind", validate=validate.OneOf(("behind", "ending")),
                         metadata={"description": "behind：履约落后的居民；ending：60天内到期且仍有未完成项目的签约"})


class WorkListResidentSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    phone = fields.String(allow_none=True)
    region = fields.String(allow_none=True)


class WorkListItemSchema(FulfilmentSchema):
    resident = fields.Nested(WorkListResidentSchema, required=True)


class CallCreateSchema(Schema):
    id = ClientId(metadata={"description": "客户端生成的 UUID：离线记录重发不会重复登记"})
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    notes = fields.String(allow_none=True, validate=validate.Length(max=500))
    called_at = fields.AwareDateTime(metadata={"description": "默认现在"})


class CallConfirmSchema(Schema):
    confirm = fields.Boolean(required=True, metadata={"description": "true：确认迁出或死亡（撤销慢病管理、解约）；false：撤回"})


class CallSchema(Schema):
    id = fields.String(required=True)
    resident_id = fields.String(required=True)
    team_id = fields.String(allow_none=True)
    outcome = fields.String(required=True)
    notes = fields.String(allow_none=True)
    called_at = Timestamp(required=True)
    called_by_id = fields.String(required=True)
    confirmation = fields.String(allow_none=True, metadata={"description": "迁出、死亡：pending 待确认, confirmed, dismissed"})
    confirmed_at = Timestamp(allow_none=True)
