"""The Flask extensions, created unbound and initialised by create_app()."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from backend import clock

# Named constraints, so that Alembic can alter and drop them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator):
    """A moment stored as naive UTC (SQLite keeps no offset) and read back aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> str:
    return str(uuid.uuid4())


class IdMixin:
    """An opaque string id (a UUID), as the contract says."""

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=clock.utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=clock.utcnow, onupdate=clock.utcnow
    )


db = SQLAlchemy(model_class=Base)


def on_postgresql() -> bool:
    """The database in use is PostgreSQL (else SQLite)."""
    return db.engine.dialect.name == "postgresql"


_GENERIC_PLANS = sa.text("SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")


def use_generic_plans() -> None:
    """For the rest of this transaction, on PostgreSQL, plan each prepared statement once per
    connection instead of at every run. Connections plan with the values (config.flask_config),
    which a scoped list needs; a hot path whose statements read by key, or carry everything that
    shapes them in their text (see ``written``), spent more time planning than running them."""
    if on_postgresql():
        db.session.execute(_GENERIC_PLANS)


def written(value) -> sa.BindParameter:
    """``value`` (a list for an IN list) written into the SQL text instead of bound. A statement
    that runs with a cached generic plan (the due list) can only use a partial index whose
    predicate names it (the live contracts') or read a LIKE prefix through an index when
    PostgreSQL sees the value when planning."""
    return sa.bindparam("written", value, expanding=isinstance(value, (list, tuple)), literal_execute=True,
                        unique=True)


def dialect_insert(table):
    """An INSERT that can say ON CONFLICT, for the database in use (PostgreSQL or SQLite)."""
    if on_postgresql():
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
migrate = Migrate()
jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


class JiayiApi(Api):
    """flask-smorest's Api with the contract's error envelope."""

    def handle_http_exception(self, error):
        from backend.errors import http_error_response

        return http_error_response(error)


api = JiayiApi()
