"""Identity numbers and phones never reach a log line."""
from __future__ import annotations

import logging

import pytest

from backend.security.redaction import RedactingFilter, redact


@pytest.mark.parametrize("line, expected", [
    ('"GET /api/v1/residents?q=22080219580309472X HTTP/1.1" 200',
     '"GET /api/v1/residents?q=220802********472X HTTP/1.1" 200'),
    ("phone 13912345678 called", "phone 139****5678 called"),
    ("old id 220802580309472", "old id 220802*****9472"),
    ("order 20261123000012345678 kept", "order 20261123000012345678 kept"),
    ("nothing personal", "nothing personal"),
])
def test_redact(line, expected):
    assert redact(line) == expected


def test_filter_rewrites_records_with_arguments(caplog):
    logger = logging.getLogger("jiayi.test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="jiayi.test.redaction"):
        logger.info("%s - - %s", "127.0.0.1", "GET /api/v1/residents?q=13912345678")
    assert caplog.records[0].getMessage() == "127.0.0.1 - - GET /api/v1/residents?q=139****5678"


def test_app_installs_the_filter_on_request_loggers(app):
    for name in ("werkzeug", "gunicorn.access"):
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)
