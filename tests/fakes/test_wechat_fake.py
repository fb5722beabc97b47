"""Probe: wechatpy 1.8.18 talking to FakeWeChat over real HTTP (no monkeypatching).

Findings encoded here (see wechatpy/client/base.py, client/__init__.py, client/api/wxa.py):

* ``WeChatClient.API_BASE_URL = 'https://api.weixin.qq.com/cgi-bin/'`` and
  ``WeChatWxa.API_BASE_URL = 'https://api.weixin.qq.com/'`` are *class* attributes, but
  ``BaseWeChatClient.__new__`` re-creates every API object (``client.wxa`` ...) per client
  instance, so assigning ``client.API_BASE_URL`` / ``client.wxa.API_BASE_URL`` on the
  instance shadows the class value for that client only.
* ``WeChatClient.fetch_access_token`` hard-codes https://api.weixin.qq.com/cgi-bin/token
  -> override it (``FakeableWeChatClient`` below).
* ``_fetch_access_token`` does NOT pass ``timeout`` to requests (only ``_request`` does)
  -> ``ConfigurableWeChatClient`` gives the requests session a default timeout.
* Every call through ``_request`` injects ``access_token`` into the query string, so even
  ``wxa.code_to_session`` fetches an access token first (unless ``access_token`` is
  already present in ``params``; ``None`` is dropped by requests).
"""
from __future__ import annotations

import threading
import time

import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.client.api import WeChatWxa
from wechatpy.exceptions import APILimitedException, WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage

from tests.fakes.wechat_server import FakeWeChat

APPID = "wx-test-appid"
SECRET = "test-app-secret"
TPL = "tpl-visit-reminder"


# --------------------------------------------------------------------------------------
# Client sketches the main code can copy
# --------------------------------------------------------------------------------------
class FakeableWeChatClient(WeChatClient):
    """Minimal: fetch the token from the configured ``API_BASE_URL`` instead of the
    hard-coded https://api.weixin.qq.com/cgi-bin/token."""

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class _DefaultTimeoutSession(requests.Session):
    """requests.Session whose requests get ``default_timeout`` unless one is given."""

    def __init__(self, default_timeout):
        super().__init__()
        self.default_timeout = default_timeout

    def request(self, method, url, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, **kwargs)


class ConfigurableWeChatClient(FakeableWeChatClient):
    """Base URL in the constructor + timeout also applied to the token fetch."""

    def __init__(self, appid, secret, api_base_url="https://api.weixin.qq.com/", **kwargs):
        super().__init__(appid, secret, **kwargs)
        self.API_BASE_URL = api_base_url + "cgi-bin/"  # instance attr shadows class attr
        self.wxa.API_BASE_URL = api_base_url  # client.wxa is a per-instance WeChatWxa
        if self.timeout is not None:
            self._http = _DefaultTimeoutSession(self.timeout)


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------
@pytest.fixture
def fake():
    with FakeWeChat(appid=APPID, secret=SECRET) as f:
        yield f


def make_client(fake, cls=FakeableWeChatClient, **kwargs):
    client = cls(APPID, kwargs.pop("secret", SECRET), session=kwargs.pop("session", MemoryStorage()),
                 **kwargs)
    client.API_BASE_URL = fake.base_url + "cgi-bin/"
    client.wxa.API_BASE_URL = fake.base_url
    return client


@pytest.fixture
def client(fake):
    return make_client(fake, timeout=2)


def data_ok():
    return {
        "thing1": {"value": "高血压随访"},
        "time2": {"value": "2024-05-01 09:30"},
        "name3": {"value": "张三"},
        "phrase4": {"value": "待确认"},
        "character_string5": {"value": "JY-20240501-0001"},
        "phone_number6": {"value": "+86-13800138000"},
    }


# --------------------------------------------------------------------------------------
# Wiring
# --------------------------------------------------------------------------------------
def test_base_urls_are_class_attrs_shadowed_per_instance(fake, client):
    assert WeChatClient.API_BASE_URL == "https://api.weixin.qq.com/cgi-bin/"
    assert WeChatWxa.API_BASE_URL == "https://api.weixin.qq.com/"
    assert "API_BASE_URL" in vars(client) and "API_BASE_URL" in vars(client.wxa)
    other = WeChatClient(APPID, SECRET)
    assert other.API_BASE_URL == "https://api.weixin.qq.com/cgi-bin/"
    assert other.wxa is not client.wxa
    assert other.wxa.API_BASE_URL == "https://api.weixin.qq.com/"
    assert client.wxa._client is client


def test_configurable_client_constructor(fake):
    c = ConfigurableWeChatClient(APPID, SECRET, api_base_url=fake.base_url, timeout=2)
    fake.add_code("c", openid="o-1")
    assert c.wxa.code_to_session("c")["openid"] == "o-1"
    assert [r.path for r in fake.requests] == ["cgi-bin/token", "sns/jscode2session"]


# --------------------------------------------------------------------------------------
# code_to_session
# --------------------------------------------------------------------------------------
def test_code_to_session_happy_path_fetches_token_first(fake, client):
    fake.add_code("code-1", openid="o-abc", unionid="u-abc")
    fake.add_code("code-2", openid="o-def")
    res = client.wxa.code_to_session("code-1")
    assert res["openid"] == "o-abc" and res["unionid"] == "u-abc" and res["session_key"]
    res2 = client.wxa.code_to_session("code-2")
    assert res2["openid"] == "o-def" and "unionid" not in res2
    assert fake.token_requests == 1  # token cached in the session storage afterwards
    token_req, login_req = fake.requests[:2]
    assert token_req.path == "cgi-bin/token"
    assert token_req.query == {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    assert login_req.path == "sns/jscode2session"
    assert login_req.query["js_code"] == "code-1"
    assert login_req.query["grant_type"] == "authorization_code"
    assert login_req.query["access_token"] in fake.valid_tokens  # wechatpy adds it


def test_code_to_session_without_token_fetch(fake, client):
    """Login need not depend on the token endpoint: pre-set access_token=None."""
    fake.add_code("code-1", openid="o-abc")
    res = client.get("sns/jscode2session", api_base_url=client.wxa.API_BASE_URL, params={
        "appid": APPID, "secret": SECRET, "js_code": "code-1",
        "grant_type": "authorization_code", "access_token": None})
    assert res["openid"] == "o-abc"
    assert fake.token_requests == 0
    assert "access_token" not in fake.requests[0].query


@pytest.mark.parametrize("setup,errcode", [
    (lambda f: None, 40029),  # unknown code
    (lambda f: f.add_code("code-x", openid="o"), 40163),  # used twice
])
def test_code_to_session_errors(fake, client, setup, errcode):
    setup(fake)
    if errcode == 40163:
        client.wxa.code_to_session("code-x")
    with pytest.raises(WeChatClientException) as ei:
        client.wxa.code_to_session("code-x")
    assert ei.value.errcode == errcode
    assert ei.value.response.status_code == 200


def test_code_to_session_wrong_secret(fake):
    c = make_client(fake, secret="wrong")
    with pytest.raises(WeChatClientException) as ei:  # fails already at the token fetch
        c.wxa.code_to_session("whatever")
    assert ei.value.errcode == 40125
    c.session.set(c.access_token_key, "anything")  # skip the token fetch
    with pytest.raises(WeChatClientException) as ei:
        c.wxa.code_to_session("whatever")
    assert ei.value.errcode == 40125
    assert fake.requests[-1].path == "sns/jscode2session"


def test_errcode_fault_and_api_limited(fake, client):
    fake.add_code("code-1", openid="o")
    fake.fail_next("sns/jscode2session", errcode=-1)
    fake.fail_next("sns/jscode2session", errcode=45009)
    with pytest.raises(WeChatClientException) as ei:
        client.wxa.code_to_session("code-1")
    assert ei.value.errcode == -1 and ei.value.errmsg == "system error"
    with pytest.raises(APILimitedException) as ei:  # subclass of WeChatClientException
        client.wxa.code_to_session("code-1")
    assert ei.value.errcode == 45009
    assert client.wxa.code_to_session("code-1")["openid"] == "o"  # code not consumed by faults


def test_http_502_is_wechat_client_exception_without_errcode(fake, client):
    fake.add_code("code-1", openid="o")
    fake.fail_next("/sns/jscode2session", http_status=502)
    with pytest.raises(WeChatClientException) as ei:
        client.wxa.code_to_session("code-1")
    assert ei.value.errcode is None and ei.value.errmsg is None
    assert ei.value.response.status_code == 502
    assert isinstance(ei.value.__context__, requests.HTTPError)


def test_dropped_connection_is_requests_connection_error(fake, client):
    fake.add_code("code-1", openid="o")
    client.access_token  # fetch the token first
    fake.drop_next("sns/jscode2session")
    with pytest.raises(requests.exceptions.ConnectionError) as ei:
        client.wxa.code_to_session("code-1")
    assert not isinstance(ei.value, WeChatClientException)
    assert client.wxa.code_to_session("code-1")["openid"] == "o"  # only one drop, no retry
    assert len(fake.requests_to("sns/jscode2session")) == 2


def test_timeout_is_requests_read_timeout(fake):
    client = make_client(fake, timeout=0.3)  # WeChatClient(..., timeout=seconds)
    fake.add_code("code-1", openid="o")
    client.access_token
    fake.delay("sns/jscode2session", 2, times=1)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.wxa.code_to_session("code-1")
    assert time.monotonic() - t0 < 1.5
    assert issubclass(requests.exceptions.ReadTimeout, requests.exceptions.Timeout)


def test_token_fetch_ignores_client_timeout_unless_session_has_default(fake):
    fake.add_code("code-1", openid="o")
    fake.delay("cgi-bin/token", 1.0)
    minimal = make_client(fake, timeout=0.3)
    t0 = time.monotonic()
    assert minimal.wxa.code_to_session("code-1")["openid"] == "o"  # no timeout on token fetch!
    assert time.monotonic() - t0 >= 1.0
    fixed = ConfigurableWeChatClient(APPID, SECRET, api_base_url=fake.base_url, timeout=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        fixed.access_token


def test_token_endpoint_failures_surface_on_first_call(fake, client):
    fake.fail_next("cgi-bin/token", errcode=-1)
    fake.fail_next("cgi-bin/token", http_status=502)
    with pytest.raises(WeChatClientException) as ei:
        client.wxa.code_to_session("code-1")
    assert ei.value.errcode == -1
    with pytest.raises(WeChatClientException) as ei:
        client.wxa.code_to_session("code-1")
    assert ei.value.errcode is None and ei.value.response.status_code == 502
    assert fake.requests_to("sns/jscode2session") == []


# --------------------------------------------------------------------------------------
# Subscribe messages: wxa.send_subscribe_message(user_id, template_id, data, page=None)
# --------------------------------------------------------------------------------------
def test_send_subscribe_message_delivered_and_recorded(fake, client):
    res = client.wxa.send_subscribe_message("o-abc", TPL, data_ok(), page="pages/visit/index?id=1")
    assert res["errcode"] == 0 and res["errmsg"] == "ok" and isinstance(res["msgid"], int)
    [msg] = fake.sent
    assert msg["touser"] == "o-abc" and msg["template_id"] == TPL
    assert msg["page"] == "pages/visit/index?id=1"
    assert msg["data"]["thing1"] == {"value": "高血压随访"}
    assert msg["msgid"] == res["msgid"]
    req = fake.requests_to("cgi-bin/message/subscribe/send")[0]
    assert req.method == "POST" and req.query["access_token"] in fake.valid_tokens


def test_miniprogram_state_and_lang_need_generic_post(fake, client):
    # wxa.send_subscribe_message has no miniprogram_state / lang parameters.
    res = client.post("message/subscribe/send", data={
        "touser": "o-abc", "template_id": TPL, "data": data_ok(),
        "miniprogram_state": "trial", "lang": "zh_CN"})
    assert res["errcode"] == 0
    assert fake.sent[0]["miniprogram_state"] == "trial"


@pytest.mark.parametrize("key,value", [
    ("thing1", "一" * 21),
    ("name3", "x" * 11),
    ("phrase4", "abcdef"),
    ("character_string5", "x" * 33),
    ("number7", "1" * 33),
    ("phone_number6", "1" * 18),
    ("time2", "2024/05/01"),
    ("date8", "明天"),
])
def test_send_subscribe_message_argument_invalid(fake, client, key, value):
    data = data_ok()
    data[key] = {"value": value}
    with pytest.raises(WeChatClientException) as ei:
        client.wxa.send_subscribe_message("o-abc", TPL, data)
    assert ei.value.errcode == 47003
    assert ei.value.errmsg.startswith("argument invalid! data.%s.value" % key)
    assert fake.sent == []


@pytest.mark.parametrize("value", ["2024-05-01", "2024-05-01 09:30", "2024年05月01日",
                                   "2024年5月1日 09:30"])
def test_time_formats_accepted(fake, client, value):
    data = {"thing1": {"value": "x" * 20}, "date2": {"value": value}}
    assert client.wxa.send_subscribe_message("o", TPL, data)["errcode"] == 0


def test_refused_openid(fake, client):
    fake.refuse("o-nosub")  # default errcode 43101
    with pytest.raises(WeChatClientException) as ei:
        client.wxa.send_subscribe_message("o-nosub", TPL, data_ok())
    assert ei.value.errcode == 43101
    assert client.wxa.send_subscribe_message("o-other", TPL, data_ok())["errcode"] == 0
    assert [m["touser"] for m in fake.sent] == ["o-other"]


def test_expired_token_42001_is_refreshed_and_retried(fake, client):
    client.wxa.send_subscribe_message("o", TPL, data_ok())
    fake.expire_tokens()
    res = client.wxa.send_subscribe_message("o", TPL, data_ok())  # auto_retry=True default
    assert res["errcode"] == 0
    assert fake.token_requests == 2
    sends = fake.requests_to("cgi-bin/message/subscribe/send")
    assert len(sends) == 3 and sends[1].query["access_token"] != sends[2].query["access_token"]
    assert len(fake.sent) == 2


def test_invalid_token_40001_is_refreshed_and_retried_unbounded(fake, client):
    client.session.set(client.access_token_key, "garbage-token")  # unknown to the fake
    assert client.wxa.send_subscribe_message("o", TPL, data_ok())["errcode"] == 0
    assert fake.token_requests == 1
    # Each 40001/40014/42001 answer = one more token fetch + one more call, no upper bound.
    fake.fail_next("cgi-bin/message/subscribe/send", errcode=40001, times=3)
    assert client.wxa.send_subscribe_message("o", TPL, data_ok())["errcode"] == 0
    assert fake.token_requests == 4


def test_auto_retry_false_raises_42001(fake):
    c = make_client(fake, auto_retry=False)
    c.access_token
    fake.expire_tokens()
    with pytest.raises(WeChatClientException) as ei:
        c.wxa.send_subscribe_message("o", TPL, data_ok())
    assert ei.value.errcode == 42001
    c.session.set(c.access_token_key, "garbage")
    with pytest.raises(WeChatClientException) as ei:
        c.wxa.send_subscribe_message("o", TPL, data_ok())
    assert ei.value.errcode == 40001


# --------------------------------------------------------------------------------------
# Session storage
# --------------------------------------------------------------------------------------
class DictTTLStorage(SessionStorage):
    """Sketch of a DB-backed storage: get/set(ttl)/delete; must honour ttl itself."""

    def __init__(self):
        self.rows = {}  # key -> (value, expires_at | None)
        self.calls = []

    def get(self, key, default=None):
        row = self.rows.get(key)
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return default
        return row[0]

    def set(self, key, value, ttl=None):
        self.calls.append(("set", key, ttl))
        if value is None:
            return
        self.rows[key] = (value, time.time() + ttl if ttl else None)

    def delete(self, key):
        self.rows.pop(key, None)


def test_custom_session_storage_shared_between_clients(fake):
    storage = DictTTLStorage()
    a = make_client(fake, session=storage)
    a.access_token
    assert storage.calls == [("set", APPID + "_access_token", 7200)]
    # A second client (e.g. another worker process) reuses the stored token: no fetch.
    b = make_client(fake, session=storage)
    assert b.expires_at is None  # expiry is tracked per instance, not in the storage
    assert b.wxa.send_subscribe_message("o", TPL, data_ok())["errcode"] == 0
    assert fake.token_requests == 1
    # Once the storage drops the row (ttl), the client fetches a new one.
    storage.rows[APPID + "_access_token"] = ("old", time.time() - 1)
    assert b.access_token != "old" and fake.token_requests == 2


def test_session_storage_getitem_returns_none():
    s = MemoryStorage()
    s["k"] = "v"
    assert s.get("k") == "v"
    assert s["k"] is None  # wechatpy bug: SessionStorage.__getitem__ lacks `return`


# --------------------------------------------------------------------------------------
# The fake itself
# --------------------------------------------------------------------------------------
def test_stable_token_endpoint(fake):
    url = fake.base_url + "cgi-bin/stable_token"
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    t1 = requests.post(url, json=body, timeout=2).json()
    t2 = requests.post(url, json=body, timeout=2).json()
    t3 = requests.post(url, json=dict(body, force_refresh=True), timeout=2).json()
    assert t1["expires_in"] == 7200 and t1["access_token"] == t2["access_token"]
    assert t3["access_token"] != t1["access_token"]
    assert fake.token_requests == 3
    bad = requests.post(url, json=dict(body, secret="nope"), timeout=2).json()
    assert bad["errcode"] == 40125
    r = requests.get(fake.base_url + "cgi-bin/message/subscribe/send", timeout=2)
    assert r.status_code == 404


def test_token_checks_on_send(fake):
    url = fake.base_url + "cgi-bin/message/subscribe/send"
    body = {"touser": "o", "template_id": TPL, "data": data_ok()}
    assert requests.post(url, json=body, timeout=2).json()["errcode"] == 41001
    assert requests.post(url, params={"access_token": "x"}, json=body, timeout=2).json()["errcode"] == 40001
    tok = fake.issue_token()
    assert requests.post(url, params={"access_token": tok}, json=body, timeout=2).json()["errcode"] == 0
    fake.expire_tokens()
    assert requests.post(url, params={"access_token": tok}, json=body, timeout=2).json()["errcode"] == 42001


def test_fault_queue_reset_and_log(fake, client):
    fake.fail_next("cgi-bin/token", errcode=-1, times=2)
    fake.fail_next("cgi-bin/token", http_status=503)
    for expected in (-1, -1, None):
        with pytest.raises(WeChatClientException) as ei:
            client.access_token
        assert ei.value.errcode == expected
    assert client.access_token
    assert [r.method for r in fake.requests] == ["GET"] * 4
    fake.add_code("c", openid="o")
    fake.refuse("o")
    fake.delay("sns/jscode2session", 5)
    fake.drop_next("cgi-bin/token")
    fake.reset()
    assert fake.requests == [] and fake.token_requests == 0 and fake.valid_tokens == set()
    with pytest.raises(WeChatClientException) as ei:  # code forgotten, no delay
        client.wxa.code_to_session("c")  # jscode2session accepts any access_token
    assert ei.value.errcode == 40029
    assert fake.token_requests == 0


def test_concurrent_sends(fake, client):
    client.access_token
    errors = []

    def worker(i):
        try:
            c = make_client(fake, session=client.session)
            c.wxa.send_subscribe_message("o-%d" % i, TPL, data_ok())
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(m["touser"] for m in fake.sent) == sorted("o-%d" % i for i in range(20))
    assert len({m["msgid"] for m in fake.sent}) == 20


def test_stop_is_clean_even_with_a_sleeping_handler():
    fake = FakeWeChat().start()
    url = fake.base_url
    fake.delay("cgi-bin/token", 30)
    t = threading.Thread(target=lambda: requests.get(url + "cgi-bin/token", timeout=10))
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    fake.stop()
    assert time.monotonic() - t0 < 2
    t.join(5)
    assert not t.is_alive()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "cgi-bin/token", timeout=1)
    fake.stop()  # idempotent
