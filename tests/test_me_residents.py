"""A mini-program account binds itself and its family, and sees only them."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.residents.models import AccountResident, Resident
from tests.factories import VILLAGE_A1, TOWNSHIP_A, account_login, add_resident, id_number_for

ME = "/api/v1/me/residents"
SELF_ID = id_number_for(date(1986, 5, 17), 131)   # a man
PARENT_ID = id_number_for(date(1950, 2, 3), 242)  # a woman, 65 or over


def bind(client, headers, name="张伟", id_number=SELF_ID, phone="13912345678", relation="self"):
    return client.post(ME, json={"name": name, "id_number": id_number, "phone": phone, "relation": relation},
                       headers=headers)


def resident_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Resident))


def test_binding_oneself_creates_a_self_registered_resident(client, wechat, county):
    headers = account_login(client, wechat, "o-zhang")
    response = bind(client, headers)
    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "张伟" and body["relation"] == "self" and body["source"] == "self"
    assert body["sex"] == "male" and body["birth_date"] == "1986-05-17"
    assert body["id_number"] == SELF_ID[:6] + "*" * 8 + SELF_ID[-4:]
    assert body["phone"] == "139****5678"
    assert body["region_code"] is None
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert [r["id"] for r in me["residents"]] == [body["id"]]


def test_identity_columns_hold_no_plain_text(client, wechat, county):
    headers = account_login(client, wechat, "o-zhang")
    bind(client, headers)
    row = db.session.execute(sa.text("SELECT id_number_enc, id_number_index, phone_enc FROM residents")).one()
    assert SELF_ID not in row.id_number_enc and SELF_ID[-8:] not in row.id_number_enc
    assert "13912345678" not in row.phone_enc
    assert SELF_ID not in row.id_number_index and len(row.id_number_index) == 64


def test_lower_case_x_is_accepted_and_stored_upper_case(client, wechat, county):
    from backend.security.identity import make_id_number

    with_x = next(make_id_number("220802", date(1990, 1, 1), n) for n in range(1000)
                  if make_id_number("220802", date(1990, 1, 1), n).endswith("X"))
    headers = account_login(client, wechat, "o-x")
    response = bind(client, headers, id_number=with_x.lower())
    assert response.status_code == 201
    assert db.session.get(Resident, response.get_json()["id"]).id_number == with_x


def test_binding_a_record_on_file_needs_name_and_phone_to_match(client, wechat, county):
    on_file = add_resident("王秀英", PARENT_ID, "13800001111", VILLAGE_A1)
    headers = account_login(client, wechat, "o-zhang")
    response = bind(client, headers, name="王秀英", id_number=PARENT_ID, phone="138 0000 1111", relation="parent")
    assert response.status_code == 201
    assert response.get_json()["id"] == on_file.id and response.get_json()["groups"] == ["elderly_65"]
    assert resident_count() == 1


@pytest.mark.parametrize("name, phone", [("王秀", "13800001111"), ("王秀英", "13800002222"), ("李四", "13900000000")])
def test_identity_mismatch_does_not_say_which_field(client, wechat, county, name, phone):
    add_resident("王秀英", PARENT_ID, "13800001111", VILLAGE_A1)
    headers = account_login(client, wechat, "o-zhang")
    response = bind(client, headers, name=name, id_number=PARENT_ID, phone=phone, relation="parent")
    assert response.status_code == 422
    assert response.get_json() == {"code": "identity_mismatch", "message": "身份信息与档案不符", "errors": {}}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountResident)) == 0


def test_a_record_without_a_phone_cannot_be_bound_by_the_account(client, wechat, county):
    add_resident("王秀英", PARENT_ID, None, VILLAGE_A1)
    headers = account_login(client, wechat, "o-zhang")
    response = bind(client, headers, name="王秀英", id_number=PARENT_ID, relation="parent")
    assert response.get_json()["code"] == "identity_mismatch"


@pytest.mark.parametrize("id_number", [
    SELF_ID[:17],                                  # too short
    SELF_ID[:-1] + ("0" if SELF_ID[-1] != "0" else "1"),  # check character wrong
    "220802" + "19860230" + "1311",                # 30 February
    "220802" + "20990101" + "1311",                # born in the future
    "22080219860517131A",
])
def test_invalid_identity_numbers_are_422(client, wechat, county, id_number):
    headers = account_login(client, wechat, "o-zhang")
    response = bind(client, headers, id_number=id_number)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error" and list(body["errors"]) == ["id_number"]
    assert resident_count() == 0


def test_invalid_phone_is_422(client, wechat, county):
    headers = account_login(client, wechat, "o-zhang")
    response = bind(client, headers, phone="0436-1234567")
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["phone"]


def test_unknown_relation_is_422(client, wechat, county):
    headers = account_login(client, wechat, "o-zhang")
    response = bind(client, headers, relation="cousin")
    assert response.status_code == 422 and "relation" in response.get_json()["errors"]


def test_binding_the_same_resident_twice_is_409(client, wechat, county):
    headers = account_login(client, wechat, "o-zhang")
    assert bind(client, headers).status_code == 201
    response = bind(client, headers, relation="other")
    assert response.status_code == 409 and response.get_json()["code"] == "already_bound"


def test_only_one_self_per_account(client, wechat, county):
    headers = account_login(client, wechat, "o-zhang")
    bind(client, headers)
    response = bind(client, headers, name="张敏", id_number=id_number_for(date(1988, 1, 1), 222))
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["relation"]


def test_at_most_eight_residents_per_account(client, wechat, county):
    headers = account_login(client, wechat, "o-big-family")
    for n in range(8):
        relation = "self" if n == 0 else "child"
        response = bind(client, headers, name=f"家人{n}", id_number=id_number_for(date(1990, 1, 1 + n), 300 + n),
                        relation=relation)
        assert response.status_code == 201
    ninth = bind(client, headers, name="家人8", id_number=id_number_for(date(1990, 2, 1), 400), relation="child")
    assert ninth.status_code == 409 and ninth.get_json()["code"] == "binding_limit_reached"
    assert resident_count() == 8


def test_two_accounts_may_bind_the_same_family_member(client, wechat, county):
    add_resident("王秀英", PARENT_ID, "13800001111", VILLAGE_A1)
    for openid in ("o-son", "o-daughter"):
        headers = account_login(client, wechat, openid)
        assert bind(client, headers, name="王秀英", id_number=PARENT_ID, phone="13800001111",
                    relation="parent").status_code == 201
    assert resident_count() == 1


def test_a_self_registered_resident_chooses_its_village(client, wechat, county):
    headers = account_login(client, wechat, "o-zhang")
    resident_id = bind(client, headers).get_json()["id"]
    response = client.patch(f"{ME}/{resident_id}", json={"region_code": VILLAGE_A1, "address": "平安村3组"},
                            headers=headers)
    assert response.status_code == 200
    assert response.get_json()["region_name"] == "平安村" and response.get_json()["address"] == "平安村3组"
    township = client.patch(f"{ME}/{resident_id}", json={"region_code": TOWNSHIP_A}, headers=headers)
    assert township.status_code == 422 and "region_code" in township.get_json()["errors"]
    unknown = client.patch(f"{ME}/{resident_id}", json={"region_code": "220802100099"}, headers=headers)
    assert unknown.status_code == 422
    phone = client.patch(f"{ME}/{resident_id}", json={"phone": "13700009999"}, headers=headers)
    assert phone.get_json()["phone"] == "137****9999"


def test_editing_or_unbinding_someone_not_bound_is_404(client, wechat, county):
    stranger = add_resident("陌生人", PARENT_ID, "13800001111", VILLAGE_A1)
    headers = account_login(client, wechat, "o-zhang")
    assert client.patch(f"{ME}/{stranger.id}", json={"address": "x"}, headers=headers).status_code == 404
    assert client.delete(f"{ME}/{stranger.id}", headers=headers).status_code == 404


def test_unbinding_removes_access(client, wechat, county):
    headers = account_login(client, wechat, "o-zhang")
    resident_id = bind(client, headers).get_json()["id"]
    assert client.get(f"/api/v1/residents/{resident_id}", headers=headers).status_code == 200
    assert client.delete(f"{ME}/{resident_id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/residents/{resident_id}", headers=headers).status_code == 404
    assert client.get("/api/v1/me", headers=headers).get_json()["residents"] == []
    assert resident_count() == 1  # the record stays; only the binding goes


def test_staff_cannot_use_the_account_endpoints(client, county):
    headers = county.headers(client, "doctor_a")
    response = client.post(ME, json={"name": "x", "id_number": SELF_ID, "phone": "13912345678",
                                     "relation": "self"}, headers=headers)
    assert response.status_code == 403


def test_acceptance_bind_self_and_parent_read_own_not_a_strangers(client, wechat, county):
    stranger = add_resident("陌生人", id_number_for(date(1970, 7, 7), 555), "13600000000", VILLAGE_A1)
    add_resident("王秀英", PARENT_ID, "13800001111", VILLAGE_A1)
    headers = account_login(client, wechat, "o-zhang")
    own = bind(client, headers).get_json()
    parent = bind(client, headers, name="王秀英", id_number=PARENT_ID, phone="13800001111",
                  relation="parent").get_json()
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert [(r["name"], r["relation"]) for r in me["residents"]] == [("张伟", "self"), ("王秀英", "parent")]
    for resident in (own, parent):
        detail = client.get(f"/api/v1/residents/{resident['id']}", headers=headers)
        assert detail.status_code == 200 and detail.get_json()["id_number"].count("*") == 8
    denied = client.get(f"/api/v1/residents/{stranger.id}", headers=headers)
    assert denied.status_code == 404 and "陌生人" not in denied.get_data(as_text=True)
