"""Attributes Keystone accepts beyond an entity's own, kept and echoed back as extras."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def extra(attrs: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The attributes of ``attrs`` that are not the entity's own (``known``)."""
    return {k: v for k, v in attrs.items() if k not in known}
