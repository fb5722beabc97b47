from __future__ import annotations

from tests.conftest import make_app


def test_healthz_answers_ok_with_the_database(client):
    for path in ("/healthz", "/api/v1/healthz"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_does_not_answer(_schema):
    # Port 1 on loopback refuses at once: a database that is down.
    app = make_app(env={"JIAYI_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
                   SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "database_unavailable"
    assert "127.0.0.1" not in response.get_data(as_text=True)
