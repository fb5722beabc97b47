"""Directory endpoints: the public reads and the administration of the directory."""
from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.principal import current_principal, require
from backend.common import page_of, paginate
from backend.directory import schemas as s
from backend.directory import service
from backend.errors import ValidationFailed

public = Blueprint("directory", __name__, description="目录：区划、团队、服务包（公开）")
admin = Blueprint("admin_directory", __name__, description="目录管理（county_admin；institution_admin 限本机构）")

ADMINS = ("county_admin", "institution_admin")


# Public reads

@public.route("/regions")
@public.arguments(s.RegionQuerySchema, location="query")
@public.response(200, page_of(s.RegionSchema))
def list_regions(args):
    """下级区划列表"""
    return paginate(service.list_regions(args.get("parent")), args["page"], args["page_size"])


@public.route("/teams")
@public.arguments(s.TeamQuerySchema, location="query")
@public.response(200, page_of(s.TeamSchema))
def list_teams(args):
    """服务某区划的家庭医生团队"""
    page = paginate(service.teams_serving(args.get("region_code")), args["page"], args["page_size"])
    page["items"] = service.team_views(page["items"])
    return page


@public.route("/teams/<string:team_id>")
@public.response(200, s.TeamDetailSchema)
def get_team(team_id):
    """团队详情：成员、服务区域、服务包"""
    return service.team_views([service.get_team(team_id)], detail=True)[0]


@public.route("/service-packages")
@public.arguments(s.ServicePackageQuerySchema, location="query")
@public.response(200, page_of(s.ServicePackageSchema))
def list_packages(args):
    """可签约的服务包及费用分担"""
    return paginate(service.list_packages(args.get("kind")), args["page"], args["page_size"])


# Administration

@admin.route("/regions", methods=["POST"])
@require("county_admin")
@admin.arguments(s.RegionCreateSchema)
@admin.response(201, s.RegionSchema)
def create_region(data):
    """新增区划（上级须已存在）"""
    return service.create_region(current_principal(), data["code"], data["name"])


@admin.route("/regions/<string:code>", methods=["PATCH"])
@require("county_admin")
@admin.arguments(s.RegionPatchSchema)
@admin.response(200, s.RegionSchema)
def update_region(data, code):
    """修改区划名称"""
    return service.update_region(current_principal(), code, data)


@admin.route("/institutions", methods=["GET"])
@require(*ADMINS)
@admin.arguments(s.InstitutionQuerySchema, location="query")
@admin.response(200, page_of(s.InstitutionSchema))
def list_institutions(args):
    """管辖范围内的机构"""
    statement = service.list_institutions(current_principal(), args.get("region_code"), args.get("kind"))
    return paginate(statement, args["page"], args["page_size"])


@admin.route("/institutions", methods=["POST"])
@require("county_admin")
@admin.arguments(s.InstitutionCreateSchema)
@admin.response(201, s.InstitutionSchema)
def create_institution(data):
    """新增医疗机构"""
    return service.create_institution(current_principal(), data)


@admin.route("/institutions/<string:institution_id>", methods=["PATCH"])
@require(*ADMINS)
@admin.arguments(s.InstitutionPatchSchema)
@admin.response(200, s.InstitutionSchema)
def update_institution(data, institution_id):
    """修改机构"""
    return service.update_institution(current_principal(), institution_id, data)


@admin.route("/staff", methods=["GET"])
@require(*ADMINS)
@admin.arguments(s.StaffQuerySchema, location="query")
@admin.response(200, page_of(s.StaffSchema))
def list_staff(args):
    """管辖范围内的人员"""
    statement = service.list_staff(current_principal(), args.get("institution_id"), args.get("q"))
    return paginate(statement, args["page"], args["page_size"])


@admin.route("/staff", methods=["POST"])
@require(*ADMINS)
@admin.arguments(s.StaffCreateSchema)
@admin.response(201, s.StaffSchema)
def create_staff(data):
    """新增人员账号（密码至少10位，仅保存慢哈希）"""
    return service.create_staff(current_principal(), data)


@admin.route("/staff/<string:staff_id>", methods=["PATCH"])
@require(*ADMINS)
@admin.arguments(s.StaffPatchSchema)
@admin.response(200, s.StaffSchema)
def update_staff(data, staff_id):
    """修改人员（含停用、重置密码）"""
    return service.update_staff(current_principal(), staff_id, data)


@admin.route("/teams", methods=["POST"])
@require(*ADMINS)
@admin.arguments(s.TeamCreateSchema)
@admin.response(201, s.TeamDetailSchema)
def create_team(data):
    """新建家庭医生团队"""
    return service.team_views([service.create_team(current_principal(), data)], detail=True)[0]


@admin.route("/teams/<string:team_id>", methods=["PATCH"])
@require(*ADMINS)
@admin.arguments(s.TeamPatchSchema)
@admin.response(200, s.TeamDetailSchema)
def update_team(data, team_id):
    """修改团队（服务区域、服务包整体替换）"""
    return service.team_views([service.update_team(current_principal(), team_id, data)], detail=True)[0]


@admin.route("/teams/<string:team_id>/members", methods=["POST"])
@require(*ADMINS)
@admin.arguments(s.TeamMemberCreateSchema)
@admin.response(201, s.TeamDetailSchema)
def add_member(data, team_id):
    """加入团队成员（新任队长使原队长成为成员）"""
    team = service.add_member(current_principal(), team_id, data["staff_id"], data["team_role"])
    return service.team_views([team], detail=True)[0]


@admin.route("/teams/<string:team_id>/members/<string:staff_id>", methods=["DELETE"])
@require(*ADMINS)
@admin.response(204)
def remove_member(team_id, staff_id):
    """移出团队成员"""
    service.remove_member(current_principal(), team_id, staff_id)


@admin.route("/service-packages", methods=["POST"])
@require("county_admin")
@admin.arguments(s.ServicePackageCreateSchema)
@admin.response(201, s.ServicePackageSchema)
def create_package(data):
    """新增服务包（价格 = 公卫 + 医保 + 自付）"""
    return service.create_package(current_principal(), data)


@admin.route("/service-packages/<string:package_id>", methods=["PATCH"])
@require("county_admin")
@admin.arguments(s.ServicePackagePatchSchema)
@admin.response(200, s.ServicePackageSchema)
def update_package(data, package_id):
    """修改服务包（已签约的合同保留签约时的价格）"""
    return service.update_package(current_principal(), package_id, data)


@admin.route("/populations/<string:region_code>/<int:year>", methods=["PUT"])
@require("county_admin")
@admin.arguments(s.PopulationPutSchema)
@admin.response(200, s.PopulationSchema)
def put_population(data, region_code, year):
    """设置某区划某年度的常住人口与重点人群人数（统计分母）"""
    _check_year(year)
    return service.put_population(current_principal(), region_code, year, data)


@admin.route("/populations/<string:region_code>/<int:year>", methods=["GET"])
@require("county_admin")
@admin.response(200, s.PopulationSchema)
def get_population(region_code, year):
    """某区划某年度的人口数据"""
    _check_year(year)
    return service.get_population(current_principal(), region_code, year)


def _check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise ValidationFailed({"year": ["年度须在 2000 到 2100 之间"]})
