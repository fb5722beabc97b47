"""A schema's dump, compiled once: what ``Schema().dump(obj)`` gives, without marshmallow's work
per field and per object.

A first sync dumps tens of thousands of records of some fifty fields each; field by field through
marshmallow that is most of its time. The response schemas of the other domains stay the one
description of each record: this reads their fields, and turns each into a plain function (a
field type it does not know is dumped by marshmallow itself). ``tests/test_sync.py`` holds the
two equal on every synced kind.
"""
from __future__ import annotations

from typing import Any, Callable

import marshmallow as ma
from marshmallow import fields
from marshmallow.utils import missing

from backend import clock
from backend.common import Timestamp

Dumper = Callable[[Any], dict]


def _own(field: fields.Field, base: type) -> bool:
    """``field`` serializes as ``base`` does (a subclass may change only what it loads)."""
    return isinstance(field, base) and type(field)._serialize is base._serialize


def _converter(field: fields.Field) -> Callable[[Any], Any] | None:
    """The function that dumps a field's non-None value, or None for 'leave it to marshmallow'."""
    if _own(field, Timestamp):
        return lambda value: clock.to_civil(value).isoformat()
    if _own(field, fields.String):
        return lambda value: value if type(value) is str else str(value)
    if _own(field, fields.Integer) and not field.as_string:
        return int
    if _own(field, fields.Float) and not field.as_string:
        return float
    if _own(field, fields.Boolean):
        return lambda value: True if value in field.truthy else False if value in field.falsy else bool(value)
    if _own(field, fields.Date) and field.format in (None, "iso"):
        return lambda value: value.isoformat()
    if _own(field, fields.Dict) and field.key_field is None and field.value_field is None:
        return dict
    if type(field) is fields.Raw:
        return lambda value: value
    if _own(field, fields.Nested) and not field.only and not field.exclude:
        inner = compile_schema(field.schema)
        if field.many:
            return lambda value: [inner(item) for item in value]
        return inner
    if _own(field, fields.List):
        each = _converter(field.inner)
        if each is None:
            return None
        return lambda value: [None if item is None else each(item) for item in value]
    return None


_compiled: dict[int, Dumper] = {}


def compile_schema(schema: ma.Schema) -> Dumper:
    """The dump of one object by ``schema`` (an instance, as Nested gives it)."""
    key = id(schema)
    if key in _compiled:
        return _compiled[key]
    steps: list[tuple[str, str, Callable | None, fields.Field]] = []
    for name, field in schema.dump_fields.items():
        convert = _converter(field) if field.dump_default is missing else None
        steps.append((field.data_key or name, field.attribute or name, convert, field))

    def dump(obj) -> dict:
        out = {}
        get = (lambda attr: obj.get(attr, missing)) if isinstance(obj, dict) else (lambda attr: getattr(obj, attr, missing))
        for out_key, attr, convert, field in steps:
            if convert is None:
                value = field.serialize(attr, obj, accessor=schema.get_attribute)
            else:
                value = get(attr)
                if value is not None and value is not missing:
                    value = convert(value)
            if value is not missing:
                out[out_key] = value
        return out

    _compiled[key] = dump
    # Keep the schema alive with its dumper: the id it is cached under stays its own.
    dump.schema = schema
    return dump


def dumper(schema_class: type[ma.Schema]) -> Callable[[list], list[dict]]:
    """The dump of a list by ``schema_class``: ``schema_class(many=True).dump(items)``."""
    one = compile_schema(schema_class())
    return lambda items: [one(item) for item in items]
