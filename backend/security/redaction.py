"""Keeps identity numbers and phone numbers out of log lines.

Request lines (werkzeug, gunicorn's access log) carry query strings such as
``/residents?q=<id number>``; this filter masks such values in every record
that passes the handlers it is installed on.
"""
from __future__ import annotations

import logging
import re

from backend.security.masking import mask_id_number, mask_phone

# 18-character identity numbers (15-digit old ones too) and 11-digit mainland mobiles,
# not inside longer digit runs.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)1\d{10}(?!\d)")


def redact(text: str) -> str:
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install(logger_names: tuple[str, ...] = ("", "werkzeug", "gunicorn.access", "gunicorn.error")) -> None:
    """Attach the filter to the named loggers (filters on a logger see its own records)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
