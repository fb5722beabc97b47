from __future__ import annotations

from marshmallow import fields, validate

from backend.common import PageArgs, Schema, Timestamp
from backend.directory.schemas import FundingSchema

Reason = lambda **kw: fields.String(validate=validate.Length(min=1, max=200), **kw)  # noqa: E731


class ContractPackageSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    price_fen = fields.Integer(required=True)
    funding = fields.Nested(FundingSchema, required=True)


class ContractResidentSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    sex = fields.String()
    age = fields.Integer()
    phone = fields.String(allow_none=True, metadata={"description": "掩码"})
    region_code = fields.String(allow_none=True)
    region_name = fields.String(allow_none=True)


class ContractTeamSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)


class ContractSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending|active|rejected|cancelled|terminated|expired"})
    resident_id = fields.String(required=True)
    team_id = fields.String(required=True)
    team = fields.Nested(ContractTeamSchema)
    doctor_id = fields.String(allow_none=True)
    package_codes = fields.List(fields.String(), required=True)
    packages = fields.List(fields.Nested(ContractPackageSchema))
    price_fen = fields.Integer()
    funding = fields.Nested(FundingSchema)
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    renewal_of = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    ended_on = fields.Date(allow_none=True)
    created_at = Timestamp(required=True)
    resident = fields.Nested(ContractResidentSchema)


class ContractCreateSchema(Schema):
    resident_id = fields.String(required=True)
    team_id = fields.String(required=True)
    package_codes = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=10))
    doctor_id = fields.String(allow_none=True)


class ApproveSchema(Schema):
    doctor_id = fields.String(allow_none=True)
    start_date = fields.Date(allow_none=True)


class ReasonSchema(Schema):
    reason = Reason(required=True)


class TeamContractQuerySchema(PageArgs):
    status = fields.String(load_default="pending", validate=validate.OneOf(("pending", "active", "expiring")))
