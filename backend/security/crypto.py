"""Field-level encryption of personal data at rest, with key rotation and a
blind index so encrypted columns can still be looked up by exact value."""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["FieldCipher", "InvalidToken", "generate_key", "parse_keys"]

_BLIND_INDEX_INFO = b"jiayi-blind-index"
# 32 bytes in url-safe base64 is exactly 43 alphabet characters plus one "=".
# Checked strictly because base64.urlsafe_b64decode silently drops stray
# characters, which would let a mangled key through.
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}=")
_KIND_SHAPE = re.compile(r"[a-z][a-z0-9_]*")
# The index key is HKDF input keying material, so any format works (its UTF-8
# bytes are used as-is); the floor only guards against short, guessable keys.
_INDEX_KEY_MIN_LENGTH = 32


def generate_key() -> str:
    """A fresh random key, usable as a field key or as the index key."""
    return Fernet.generate_key().decode("ascii")


def _check_key(key: object, label: str) -> None:
    """Validate a Fernet key, raising errors that name ``label``, never the key."""
    if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
        raise ValueError(
            f"{label} is not a valid key: expected 44 characters of url-safe "
            "base64 encoding 32 bytes (generate one with generate_key())"
        )


def parse_keys(env_value: str) -> list[str]:
    """Parse a comma-separated key list (newest first) from configuration."""
    if not isinstance(env_value, str) or not env_value.strip():
        raise ValueError("field key list is empty: at least one key is required")
    keys = [part.strip() for part in env_value.split(",")]
    for position, key in enumerate(keys, start=1):
        if not key:
            raise ValueError(f"field key list has an empty entry at position {position}")
        _check_key(key, f"field key at position {position}")
    if len(set(keys)) != len(keys):
        raise ValueError("field key list contains the same key more than once")
    return keys


class FieldCipher:
    """Encrypts string fields with the newest key and decrypts with any key.

    ``keys`` are field keys, newest first. ``index_key`` is separate on
    purpose: blind indexes are stored alongside the data and looked up by
    recomputing them, so the index key must stay fixed when field keys rotate,
    or every stored index would stop matching.
    """

    def __init__(self, keys: list[str], index_key: str) -> None:
        if isinstance(keys, str):
            raise TypeError("keys must be a list of key strings, not one string")
        keys = list(keys)
        if not keys:
            raise ValueError("FieldCipher needs a non-empty list of field keys")
        for position, key in enumerate(keys, start=1):
            _check_key(key, f"field key at position {position}")
        fernets = [Fernet(key) for key in keys]
        # Stripped so a trailing newline in a secrets file cannot silently
        # change every blind index.
        index_key = index_key.strip() if isinstance(index_key, str) else ""
        if len(index_key) < _INDEX_KEY_MIN_LENGTH:
            raise ValueError(
                f"index key must be a random string of at least {_INDEX_KEY_MIN_LENGTH} "
                "characters (e.g. from generate_key() or secrets.token_urlsafe(32))"
            )
        if index_key in keys:
            raise ValueError("index key must differ from every field key")
        self._newest = fernets[0]
        self._multi = MultiFernet(fernets)
        self._index_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_BLIND_INDEX_INFO
        ).derive(index_key.encode("utf-8"))

    def __repr__(self) -> str:
        return "FieldCipher(<keys hidden>)"

    def encrypt(self, plain: str) -> str:
        """Encrypt under the newest key; the token is ASCII and URL-safe."""
        if not isinstance(plain, str):
            raise TypeError("plain must be str")
        return self._multi.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt with whichever key fits; raises InvalidToken otherwise."""
        return self._multi.decrypt(_token_bytes(token)).decode("utf-8")

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key (keeps the original timestamp)."""
        return self._multi.rotate(_token_bytes(token)).decode("ascii")

    def needs_rotation(self, token: str) -> bool:
        """True when the token is valid but not encrypted with the newest key.

        Verifying the token's HMAC under the newest key alone is a sound test:
        only that key can produce a matching signature. Raises InvalidToken
        if no configured key fits, since such a token cannot be rotated.
        """
        data = _token_bytes(token)
        try:
            self._newest.extract_timestamp(data)
            return False
        except InvalidToken:
            pass
        self._multi.extract_timestamp(data)
        return True

    def blind_index(self, value: str, kind: str) -> str:
        """Deterministic keyed hash of ``value`` for exact-match lookups.

        Pass the normalised value (e.g. from normalize_id_number), since any
        difference in spelling gives a different index. ``kind`` is mixed in
        so equal strings of different kinds do not share an index.
        """
        if not isinstance(value, str):
            raise TypeError("value must be str")
        if not isinstance(kind, str) or not _KIND_SHAPE.fullmatch(kind):
            raise ValueError("kind must be lower-case ASCII letters, digits and _")
        # kind cannot contain NUL, so the separator keeps (kind, value) unambiguous.
        message = kind.encode("ascii") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()


def _token_bytes(token: object) -> bytes:
    if not isinstance(token, str):
        raise TypeError("token must be str")
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken from None
