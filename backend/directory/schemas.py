"""Request and response schemas of the directory."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from backend.common import PageArgs, Schema, Timestamp
from backend.directory.models import (
    GROUPS, INSTITUTION_KINDS, PACKAGE_KINDS, ROLES, STAFF_TITLES, TEAM_ROLES,
)
from backend.directory.regions import InvalidRegionCode, level_of


def _region_code(value: str) -> None:
    try:
        level_of(value)
    except InvalidRegionCode as error:
        raise ma.ValidationError(str(error)) from None


RegionCode = lambda **kw: fields.String(validate=_region_code, **kw)  # noqa: E731
Name = lambda **kw: fields.String(validate=validate.Length(min=1, max=100), **kw)  # noqa: E731
NonNegative = lambda **kw: fields.Integer(validate=validate.Range(min=0), strict=True, **kw)  # noqa: E731


# Regions

class RegionSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)
    parent_code = fields.String(allow_none=True)


class RegionQuerySchema(PageArgs):
    parent = RegionCode(metadata={"description": "上级区划代码；省略时列出省级"})


class RegionCreateSchema(Schema):
    code = RegionCode(required=True)
    name = Name(required=True)


class RegionPatchSchema(Schema):
    name = Name()


# Institutions

class InstitutionSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    region_code = fields.String(required=True)
    created_at = Timestamp()


class InstitutionCreateSchema(Schema):
    name = Name(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(INSTITUTION_KINDS))
    region_code = RegionCode(required=True)


class InstitutionPatchSchema(Schema):
    name = Name()
    kind = fields.String(validate=validate.OneOf(INSTITUTION_KINDS))
    region_code = RegionCode()


class InstitutionQuerySchema(PageArgs):
    region_code = RegionCode(metadata={"description": "此区划及其下级的机构"})
    kind = fields.String(validate=validate.OneOf(INSTITUTION_KINDS))


# Staff

USERNAME = validate.Regexp(r"^[A-Za-z0-9_.-]{3,64}$", error="用户名为3到64位字母、数字或 _ . -")
PASSWORD = validate.Length(min=10, max=128, error="密码长度须在10到128位之间")


class StaffSchema(Schema):
    id = fields.String(required=True)
    username = fields.String(required=True)
    name = fields.String(required=True)
    title = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    institution_id = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    team_ids = fields.List(fields.String())
    active = fields.Boolean()
    created_at = Timestamp()


class StaffCreateSchema(Schema):
    username = fields.String(required=True, validate=USERNAME)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    name = Name(required=True)
    title = fields.String(required=True, validate=validate.OneOf(STAFF_TITLES))
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)), required=True, validate=validate.Length(min=1)
    )
    institution_id = fields.String(allow_none=True)
    region_code = RegionCode(allow_none=True, metadata={"description": "county_admin 管辖的区划"})


class StaffPatchSchema(Schema):
    password = fields.String(load_only=True, validate=PASSWORD)
    name = Name()
    title = fields.String(validate=validate.OneOf(STAFF_TITLES))
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), validate=validate.Length(min=1))
    institution_id = fields.String(allow_none=True)
    region_code = RegionCode(allow_none=True)
    active = fields.Boolean()


class StaffQuerySchema(PageArgs):
    institution_id = fields.String()
    q = fields.String(metadata={"description": "姓名或用户名的一部分"})


# Service packages

class FundingSchema(Schema):
    public_health_fen = NonNegative(required=True)
    insurance_fen = NonNegative(required=True)
    self_pay_fen = NonNegative(required=True)


class PackageItemSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]{2,32}$"))
    name = Name(required=True)
    per_year = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=0, max=366))
    eligible_groups = fields.List(fields.String(validate=validate.OneOf(GROUPS)), load_default=list)
    follow_up_disease = fields.String(
        allow_none=True, load_default=None, validate=validate.OneOf(("hypertension", "diabetes")),
        metadata={"description": "慢病随访项目：该病种的面对面随访（门诊、入户）自动计入，不单独登记"})
    health_check = fields.Boolean(
        load_default=False,
        metadata={"description": "健康体检项目：居民的健康体检记录自动计入（每个体检日一次），不单独登记"})

    @ma.validates_schema
    def _one_source(self, data, **kwargs):
        if data.get("health_check") and data.get("follow_up_disease"):
            raise ma.ValidationError("健康体检项目不能同时是随访项目", "health_check")


class ServicePackageSchema(Schema):
    id = fields.String(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    price_fen = fields.Integer(required=True)
    funding = fields.Nested(FundingSchema, required=True)
    items = fields.List(fields.Nested(PackageItemSchema), required=True)
    eligible_groups = fields.List(fields.String(), required=True)
    active = fields.Boolean()


PACKAGE_CODE = validate.Regexp(r"^[a-z0-9_]{2,32}$", error="编码为2到32位小写字母、数字或下划线")


def _distinct_items(items: list[dict]) -> None:
    """An item is owed once per package, one item per disease counts the follow-ups, and one
    item the health checks."""
    codes = [i["code"] for i in items]
    if len(codes) != len(set(codes)):
        raise ma.ValidationError("服务项目编码不能重复")
    diseases = [i["follow_up_disease"] for i in items if i.get("follow_up_disease")]
    if len(diseases) != len(set(diseases)):
        raise ma.ValidationError("同一病种只能有一个随访项目")
    if sum(1 for i in items if i.get("health_check")) > 1:
        raise ma.ValidationError("只能有一个健康体检项目")


class ServicePackageCreateSchema(Schema):
    code = fields.String(required=True, validate=PACKAGE_CODE)
    name = Name(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(PACKAGE_KINDS))
    price_fen = NonNegative(required=True)
    funding = fields.Nested(FundingSchema, required=True)
    items = fields.List(fields.Nested(PackageItemSchema), load_default=list, validate=_distinct_items)
    eligible_groups = fields.List(fields.String(validate=validate.OneOf(GROUPS)), load_default=list)


class ServicePackagePatchSchema(Schema):
    name = Name()
    kind = fields.String(validate=validate.OneOf(PACKAGE_KINDS))
    price_fen = NonNegative()
    funding = fields.Nested(FundingSchema)
    items = fields.List(fields.Nested(PackageItemSchema), validate=_distinct_items)
    eligible_groups = fields.List(fields.String(validate=validate.OneOf(GROUPS)))
    active = fields.Boolean()


class ServicePackageQuerySchema(PageArgs):
    kind = fields.String(validate=validate.OneOf(PACKAGE_KINDS))


# Teams

class TeamInstitutionSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)


class TeamLeaderSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    title = fields.String(required=True)


class TeamMemberSchema(TeamLeaderSchema):
    team_role = fields.String(required=True)


class TeamSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    institution = fields.Nested(TeamInstitutionSchema, required=True)
    leader = fields.Nested(TeamLeaderSchema, allow_none=True)
    member_count = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    contracted_count = fields.Integer(required=True)
    accepting = fields.Boolean(required=True)


class TeamDetailSchema(TeamSchema):
    members = fields.List(fields.Nested(TeamMemberSchema), required=True)
    service_area = fields.List(fields.String(), required=True)
    packages = fields.List(fields.String(), required=True)


class TeamQuerySchema(PageArgs):
    region_code = RegionCode(metadata={"description": "服务此区划的团队（含服务其上级或下级区划的团队）"})


class TeamCreateSchema(Schema):
    name = Name(required=True)
    institution_id = fields.String(required=True)
    service_area = fields.List(RegionCode(), required=True, validate=validate.Length(min=1))
    package_codes = fields.List(fields.String(), load_default=list)
    capacity = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=1),
        metadata={"description": "签约上限；不得高于每名医生2000人的国家上限，省略时即取该上限"},
    )


class TeamPatchSchema(Schema):
    name = Name()
    institution_id = fields.String()
    service_area = fields.List(RegionCode(), validate=validate.Length(min=1))
    package_codes = fields.List(fields.String())
    capacity = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1))
    active = fields.Boolean()


class TeamMemberCreateSchema(Schema):
    staff_id = fields.String(required=True)
    team_role = fields.String(load_default="member", validate=validate.OneOf(TEAM_ROLES))


# Populations

class PopulationPutSchema(Schema):
    resident_population = NonNegative(required=True)
    groups = fields.Dict(
        keys=fields.String(validate=validate.OneOf(GROUPS)), values=NonNegative(), load_default=dict
    )


class PopulationSchema(Schema):
    region_code = fields.String(required=True)
    year = fields.Integer(required=True)
    resident_population = fields.Integer(required=True)
    groups = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
