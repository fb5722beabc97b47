"""Specifies the fake WeChat server (tests/fakes/wechat_server.py) through the
application's own client, ``JiayiWeChatClient``, over real HTTP on loopback.

Each test pins down one behaviour of the fake that the application's tests rely on.
The client is built without a ``DatabaseTokenStorage``, so no Flask app is needed.
"""
from __future__ import annotations

import threading
import time

import pytest
import requests
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from backend.wechat.client import JiayiWeChatClient
from tests.fakes.wechat_server import FakeWeChat

APPID = "wx-test-appid"
SECRET = "test-app-secret"
TPL = "tpl-visit-reminder"
SEND = "cgi-bin/message/subscribe/send"


@pytest.fixture
def fake():
    with FakeWeChat(appid=APPID, secret=SECRET) as f:
        yield f


def make_client(fake, secret=SECRET, timeout=2.0, session=None):
    return JiayiWeChatClient(APPID, secret, fake.base_url, timeout=timeout,
                             session=session if session is not None else MemoryStorage())


@pytest.fixture
def wx(fake):
    return make_client(fake)


def data_ok():
    return {
        "thing1": {"value": "高血压随访"},
        "time2": {"value": "2024-05-01 09:30"},
        "name3": {"value": "张三"},
        "phrase4": {"value": "待确认"},
        "character_string5": {"value": "JY-20240501-0001"},
        "phone_number6": {"value": "+86-13800138000"},
    }


def send(wx, touser="o-abc", data=None):
    return wx.wxa.send_subscribe_message(touser, TPL, data if data is not None else data_ok())


def errcode_of(call):
    with pytest.raises(WeChatClientException) as ei:
        call()
    return ei.value.errcode


# ------------------------------------------------------------------ login (jscode2session)
def test_code_to_session_returns_openid_unionid_and_session_key(fake, wx):
    fake.add_code("code-1", openid="o-abc", unionid="u-abc")
    res = wx.wxa.code_to_session("code-1")
    assert res["openid"] == "o-abc" and res["unionid"] == "u-abc" and res["session_key"]
    login = fake.requests_to("sns/jscode2session")[0]
    assert login.query["js_code"] == "code-1"
    assert login.query["grant_type"] == "authorization_code"


def test_code_without_unionid_answers_no_unionid(fake, wx):
    fake.add_code("code-1", openid="o-abc")
    assert "unionid" not in wx.wxa.code_to_session("code-1")


def test_unknown_code_is_40029(wx):
    assert errcode_of(lambda: wx.wxa.code_to_session("nope")) == 40029


def test_used_code_is_40163(fake, wx):
    fake.add_code("code-1", openid="o-abc")
    wx.wxa.code_to_session("code-1")
    assert errcode_of(lambda: wx.wxa.code_to_session("code-1")) == 40163


def test_wrong_secret_is_40125_at_token_and_login(fake):
    wrong = make_client(fake, secret="wrong")
    assert errcode_of(lambda: wrong.access_token) == 40125
    wrong.session.set(wrong.access_token_key, "anything")  # skip the token fetch
    assert errcode_of(lambda: wrong.wxa.code_to_session("code-1")) == 40125
    assert fake.requests[-1].path == "sns/jscode2session"


def test_demo_codes_log_in_as_their_openid_repeatedly(fake, wx):
    fake.accept_demo_codes("demo-")
    assert wx.wxa.code_to_session("demo-o-alice")["openid"] == "o-alice"
    assert wx.wxa.code_to_session("demo-o-alice")["openid"] == "o-alice"
    assert wx.wxa.code_to_session("demo-o-bob")["openid"] == "o-bob"
    assert errcode_of(lambda: wx.wxa.code_to_session("other-code")) == 40029


# ------------------------------------------------------------------ access tokens
def test_token_endpoint_issues_a_valid_token(fake, wx):
    token = wx.access_token
    assert token in fake.valid_tokens
    [req] = fake.requests_to("cgi-bin/token")
    assert req.query == {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}


def test_token_is_fetched_once_and_counted(fake, wx):
    fake.add_code("code-1", openid="o-abc")
    wx.wxa.code_to_session("code-1")
    send(wx)
    assert fake.token_requests == 1


def test_stable_token_is_reused_until_force_refresh(fake):
    url = fake.base_url + "cgi-bin/stable_token"
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    t1 = requests.post(url, json=body, timeout=2).json()
    t2 = requests.post(url, json=body, timeout=2).json()
    t3 = requests.post(url, json=dict(body, force_refresh=True), timeout=2).json()
    assert t1["expires_in"] == 7200 and t1["access_token"] == t2["access_token"]
    assert t3["access_token"] != t1["access_token"] and t3["access_token"] in fake.valid_tokens
    assert fake.token_requests == 3


def test_expired_token_is_42001_on_send(fake, wx):
    wx.access_token
    fake.expire_tokens()
    assert errcode_of(lambda: send(wx)) == 42001  # auto_retry=False: no silent refresh
    assert fake.token_requests == 1 and fake.sent == []


def test_unknown_token_is_40001_on_send(fake, wx):
    wx.session.set(wx.access_token_key, "garbage-token")
    assert errcode_of(lambda: send(wx)) == 40001
    assert fake.token_requests == 0


# ------------------------------------------------------------------ subscribe messages
def test_send_is_delivered_and_recorded(fake, wx):
    res = wx.wxa.send_subscribe_message("o-abc", TPL, data_ok(), page="pages/visit/index?id=1")
    assert res["errcode"] == 0 and isinstance(res["msgid"], int)
    [msg] = fake.sent
    assert msg["touser"] == "o-abc" and msg["template_id"] == TPL
    assert msg["page"] == "pages/visit/index?id=1"
    assert msg["data"] == data_ok() and msg["msgid"] == res["msgid"]


@pytest.mark.parametrize("key,value,ok", [
    ("thing1", "一" * 20, True), ("thing1", "一" * 21, False),
    ("name3", "x" * 10, True), ("name3", "x" * 11, False),
    ("phrase4", "abcde", True), ("phrase4", "abcdef", False),
    ("number7", "1" * 32, True), ("number7", "1" * 33, False),
    ("character_string5", "x" * 32, True), ("character_string5", "x" * 33, False),
    ("phone_number6", "1" * 17, True), ("phone_number6", "1" * 18, False),
    ("time2", "2024-05-01 09:30", True), ("time2", "2024年5月1日 09:30", True),
    ("date8", "2024-05-01", True), ("date8", "2024年05月01日", True),
    ("time2", "2024/05/01", False), ("date8", "明天", False),
])
def test_data_field_rules(fake, wx, key, value, ok):
    data = dict(data_ok(), **{key: {"value": value}})
    if ok:
        assert send(wx, data=data)["errcode"] == 0
    else:
        assert errcode_of(lambda: send(wx, data=data)) == 47003
        assert fake.sent == []


def test_refused_openid_is_43101_others_still_delivered(fake, wx):
    fake.refuse("o-nosub")
    assert errcode_of(lambda: send(wx, "o-nosub")) == 43101
    send(wx, "o-other")
    assert [m["touser"] for m in fake.sent] == ["o-other"]


# ------------------------------------------------------------------ fault injection
def test_fail_next_answers_the_errcode_once(fake, wx):
    fake.fail_next(SEND, errcode=-1)
    assert errcode_of(lambda: send(wx)) == -1
    assert send(wx)["errcode"] == 0


def test_http_502_is_client_exception_without_errcode(fake, wx):
    fake.fail_next(SEND, http_status=502)
    with pytest.raises(WeChatClientException) as ei:
        send(wx)
    assert ei.value.errcode is None and ei.value.response.status_code == 502


def test_drop_next_is_connection_error(fake, wx):
    wx.access_token
    fake.drop_next(SEND)
    with pytest.raises(requests.exceptions.ConnectionError):
        send(wx)
    assert send(wx)["errcode"] == 0
    assert len(fake.requests_to(SEND)) == 2


def test_delay_on_send_is_read_timeout(fake):
    wx = make_client(fake, timeout=0.3)
    wx.access_token
    fake.delay(SEND, 2, times=1)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        send(wx)
    assert time.monotonic() - t0 < 1.5


def test_delay_on_token_fetch_is_read_timeout(fake):
    wx = make_client(fake, timeout=0.3)
    fake.delay("cgi-bin/token", 2, times=1)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        wx.access_token
    assert time.monotonic() - t0 < 1.5


# ------------------------------------------------------------------ the fake itself
def test_request_log_records_every_request_in_order(fake, wx):
    fake.add_code("code-1", openid="o-abc")
    wx.wxa.code_to_session("code-1")
    send(wx)
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "cgi-bin/token"), ("GET", "sns/jscode2session"), ("POST", SEND)]
    assert fake.requests[-1].json["touser"] == "o-abc"
    assert fake.requests[-1].query["access_token"] in fake.valid_tokens


def test_reset_forgets_everything(fake, wx):
    fake.add_code("code-1", openid="o-abc")
    send(wx)
    fake.refuse("o-abc")
    fake.fail_next(SEND, errcode=-1)
    fake.delay(SEND, 5)
    fake.reset()
    assert fake.requests == [] and fake.sent == [] and fake.token_requests == 0
    assert fake.valid_tokens == set()
    assert errcode_of(lambda: send(wx)) == 40001  # the old token is forgotten
    wx.session.delete(wx.access_token_key)
    assert send(wx)["errcode"] == 0  # no refusal, fault or delay left
    assert errcode_of(lambda: wx.wxa.code_to_session("code-1")) == 40029


def test_concurrent_sends_are_all_delivered(fake, wx):
    wx.access_token
    errors = []

    def worker(i):
        try:
            send(make_client(fake, session=wx.session), "o-%d" % i)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(m["touser"] for m in fake.sent) == sorted("o-%d" % i for i in range(10))
    assert len({m["msgid"] for m in fake.sent}) == 10
    assert fake.token_requests == 1


def test_stop_is_clean_with_a_sleeping_handler():
    fake = FakeWeChat().start()
    url = fake.base_url + "cgi-bin/token"
    fake.delay("cgi-bin/token", 30)
    t = threading.Thread(target=lambda: requests.get(url, timeout=10))
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    fake.stop()
    assert time.monotonic() - t0 < 2
    t.join(5)
    assert not t.is_alive()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=1)
    fake.stop()  # idempotent
