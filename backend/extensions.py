"""The Flask extensions, created unbound and initialised by create_app()."""
from __future__ import annotations

import uuid
import weakref
from datetime import datetime, timezone

import flask_sqlalchemy.session
import sqlalchemy as sa
from flask import has_request_context, request
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


# The bind key of the second PostgreSQL pool, whose connections plan each prepared statement
# once instead of at every run (config.generic_plans_connect_args). A request that asks for it
# before its first statement (``plan_generically``: the due list, the visit) runs all of its
# statements there; everything else runs on the main pool, planned with its values.
GENERIC_PLANS = "generic_plans"
_ASKED = "jiayi.generic_plans"  # in the WSGI environ of a request that asked: "transaction" or "autocommit"


def _asked() -> str | None:
    if not has_request_context() or GENERIC_PLANS not in db.engines:
        return None
    return request.environ.get(_ASKED)


class Session(flask_sqlalchemy.session.Session):
    """The session's statements go to the generic-plans pool when the request asked for it."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        asked = _asked() if bind is None else None
        if asked is not None:
            engine = self._db.engines[GENERIC_PLANS]
            return engine if asked == "transaction" else _autocommitting(engine)
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


_autocommit_engines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _autocommitting(engine: sa.Engine) -> sa.Engine:
    """``engine`` (its pool) with each statement committing on its own: no BEGIN, no COMMIT."""
    if engine not in _autocommit_engines:
        _autocommit_engines[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return _autocommit_engines[engine]


db = SQLAlchemy(model_class=Base, session_options={"class_": Session})


def plan_generically(autocommit: bool = False) -> None:
    """Run this request's statements on the generic-plans pool (PostgreSQL; elsewhere nothing
    changes). From the request's first statement only: a session whose transaction has begun
    stays where it is, since one transaction cannot span two connections.

    ``autocommit``: each statement commits on its own, which saves the BEGIN and the COMMIT (two
    round trips) for a request that reads and whose one write is in the same statement as its
    read (a list that logs its reads: ``security.audit.logging_reads``)."""
    if has_request_context() and not db.session().in_transaction():
        request.environ[_ASKED] = "autocommit" if autocommit else "transaction"


def dispose_engines() -> None:
    """Close every pool's connections (both pools on PostgreSQL)."""
    for engine in db.engines.values():
        engine.dispose()


def on_postgresql() -> bool:
    """The database in use is PostgreSQL (else SQLite)."""
    return db.engine.dialect.name == "postgresql"


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
