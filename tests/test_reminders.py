"""Reminders through the outbox to the fake WeChat server, over real HTTP, with a fixed clock."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from backend import clock
from backend.extensions import db
from backend.notifications.models import JobRun, Notification, SubscriptionCredit
from scheduled.jobs import run_recorded
from backend.residents.models import Account, AccountResident
from tests.factories import VILLAGE_A1, account_login, add_resident, build_county, id_number_for

FOLLOW_UP_TEMPLATE = "demo-follow-up-template"
RENEWAL_TEMPLATE = "demo-renewal-template"
DUE = date(2026, 6, 10)  # registered 2026-05-27: the first visit is due on 10 June


def run(job: str, moment: str) -> dict:
    with clock.frozen_at(clock.parse_moment(moment)):
        return run_recorded(job, clock.now(), "test").counts


def plan(moment: str) -> dict:
    return run("plan-follow-up-reminders", moment)


def dispatch(moment: str) -> dict:
    return run("dispatch-notifications", moment)


@pytest.fixture
def patient(client, wechat, county):
    clock.freeze(clock.parse_moment("2026-05-27T10:00:00+08:00"))
    resident = add_resident("李淑珍", id_number_for(date(1958, 8, 8), 262), "13900008888", VILLAGE_A1)
    account = account_login(client, wechat, "o-li")
    client.post("/api/v1/me/residents", headers=account, json={
        "name": "李淑珍", "id_number": resident.id_number, "phone": "13900008888", "relation": "self"})
    doctor = county.headers(client, "doctor_a")
    condition = client.post(f"/api/v1/residents/{resident.id}/conditions", headers=doctor,
                            json={"disease": "hypertension", "diagnosed_on": "2026-05-01"}).get_json()
    assert condition["next_due_on"] == DUE.isoformat()
    clock.freeze(None)
    return {"resident": resident, "account": account, "doctor": doctor, "condition": condition, "county": county}


def sign_contract(client, patient) -> dict:
    """The patient's contract with team A, approved on 2026-05-27 (it ends on 2027-05-26)."""
    clock.freeze(clock.parse_moment("2026-05-27T10:00:00+08:00"))
    contract = client.post("/api/v1/contracts", headers=patient["account"], json={
        "resident_id": patient["resident"].id, "team_id": patient["county"].teams["a"].id,
        "package_codes": ["basic"]}).get_json()
    client.post(f"/api/v1/contracts/{contract['id']}/approve", headers=patient["doctor"], json={})
    return contract


def accept(client, headers, *templates):
    response = client.post("/api/v1/me/subscriptions", headers=headers, json={"accepted": list(templates)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["credits"]


def outbox(status: str | None = None) -> list[Notification]:
    """The outbox in sending order; without ``status``, the steps a catch-up run passed over are
    left out (planning straight on a due day records the missed 3-days-before step as skipped)."""
    statement = sa.select(Notification).order_by(Notification.send_after, Notification.step)
    if status:
        statement = statement.where(Notification.status == status)
    else:
        statement = statement.where(Notification.status != "skipped")
    return list(db.session.scalars(statement))


def test_acceptance_one_message_per_ladder_step_even_when_jobs_run_twice(client, wechat, patient):
    assert accept(client, patient["account"], FOLLOW_UP_TEMPLATE) == {FOLLOW_UP_TEMPLATE: 1}
    assert accept(client, patient["account"], FOLLOW_UP_TEMPLATE) == {FOLLOW_UP_TEMPLATE: 2}
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)

    for day, step in (("2026-06-07", "before_3d"), ("2026-06-10", "due_day"), ("2026-06-17", "overdue_7d")):
        assert plan(f"{day}T07:30:00+08:00")["planned"] == 1
        assert plan(f"{day}T07:31:00+08:00")["planned"] == 0
        assert dispatch(f"{day}T08:00:00+08:00").get("sent") == 1
        assert dispatch(f"{day}T08:01:00+08:00").get("sent") is None
        assert wechat.sent[-1]["touser"] == "o-li"
    assert [m["data"]["thing4"]["value"] for m in wechat.sent] == [
        "距随访日还有3天，请按时到卫生院随访", "今天是您的随访日，请及时随访", "随访已逾期7天，请尽快联系家庭医生"]
    first = wechat.sent[0]
    assert first["template_id"] == FOLLOW_UP_TEMPLATE
    assert first["data"]["thing1"]["value"] == "高血压随访" and first["data"]["date2"]["value"] == "2026年06月10日"
    assert first["page"] == f"pages/follow-ups/index?resident_id={patient['resident'].id}"
    assert [n.step for n in outbox("sent")] == ["before_3d", "due_day", "overdue_7d"]
    assert db.session.get(SubscriptionCredit, (outbox()[0].account_id, FOLLOW_UP_TEMPLATE)).credits == 0


def test_days_between_the_steps_plan_nothing_when_the_scheduler_ran_every_day(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    planned = {day: plan(f"2026-06-{day:02d}T07:30:00+08:00")["planned"] for day in range(5, 18)}
    assert {day for day, n in planned.items() if n} == {7, 10, 17}
    assert sum(planned.values()) == 3 and outbox("skipped") == []


def test_without_a_credit_the_resident_goes_on_the_call_list(client, wechat, patient):
    plan("2026-06-10T07:30:00+08:00")
    assert dispatch("2026-06-10T08:00:00+08:00")["no_credit"] == 1
    assert wechat.sent == []
    clock.freeze(clock.parse_moment("2026-06-10T09:00:00+08:00"))
    (item,) = client.get("/api/v1/follow-ups/due?window=today", headers=patient["doctor"]).get_json()["items"]
    assert item["needs_call"] is True and item["reminder"]["status"] == "no_credit"


def test_a_resident_without_an_account_goes_on_the_call_list(client, wechat, county):
    clock.freeze(clock.parse_moment("2026-05-27T10:00:00+08:00"))
    resident = add_resident("无账号", id_number_for(date(1950, 1, 1), 111), None, VILLAGE_A1)
    client.post(f"/api/v1/residents/{resident.id}/conditions", headers=county.headers(client, "doctor_a"),
                json={"disease": "diabetes", "diagnosed_on": "2026-05-01"})
    plan("2026-06-10T07:30:00+08:00")
    assert dispatch("2026-06-10T08:00:00+08:00")["no_credit"] == 1


def test_a_delivered_reminder_is_not_a_call(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-10T07:30:00+08:00")
    dispatch("2026-06-10T08:00:00+08:00")
    clock.freeze(clock.parse_moment("2026-06-10T09:00:00+08:00"))
    (item,) = client.get("/api/v1/follow-ups/due?window=today", headers=patient["doctor"]).get_json()["items"]
    assert item["needs_call"] is False and item["reminder"] == {"status": "sent", "at": "2026-06-10T08:00:00+08:00"}


def test_quiet_hours_hold_messages_until_eight(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-07T22:30:00+08:00")  # planned late in the evening: held for the next morning
    (n,) = outbox()
    assert clock.to_civil(n.send_after).isoformat() == "2026-06-08T08:00:00+08:00"
    assert dispatch("2026-06-07T23:00:00+08:00").get("sent") is None
    assert dispatch("2026-06-08T07:59:00+08:00").get("sent") is None
    assert wechat.sent == []
    assert dispatch("2026-06-08T08:00:00+08:00")["sent"] == 1


def test_dispatch_in_the_quiet_hours_sends_nothing_even_if_due(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-10T07:30:00+08:00")
    counts = dispatch("2026-06-10T21:00:00+08:00")
    assert counts["held_for_quiet_hours"] == 1 and wechat.sent == []


def test_refusal_43101_is_refused_and_a_call(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    wechat.refuse("o-li", errcode=43101)
    plan("2026-06-10T07:30:00+08:00")
    assert dispatch("2026-06-10T08:00:00+08:00")["refused"] == 1
    (n,) = outbox()
    assert (n.status, n.last_error) == ("refused", "errcode 43101")
    assert db.session.get(SubscriptionCredit, (n.account_id, FOLLOW_UP_TEMPLATE)).credits == 0


@pytest.mark.parametrize("fault", [{"errcode": -1}, {"errcode": 45009}, {"http_status": 502}, {"drop": True}])
def test_transient_faults_are_retried_with_backoff_and_lose_nothing(client, wechat, patient, fault):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-10T07:30:00+08:00")
    path = "cgi-bin/message/subscribe/send"
    if fault.get("drop"):
        wechat.drop_next(path)
    else:
        wechat.fail_next(path, **fault)
    assert dispatch("2026-06-10T08:00:00+08:00")["retry"] == 1
    (n,) = outbox()
    assert (n.status, n.attempts) == ("pending", 1)
    assert clock.to_civil(n.send_after).isoformat() == "2026-06-10T08:02:00+08:00"
    assert db.session.get(SubscriptionCredit, (n.account_id, FOLLOW_UP_TEMPLATE)).credits == 1  # given back
    assert dispatch("2026-06-10T08:01:00+08:00").get("sent") is None  # not before the backoff
    assert dispatch("2026-06-10T08:02:00+08:00")["sent"] == 1
    assert [m["touser"] for m in wechat.sent] == ["o-li"]


def test_a_timeout_is_never_resent_but_called(client, wechat, patient, short_wechat_timeout):
    """WeChat may have delivered a message whose answer timed out: no second send, a call instead."""
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-10T07:30:00+08:00")
    wechat.delay("cgi-bin/message/subscribe/send", 1, times=1)
    assert dispatch("2026-06-10T08:00:00+08:00")["failed"] == 1
    (n,) = outbox()
    assert (n.status, n.last_error) == ("failed", "timeout: delivery unknown")
    assert dispatch("2026-06-10T08:30:00+08:00").get("sent") is None


def test_after_the_last_try_a_reminder_fails_onto_the_call_list(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-10T07:30:00+08:00")
    wechat.fail_next("cgi-bin/message/subscribe/send", errcode=-1, times=5)
    for minute in ("00", "02", "06", "14", "30"):
        dispatch(f"2026-06-10T08:{minute}:00+08:00")
    (n,) = outbox()
    assert (n.status, n.attempts, n.last_error) == ("failed", 5, "errcode -1")
    clock.freeze(clock.parse_moment("2026-06-10T09:00:00+08:00"))
    (item,) = client.get("/api/v1/follow-ups/due?window=today", headers=patient["doctor"]).get_json()["items"]
    assert item["needs_call"] is True


def test_invalid_data_47003_fails_at_once(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-10T07:30:00+08:00")
    wechat.fail_next("cgi-bin/message/subscribe/send", errcode=47003)
    assert dispatch("2026-06-10T08:00:00+08:00")["failed"] == 1


def test_an_expired_access_token_is_refreshed_and_the_message_sent(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE, FOLLOW_UP_TEMPLATE)
    plan("2026-06-07T07:30:00+08:00")
    dispatch("2026-06-07T08:00:00+08:00")
    tokens = wechat.token_requests
    wechat.expire_tokens()
    plan("2026-06-10T07:30:00+08:00")
    assert dispatch("2026-06-10T08:00:00+08:00")["sent"] == 1
    assert wechat.token_requests == tokens + 1 and len(wechat.sent) == 2


def test_a_visit_before_the_reminder_goes_out_cancels_it(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-07T07:30:00+08:00")
    clock.freeze(clock.parse_moment("2026-06-07T07:45:00+08:00"))
    client.post(f"/api/v1/residents/{patient['resident'].id}/follow-ups", headers=patient["doctor"], json={
        "disease": "hypertension", "visited_on": "2026-06-07", "method": "clinic", "sbp": 128, "dbp": 80})
    clock.freeze(None)
    assert dispatch("2026-06-07T08:00:00+08:00")["cancelled"] == 1
    assert wechat.sent == []


def test_dry_run_without_credentials_records_what_would_be_sent(app_with, wechat):
    app = app_with(JIAYI_WECHAT_APPID="", JIAYI_WECHAT_SECRET="")
    county = build_county()
    clock.freeze(clock.parse_moment("2026-05-27T10:00:00+08:00"))
    resident = add_resident("李淑珍", id_number_for(date(1958, 8, 8), 262), "13900008888", VILLAGE_A1)
    account = Account(openid="o-dry")
    db.session.add(account)
    db.session.flush()
    db.session.add(AccountResident(account_id=account.id, resident_id=resident.id, relation="self"))
    db.session.add(SubscriptionCredit(account_id=account.id, template_id=FOLLOW_UP_TEMPLATE, credits=1))
    db.session.commit()
    client = app.test_client()
    client.post(f"/api/v1/residents/{resident.id}/conditions", headers=county.headers(client, "doctor_a"),
                json={"disease": "hypertension", "diagnosed_on": "2026-05-01"})
    clock.freeze(None)
    plan("2026-06-10T07:30:00+08:00")
    assert dispatch("2026-06-10T08:00:00+08:00")["sent"] == 1
    (n,) = outbox()
    assert (n.status, n.channel) == ("sent", "dry_run") and n.data["thing1"]["value"] == "高血压随访"
    assert wechat.sent == []
    listed = client.get("/api/v1/admin/notifications?status=sent",
                        headers=county.headers(client, "county_admin")).get_json()
    assert [i["channel"] for i in listed["items"]] == ["dry_run"]


def test_renewal_reminders_thirty_days_before_the_end(client, wechat, patient):
    contract = sign_contract(client, patient)
    clock.freeze(None)
    accept(client, patient["account"], RENEWAL_TEMPLATE)
    assert run("plan-renewal-reminders", "2027-04-25T07:30:00+08:00")["planned"] == 0  # 31 days before
    assert run("plan-renewal-reminders", "2027-04-26T07:30:00+08:00")["planned"] == 1  # end 2027-05-26
    assert run("plan-renewal-reminders", "2027-04-27T07:30:00+08:00")["planned"] == 0
    assert dispatch("2027-04-26T08:00:00+08:00")["sent"] == 1
    message = wechat.sent[-1]
    assert message["template_id"] == RENEWAL_TEMPLATE
    assert message["data"]["date2"]["value"] == "2027年05月26日" and message["data"]["phrase4"]["value"] == "即将到期"
    assert message["page"] == f"pages/contracts/renew?contract_id={contract['id']}"


def test_a_renewed_contract_gets_no_renewal_reminder(client, wechat, patient):
    contract = sign_contract(client, patient)
    clock.freeze(clock.parse_moment("2027-04-01T10:00:00+08:00"))
    assert client.post(f"/api/v1/contracts/{contract['id']}/renew", headers=patient["account"]).status_code == 201
    clock.freeze(None)
    assert run("plan-renewal-reminders", "2027-04-26T07:30:00+08:00")["planned"] == 0


def test_template_fields_fit_wechats_limits(client, wechat, patient):
    patient["county"].teams["a"].name = "平安镇中心卫生院家庭医生签约服务第一团队（慢病管理）"
    db.session.commit()
    sign_contract(client, patient)
    clock.freeze(None)
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-10T07:30:00+08:00")
    assert dispatch("2026-06-10T08:00:00+08:00")["sent"] == 1  # the fake answers 47003 past 20 characters
    assert len(wechat.sent[0]["data"]["thing3"]["value"]) == 20
    assert wechat.sent[0]["data"]["thing3"]["value"].endswith("…")


def test_job_runs_are_recorded_and_listed(client, patient):
    run("expire-contracts", "2026-06-10T00:10:00+08:00")
    plan("2026-06-10T07:30:00+08:00")
    response = client.get("/api/v1/admin/job-runs", headers=patient["county"].headers(client, "county_admin"))
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [(i["job"], i["status"]) for i in items] == [("plan-follow-up-reminders", "succeeded"),
                                                        ("expire-contracts", "succeeded")]
    # Planned straight on the due day: the 3-days-before step was never planned, and is recorded as skipped.
    assert items[0]["counts"] == {"due": 1, "planned": 1, "skipped": 1} and items[0]["run_for"] == "2026-06-10T07:30:00+08:00"
    only = client.get("/api/v1/admin/job-runs?job=expire-contracts",
                      headers=patient["county"].headers(client, "county_admin")).get_json()
    assert [i["job"] for i in only["items"]] == ["expire-contracts"]
    for who in ("inst_admin", "doctor_a"):
        assert client.get("/api/v1/admin/job-runs", headers=patient["county"].headers(client, who)).status_code == 403


def test_a_failing_job_is_recorded_as_failed(app, patient, monkeypatch):
    from scheduled import jobs

    def broken(now):
        raise RuntimeError("disk full")

    monkeypatch.setitem(jobs.JOBS, "expire-contracts", broken)
    with pytest.raises(RuntimeError):
        run("expire-contracts", "2026-06-10T00:10:00+08:00")
    (failed,) = db.session.scalars(sa.select(JobRun))
    assert (failed.status, failed.error) == ("failed", "RuntimeError") and failed.finished_at is not None


# The endpoints

def test_subscriptions_reject_unknown_templates_and_staff(client, patient):
    response = client.post("/api/v1/me/subscriptions", headers=patient["account"], json={"accepted": ["tpl-x"]})
    assert response.status_code == 422 and "accepted" in response.get_json()["errors"]
    assert client.post("/api/v1/me/subscriptions", headers=patient["account"],
                       json={"accepted": []}).status_code == 422
    assert client.post("/api/v1/me/subscriptions", headers=patient["doctor"],
                       json={"accepted": [FOLLOW_UP_TEMPLATE]}).status_code == 403


def test_long_term_templates_do_not_run_out(app_with, wechat):
    app = app_with(JIAYI_WECHAT_LONG_TERM_TEMPLATES=FOLLOW_UP_TEMPLATE)
    county = build_county()
    clock.freeze(clock.parse_moment("2026-05-27T10:00:00+08:00"))
    resident = add_resident("常年订阅", id_number_for(date(1950, 3, 3), 313), "13900003131", VILLAGE_A1)
    client = app.test_client()
    headers = account_login(client, wechat, "o-long")
    client.post("/api/v1/me/residents", headers=headers, json={
        "name": "常年订阅", "id_number": resident.id_number, "phone": "13900003131", "relation": "self"})
    accept(client, headers, FOLLOW_UP_TEMPLATE)
    client.post(f"/api/v1/residents/{resident.id}/conditions", headers=county.headers(client, "doctor_a"),
                json={"disease": "hypertension", "diagnosed_on": "2026-05-01"})
    clock.freeze(None)
    for day in ("2026-06-07", "2026-06-10", "2026-06-17"):
        plan(f"{day}T07:30:00+08:00")
        assert dispatch(f"{day}T08:00:00+08:00")["sent"] == 1
    assert len(wechat.sent) == 3


def test_admin_lists_filters_and_retries(client, wechat, patient):
    plan("2026-06-10T07:30:00+08:00")
    dispatch("2026-06-10T08:00:00+08:00")
    admin = patient["county"].headers(client, "county_admin")
    listed = client.get("/api/v1/admin/notifications?status=no_credit", headers=admin).get_json()
    (item,) = listed["items"]
    assert item["resident"]["name"] == "李淑珍" and item["needs_call"] is True and item["step"] == "due_day"
    assert client.get("/api/v1/admin/notifications?status=sent", headers=admin).get_json()["items"] == []
    assert client.get("/api/v1/admin/notifications?status=lost", headers=admin).status_code == 422
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    clock.freeze(clock.parse_moment("2026-06-10T09:00:00+08:00"))
    retried = client.post(f"/api/v1/admin/notifications/{item['id']}/retry", headers=admin)
    assert retried.status_code == 200 and retried.get_json()["status"] == "pending"
    clock.freeze(None)
    assert dispatch("2026-06-10T09:00:00+08:00")["sent"] == 1
    again = client.post(f"/api/v1/admin/notifications/{item['id']}/retry", headers=admin)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"


@pytest.mark.parametrize("who, visible", [("county_admin", True), ("inst_admin", True), ("inst_admin_b", False),
                                          ("other_county_admin", False)])
def test_the_outbox_is_scoped(client, patient, who, visible):
    plan("2026-06-10T07:30:00+08:00")
    response = client.get("/api/v1/admin/notifications?status=pending", headers=patient["county"].headers(client, who))
    assert response.status_code == 200 and (response.get_json()["total"] == 1) is visible
    if not visible:
        (n,) = outbox()
        retry = client.post(f"/api/v1/admin/notifications/{n.id}/retry", headers=patient["county"].headers(client, who))
        assert retry.status_code == 404


def test_doctors_and_accounts_cannot_read_the_outbox(client, patient):
    assert client.get("/api/v1/admin/notifications", headers=patient["doctor"]).status_code == 403
    assert client.get("/api/v1/admin/notifications", headers=patient["account"]).status_code == 403


def test_the_resident_sees_its_reminders(client, wechat, patient):
    accept(client, patient["account"], FOLLOW_UP_TEMPLATE)
    plan("2026-06-07T07:30:00+08:00")
    dispatch("2026-06-07T08:00:00+08:00")
    clock.freeze(clock.parse_moment("2026-06-08T09:00:00+08:00"))
    body = client.get(f"/api/v1/residents/{patient['resident'].id}/reminders", headers=patient["account"]).get_json()
    assert body["upcoming"] == [{"disease": "hypertension", "due_on": "2026-06-10", "days_overdue": 0, "urgent": False}]
    assert [(r["step"], r["status"]) for r in body["reminders"]] == [("before_3d", "sent")]
    other = patient["county"].headers(client, "doctor_b")
    assert client.get(f"/api/v1/residents/{patient['resident'].id}/reminders", headers=other).status_code == 404


def test_simultaneous_accepts_all_count(app, patient):
    import threading

    from backend.notifications.service import accept_subscriptions

    account_id = db.session.scalar(sa.select(Account.id).where(Account.openid == "o-li"))
    barrier, errors = threading.Barrier(6), []

    def accept_once():
        with app.app_context():
            barrier.wait()
            try:
                accept_subscriptions(account_id, [FOLLOW_UP_TEMPLATE])
            except Exception as error:  # surfaced by the assertion below
                errors.append(error)

    threads = [threading.Thread(target=accept_once) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.session.expire_all()
    assert db.session.get(SubscriptionCredit, (account_id, FOLLOW_UP_TEMPLATE)).credits == 6
