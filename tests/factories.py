"""A small county to test against, built straight into the database.

吉林省 › 白城市 › 洮北区 with two townships (平安镇 and its villages, 青山镇), and a
neighbouring county (镇赉县) that is out of scope for the 洮北区 staff.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

from backend.auth.passwords import hash_password
from backend.directory.models import (
    Institution, Region, ServicePackage, Staff, Team, TeamMember, TeamPackage, TeamServiceArea,
)
from backend.extensions import db, on_postgresql

PASSWORD = "correct-horse-42"

PROVINCE, CITY, COUNTY = "220000000000", "220800000000", "220802000000"
TOWNSHIP_A, VILLAGE_A1, VILLAGE_A2 = "220802100000", "220802100001", "220802100002"
TOWNSHIP_B, VILLAGE_B1 = "220802200000", "220802200001"
OTHER_COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE = "220821000000", "220821100000", "220821100001"

REGIONS = [
    (PROVINCE, "吉林省"), (CITY, "白城市"), (COUNTY, "洮北区"),
    (TOWNSHIP_A, "平安镇"), (VILLAGE_A1, "平安村"), (VILLAGE_A2, "永安村"),
    (TOWNSHIP_B, "青山镇"), (VILLAGE_B1, "青山村"),
    (OTHER_COUNTY, "镇赉县"), (OTHER_TOWNSHIP, "镇赉镇"), (OTHER_VILLAGE, "东风村"),
]


@dataclass
class County:
    regions: dict[str, Region] = field(default_factory=dict)
    institutions: dict[str, Institution] = field(default_factory=dict)
    staff: dict[str, Staff] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    packages: dict[str, ServicePackage] = field(default_factory=dict)

    def headers(self, client, who: str) -> dict:
        return login(client, self.staff[who].username)


def login(client, username: str, password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/staff/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}


def add_staff(username: str, name: str, title: str, roles: list[str], institution: Institution | None = None,
              region_code: str | None = None) -> Staff:
    staff = Staff(username=username, password_hash=hash_password(PASSWORD), name=name, title=title,
                  roles=roles, institution=institution, region_code=region_code)
    db.session.add(staff)
    return staff


def build_county() -> County:
    from backend.directory.regions import level_of, parent_of

    county = County()
    for code, name in REGIONS:
        region = Region(code=code, name=name, level=level_of(code), parent_code=parent_of(code))
        db.session.add(region)
        county.regions[code] = region
    db.session.flush()

    def institution(key, name, kind, region):
        county.institutions[key] = Institution(name=name, kind=kind, region_code=region)
        db.session.add(county.institutions[key])

    institution("hospital", "洮北区人民医院", "county_hospital", COUNTY)
    institution("center_a", "平安镇卫生院", "township_health_center", TOWNSHIP_A)
    institution("clinic_a1", "平安村卫生室", "village_clinic", VILLAGE_A1)
    institution("center_b", "青山镇卫生院", "township_health_center", TOWNSHIP_B)
    institution("center_other", "镇赉镇卫生院", "township_health_center", OTHER_TOWNSHIP)
    db.session.flush()
    inst = county.institutions

    county.staff.update(
        root=add_staff("root", "省级管理员", "admin", ["county_admin"]),
        county_admin=add_staff("county", "县卫健局", "admin", ["county_admin"], region_code=COUNTY),
        other_county_admin=add_staff("zhenlai", "镇赉卫健局", "admin", ["county_admin"], region_code=OTHER_COUNTY),
        inst_admin=add_staff("center-a-admin", "平安院办", "admin", ["institution_admin"], inst["center_a"]),
        inst_admin_b=add_staff("center-b-admin", "青山院办", "admin", ["institution_admin"], inst["center_b"]),
        doctor_a=add_staff("doctor-a", "王医生", "doctor", ["doctor"], inst["center_a"]),
        nurse_a=add_staff("nurse-a", "李护士", "nurse", ["doctor"], inst["center_a"]),
        village_doctor=add_staff("village-a1", "赵村医", "village_doctor", ["doctor"], inst["clinic_a1"]),
        doctor_b=add_staff("doctor-b", "刘医生", "doctor", ["doctor"], inst["center_b"]),
        doctor_other=add_staff("doctor-other", "陈医生", "doctor", ["doctor"], inst["center_other"]),
    )

    county.packages.update(
        basic=ServicePackage(code="basic", name="基础包", kind="basic", price_fen=12000,
                             public_health_fen=8000, insurance_fen=4000, self_pay_fen=0,
                             items=[{"code": "health_check", "name": "健康体检", "per_year": 1, "eligible_groups": []}],
                             eligible_groups=[]),
        elderly=ServicePackage(code="elderly", name="老年人个性化包", kind="personalized", price_fen=30000,
                               public_health_fen=10000, insurance_fen=10000, self_pay_fen=10000,
                               items=[], eligible_groups=["elderly_65"]),
    )
    db.session.add_all(county.packages.values())
    db.session.flush()

    def team(key, name, institution, area, members, packages=("basic",)):
        t = Team(name=name, institution=institution)
        t.service_area = [TeamServiceArea(region_code=code) for code in area]
        t.packages = [TeamPackage(package_code=code) for code in packages]
        t.members = [TeamMember(staff=staff, team_role=role) for staff, role in members]
        db.session.add(t)
        county.teams[key] = t

    s = county.staff
    team("a", "平安镇家医一队", inst["center_a"], [TOWNSHIP_A],
         [(s["doctor_a"], "leader"), (s["nurse_a"], "member"), (s["village_doctor"], "member")],
         packages=("basic", "elderly"))
    team("b", "青山镇家医一队", inst["center_b"], [VILLAGE_B1], [(s["doctor_b"], "leader")])
    team("other", "镇赉镇家医一队", inst["center_other"], [OTHER_VILLAGE], [(s["doctor_other"], "leader")])
    db.session.commit()
    return county


def id_number_for(birth, sequence: int = 123, region6: str = "220802") -> str:
    from backend.security.identity import make_id_number

    return make_id_number(region6, birth, sequence)


def add_resident(name: str, id_number: str, phone: str | None, region_code: str | None,
                 groups: tuple[str, ...] = (), source: str = "staff"):
    """A resident stored the way the service stores one (encrypted, indexed); its ``groups`` are
    in force since its birth, so that whatever day a test looks at counts them."""
    from backend.residents.models import Resident, ResidentGroup
    from backend.security.fields import blind_index
    from backend.security.identity import birth_date_of, sex_of

    born = birth_date_of(id_number)
    resident = Resident(name=name, id_number=id_number, id_number_index=blind_index(id_number, "id_number"),
                        phone=phone, phone_index=blind_index(phone, "phone"), birth_date=born,
                        sex=sex_of(id_number), region_code=region_code, source=source,
                        tag_history=[ResidentGroup(group=g, set_on=born) for g in groups])
    db.session.add(resident)
    db.session.commit()
    return resident


def account_login(client, wechat, openid: str, unionid: str | None = None) -> dict:
    """Log a mini-program user in through the fake WeChat server, as the mini program does."""
    code = f"code-{openid}-{len(wechat.requests)}"
    wechat.add_code(code, openid=openid, unionid=unionid)
    response = client.post("/api/v1/auth/wechat/login", json={"code": code})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}


@contextlib.contextmanager
def served(app):
    """The app over real HTTP on a loopback port, in a thread, for as long as the block runs."""
    from werkzeug.serving import make_server

    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        thread.join(timeout=10)


def bind_account(client, wechat, resident, phone: str, openid: str, *templates: str) -> dict:
    """Bind ``resident`` (as self) to a mini-program account that accepted one message of each
    template, through the API as the mini program does; the account's headers."""
    account = account_login(client, wechat, openid)
    bound = client.post("/api/v1/me/residents", headers=account, json={
        "name": resident.name, "id_number": resident.id_number, "phone": phone, "relation": "self"})
    assert bound.status_code in (200, 201), bound.get_json()
    if templates:
        accepted = client.post("/api/v1/me/subscriptions", headers=account, json={"accepted": list(templates)})
        assert accepted.status_code == 200, accepted.get_json()
    return account


def add_patients(count: int, sequence: int, template: str, credits: int, registered_on, next_due_on) -> list:
    """``count`` hypertension patients in 平安村, each bound to an account ``o-patient-N`` with
    ``credits`` credits for ``template``, stored straight into the database."""
    from datetime import date

    from backend.followups.models import Condition
    from backend.notifications.models import SubscriptionCredit
    from backend.residents.models import Account, AccountResident

    people = []
    for n in range(count):
        resident = add_resident(f"患者{n}", id_number_for(date(1950, 1, 1 + n), sequence + n),
                                f"139000{sequence:03d}{n}"[:11], VILLAGE_A1)
        account = Account(openid=f"o-patient-{n}")
        db.session.add(account)
        db.session.flush()
        db.session.add(AccountResident(account_id=account.id, resident_id=resident.id, relation="self"))
        db.session.add(SubscriptionCredit(account_id=account.id, template_id=template, credits=credits))
        db.session.add(Condition(resident_id=resident.id, disease="hypertension", diagnosed_on=date(2020, 1, 1),
                                 registered_on=registered_on, next_due_on=next_due_on))
        people.append(resident)
    db.session.commit()
    return people


def counts_kept(contract_id: str) -> dict[str, int]:
    """What the contract's items have delivered as stored on them, checked against the count
    made from the deliveries themselves; the contract's stored ``behind_by`` is checked too when
    it was taken today."""
    from backend import clock
    from backend.contracts.models import Contract
    from backend.fulfilment.service import views_of

    db.session.expire_all()
    contract = db.session.get(Contract, contract_id)
    today = clock.today()
    live = views_of([contract], today, live=True)[contract.id]
    stored = {i.code: i.delivered for i in contract.items}
    assert stored == {i["code"]: i["delivered"] for i in live["items"]}
    if contract.behind_on == today:
        assert contract.behind_by == live["behind_by"]
    return stored


def no_scheduler_leads() -> None:
    """On PostgreSQL the scheduler leads by an advisory lock of the database: one left running (a
    killed test run's, one started by hand) holds it, and a scheduler a test starts would wait
    behind it and run no job. Fail at once, naming it, rather than time out waiting for a job."""
    import sqlalchemy as sa

    from scheduled.leader import LOCK_KEY

    if not on_postgresql():
        return
    holders = db.session.scalars(sa.text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND (classid::bigint << 32 | objid::bigint) = :key"), {"key": LOCK_KEY}).all()
    db.session.rollback()
    assert not holders, f"a scheduler already leads on this database (backend pid {holders}): stop it first"
