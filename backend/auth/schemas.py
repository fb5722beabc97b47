from __future__ import annotations

from marshmallow import fields, validate

from backend.common import Schema


class StaffLoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=128))


class StaffMeSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    title = fields.String()
    roles = fields.List(fields.String(), required=True)
    institution_id = fields.String(allow_none=True, required=True)
    institution_name = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    team_ids = fields.List(fields.String(), required=True)


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})


class StaffTokenSchema(TokenSchema):
    staff = fields.Nested(StaffMeSchema, required=True)
