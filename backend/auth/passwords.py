"""Password hashing with Argon2id (argon2-cffi), the OWASP-recommended slow hash."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_PASSWORD_LENGTH = 10

_default = PasswordHasher()
# Tests create many accounts; the same algorithm with a small cost keeps them quick.
_fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _hasher() -> PasswordHasher:
    return _fast if current_app.config.get("JIAYI_FAST_PASSWORD_HASH") else _default


def hash_password(password: str) -> str:
    return _hasher().hash(password)


# Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASHES: dict[bool, str] = {}


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher = _hasher()
    if password_hash is None:
        fast = hasher is _fast
        if fast not in _DUMMY_HASHES:
            _DUMMY_HASHES[fast] = hasher.hash("jiayi-no-such-user")
        password_hash = _DUMMY_HASHES[fast]
        try:
            hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
