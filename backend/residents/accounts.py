"""WeChat sign-in of mini-program users, and the account side of the Principal."""
from __future__ import annotations

import logging

import requests
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from wechatpy.exceptions import WeChatClientException

from backend import clock
from backend.auth.principal import Principal, register_loader
from backend.errors import ServiceUnavailable, Unauthorized
from backend.extensions import db
from backend.residents.models import Account
from backend.unit_of_work import unit_of_work
from backend.wechat.client import wechat_client

log = logging.getLogger("jiayi.wechat")

# WeChat's answers that mean "this code is no good" (invalid, used, from a risky user).
CODE_REJECTED = {40029, 40163, 40226}
# The stored access_token was refused: fetch a new one and try once more.
TOKEN_REFUSED = {40001, 40014, 42001}


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("微信服务暂不可用，请稍后再试", code="wechat_unavailable")


def _code_to_session(code: str) -> dict:
    client = wechat_client()
    if client is None:
        raise _unavailable()
    for attempt in (1, 2):
        try:
            return client.wxa.code_to_session(code)
        except WeChatClientException as error:
            if error.errcode in CODE_REJECTED:
                raise Unauthorized("登录凭证无效，请重新进入小程序", code="wechat_code_invalid") from None
            if error.errcode in TOKEN_REFUSED and attempt == 1:
                client.session.delete(client.access_token_key)
                continue
            log.warning("jscode2session failed: errcode=%s", error.errcode)
            raise _unavailable() from None
        except requests.RequestException as error:
            log.warning("jscode2session unreachable: %s", type(error).__name__)
            raise _unavailable() from None
    raise _unavailable()


def wechat_login(code: str) -> Account:
    session = _code_to_session(code)
    openid = session.get("openid")
    if not openid:
        raise _unavailable()
    for attempt in (1, 2):
        try:
            with unit_of_work():
                account = db.session.scalar(sa.select(Account).where(Account.openid == openid))
                if account is None:
                    account = Account(openid=openid)
                    db.session.add(account)
                if session.get("unionid"):
                    account.unionid = session["unionid"]
                account.session_key = session.get("session_key")
                account.last_login_at = clock.utcnow()
            return account
        except IntegrityError:
            # The same user's first login raced another one; the account exists now.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def account_principal(account: Account) -> Principal:
    own = next((b.resident for b in account.bindings if b.relation == "self"), None)
    return Principal(kind="account", id=account.id, name=own.name if own else "微信用户")


def _load_account(account_id: str) -> Principal | None:
    account = db.session.get(Account, account_id)
    return None if account is None else account_principal(account)


register_loader("account", _load_account)
