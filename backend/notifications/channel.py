"""Delivery of one subscribe message: WeChat when configured, else the dry-run channel."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from wechatpy.exceptions import WeChatClientException

from backend.wechat.client import wechat_client

log = logging.getLogger("jiayi.notifications")

REFUSED = {43101}  # no subscription left, or the user switched it off
TOKEN_REFUSED = {40001, 40014, 42001}
RETRYABLE = {-1, 45009}  # WeChat busy, API quota reached


@dataclass(frozen=True)
class Delivery:
    outcome: str  # sent, refused, retry, failed
    channel: str
    msgid: str | None = None
    error: str | None = None


def deliver(openid: str, template_id: str, data: dict, page: str) -> Delivery:
    client = wechat_client()
    if client is None:
        # No credentials: record what would have been sent, and count it as sent.
        log.info("dry run: template %s", template_id)
        return Delivery("sent", "dry_run")
    for attempt in (1, 2):
        try:
            result = client.wxa.send_subscribe_message(openid, template_id, data, page=page)
            return Delivery("sent", "wechat", msgid=str(result.get("msgid")) if result.get("msgid") else None)
        except WeChatClientException as error:
            code = error.errcode
            if code in TOKEN_REFUSED and attempt == 1:
                client.session.delete(client.access_token_key)
                continue
            if code in REFUSED:
                return Delivery("refused", "wechat", error=f"errcode {code}")
            if code is None or code in RETRYABLE:
                status = getattr(getattr(error, "response", None), "status_code", None)
                return Delivery("retry", "wechat", error=f"errcode {code}" if code is not None else f"http {status}")
            return Delivery("failed", "wechat", error=f"errcode {code}")
        except requests.exceptions.ReadTimeout:
            # WeChat may have delivered it: sending again could remind twice, so the doctor calls.
            return Delivery("failed", "wechat", error="timeout: delivery unknown")
        except requests.RequestException as error:
            return Delivery("retry", "wechat", error=type(error).__name__)
    return Delivery("retry", "wechat", error="token refused twice")
