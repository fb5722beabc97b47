"""wechatpy clients pointed at the configured API base URL, with a shared token store.

wechatpy 1.8 keeps WeChat's address in two class attributes (``API_BASE_URL`` for
``cgi-bin/``, ``wxa.API_BASE_URL`` for ``sns/`` and subscribe messages) and writes the
token URL into ``fetch_access_token``; this subclass sets all three from configuration,
so tests can point the real code at a fake server on loopback.
"""
from __future__ import annotations

import json
from datetime import timedelta

import requests
import sqlalchemy as sa
from flask import current_app
from wechatpy import WeChatClient
from wechatpy.session import SessionStorage

from backend import clock
from backend.extensions import db, dialect_insert
from backend.wechat.models import WeChatToken

class _TimeoutSession(requests.Session):
    """wechatpy passes no timeout when it fetches the token; every request gets one here."""

    def __init__(self, timeout: float):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, **kwargs)


class DatabaseTokenStorage(SessionStorage):
    """Keeps the access_token in the database, so all processes share one token.

    Each call is its own short transaction on its own connection, outside the
    request's unit of work. The TTL is honoured here: wechatpy only remembers
    expiry inside the client that fetched the token.
    """

    def get(self, key, default=None):
        with db.engine.connect() as connection:
            row = connection.execute(
                sa.select(WeChatToken.value, WeChatToken.expires_at).where(WeChatToken.key == key)
            ).first()
        if row is None or (row.expires_at is not None and row.expires_at <= clock.utcnow()):
            return default
        return json.loads(row.value)

    def set(self, key, value, ttl=None):
        # Refresh a little early so a token never expires between read and use.
        expires_at = clock.utcnow() + timedelta(seconds=max(int(ttl) - 300, 60)) if ttl else None
        # An upsert: processes that fetched a token at the same moment must not collide.
        statement = dialect_insert(WeChatToken).values(key=key, value=json.dumps(value), expires_at=expires_at)
        statement = statement.on_conflict_do_update(
            index_elements=[WeChatToken.key],
            set_={"value": statement.excluded.value, "expires_at": statement.excluded.expires_at},
        )
        with db.engine.begin() as connection:
            connection.execute(statement)

    def delete(self, key):
        with db.engine.begin() as connection:
            connection.execute(sa.delete(WeChatToken).where(WeChatToken.key == key))


class JiayiWeChatClient(WeChatClient):
    def __init__(self, appid: str, secret: str, api_base_url: str, timeout: float,
                 session: SessionStorage | None = None):
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        base = api_base_url if api_base_url.endswith("/") else api_base_url + "/"
        self.API_BASE_URL = base + "cgi-bin/"
        self.wxa.API_BASE_URL = base
        self._http = _TimeoutSession(timeout)

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def token_storage() -> SessionStorage:
    """Where every process finds the one access_token: Redis when configured, else the database."""
    settings = current_app.config["JIAYI"]
    if settings.redis_url:
        import redis
        from wechatpy.session.redisstorage import RedisStorage

        return RedisStorage(redis.Redis.from_url(settings.redis_url), prefix="jiayi:wechat")
    return DatabaseTokenStorage()


def wechat_client() -> JiayiWeChatClient | None:
    """The configured client, or None when no credentials are set (dry run)."""
    settings = current_app.config["JIAYI"]
    if not (settings.wechat_appid and settings.wechat_secret):
        return None
    return JiayiWeChatClient(settings.wechat_appid, settings.wechat_secret, settings.wechat_api_base_url,
                             timeout=settings.wechat_timeout_seconds, session=token_storage())
