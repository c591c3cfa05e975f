"""List filters as Keystone takes them: exact matches, and for strings the inexact forms
``name__contains``, ``__icontains``, ``__startswith``, ``__istartswith``, ``__endswith``,
``__iendswith``. Booleans follow Keystone: '0' and 'false' (any case) are false."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

INEXACT = ("contains", "icontains", "startswith", "istartswith", "endswith", "iendswith")


def is_true(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off")


def flag(query: Mapping[str, str], name: str) -> bool:
    """A query flag as Keystone reads it: present (even empty) and not '0'/'false'/..."""
    return name in query and is_true(query[name])


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply(
    query: sa.Select[tuple[object, ...]],
    table: sa.Table,
    filters: Mapping[str, str],
    strings: tuple[str, ...] = (),
    booleans: tuple[str, ...] = (),
    exact: tuple[str, ...] = (),
) -> sa.Select[tuple[object, ...]]:
    """Add a WHERE clause per recognised filter; unknown query parameters are ignored."""
    for key, value in filters.items():
        name, _, op = key.partition("__")
        if name in booleans and not op:
            query = query.where(table.c[name] == is_true(value))
        elif (name in exact or name in strings) and not op:
            query = query.where(table.c[name] == value)
        elif name in strings and op in INEXACT:
            column: sa.ColumnElement[str] = table.c[name]
            text = value
            if op.startswith("i"):
                column, text, op = sa.func.lower(column), value.lower(), op[1:]
            pattern = {
                "contains": f"%{escape_like(text)}%",
                "startswith": f"{escape_like(text)}%",
                "endswith": f"%{escape_like(text)}",
            }[op]
            query = query.where(column.like(pattern, escape="\\"))
    return query
