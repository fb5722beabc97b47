"""Pieces every domain's schemas and routes share: the base schema, timestamps,
the pagination arguments and envelope."""
from __future__ import annotations

from datetime import datetime

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.orm.util import identity_key

from backend import clock
from backend.errors import NotFound
from backend.extensions import db

MAX_PAGE_SIZE = 100


class Schema(ma.Schema):
    """Request and response schemas; unknown fields in a body are an error, never ignored."""

    class Meta:
        unknown = ma.RAISE
        ordered = True


class RefSchema(Schema):
    """Something named by reference: a staff member, a team, an institution."""

    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class ClientId(ma.fields.UUID):
    """An id the client chose (a UUID) so that a resend is recognised, loaded as its string."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        return str(super()._deserialize(value, attr, data, **kwargs))


class Timestamp(ma.fields.DateTime):
    """An ISO 8601 moment with the civil offset (+08:00)."""

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is None:
            return None
        return clock.to_civil(value).isoformat()


class PageArgs(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    page_size = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=MAX_PAGE_SIZE))


_page_schemas: dict[type, type] = {}


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The list envelope {"items", "page", "page_size", "total"} around item_schema."""
    if item_schema not in _page_schemas:
        name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
        _page_schemas[item_schema] = type(
            name,
            (Schema,),
            {
                "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
                "page": ma.fields.Integer(required=True),
                "page_size": ma.fields.Integer(required=True),
                "total": ma.fields.Integer(required=True),
            },
        )
    return _page_schemas[item_schema]


def paginate(statement: sa.Select, page: int, page_size: int) -> dict:
    """Run one page of ``statement`` and count the whole of it in the same scan (a window count);
    a page past the end costs a separate count."""
    counted = statement.add_columns(sa.func.count().over().label("page_total"))
    rows = db.session.execute(counted.limit(page_size).offset((page - 1) * page_size)).all()
    return {"items": [row[0] for row in rows], "page": page, "page_size": page_size,
            "total": page_total(rows, statement, page)}


def page_total(rows: list, statement: sa.Select, page: int, params: dict | None = None) -> int:
    """The whole list's count for a page read with a ``page_total`` window column: from the
    page's first row, or, for a page past the end, a count of its own (of ``statement``, with
    the page's bound ``params``)."""
    if rows:
        return rows[0].page_total
    if page > 1:
        counted = sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
        return db.session.scalar(counted, params) or 0
    return 0


def page_from_list(items: list, page: int, page_size: int) -> dict:
    start = (page - 1) * page_size
    return {"items": items[start:start + page_size], "page": page, "page_size": page_size, "total": len(items)}


def get_or_404(model, key, message: str = "资源不存在"):
    """The row with this primary key, or the contract's 404."""
    row = db.session.get(model, key)
    if row is None:
        raise NotFound(message)
    return row


def names_of(model, ids) -> dict[str, str]:
    """The ``name`` of each row of ``model`` in ``ids``: taken from the rows this session has
    loaded already (a health record loads its team with the members), the others read in one
    statement of the names alone (loading whole rows would load their relationships too)."""
    names: dict[str, str] = {}
    missing = set()
    for key in set(ids):
        loaded = db.session.identity_map.get(identity_key(model, key))
        state = None if loaded is None else sa.inspect(loaded)
        if state is not None and "name" in state.dict:  # loaded, and not expired since
            names[key] = state.dict["name"]
        else:
            missing.add(key)
    if missing:
        names.update(db.session.execute(sa.select(model.id, model.name).where(model.id.in_(missing))).all())
    return names
