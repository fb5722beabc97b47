"""Who is calling: one Principal per request, built from the access token.

Staff and resident-side accounts both arrive as a Principal; each kind registers
the loader that turns a token's subject into one, so this module depends on no domain.
"""
from __future__ import annotations

import functools
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Callable

from flask import current_app, g
from flask_jwt_extended import create_access_token, get_current_user, verify_jwt_in_request

from backend.errors import Forbidden
from backend.extensions import jwt, plan_generically


@dataclass(frozen=True)
class Principal:
    kind: str  # "staff" or "account"
    id: str
    name: str
    roles: frozenset[str] = frozenset()
    institution_id: str | None = None
    institution_name: str | None = None
    region_code: str | None = None
    team_ids: tuple[str, ...] = ()
    # The service areas of its teams, when loaded with the principal (None: not loaded).
    team_areas: tuple[str, ...] | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


_loaders: dict[str, Callable[[str], Principal | None]] = {}


def register_loader(kind: str, loader: Callable[[str], Principal | None]) -> None:
    _loaders[kind] = loader


def issue_token(kind: str, subject_id: str) -> dict:
    token = create_access_token(identity=subject_id, additional_claims={"kind": kind})
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {"access_token": token, "token_type": "Bearer", "expires_in": int(expires.total_seconds())}


@jwt.user_lookup_loader
def _load_principal(_header: dict, payload: dict) -> Principal | None:
    loader = _loaders.get(payload.get("kind"))
    return loader(payload["sub"]) if loader else None


def current_principal() -> Principal:
    return g.principal


def require(*roles: str, kinds: tuple[str, ...] = ("staff",), generic_plans: bool = False,
            autocommit: bool = False):
    """Authenticate the caller and check its kind and roles; the only gate routes use.

    ``roles`` empty means any caller of the given kinds. The OpenAPI operation gets
    the bearer security requirement and, as ``x-callers``, who may call it. A hot route whose
    statements all read by key or carry their scope in their text says ``generic_plans``: the
    whole request, the caller's own row included, runs with plans made once per connection,
    and with ``autocommit`` each of its statements commits on its own
    (``extensions.plan_generically``).
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if generic_plans:
                plan_generically(autocommit)
            verify_jwt_in_request()
            principal: Principal = get_current_user()
            if principal.kind not in kinds or (roles and not principal.has_role(*roles)):
                raise Forbidden()
            g.principal = principal
            return view(*args, **kwargs)

        apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
        manual = apidoc.setdefault("manual_doc", {})
        manual["security"] = [{"bearerAuth": []}]
        manual["x-callers"] = list(roles) if roles else list(kinds)
        wrapper._apidoc = apidoc
        return wrapper

    return decorator


def _unauthorized(message: str = "请先登录"):
    from backend.errors import envelope

    return envelope(401, "unauthorized", message)


@jwt.unauthorized_loader
def _missing_token(_reason: str):
    return _unauthorized()


@jwt.invalid_token_loader
def _invalid_token(_reason: str):
    return _unauthorized("登录凭证无效，请重新登录")


@jwt.expired_token_loader
def _expired_token(_header: dict, _payload: dict):
    return _unauthorized("登录已过期，请重新登录")


@jwt.user_lookup_error_loader
def _unknown_subject(_header: dict, _payload: dict):
    return _unauthorized("登录凭证无效，请重新登录")


@jwt.revoked_token_loader
def _revoked_token(_header: dict, _payload: dict):
    return _unauthorized("登录凭证已失效，请重新登录")
