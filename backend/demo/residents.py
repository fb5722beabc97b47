"""Residents of the demo county and the WeChat accounts of some of their families."""
from __future__ import annotations

import random
from datetime import date, timedelta

import sqlalchemy as sa
from faker import Faker
from flask import current_app

from backend.directory.models import Region
from backend.extensions import db
from backend.notifications.models import SubscriptionCredit
from backend.residents.models import Account, AccountResident, Resident, ResidentGroup
from backend.security.fields import blind_index
from backend.security.identity import make_id_number

REGION6 = "220802"
DEMO_CODE_PREFIX = "demo-"

# Age bands of a north-eastern rural county (share of residents): old, with few children.
AGE_BANDS = [((0, 6), 0.05), ((7, 17), 0.09), ((18, 39), 0.22), ((40, 59), 0.32), ((60, 64), 0.10),
             ((65, 79), 0.17), ((80, 95), 0.05)]


# Faker's zh_CN locale does not tell male from female given names; these common ones do.
GIVEN_MALE = ["伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞", "鑫", "波",
              "建国", "建华", "国庆", "志强", "永刚", "海涛", "振华", "德明", "文斌", "宝山", "长春", "玉林"]
GIVEN_FEMALE = ["芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "萍", "红", "梅", "琳", "颖", "洁", "倩",
                "秀英", "桂兰", "玉兰", "淑珍", "桂芝", "秀兰", "凤英", "丽娟", "冬梅", "海燕", "春梅", "晓红", "雪梅"]


def _name(rng: random.Random, fake: Faker, sex: str) -> str:
    return fake.last_name() + rng.choice(GIVEN_MALE if sex == "male" else GIVEN_FEMALE)


def _birth_date(rng: random.Random, today: date) -> date:
    (low, high), = rng.choices([band for band, _ in AGE_BANDS], [w for _, w in AGE_BANDS])
    age = rng.randint(low, high)
    return today - timedelta(days=age * 365 + rng.randint(0, 364))


def _staff_tags(rng: random.Random, sex: str, age: int) -> list[str]:
    tags = []
    if rng.random() < 0.04:
        tags.append("disabled")
    if rng.random() < 0.05:
        tags.append("poverty_relief")
    if sex == "female" and 20 <= age <= 40 and rng.random() < 0.05:
        tags.append("pregnant")
    if rng.random() < 0.004:
        tags.append("severe_mental_disorder")
    if rng.random() < 0.001:
        tags.append("tuberculosis")
    if age >= 50 and rng.random() < 0.01:
        tags.append("special_family_planning")
    return tags


def load_residents(rng: random.Random, fake: Faker, today: date, per_village: int = 60,
                   families: int = 120) -> list[dict]:
    """Residents in every village of the county, and demo accounts bound to families."""
    villages = list(db.session.scalars(
        sa.select(Region).where(Region.level == "village", Region.code.like(REGION6 + "%")).order_by(Region.code)
    ))
    existing = set(db.session.scalars(sa.select(Resident.id_number_index)))
    used: set[tuple[date, int]] = set()
    by_village: dict[str, list[Resident]] = {}
    created = []
    # Tags set before the demo's earliest contract, so that the console's past days count them too.
    tagged_on = today - timedelta(days=3 * 365)
    for village in villages:
        for n in range(per_village):
            sex = rng.choice(("male", "female"))
            birth = _birth_date(rng, today)
            sequence = rng.randrange(0 if sex == "female" else 1, 1000, 2)  # odd 17th digit: male
            while (birth, sequence) in used:
                sequence = (sequence + 2) % 1000
            used.add((birth, sequence))
            id_number = make_id_number(REGION6, birth, sequence)
            name = _name(rng, fake, sex)
            phone = fake.phone_number() if rng.random() < 0.85 else None
            age = (today - birth).days // 365
            tags = _staff_tags(rng, sex, age)
            address = f"{village.name}{rng.randint(1, 8)}组{rng.randint(1, 60)}号"
            index = blind_index(id_number, "id_number")
            if index in existing:
                resident = None
            else:
                resident = Resident(name=name, id_number=id_number, id_number_index=index, phone=phone,
                                    phone_index=blind_index(phone, "phone"), birth_date=birth, sex=sex,
                                    region_code=village.code, address=address, source="staff",
                                    tag_history=[ResidentGroup(group=t, set_on=max(birth, tagged_on))
                                                 for t in tags])
                created.append(resident)
            by_village.setdefault(village.code, []).append((index, name, age))
    db.session.add_all(created)
    db.session.flush()
    return _load_accounts(rng, by_village, families)


def _load_accounts(rng: random.Random, by_village: dict, families: int) -> list[dict]:
    """A family: an adult's account bound to itself and one or two relatives of the same village."""
    ids = dict(db.session.execute(sa.select(Resident.id_number_index, Resident.id)).all())
    codes = sorted(by_village)
    shown = []
    for n in range(families):
        village = by_village[codes[n % len(codes)]]
        adults = [r for r in village if 25 <= r[2] <= 60]
        holder = rng.choice(adults)
        relatives = rng.sample([r for r in village if r is not holder], rng.randint(1, 2))
        openid = f"wx-demo-{n + 1:04d}"
        account = db.session.scalar(sa.select(Account).where(Account.openid == openid))
        if account is None:
            account = Account(openid=openid)
            db.session.add(account)
            db.session.flush()
            bindings = [(holder, "self")] + [
                (r, "parent" if r[2] >= holder[2] + 18 else "child" if r[2] + 18 <= holder[2] else "spouse")
                for r in relatives
            ]
            for (index, _, _), relation in bindings:
                db.session.add(AccountResident(account_id=account.id, resident_id=ids[index], relation=relation))
            # Most families accepted the reminders in the mini program, some more than once.
            settings = current_app.config["JIAYI"]
            for template, share in ((settings.wechat_template_follow_up, 0.7), (settings.wechat_template_renewal, 0.5)):
                if rng.random() < share:
                    db.session.add(SubscriptionCredit(account_id=account.id, template_id=template,
                                                      credits=rng.randint(1, 3)))
        if n < 2:
            shown.append({"code": DEMO_CODE_PREFIX + openid, "who": f"{holder[1]}及家人"})
    db.session.flush()
    return shown
