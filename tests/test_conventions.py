"""The contract's conventions: one error envelope for everything, JSON in UTF-8, pagination."""
from __future__ import annotations

import pytest

from tests.conftest import make_app


def assert_envelope(response, status: int, code: str):
    assert response.status_code == status
    body = response.get_json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_unknown_route_is_404_in_the_envelope(client):
    body = assert_envelope(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert "errors" not in body


def test_wrong_method_is_405_with_allow_header(client):
    response = client.delete("/api/v1/regions")
    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_over_one_mebibyte_is_413(client, county):
    headers = county.headers(client, "root")
    big = {"code": "220802300000", "name": "x" * (1024 * 1024 + 10)}
    assert_envelope(client.post("/api/v1/admin/regions", json=big, headers=headers), 413, "payload_too_large")


def test_unknown_body_field_is_422_naming_it(client, county):
    headers = county.headers(client, "root")
    response = client.post("/api/v1/admin/regions", json={"code": "220802300000", "name": "新镇", "mayor": "x"},
                           headers=headers)
    body = assert_envelope(response, 422, "validation_error")
    assert list(body["errors"]) == ["mayor"]


def test_missing_and_mistyped_fields_are_each_named(client, county):
    headers = county.headers(client, "root")
    response = client.post("/api/v1/admin/institutions", json={"name": 12, "kind": "clinic"}, headers=headers)
    body = assert_envelope(response, 422, "validation_error")
    assert set(body["errors"]) == {"name", "kind", "region_code"}
    assert body["errors"]["region_code"] == ["必填字段"]


def test_body_that_is_not_json_is_422(client, county):
    headers = {**county.headers(client, "root"), "Content-Type": "application/json"}
    response = client.post("/api/v1/admin/regions", data="{not json", headers=headers)
    assert response.status_code in (400, 422)
    assert response.get_json()["code"] in ("bad_request", "validation_error")


def test_unhandled_error_is_500_without_internals(_schema, caplog):
    app = make_app()

    @app.route("/api/v1/_explode")
    def explode():
        raise RuntimeError("SELECT secret FROM staff WHERE password='hunter2'")

    response = app.test_client().get("/api/v1/_explode")
    body = assert_envelope(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "SELECT" not in text and "hunter2" not in text and "Traceback" not in text
    assert set(body) == {"code", "message"}


def test_json_is_utf8_and_unescaped(client, county):
    response = client.get("/api/v1/regions")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "吉林省" in response.get_data(as_text=True)


def test_lists_use_the_pagination_envelope(client, county):
    response = client.get("/api/v1/regions?parent=220802000000&page=1&page_size=1")
    body = response.get_json()
    assert response.status_code == 200
    assert set(body) == {"items", "page", "page_size", "total"}
    assert (body["page"], body["page_size"], body["total"], len(body["items"])) == (1, 1, 2, 1)
    second = client.get("/api/v1/regions?parent=220802000000&page=2&page_size=1").get_json()
    assert second["items"][0]["code"] != body["items"][0]["code"]


@pytest.mark.parametrize("query", ["page_size=101", "page_size=0", "page=0", "page=abc"])
def test_out_of_range_paging_is_422(client, query):
    body = assert_envelope(client.get(f"/api/v1/regions?{query}"), 422, "validation_error")
    assert set(body["errors"]) <= {"page", "page_size"} and body["errors"]
