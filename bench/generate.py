"""Fill PostgreSQL with a benchmark county: 洮北区 (220802) at a chosen scale, fast.

    bench/generate [--scale 1.0] [--database-url URL] [--seed 7]

The database is (re)created the way production does it (Alembic migrations through the
app), then every table is bulk-loaded with COPY. Scale 1.0 is 600,000 residents in 20
townships of 15 villages, 24,000 staff-registered conditions' worth of chronic patients
(100,000 hypertension, 40,000 diabetes), a year of follow-ups, contracts, accounts and a
month of reminders. Everything scales linearly with --scale.

Personal fields are encrypted with the FIXED bench keys below; start the service with
``bench_env(url)`` (for instance ``env $(python -c ...) gunicorn wsgi:app``) so it can read them.
"""
from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import random
import sys
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url
from tqdm import tqdm

from backend import clock
from backend.contracts.rules import end_date_for
from backend.demo.directory import FOLLOW_UP_ITEMS
from backend.demo.directory import PACKAGES as DEMO_PACKAGES
from backend.followups import rules
from backend.notifications import templates
from backend.notifications.service import LADDER
from backend.security.crypto import FieldCipher, parse_keys
from backend.security.identity import age_on, make_id_number
from backend.security.masking import mask_phone

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/jiayi_bench"
DEFAULT_URL = DEFAULT_DATABASE_URL  # the name bench/run.py imports

# Fixed on purpose: the data is encrypted and indexed with these, and the benchmark runner
# starts the service with the same ones (bench_env). Never use them outside benchmarks.
BENCH_SECRET_KEY = "QNt6PCe2nANzlfEQNewcTgRLRFiT4CUi6HPT6Vp_Cb1N_YjM8AH3ZvOYU94o6ggF"
BENCH_FIELD_KEYS = "YKf4SvmTVe1j2GkuRIMrwU0QJUS1BsjIjdAztK3OYcI="
BENCH_FIELD_INDEX_KEY = "R7sg7axKWAKGtBLnn-L_IxP_oA4-cB0HNqxtjGkR6QA"
BENCH_PASSWORD = "bench-password-1"
FOLLOW_UP_TEMPLATE = "demo-follow-up-template"
RENEWAL_TEMPLATE = "demo-renewal-template"


def bench_env(url: str = DEFAULT_DATABASE_URL) -> dict[str, str]:
    """The JIAYI_* variables the service needs to read a database this tool filled."""
    return {
        "JIAYI_DATABASE_URL": url,
        "JIAYI_SECRET_KEY": BENCH_SECRET_KEY,
        "JIAYI_FIELD_KEYS": BENCH_FIELD_KEYS,
        "JIAYI_FIELD_INDEX_KEY": BENCH_FIELD_INDEX_KEY,
    }


# The county

REGION6 = "220802"
PROVINCE, CITY, COUNTY = "220000000000", "220800000000", "220802000000"
ANCESTORS = [(PROVINCE, "吉林省", "province", None), (CITY, "白城市", "city", PROVINCE),
             (COUNTY, "洮北区", "county", CITY)]
TOWNSHIP_NAMES = [
    "平台镇", "到保镇", "洮河镇", "林海镇", "平安镇", "青山镇", "岭下镇", "三合乡", "东风乡", "金祥乡",
    "德顺蒙古族乡", "东胜乡", "幸福乡", "岭南乡", "胡力吐乡", "新立乡", "永兴乡", "兴隆乡", "保胜乡", "长发乡",
]
VILLAGE_WORDS = [
    "前进", "红旗", "胜利", "新发", "永兴", "合发", "友谊", "太平", "双榆", "长发", "三合", "东升", "兴隆", "福顺",
    "民主", "团结", "新立", "永安", "和平", "富强", "长兴", "保平", "继光", "东风", "四合", "繁荣", "建设", "德胜",
    "丰收", "巴彦", "宝力", "哈拉", "光明", "曙光", "向阳", "复兴", "新华", "同心", "五星", "金山",
]
VILLAGES_PER_TOWNSHIP = 15
TOWNSHIPS = 20
NUMERALS = "一二三四五六七八九十"

BASIC = ("basic", "基础签约服务包", "basic", 12000, 8000, 4000, 0)
# The demo's basic package: what every contract owes, by the resident's groups.
BASIC_ITEMS = [{"code": c, "name": n, "per_year": k, "eligible_groups": g, "follow_up_disease": FOLLOW_UP_ITEMS.get(c)}
               for c, n, k, g in DEMO_PACKAGES[0][8]]
PERSONALIZED = [
    # code, name, price, public health, insurance, self pay, eligible groups, items
    ("elderly_care", "老年人健康管理包", 12000, 4000, 4000, 4000, ["elderly_65"],
     [("home_visit", "上门巡诊", 2, []), ("ecg", "心电图检查", 1, [])]),
    ("hypertension_plus", "高血压个性化管理包", 10000, 3000, 5000, 2000, ["hypertension"],
     [("bp_monitoring", "家庭血压监测指导", 4, []), ("medication_review", "用药评估", 2, [])]),
    ("diabetes_plus", "糖尿病个性化管理包", 15000, 4000, 6000, 5000, ["diabetes"],
     [("hba1c", "糖化血红蛋白检测", 2, []), ("fundus_screening", "眼底筛查", 1, [])]),
    ("child_care", "儿童健康管理包", 8000, 4000, 2000, 2000, ["child_0_6"],
     [("growth_check", "生长发育评估", 2, [])]),
]

# Age bands of a north-eastern rural county (share of residents): old, with few children.
AGE_BANDS = [((0, 6), 0.05), ((7, 17), 0.09), ((18, 39), 0.22), ((40, 59), 0.32), ((60, 64), 0.10),
             ((65, 79), 0.17), ((80, 95), 0.05)]
# (lowest age, hypertension weight, diabetes weight): the chance of being a registered patient.
PREVALENCE = [(18, 0.01, 0.004), (35, 0.06, 0.02), (45, 0.16, 0.05), (55, 0.27, 0.09), (65, 0.40, 0.13),
              (75, 0.45, 0.12)]
# Staff-set tags: (tag, share, condition on (sex, age)).
STAFF_TAGS = [
    ("disabled", 0.04, lambda male, age: True),
    ("poverty_relief", 0.05, lambda male, age: True),
    ("pregnant", 0.05, lambda male, age: not male and 20 <= age <= 40),
    ("severe_mental_disorder", 0.004, lambda male, age: age >= 15),
    ("tuberculosis", 0.001, lambda male, age: True),
    ("special_family_planning", 0.01, lambda male, age: age >= 50),
]

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
                "余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段")
GIVEN_MALE = ["伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞", "鑫", "波",
              "建国", "建华", "国庆", "志强", "永刚", "海涛", "振华", "德明", "文斌", "宝山", "长春", "玉林", "宇轩",
              "浩然", "子涵", "俊杰", "立新", "树森", "福林", "广富", "德胜", "长江"]
GIVEN_FEMALE = ["芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "萍", "红", "梅", "琳", "颖", "洁", "倩",
                "秀英", "桂兰", "玉兰", "淑珍", "桂芝", "秀兰", "凤英", "丽娟", "冬梅", "海燕", "春梅", "晓红", "雪梅",
                "欣怡", "梓涵", "雨桐", "淑华", "玉霞", "凤芝", "桂香", "亚男", "春燕", "秀云"]

# Follow-ups: how a visit is made, and how often a patient misses one.
METHODS = ["clinic"] * 60 + ["home"] * 28 + ["phone"] * 8 + ["online"] * 4
ADHERENCE = ["regular"] * 6 + ["intermittent"] * 3 + ["none"]
NO_CREDIT_ERROR = "no account with a subscription for this template"


def log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


# Connections and schema

def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as libpq takes it (without the +psycopg driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def recreate_schema(url: str) -> None:
    target = make_url(url)
    server = libpq_url(str(target.set(database="postgres")))
    with psycopg.connect(server, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone() is None:
            log(f"creating database {target.database}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def migrate(url: str) -> None:
    import flask_migrate

    from backend import create_app
    from backend.config import load_settings
    from backend.extensions import dispose_engines

    settings = load_settings(ROOT / "instance", {**os.environ, **bench_env(url)})
    app = create_app({"JIAYI": settings})
    with app.app_context():
        flask_migrate.upgrade()
        dispose_engines()


class Copier:
    """COPY rows into tables, one progress bar per table."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.counts: Counter = Counter()
        self.bars: dict[str, tqdm] = {}

    def bar(self, table: str, total: int | None) -> tqdm:
        if table not in self.bars:
            self.bars[table] = tqdm(total=total, desc=f"{table:<22}", unit=" rows", unit_scale=True,
                                    dynamic_ncols=True, file=sys.stderr, mininterval=0.5)
        return self.bars[table]

    def copy(self, table: str, columns: list[str], rows, total: int | None = None, close: bool = True) -> int:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
        bar = self.bar(table, total)
        n = 0
        with self.conn.cursor() as cur, cur.copy(statement) as cp:
            write = cp.write_row
            for row in rows:
                write(row)
                n += 1
                if not n & 4095:
                    bar.update(4096)
        bar.update(n & 4095)
        self.counts[table] += n
        if close:
            self.close(table)
        return n

    def close(self, table: str) -> None:
        bar = self.bars.pop(table, None)
        if bar is not None:
            bar.total = bar.n
            bar.refresh()
            bar.close()


# Generation

class County:
    """Everything generated, kept in memory as plain lists indexed by resident number."""

    def __init__(self, scale: float, seed: int):
        if scale <= 0:
            raise SystemExit("--scale must be positive")
        self.scale = scale
        self.rng = random.Random(seed)
        self.today = clock.today()
        now = clock.utcnow().replace(tzinfo=None)
        self.now = now.replace(microsecond=0)
        self.cipher = FieldCipher(parse_keys(BENCH_FIELD_KEYS), BENCH_FIELD_INDEX_KEY)
        self.n_residents = max(TOWNSHIPS * VILLAGES_PER_TOWNSHIP, round(600_000 * scale))
        self._civil_midnight: dict[date, datetime] = {}

    # helpers

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def moment(self, day: date, seconds: int) -> datetime:
        """Naive UTC of ``seconds`` after the civil (Asia/Shanghai) midnight of ``day``, never in the future."""
        base = self._civil_midnight.get(day)
        if base is None:
            base = self._civil_midnight[day] = datetime(day.year, day.month, day.day) - timedelta(hours=8)
        return min(base + timedelta(seconds=seconds), self.now)

    # directory

    def directory(self, copier: Copier) -> None:
        rng = self.rng
        created = self.moment(self.today - timedelta(days=800), 9 * 3600)
        regions = [(c, n, lvl, p) for c, n, lvl, p in ANCESTORS]
        self.villages: list[tuple[str, str]] = []  # (code, name)
        self.township_of_village: list[int] = []
        townships = []
        for t in range(TOWNSHIPS):
            code = f"{REGION6}{101 + t:03d}000"
            name = TOWNSHIP_NAMES[t]
            townships.append((code, name))
            regions.append((code, name, "township", COUNTY))
            words = [VILLAGE_WORDS[(t * 7 + v) % len(VILLAGE_WORDS)] for v in range(VILLAGES_PER_TOWNSHIP)]
            for v, word in enumerate(words):
                vcode = code[:9] + f"{v + 1:03d}"
                vname = f"{word}村"
                regions.append((vcode, vname, "village", code))
                self.villages.append((vcode, vname))
                self.township_of_village.append(t)
        copier.copy("regions", ["code", "name", "level", "parent_code"], regions)

        institutions = [(self.uid(), "白城市洮北区人民医院", "county_hospital", COUNTY, created, created)]
        centres = []
        for code, name in townships:
            centre = self.uid()
            centres.append(centre)
            institutions.append((centre, f"{name}卫生院", "township_health_center", code, created, created))
        for vcode, vname in self.villages:
            institutions.append((self.uid(), f"{vname}卫生室", "village_clinic", vcode, created, created))
        copier.copy("institutions", ["id", "name", "kind", "region_code", "created_at", "updated_at"], institutions)

        packages = [(self.uid(), *BASIC, json.dumps(BASIC_ITEMS, ensure_ascii=False), "[]", True, created, created)]
        for code, name, price, ph, ins, own, groups, items in PERSONALIZED:
            items_json = json.dumps([{"code": c, "name": n, "per_year": k, "eligible_groups": g}
                                     for c, n, k, g in items], ensure_ascii=False)
            packages.append((self.uid(), code, name, "personalized", price, ph, ins, own, items_json,
                             json.dumps(groups), True, created, created))
        copier.copy("service_packages", ["id", "code", "name", "kind", "price_fen", "public_health_fen",
                                         "insurance_fen", "self_pay_fen", "items", "eligible_groups", "active",
                                         "created_at", "updated_at"], packages)
        package_codes = [p[1] for p in packages]

        # Teams: ceil(2 × scale) a township (at least 1, at most one per village), six doctors each
        # (more at very large scales), together serving the township's villages.
        per_township = min(VILLAGES_PER_TOWNSHIP, max(1, math.ceil(2 * self.scale - 1e-9)))
        members_per_team = max(6, math.ceil(6 * 2 * self.scale / per_township - 1e-9))
        from argon2 import PasswordHasher
        password_hash = PasswordHasher().hash(BENCH_PASSWORD)
        self.logins = []

        def name_of(male: bool) -> str:
            return rng.choice(SURNAMES) + rng.choice(GIVEN_MALE if male else GIVEN_FEMALE)

        staff = []
        county_admin = self.uid()
        staff.append((county_admin, "bench-county", password_hash, name_of(True), "admin", '["county_admin"]',
                      None, COUNTY, True, created, created))
        self.logins.append(("bench-county", "county_admin", "洮北区卫健局"))
        teams, members, areas, team_packages = [], [], [], []
        self.team_members: list[list[str]] = []
        self.team_names: list[str] = []
        self.team_ids: list[str] = []
        self.team_of_village: list[int] = [0] * len(self.villages)
        for t, (code, name) in enumerate(townships):
            village_indexes = [i for i, tv in enumerate(self.township_of_village) if tv == t]
            bounds = [round(len(village_indexes) * k / per_township) for k in range(per_township + 1)]
            chunks = [village_indexes[bounds[k]:bounds[k + 1]] for k in range(per_township)]
            for k, chunk in enumerate(chunks):
                team_index = len(self.team_ids)
                team_id = self.uid()
                team_name = f"{name}家庭医生{NUMERALS[k] if k < 10 else k + 1}队"
                teams.append((team_id, team_name, centres[t], None, True, created, created))
                self.team_ids.append(team_id)
                self.team_names.append(team_name)
                ids = []
                for m in range(members_per_team):
                    if team_index == 0 and m == 0:
                        username = "bench-doctor"
                        self.logins.append((username, "doctor", f"{team_name}队长"))
                    else:
                        username = f"bench-t{t + 1:02d}-team{k + 1}-doc{m + 1}"
                    staff_id = self.uid()
                    staff.append((staff_id, username, password_hash, name_of(rng.random() < 0.5), "doctor",
                                  '["doctor"]', centres[t], None, True, created, created))
                    members.append((team_id, staff_id, "leader" if m == 0 else "member"))
                    ids.append(staff_id)
                self.team_members.append(ids)
                for v in chunk:
                    areas.append((team_id, self.villages[v][0]))
                    self.team_of_village[v] = team_index
                for package in package_codes:
                    team_packages.append((team_id, package))
        copier.copy("staff", ["id", "username", "password_hash", "name", "title", "roles", "institution_id",
                              "region_code", "active", "created_at", "updated_at"], staff)
        copier.copy("teams", ["id", "name", "institution_id", "capacity_limit", "active", "created_at",
                              "updated_at"], teams)
        copier.copy("team_members", ["team_id", "staff_id", "team_role"], members)
        copier.copy("team_service_areas", ["team_id", "region_code"], areas)
        copier.copy("team_packages", ["team_id", "package_code"], team_packages)
        self.members_per_team = members_per_team

    # residents

    def residents(self, copier: Copier) -> None:
        rng, today, cipher = self.rng, self.today, self.cipher
        n = self.n_residents
        today_ord = today.toordinal()
        bands = [band for band, _ in AGE_BANDS]
        weights = [w for _, w in AGE_BANDS]
        cum = []
        acc = 0.0
        for w in weights:
            acc += w
            cum.append(acc / sum(weights))
        villages = len(self.villages)
        base, extra = divmod(n, villages)
        self.village_of = village_of = []
        for v in range(villages):
            village_of.extend([v] * (base + (1 if v < extra else 0)))
        self.ids = ids = [self.uid() for _ in range(n)]
        self.births = births = [None] * n
        self.ages = ages = [0] * n
        self.male = male = [False] * n
        self.tags: dict[int, list[str]] = {}
        tagged_on: dict[int, date] = {}
        used: set[int] = set()
        id_enc = cipher.encrypt
        blind = cipher.blind_index
        random_ = rng.random
        randrange = rng.randrange
        choice = rng.choice
        surnames = SURNAMES
        staff_tags = STAFF_TAGS
        village_names = [name for _, name in self.villages]
        village_codes = [code for code, _ in self.villages]

        def rows():
            for i in range(n):
                r = random_()
                b = 0
                while cum[b] < r:
                    b += 1
                low, high = bands[b]
                age = randrange(low, high + 1)
                birth_ord = today_ord - age * 365 - randrange(0, 365) - age // 4
                birth = date.fromordinal(birth_ord)
                is_male = random_() < (0.5 if age < 60 else 0.46)
                parity = 1 if is_male else 0
                sequence = randrange(parity, 1000, 2)
                key = birth_ord * 1000 + sequence
                while key in used:
                    sequence = (sequence + 2) % 1000
                    key = birth_ord * 1000 + sequence
                used.add(key)
                id_number = make_id_number(REGION6, birth, sequence)
                age = age_on(birth, today)
                births[i], ages[i], male[i] = birth, age, is_male
                name = choice(surnames) + choice(GIVEN_MALE if is_male else GIVEN_FEMALE)
                if random_() < 0.85:
                    phone = f"1{choice('358')}{randrange(1_000_000_000):09d}"
                    phone_enc, phone_index, phone_shown = id_enc(phone), blind(phone, "phone"), mask_phone(phone)
                else:
                    phone_enc = phone_index = phone_shown = None
                v = village_of[i]
                address = f"{village_names[v]}{randrange(1, 9)}组{randrange(1, 61)}号"
                registered_on = today - timedelta(days=randrange(380, 1500))
                created = self.moment(registered_on, randrange(8 * 3600, 17 * 3600))
                tags = [tag for tag, share, fits in staff_tags if random_() < share and fits(is_male, age)]
                if tags:
                    self.tags[i] = tags
                    tagged_on[i] = registered_on  # set when the resident was registered, still in force
                yield (ids[i], name, id_enc(id_number), blind(id_number, "id_number"), phone_enc, phone_index,
                       phone_shown, birth, "male" if is_male else "female", village_codes[v], address, "staff",
                       created, created)

        copier.copy("residents", ["id", "name", "id_number_enc", "id_number_index", "phone_enc", "phone_index",
                                  "phone_shown", "birth_date", "sex", "region_code", "address", "source",
                                  "created_at", "updated_at"], rows(), total=n)
        copier.copy("resident_groups", ["resident_id", "group", "set_on"],
                    ((ids[i], tag, tagged_on[i]) for i, tags in self.tags.items() for tag in tags))

    # patients (chosen before contracts: they are a key population)

    def choose_patients(self) -> None:
        rng = self.rng
        self.patients: dict[str, list[int]] = {}
        for disease, column, target in (("hypertension", 1, 100_000), ("diabetes", 2, 40_000)):
            wanted = min(round(target * self.scale), self.n_residents // 2)
            # Efraimidis–Spirakis: weighted sampling without replacement, exactly `wanted`.
            weight_of_age = [0.0] * 130
            for low, *weights in PREVALENCE:
                for age in range(low, 130):
                    weight_of_age[age] = weights[column - 1]
            log_ = math.log
            random_ = rng.random
            keys = [log_(1.0 - random_()) / w if (w := weight_of_age[age]) else -math.inf for age in self.ages]
            chosen = heapq.nlargest(wanted, range(self.n_residents), key=keys.__getitem__)
            self.patients[disease] = sorted(chosen)
        self.is_patient = set(self.patients["hypertension"]) | set(self.patients["diabetes"])

    # contracts

    def contracts(self, copier: Copier) -> None:
        rng, today = self.rng, self.today
        n = self.n_residents
        key = [a >= 65 or a <= 6 or i in self.is_patient or i in self.tags for i, a in enumerate(self.ages)]
        k = sum(key)
        others_rate = max(0.0, min(1.0, (0.60 * n - 0.85 * k) / max(1, n - k)))
        active = [rng.random() < (0.85 if key[i] else others_rate) for i in range(n)]
        not_active = n - sum(active)
        pending_rate = min(1.0, 0.03 * n / max(1, not_active))
        ends = {}
        self.contract_team: dict[int, int] = {}
        contract_ids = []
        contract_residents = []
        price = BASIC[3:]
        teams_of_village = self.team_of_village
        village_of = self.village_of
        villages = self.villages
        ids = self.ids
        members = self.team_members
        uid = self.uid
        randrange = rng.randrange
        random_ = rng.random

        def rows():
            for i in range(n):
                if active[i]:
                    status = "active"
                    start = today - timedelta(days=randrange(0, 365))
                    end = ends.get(start)
                    if end is None:
                        end = ends[start] = end_date_for(start)
                    signed = start - timedelta(days=randrange(1, 11))
                elif random_() < pending_rate:
                    status = "pending"
                    start = end = None
                    signed = today - timedelta(days=randrange(0, 14))
                else:
                    continue
                team = teams_of_village[village_of[i]]
                doctor = members[team][randrange(len(members[team]))]
                cid = uid()
                contract_ids.append(cid)
                contract_residents.append(i)
                created = self.moment(signed, randrange(8 * 3600, 17 * 3600))
                if start is not None:
                    decided_at = self.moment(start, 9 * 3600 + 30 * 60)
                    self.contract_team[i] = team
                    yield (cid, ids[i], villages[village_of[i]][0], self.team_ids[team], doctor, status, start,
                           end, None, "staff", doctor, doctor, decided_at, None, None, *price, created, decided_at)
                else:
                    yield (cid, ids[i], villages[village_of[i]][0], self.team_ids[team], doctor, status, None,
                           None, None, "staff", doctor, None, None, None, None, *price, created, created)

        copier.copy("contracts", ["id", "resident_id", "region_code", "team_id", "doctor_id", "status", "start_date", "end_date",
                                  "renewal_of", "created_by_kind", "created_by_id", "decided_by_id", "decided_at",
                                  "ended_on", "reason", "price_fen", "public_health_fen", "insurance_fen",
                                  "self_pay_fen", "created_at", "updated_at"], rows(),
                    total=sum(active) + round(0.03 * n))
        name, kind = BASIC[1], BASIC[2]
        copier.copy("contract_packages", ["contract_id", "package_code", "name", "kind", "price_fen",
                                          "public_health_fen", "insurance_fen", "self_pay_fen"],
                    ((cid, "basic", name, kind, *price) for cid in contract_ids), total=len(contract_ids))
        copier.copy("contract_items", ["contract_id", "code", "name", "owed", "follow_up_disease"],
                    self.owed_items(contract_ids, contract_residents))

    def owed_items(self, contract_ids: list[str], residents: list[int]):
        """What each contract owes: the basic package's items for the resident's groups."""
        hypertension, diabetes = set(self.patients["hypertension"]), set(self.patients["diabetes"])
        for cid, i in zip(contract_ids, residents):
            groups = {"elderly_65"} if self.ages[i] >= 65 else set()
            if i in hypertension:
                groups.add("hypertension")
            if i in diabetes:
                groups.add("diabetes")
            for item in BASIC_ITEMS:
                if not item["eligible_groups"] or groups.intersection(item["eligible_groups"]):
                    yield cid, item["code"], item["name"], item["per_year"], item["follow_up_disease"]

    # conditions and follow-ups

    def follow_ups(self, copier: Copier) -> None:
        rng, today = self.rng, self.today
        window_start = today - timedelta(days=365)
        year_start = date(today.year, 1, 1)
        into_year = (today - year_start).days
        notify_from = today - timedelta(days=30)
        self.due_events = []  # (resident index, condition id, disease, due date, step)
        self.condition_count = Counter()
        diligence = [rng.uniform(0.78, 0.94) for _ in range(TOWNSHIPS)]
        patients = [(i, d) for d in ("hypertension", "diabetes") for i in self.patients[d]]
        rng.shuffle(patients)
        randint, random_, randrange, choice, gauss = rng.randint, rng.random, rng.randrange, rng.choice, rng.gauss
        uid = self.uid
        classify, Visit, Previous = rules.classify, rules.Visit, rules.Previous
        first_due_on = rules.first_due_on
        one_day = timedelta(days=1)
        days = [timedelta(days=d) for d in range(-400, 4000)]

        def day(d: int) -> timedelta:
            return days[d + 400]

        ladder = [(step, day(offset)) for step, offset in LADDER]
        cond_cols = ["id", "resident_id", "region_code", "disease", "diagnosed_on", "registered_on", "registered_by_id",
                     "deregistered_on", "deregistration_reason", "next_due_on", "last_follow_up_id",
                     "last_visited_on", "urgent", "created_at", "updated_at"]
        fu_cols = ["id", "resident_id", "condition_id", "disease", "visited_on", "method", "sbp", "dbp",
                   "heart_rate", "weight_kg", "height_cm", "temperature_c", "fasting_glucose",
                   "medication_adherence", "adverse_reaction", "complication", "symptoms", "notes",
                   "classification", "on_target", "refer", "urgent_referral", "referral_reasons", "next_due_on",
                   "recorded_by_id", "body_hash", "created_at", "updated_at"]
        total_conditions = len(patients)
        copier.bar("conditions", total_conditions)
        copier.bar("follow_ups", round(560_000 * self.scale))

        def simulate(i: int, disease: str, conditions: list, visits: list) -> None:
            birth, is_male = self.births[i], self.male[i]
            team = self.contract_team.get(i)
            if team is None:
                team = self.team_of_village[self.village_of[i]]
            doctors = self.team_members[team]
            rid = self.ids[i]
            region = self.villages[self.village_of[i]][0]
            cid = uid()
            if random_() < 0.12:  # taken into management this year (or the last weeks, early in January)
                span = into_year if into_year >= 30 else 60
                registered = today - day(randint(0, span))
                diagnosed = registered - day(randint(0, 60))
            else:
                registered = today - day(randint(max(into_year + 1, 60), 3650))
                diagnosed = registered - day(randint(0, 90))
            registered_by = doctors[0]
            hypertension = disease == "hypertension"
            control = rng.uniform(0.2, 0.65) if random_() < 0.10 else rng.uniform(0.75, 0.99)
            keep = diligence[self.township_of_village[self.village_of[i]]]
            height = round(gauss(168 if is_male else 157, 6), 1)
            weight = gauss(70 if is_male else 60, 8)
            if registered >= window_start:
                due = first_due_on(registered)
            else:
                due = window_start + day(randint(0, 89))
            previous = None
            last = None
            last_visit = registered
            after_controlled = True
            while due <= today:
                if random_() > keep:  # missed: comes weeks later, or not yet (overdue)
                    visited = due + day(randint(20, 70))
                elif after_controlled:
                    visited = due + day(randint(-3, 7))
                else:
                    visited = due + day(randint(0, 16))
                if visited <= last_visit:
                    visited = last_visit + one_day
                if visited > today:
                    visited = None
                if notify_from - day(7) <= due <= today + day(3):
                    for step, offset in ladder:
                        sent_on = due + offset
                        if notify_from <= sent_on < today and (visited is None or visited > sent_on):
                            self.due_events.append((i, cid, disease, due, step, sent_on))
                if visited is None:
                    break
                age = age_on(birth, visited)
                controlled = random_() < control
                if hypertension:
                    if controlled:
                        sbp = min(int(gauss(128, 8)), 149 if age >= 65 else 139)
                        dbp = min(int(gauss(79, 5)), 89)
                    else:
                        sbp, dbp = int(gauss(158, 11)), int(gauss(95, 7))
                        if random_() < 0.03:
                            sbp, dbp = randint(180, 200), randint(100, 115)
                    sbp = max(sbp, 95)
                    dbp = min(max(dbp, 55), sbp - 20)
                    glucose = None
                    heart_rate = int(gauss(76, 8))
                else:
                    fpg = gauss(6.1, 0.4) if controlled else gauss(8.9, 1.4)
                    if not controlled and random_() < 0.02:
                        fpg = rng.uniform(16.7, 19.0)
                    glucose = round(min(max(fpg, 4.2), 25.0), 1)
                    sbp = dbp = None
                    heart_rate = int(gauss(78, 8))
                adverse = random_() < 0.02
                complication = "new" if random_() < 0.01 else "none"
                outcome = classify(Visit(disease=disease, visited_on=visited, sbp=sbp, dbp=dbp,
                                         heart_rate=heart_rate, fasting_glucose=glucose, adverse_reaction=adverse,
                                         complication=complication), age, previous)
                fid = uid()
                created = self.moment(visited, randrange(8 * 3600, 17 * 3600))
                reasons = outcome.referral_reasons
                visits.append((
                    fid, rid, cid, disease, visited, choice(METHODS), sbp, dbp, heart_rate,
                    round(weight + gauss(0, 1.2), 1), height, None, glucose, choice(ADHERENCE), adverse,
                    complication, "[]", None, outcome.classification, outcome.on_target, outcome.refer,
                    outcome.urgent_referral, json.dumps(reasons) if reasons else "[]", outcome.next_due_on,
                    doctors[randrange(len(doctors))], "%064x" % rng.getrandbits(256), created, created,
                ))
                last = (fid, visited, outcome.next_due_on, outcome.urgent_referral, created)
                previous = Previous(on_target=outcome.on_target, adverse_reaction=adverse)
                after_controlled = outcome.classification == "controlled" and not outcome.refer
                last_visit = visited
                due = outcome.next_due_on
            created = self.moment(registered, 9 * 3600)
            if last is None:
                conditions.append((cid, rid, region, disease, diagnosed, registered, registered_by, None, None, due, None,
                                   None, False, created, created))
            else:
                fid, visited, next_due, urgent, updated = last
                conditions.append((cid, rid, region, disease, diagnosed, registered, registered_by, None, None, next_due,
                                   fid, visited, urgent, created, updated))
            self.condition_count[(self.village_of[i], disease)] += 1

        chunk = 10_000
        for start in range(0, total_conditions, chunk):
            conditions, visits = [], []
            for i, disease in patients[start:start + chunk]:
                simulate(i, disease, conditions, visits)
            copier.copy("conditions", cond_cols, conditions, close=False)
            copier.copy("follow_ups", fu_cols, visits, close=False)
        copier.close("conditions")
        copier.close("follow_ups")

    # accounts

    def accounts(self, copier: Copier) -> None:
        rng, today = self.rng, self.today
        wanted = round(60_000 * self.scale)
        patients = sorted(self.is_patient)
        from_patients = min(len(patients), round(wanted * 0.95))
        chosen = rng.sample(patients, from_patients)
        adults = [i for i, a in enumerate(self.ages) if 18 <= a <= 80 and i not in self.is_patient]
        chosen += rng.sample(adults, min(len(adults), wanted - from_patients))
        self.account_of: dict[int, str] = {}
        rows, bindings, credits = [], [], []
        for n, i in enumerate(chosen, start=1):
            aid = self.uid()
            self.account_of[i] = aid
            created = self.moment(today - timedelta(days=rng.randrange(30, 700)), rng.randrange(7 * 3600, 22 * 3600))
            login = self.moment(today - timedelta(days=rng.randrange(0, 30)), rng.randrange(7 * 3600, 22 * 3600))
            rows.append((aid, f"bench-openid-{n:07d}", None, None, max(login, created), created, created))
            bindings.append((aid, self.ids[i], "self", created))
            credits.append((aid, FOLLOW_UP_TEMPLATE, 3, False, created))
            credits.append((aid, RENEWAL_TEMPLATE, 1, False, created))
        copier.copy("accounts", ["id", "openid", "unionid", "session_key_enc", "last_login_at", "created_at",
                                 "updated_at"], rows)
        copier.copy("account_residents", ["account_id", "resident_id", "relation", "created_at"], bindings)
        copier.copy("subscription_credits", ["account_id", "template_id", "credits", "long_term", "updated_at"],
                    credits)

    # notifications

    def notifications(self, copier: Copier) -> None:
        rng = self.rng
        wanted = round(50_000 * self.scale)
        with_account = [e for e in self.due_events if e[0] in self.account_of]
        without = [e for e in self.due_events if e[0] not in self.account_of]
        # Mostly residents with an account (sent); those without one end as no_credit.
        take_without = min(len(without), max(round(wanted * 0.07), wanted - len(with_account)))
        take_with = min(len(with_account), wanted - take_without)
        events = rng.sample(with_account, take_with) + rng.sample(without, take_without)
        events.sort(key=lambda e: (e[5], e[1]))
        team_names = self.team_names
        ids = self.ids

        def rows():
            for i, cid, disease, due, step, sent_on in events:
                rid = ids[i]
                team = self.contract_team.get(i)
                data, page = templates.follow_up_message(disease, due, sent_on,
                                                         team_names[team] if team is not None else None, rid)
                send_after = self.moment(sent_on, 8 * 3600)
                account = self.account_of.get(i)
                key = f"{rid}:follow_up:{disease}:{due.isoformat()}:{step}"
                common = (self.uid(), key, rid, "follow_up", cid, due, step, FOLLOW_UP_TEMPLATE, page,
                          json.dumps(data, ensure_ascii=False))
                if account is None:
                    yield (*common, "no_credit", send_after, 0, None, None, None, None, NO_CREDIT_ERROR, None,
                           None, send_after, send_after)
                    continue
                done = send_after + timedelta(seconds=rng.randrange(1, 900))
                if rng.random() < 0.04:
                    yield (*common, "failed", send_after, rng.choice((1, 5)), None, None, account, "wechat",
                           rng.choice(("errcode 40003", "errcode 43101", "timeout: delivery unknown")), None,
                           None, send_after, done)
                else:
                    yield (*common, "sent", send_after, 1, None, None, account, "wechat", None, done,
                           str(rng.getrandbits(60)), send_after, done)

        copier.copy("notifications", ["id", "idempotency_key", "resident_id", "reason", "subject_id", "due_on",
                                      "step", "template_id", "page", "data", "status", "send_after", "attempts",
                                      "claim_token", "claimed_until", "account_id", "channel", "last_error",
                                      "sent_at", "msgid", "created_at", "updated_at"], rows(), total=len(events))

    # populations

    def populations(self, copier: Copier) -> None:
        size = Counter(self.village_of)
        groups: dict[int, Counter] = {v: Counter() for v in size}
        for i, age in enumerate(self.ages):
            v = self.village_of[i]
            if age >= 65:
                groups[v]["elderly_65"] += 1
            if age <= 6:
                groups[v]["child_0_6"] += 1
        for i, tags in self.tags.items():
            groups[self.village_of[i]].update(tags)
        for (v, disease), count in self.condition_count.items():
            groups[v][disease] += count
        rows = []
        for v in sorted(size):
            counts = {g: 0 for g in ("elderly_65", "child_0_6", "hypertension", "diabetes")}
            counts.update(groups[v])
            text = json.dumps(dict(sorted(counts.items())))
            for year in (self.today.year - 1, self.today.year):
                rows.append((self.villages[v][0], year, size[v], text))
        copier.copy("populations", ["region_code", "year", "resident_population", "groups"], rows)


def generate(url: str, scale: float, seed: int) -> dict:
    started = time.monotonic()
    log(f"recreating schema in {make_url(url).render_as_string(hide_password=True)}")
    recreate_schema(url)
    migrate(url)
    county = County(scale, seed)
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        copier = Copier(conn)
        county.directory(copier)
        county.residents(copier)
        conn.commit()
        county.choose_patients()
        county.contracts(copier)
        conn.commit()
        county.follow_ups(copier)
        conn.commit()
        county.accounts(copier)
        county.notifications(copier)
        county.populations(copier)
        conn.commit()
        # As autovacuum leaves a database that has been running: statistics, and the visibility
        # map that lets the planner read an index alone.
        log("VACUUM ANALYZE")
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        # The load leaves its dirty pages for the next checkpoints to write back, spread
        # over minutes: a bench/run started at once measured that write-back (a due-list p99 of
        # 81 ms instead of 40). Written now, the run finds the county as a running one is.
        log("CHECKPOINT")
        conn.execute("CHECKPOINT")
    return {"counts": dict(copier.counts), "seconds": time.monotonic() - started, "logins": county.logins,
            "today": county.today}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 600,000 residents (default)")
    parser.add_argument("--database-url", default=os.environ.get("JIAYI_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
                        help="SQLAlchemy URL; its database is created if missing and its public schema REPLACED "
                             "(default: $JIAYI_BENCH_DATABASE_URL or %(default)s)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = generate(args.database_url, args.scale, args.seed)
    counts = result["counts"]
    print(f"\nbench county at scale {args.scale:g} (seed {args.seed}, today {result['today']}):")
    for table, count in counts.items():
        print(f"  {table:<22} {count:>10,}")
    print(f"  {'total':<22} {sum(counts.values()):>10,}")
    print(f"staff logins (password {BENCH_PASSWORD}): "
          + ", ".join(f"{u} ({role})" for u, role, _ in result["logins"]))
    print(f"done in {result['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
