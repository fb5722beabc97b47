"""Test set-up: a real database (SQLite by default, PostgreSQL with TEST_DATABASE_URL),
its schema made by the migrations once per run, and emptied after every test."""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from backend import clock, create_app
from backend.config import load_settings
from backend.extensions import db, dispose_engines

from tests.factories import County, build_county
from tests.fakes.wechat_server import FakeWeChat

_TMP = Path(tempfile.mkdtemp(prefix="jiayi-tests-"))
DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.sqlite3'}"
WECHAT_APPID, WECHAT_SECRET = "wx-test-appid", "test-app-secret"
_wechat = FakeWeChat(WECHAT_APPID, WECHAT_SECRET).start()
ENV = {
    "JIAYI_DATABASE_URL": DATABASE_URL,
    "JIAYI_WECHAT_APPID": WECHAT_APPID,
    "JIAYI_WECHAT_SECRET": WECHAT_SECRET,
    "JIAYI_WECHAT_API_BASE_URL": _wechat.base_url,
    # Generous, so a loaded CI machine never turns a slow loopback answer into a 503;
    # tests of timeouts shorten it with the short_wechat_timeout fixture.
    "JIAYI_WECHAT_TIMEOUT_SECONDS": "10",
    "JIAYI_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
    "JIAYI_FIELD_KEYS": Fernet.generate_key().decode(),
    "JIAYI_FIELD_INDEX_KEY": "test-index-key-0123456789-0123456789-abcdef",
}


def make_app(**overrides):
    settings = load_settings(_TMP / "instance", {**ENV, **overrides.pop("env", {})})
    return create_app({"JIAYI": settings, "TESTING": True, "JIAYI_FAST_PASSWORD_HASH": True, **overrides})


@pytest.fixture(scope="session")
def _schema():
    """Drop whatever is there and build the schema the way production does: by migrating."""
    from flask_migrate import upgrade

    app = make_app()
    with app.app_context():
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("DROP SCHEMA public CASCADE"))
                connection.execute(sa.text("CREATE SCHEMA public"))
            else:
                metadata = sa.MetaData()
                metadata.reflect(bind=connection)
                metadata.drop_all(bind=connection)
                connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        dispose_engines()
    yield


def _empty_tables() -> None:
    tables = [t for t in db.metadata.sorted_tables]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                connection.execute(table.delete())


@pytest.fixture(autouse=True)
def _clock_runs_free():
    """No test leaks a frozen clock into the next."""
    yield
    clock.freeze(None)


@pytest.fixture
def app(_schema):
    app = make_app()
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        dispose_engines()


@pytest.fixture
def wechat():
    """The fake WeChat server (real HTTP on loopback) the app talks to, fresh for each test."""
    _wechat.reset()
    yield _wechat
    _wechat.reset()


@pytest.fixture
def short_wechat_timeout(app):
    """Let the app wait only 0.3 s for WeChat, for tests that make the fake server answer late."""
    app.config["JIAYI"] = dataclasses.replace(app.config["JIAYI"], wechat_timeout_seconds=0.3)
    return app


@pytest.fixture
def app_with(_schema):
    """Build an app with other settings (e.g. no WeChat credentials) and enter its context."""
    contexts = []

    def build(**env):
        built = make_app(env=env)
        context = built.app_context()
        context.push()
        contexts.append(context)
        return built

    yield build
    for context in reversed(contexts):
        db.session.remove()
        _empty_tables()
        dispose_engines()
        context.pop()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def county(app) -> County:
    return build_county()
