"""Staff sign-in, tokens and /me."""
from __future__ import annotations

from datetime import timedelta

from flask_jwt_extended import create_access_token

from backend.extensions import db
from tests.factories import PASSWORD, login

LOGIN = "/api/v1/auth/staff/login"


def test_staff_login_returns_a_bearer_token_and_the_staff(client, county):
    response = client.post(LOGIN, json={"username": "doctor-a", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200 and body["access_token"]
    doctor = county.staff["doctor_a"]
    assert body["staff"] == {
        "id": doctor.id, "name": "王医生", "title": "doctor", "roles": ["doctor"],
        "institution_id": county.institutions["center_a"].id, "institution_name": "平安镇卫生院",
        "region_code": None, "team_ids": [county.teams["a"].id],
    }


def test_wrong_password_and_unknown_user_get_the_same_answer(client, county):
    wrong = client.post(LOGIN, json={"username": "doctor-a", "password": "not-the-password"})
    unknown = client.post(LOGIN, json={"username": "nobody-here", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json() == {"code": "invalid_credentials", "message": "用户名或密码错误"}


def test_disabled_staff_cannot_log_in(client, county):
    county.staff["doctor_a"].active = False
    db.session.commit()
    response = client.post(LOGIN, json={"username": "doctor-a", "password": PASSWORD})
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_credentials"


def test_repeated_failures_are_429_too_many_attempts(client, county):
    for _ in range(5):
        assert client.post(LOGIN, json={"username": "doctor-a", "password": "wrong-password"}).status_code == 401
    response = client.post(LOGIN, json={"username": "doctor-a", "password": PASSWORD})
    assert response.status_code == 429
    assert response.get_json()["code"] == "too_many_attempts"
    assert int(response.headers["Retry-After"]) > 0


def test_successful_logins_do_not_count_toward_the_limit(client, county):
    for _ in range(8):
        assert client.post(LOGIN, json={"username": "doctor-a", "password": PASSWORD}).status_code == 200


def test_login_requires_both_fields(client):
    response = client.post(LOGIN, json={"username": "doctor-a"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"password": ["必填字段"]}


def test_me_returns_the_staff_member(client, county):
    response = client.get("/api/v1/me", headers=county.headers(client, "county_admin"))
    assert response.status_code == 200
    assert response.get_json()["roles"] == ["county_admin"]
    assert response.get_json()["region_code"] == "220802000000"


def test_me_without_token_is_401(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def test_garbage_token_is_401(client):
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def test_expired_token_is_401(client, county):
    token = create_access_token(identity=county.staff["doctor_a"].id, additional_claims={"kind": "staff"},
                                expires_delta=timedelta(seconds=-30))
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json() == {"code": "unauthorized", "message": "登录已过期，请重新登录"}


def test_token_of_a_disabled_staff_member_stops_working(client, county):
    headers = login(client, "doctor-a")
    county.staff["doctor_a"].active = False
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_token_signed_with_another_key_is_401(client, county):
    import jwt as pyjwt

    forged = pyjwt.encode({"sub": county.staff["root"].id, "kind": "staff", "type": "access"}, "another-signing-key-of-a-stranger-0123456789",
                          algorithm="HS256")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
