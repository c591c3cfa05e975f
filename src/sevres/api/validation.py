"""Request bodies checked against JSON Schemas, with Keystone's wording for failures:
``Invalid input for field 'name': '' is too short`` — always naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError as SchemaError

from sevres import errors

_cache: dict[int, Draft4Validator] = {}


def _validator(schema: Mapping[str, Any]) -> Draft4Validator:
    key = id(schema)
    if key not in _cache:
        _cache[key] = Draft4Validator(schema)
    return _cache[key]


def _describe(error: SchemaError, field: str | None = None) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    message = str(error.message)
    if len(message) > 300:
        message = message[:300] + "..."
    if path:
        return f"Invalid input for field '{path}': {message}"
    if field and error.validator != "required":  # e.g. '{} should be non-empty'
        return f"Invalid input for field '{field}': {message}"
    return message


def check(schema: Mapping[str, Any], document: Any, field: str | None = None) -> None:
    errors_found = sorted(_validator(schema).iter_errors(document), key=lambda e: list(e.path))
    if errors_found:
        raise errors.ValidationError(_describe(errors_found[0], field))


def wrapped(body: Any, key: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """Take ``body[key]``, Keystone's envelope (``{"project": {...}}``), and check it."""
    if not isinstance(body, dict) or key not in body:
        raise errors.missing_attribute(key, "request body")
    inner = body[key]
    if not isinstance(inner, dict):
        raise errors.ValidationError(f"Invalid input for field '{key}': {inner!r:.100} is not "
                                     "of type 'object'")
    check(schema, inner, key)
    return inner
