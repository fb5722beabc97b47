"""Mini-program sign-in through WeChat's jscode2session, against the fake WeChat server over HTTP."""
from __future__ import annotations

import sqlalchemy as sa

from backend.extensions import db
from backend.residents.models import Account
from tests.conftest import make_app

LOGIN = "/api/v1/auth/wechat/login"


def test_login_creates_an_account_and_returns_a_token(client, wechat):
    wechat.add_code("code-1", openid="o-zhang", unionid="u-zhang", session_key="the-session-key")
    response = client.post(LOGIN, json={"code": "code-1"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["access_token"]
    assert body["account"]["residents"] == []
    assert "the-session-key" not in response.get_data(as_text=True)
    account = db.session.get(Account, body["account"]["id"])
    assert (account.openid, account.unionid, account.session_key) == ("o-zhang", "u-zhang", "the-session-key")
    me = client.get("/api/v1/me", headers={"Authorization": "Bearer " + body["access_token"]})
    assert me.status_code == 200 and me.get_json() == {"id": account.id, "residents": []}


def test_session_key_is_stored_encrypted(client, wechat):
    wechat.add_code("code-1", openid="o-zhang", session_key="the-session-key")
    client.post(LOGIN, json={"code": "code-1"})
    raw = db.session.execute(sa.text("SELECT session_key_enc FROM accounts")).scalar_one()
    assert "the-session-key" not in raw and raw.startswith("gAAAAA")


def test_the_same_openid_logs_into_the_same_account(client, wechat):
    wechat.add_code("code-1", openid="o-zhang")
    wechat.add_code("code-2", openid="o-zhang")
    first = client.post(LOGIN, json={"code": "code-1"}).get_json()["account"]["id"]
    second = client.post(LOGIN, json={"code": "code-2"}).get_json()["account"]["id"]
    assert first == second
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 1


def test_the_access_token_is_fetched_once_and_shared(client, wechat):
    for n in range(3):
        wechat.add_code(f"code-{n}", openid=f"o-{n}")
        assert client.post(LOGIN, json={"code": f"code-{n}"}).status_code == 200
    assert wechat.token_requests == 1


def test_an_access_token_refused_by_wechat_is_refreshed_once(client, wechat):
    wechat.add_code("code-1", openid="o-1")
    client.post(LOGIN, json={"code": "code-1"})
    wechat.add_code("code-2", openid="o-2")
    wechat.fail_next("sns/jscode2session", errcode=42001)
    assert client.post(LOGIN, json={"code": "code-2"}).status_code == 200
    assert wechat.token_requests == 2


def test_a_token_refused_twice_is_503(client, wechat):
    wechat.add_code("code-1", openid="o-1")
    wechat.fail_next("sns/jscode2session", errcode=40001, times=2)
    assert_unavailable(client.post(LOGIN, json={"code": "code-1"}))


def test_unknown_code_is_401_wechat_code_invalid(client, wechat):
    response = client.post(LOGIN, json={"code": "never-issued"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "wechat_code_invalid"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0


def test_a_used_code_is_401(client, wechat):
    wechat.add_code("code-1", openid="o-1")
    assert client.post(LOGIN, json={"code": "code-1"}).status_code == 200
    response = client.post(LOGIN, json={"code": "code-1"})
    assert response.status_code == 401 and response.get_json()["code"] == "wechat_code_invalid"


def assert_unavailable(response):
    assert response.status_code == 503
    assert response.get_json()["code"] == "wechat_unavailable"


def test_wechat_busy_is_503(client, wechat):
    wechat.add_code("code-1", openid="o-1")
    wechat.fail_next("sns/jscode2session", errcode=-1)
    assert_unavailable(client.post(LOGIN, json={"code": "code-1"}))


def test_wechat_5xx_is_503(client, wechat):
    wechat.add_code("code-1", openid="o-1")
    wechat.fail_next("sns/jscode2session", http_status=502)
    assert_unavailable(client.post(LOGIN, json={"code": "code-1"}))


def test_dropped_connection_is_503(client, wechat):
    wechat.add_code("code-1", openid="o-1")
    wechat.drop_next("sns/jscode2session")
    assert_unavailable(client.post(LOGIN, json={"code": "code-1"}))


def test_timeout_is_503(client, wechat, short_wechat_timeout):
    wechat.add_code("code-1", openid="o-1")
    wechat.delay("sns/jscode2session", 1)
    assert_unavailable(client.post(LOGIN, json={"code": "code-1"}))


def test_token_endpoint_down_is_503(client, wechat):
    wechat.add_code("code-1", openid="o-1")
    wechat.fail_next("cgi-bin/token", errcode=-1)
    assert_unavailable(client.post(LOGIN, json={"code": "code-1"}))


def test_no_credentials_configured_is_503(_schema):
    app = make_app(env={"JIAYI_WECHAT_APPID": "", "JIAYI_WECHAT_SECRET": ""})
    assert_unavailable(app.test_client().post(LOGIN, json={"code": "anything"}))


def test_login_body_is_validated(client):
    response = client.post(LOGIN, json={"code": "x", "openid": "o-1"})
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["openid"]
    assert client.post(LOGIN, json={}).get_json()["errors"] == {"code": ["必填字段"]}
