"""JSON text columns: ``extra`` and ``tags``."""

from __future__ import annotations

import json
from typing import Any


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def load_dict(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def load_list(text: str | None) -> tuple[str, ...]:
    value = json.loads(text) if text else []
    return tuple(value) if isinstance(value, list) else ()
