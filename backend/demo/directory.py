"""The directory part of the demo county."""
from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

import sqlalchemy as sa
from faker import Faker

from backend.auth.passwords import hash_password
from backend.directory.models import (
    Institution, Region, ServicePackage, Staff, Team, TeamMember, TeamPackage,
    TeamServiceArea,
)
from backend.directory.regions import is_within, level_of, parent_of
from backend.extensions import db

COUNTY_CODE = "220802000000"

ANCESTORS = [("220000000000", "吉林省"), ("220800000000", "白城市"), (COUNTY_CODE, "洮北区")]

# (township code, name, kind of its health institution, villages or communities)
TOWNSHIPS = [
    ("220802001000", "新华街道", "community_health_center", ["新华社区", "光明社区", "幸福社区", "文化社区"]),
    ("220802002000", "长庆街道", "community_health_center", ["长庆社区", "铁东社区", "民航社区"]),
    ("220802100000", "平台镇", "township_health_center", ["平台村", "前进村", "红旗村", "胜利村", "新发村", "永兴村"]),
    ("220802101000", "到保镇", "township_health_center", ["到保村", "合发村", "友谊村", "太平村", "双榆村"]),
    ("220802102000", "洮河镇", "township_health_center", ["洮河村", "长发村", "三合村", "东升村", "兴隆村", "福顺村"]),
    ("220802103000", "林海镇", "township_health_center", ["林海村", "民主村", "团结村", "新立村", "永安村"]),
    ("220802104000", "平安镇", "township_health_center", ["平安村", "和平村", "富强村", "长兴村", "保平村"]),
    ("220802105000", "青山镇", "township_health_center", ["青山村", "继光村", "东风村", "四合村", "繁荣村", "建设村"]),
    ("220802106000", "岭下镇", "township_health_center", ["岭下村", "新华村", "德胜村", "丰收村"]),
    ("220802200000", "德顺蒙古族乡", "township_health_center", ["德顺村", "巴彦村", "新艾里村", "宝力村", "哈拉村"]),
]

PACKAGES = [
    # code, name, kind, price, public health, insurance, self pay, eligible groups, items
    ("basic", "基础签约服务包", "basic", 12000, 8000, 4000, 0, [], [
        ("health_record", "建立健康档案", 1, []),
        ("health_education", "健康教育", 2, []),
        ("health_check_65", "老年人年度健康体检", 1, ["elderly_65"]),
        ("bp_follow_up", "高血压随访", 4, ["hypertension"]),
        ("fpg_follow_up", "糖尿病随访（空腹血糖）", 4, ["diabetes"]),
        ("tcm_guidance", "中医药健康管理", 1, ["elderly_65"]),
    ]),
    ("elderly_care", "老年人健康管理包", "personalized", 12000, 4000, 4000, 4000, ["elderly_65"], [
        ("home_visit", "上门巡诊", 2, []),
        ("ecg", "心电图检查", 1, []),
    ]),
    ("hypertension_plus", "高血压个性化管理包", "personalized", 10000, 3000, 5000, 2000, ["hypertension"], [
        ("bp_monitoring", "家庭血压监测指导", 4, []),
        ("medication_review", "用药评估", 2, []),
    ]),
    ("diabetes_plus", "糖尿病个性化管理包", "personalized", 15000, 4000, 6000, 5000, ["diabetes"], [
        ("hba1c", "糖化血红蛋白检测", 2, []),
        ("fundus_screening", "眼底筛查", 1, []),
    ]),
    ("child_care", "儿童健康管理包", "personalized", 8000, 4000, 2000, 2000, ["child_0_6"], [
        ("growth_check", "生长发育评估", 2, []),
    ]),
    ("maternal_care", "孕产妇健康管理包", "personalized", 8000, 4000, 2000, 2000, ["pregnant"], [
        ("prenatal_visit", "孕期随访", 5, []),
        ("postnatal_visit", "产后访视", 1, []),
    ]),
]


# Face-to-face follow-ups of the disease count toward these items.
FOLLOW_UP_ITEMS = {"bp_follow_up": "hypertension", "fpg_follow_up": "diabetes"}


def _code(township: str, index: int) -> str:
    return township[:9] + f"{index + 1:03d}"


def _upsert_region(code: str, name: str) -> None:
    if db.session.get(Region, code) is None:
        db.session.add(Region(code=code, name=name, level=level_of(code), parent_code=parent_of(code)))
        db.session.flush()


def _institution(name: str, kind: str, region_code: str) -> Institution:
    found = db.session.scalar(
        sa.select(Institution).where(Institution.name == name, Institution.region_code == region_code)
    )
    if found is None:
        found = Institution(name=name, kind=kind, region_code=region_code)
        db.session.add(found)
        db.session.flush()
    return found


class _StaffMaker:
    def __init__(self, password_hash: str, fake: Faker):
        self.password_hash = password_hash
        self.fake = fake

    def get(self, username: str, title: str, roles: list[str], institution: Institution | None,
            region_code: str | None = None, name: str | None = None) -> Staff:
        # Names are drawn whether or not the row exists, so a re-run draws the same ones.
        drawn = name or self.fake.name()
        found = db.session.scalar(sa.select(Staff).where(Staff.username == username))
        if found is None:
            found = Staff(username=username, password_hash=self.password_hash, name=drawn, title=title,
                          roles=roles, institution=institution, region_code=region_code)
            db.session.add(found)
            db.session.flush()
        return found


def _team(name: str, institution: Institution, area: list[str], packages: list[str],
          members: list[tuple[Staff, str]]) -> Team:
    found = db.session.scalar(sa.select(Team).where(Team.name == name, Team.institution_id == institution.id))
    if found is None:
        found = Team(name=name, institution=institution)
        found.service_area = [TeamServiceArea(region_code=code) for code in area]
        found.packages = [TeamPackage(package_code=code) for code in packages]
        found.members = [TeamMember(staff=staff, team_role=role) for staff, role in members]
        db.session.add(found)
        db.session.flush()
    return found


def _packages() -> None:
    for code, name, kind, price, ph, ins, own, groups, items in PACKAGES:
        if db.session.scalar(sa.select(ServicePackage.id).where(ServicePackage.code == code)):
            continue
        db.session.add(ServicePackage(
            code=code, name=name, kind=kind, price_fen=price, public_health_fen=ph, insurance_fen=ins,
            self_pay_fen=own, eligible_groups=groups,
            items=[{"code": c, "name": n, "per_year": k, "eligible_groups": g,
                    "follow_up_disease": FOLLOW_UP_ITEMS.get(c), "health_check": c == "health_check_65"}
                   for c, n, k, g in items],
        ))
    db.session.flush()


def load_directory(rng: random.Random, fake: Faker, password: str, today: date) -> list[dict]:
    password_hash = hash_password(password)
    staff = _StaffMaker(password_hash, fake)
    for code, name in ANCESTORS:
        _upsert_region(code, name)
    _packages()
    package_codes = [p[0] for p in PACKAGES]

    hospital = _institution("白城市洮北区人民医院", "county_hospital", COUNTY_CODE)
    county_admin = staff.get("county-admin", "admin", ["county_admin"], None, COUNTY_CODE)
    staff.get("hospital-admin", "admin", ["institution_admin"], hospital)
    # The county hospital's doctors receive the teams' referrals and record what they did.
    cardiologist = staff.get("hospital-doctor1", "doctor", ["doctor"], hospital)
    endocrinologist = staff.get("hospital-doctor2", "doctor", ["doctor"], hospital)

    logins = [{"username": "county-admin", "roles": "county_admin", "who": f"{county_admin.name}，洮北区卫健局"}]
    for t_index, (t_code, t_name, kind, villages) in enumerate(TOWNSHIPS):
        _upsert_region(t_code, t_name)
        urban = kind == "community_health_center"
        centre_name = f"{t_name}社区卫生服务中心" if urban else f"{t_name}卫生院"
        centre = _institution(centre_name, kind, t_code)
        tag = f"t{t_index + 1:02d}"
        admin = staff.get(f"{tag}-admin", "admin", ["institution_admin"], centre)
        doctors = [staff.get(f"{tag}-doctor{n}", "doctor", ["doctor"], centre) for n in (1, 2)]
        nurse = staff.get(f"{tag}-nurse", "nurse", ["doctor"], centre)
        public_health = staff.get(f"{tag}-ph", "public_health", ["doctor"], centre)
        village_codes = []
        village_doctors = []
        for v_index, v_name in enumerate(villages):
            v_code = _code(t_code, v_index)
            _upsert_region(v_code, v_name)
            village_codes.append(v_code)
            if not urban:
                clinic = _institution(f"{v_name}卫生室", "village_clinic", v_code)
                village_doctors.append(staff.get(f"{tag}-v{v_index + 1}", "village_doctor", ["doctor"], clinic))
        # Two teams a township, each led by one of its doctors and serving half of its villages.
        half = (len(village_codes) + 1) // 2
        for n, (area, vdocs) in enumerate([(village_codes[:half], village_doctors[:half]),
                                           (village_codes[half:], village_doctors[half:])]):
            members = [(doctors[n], "leader"), (nurse if n == 0 else public_health, "member")]
            members += [(vdoc, "member") for vdoc in vdocs]
            _team(f"{t_name}家庭医生{'一二'[n]}队", centre, area,
                  ["basic", *rng.sample(package_codes[1:], 3)], members)
        if t_index == 2:
            logins += [
                {"username": admin.username, "roles": "institution_admin", "who": f"{admin.name}，{centre.name}"},
                {"username": doctors[0].username, "roles": "doctor", "who": f"{doctors[0].name}，{t_name}家庭医生一队队长"},
                {"username": village_doctors[0].username, "roles": "doctor",
                 "who": f"{village_doctors[0].name}，{villages[0]}卫生室乡村医生"},
            ]
    logins += [
        {"username": cardiologist.username, "roles": "doctor", "who": f"{cardiologist.name}，{hospital.name}心内科"},
        {"username": endocrinologist.username, "roles": "doctor",
         "who": f"{endocrinologist.name}，{hospital.name}内分泌科"},
    ]
    db.session.flush()
    return [{**login, "password": password} for login in logins]


def serving_team(teams: list[Team], region_code: str) -> Team | None:
    """The first team (by name) whose service area covers the region."""
    return next((t for t in teams if any(is_within(region_code, a.region_code) for a in t.service_area)), None)


def team_finder(teams: list[Team]) -> Callable[[str], Team | None]:
    """serving_team for a whole population: each village's team is looked up once."""
    found: dict[str, Team | None] = {}

    def find(region_code: str) -> Team | None:
        if region_code not in found:
            found[region_code] = serving_team(teams, region_code)
        return found[region_code]
    return find
