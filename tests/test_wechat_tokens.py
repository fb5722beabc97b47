"""The WeChat access_token is fetched once and shared by every process: in the database, or Redis."""
from __future__ import annotations

import pytest
import redis

from backend import clock
from backend.wechat.client import DatabaseTokenStorage, wechat_client

REDIS_URL = "redis://127.0.0.1:6379/15"


def test_database_storage_honours_the_ttl(app):
    storage = DatabaseTokenStorage()
    with clock.frozen_at(clock.parse_moment("2026-06-10T08:00:00+08:00")):
        storage.set("k", "token-1", ttl=7200)
        assert storage.get("k") == "token-1"
    with clock.frozen_at(clock.parse_moment("2026-06-10T09:54:00+08:00")):
        assert storage.get("k") == "token-1"
    # Refreshed five minutes early, so a token never expires between read and use.
    with clock.frozen_at(clock.parse_moment("2026-06-10T09:55:00+08:00")):
        assert storage.get("k") is None
    storage.set("k", "token-2")
    storage.delete("k")
    assert storage.get("k", "none") == "none"


def test_two_clients_share_one_token_through_the_database(app, wechat):
    first, second = wechat_client(), wechat_client()
    assert first.access_token == second.access_token
    assert wechat.token_requests == 1


@pytest.fixture
def redis_db():
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    connection.flushdb()
    yield connection
    connection.flushdb()


def test_with_redis_configured_the_token_lives_in_redis(app_with, wechat, redis_db):
    app_with(JIAYI_REDIS_URL=REDIS_URL)
    token = wechat_client().access_token
    assert redis_db.get("jiayi:wechat:wx-test-appid_access_token") is not None
    assert wechat_client().access_token == token and wechat.token_requests == 1


def test_concurrent_token_writes_do_not_collide(app):
    """Two processes that fetched a token at the same moment both store it: the last one wins."""
    import threading

    storage = DatabaseTokenStorage()
    errors = []
    barrier = threading.Barrier(8)

    def write(n):
        with app.app_context():
            barrier.wait()
            try:
                storage.set("shared", f"token-{n}", ttl=7200)
            except Exception as error:  # surfaced by the assertion below
                errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert storage.get("shared").startswith("token-")
