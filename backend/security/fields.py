"""Personal fields encrypted at rest: the app's FieldCipher and a column type that uses it."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from backend.security.crypto import FieldCipher, parse_keys

_EXTENSION = "jiayi_field_cipher"


def cipher() -> FieldCipher:
    """The cipher of the current app, built once from JIAYI_FIELD_KEYS and JIAYI_FIELD_INDEX_KEY."""
    app = current_app._get_current_object()
    if _EXTENSION not in app.extensions:
        settings = app.config["JIAYI"]
        app.extensions[_EXTENSION] = FieldCipher(parse_keys(settings.field_keys), settings.field_index_key)
    return app.extensions[_EXTENSION]


def blind_index(value: str | None, kind: str) -> str | None:
    return None if value is None else cipher().blind_index(value, kind)


class EncryptedText(sa.TypeDecorator):
    """Plain text in Python, a Fernet token in the database."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else cipher().encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else cipher().decrypt(value)
