"""Subscribe-message data fitted to WeChat's field rules.

WeChat refuses (47003) a ``thing`` over 20 characters, a ``name`` over 10, a ``phrase``
over 5, and dates in other formats; every value goes through these helpers.
"""
from __future__ import annotations

from datetime import date

LIMITS = {"thing": 20, "name": 10, "phrase": 5, "number": 32, "character_string": 32, "phone_number": 17}
DISEASE_NAMES = {"hypertension": "高血压", "diabetes": "糖尿病"}


def fit(kind: str, value: str) -> str:
    """Shorten to the field's limit, marking the cut with an ellipsis."""
    limit = LIMITS[kind]
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wechat_date(day: date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def follow_up_hint(due_on: date, sent_on: date) -> str:
    """Worded for the day the resident reads it: before the due date, on it, or how late."""
    days = (due_on - sent_on).days
    if days > 0:
        return f"距随访日还有{days}天，请按时到卫生院随访"
    if days == 0:
        return "今天是您的随访日，请及时随访"
    return f"随访已逾期{-days}天，请尽快联系家庭医生"


def renewal_phrase(end_date: date, sent_on: date) -> str:
    """``phrase`` holds five characters: the days left once they are few, else "即将到期"."""
    days = (end_date - sent_on).days
    if days <= 0:
        return "今天到期"
    return f"{days}天后到期" if days < 10 else "即将到期"


def follow_up_message(disease: str, due_on: date, sent_on: date, team_name: str | None, resident_id: str,
                      still_owed: int | None = None) -> tuple[dict, str]:
    """``sent_on``: the civil day the message goes out. ``still_owed``: the face-to-face
    follow-ups the contract still owes this term, if any."""
    subject = f"{DISEASE_NAMES[disease]}随访"
    if still_owed:
        subject += f"（本签约期还需{still_owed}次）"
    data = {
        "thing1": {"value": fit("thing", subject)},
        "date2": {"value": wechat_date(due_on)},
        "thing3": {"value": fit("thing", team_name or "家庭医生团队")},
        "thing4": {"value": fit("thing", follow_up_hint(due_on, sent_on))},
    }
    return data, f"pages/follow-ups/index?resident_id={resident_id}"


def renewal_message(end_date: date, sent_on: date, team_name: str, contract_id: str,
                    items_owed: int = 0) -> tuple[dict, str]:
    """``items_owed``: how many of the contract's service items are not yet fully delivered."""
    data = {
        "thing1": {"value": fit("thing", f"家庭医生签约服务（尚有{items_owed}项未完成）" if items_owed
                                else "家庭医生签约服务")},
        "date2": {"value": wechat_date(end_date)},
        "thing3": {"value": fit("thing", team_name)},
        "phrase4": {"value": fit("phrase", renewal_phrase(end_date, sent_on))},
    }
    return data, f"pages/contracts/renew?contract_id={contract_id}"
